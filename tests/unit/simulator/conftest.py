"""The simulated model server on 127.0.0.1 (ephemeral port), 100x faster than real time."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from citadel_monitoring.simulator.server import SimConfig, SimServer


@pytest.fixture
def make_sim(tmp_path) -> Iterator:
    servers: list[SimServer] = []

    def start(**kw: object) -> SimServer:
        crashes: list[int] = []
        kw.setdefault("access_log", tmp_path / "access.log")
        config = SimConfig(**{"model": "sim", "time_scale": 0.01, "seed": 3, **kw})
        server = SimServer("127.0.0.1", 0, config, on_crash=crashes.append)
        server.crashes = crashes  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
