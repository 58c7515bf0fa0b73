"""Shared fixtures for the service tests: a real Prometheus with backfilled data, and a fake one.

`real_prometheus` starts `/usr/bin/prometheus` (Debian 2.42) on 127.0.0.1 with a random free
port and a temporary data directory, after `promtool tsdb create-blocks-from openmetrics` wrote
two days of 1-minute samples into it (module-scoped: started once, stopped at the end; bounded
waits). `fake_prometheus` is an HTTP server on 127.0.0.1 whose answer each test chooses: a
canned API answer, garbage, an HTTP error, or a slow answer. Both skip when the binaries are
missing. This module holds no tests of its own.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"

STEP = 60
T_START = 1_767_225_600  # 2026-01-01T00:00:00Z
DAYS = 2
T_END = T_START + DAYS * 86_400 - STEP  # the last sample
GAP = (T_START + 30 * 3600, T_START + 31 * 3600)  # demo_gap has no samples in [start, end)
RESET_AT = T_START + 40 * 3600  # demo_requests_total restarts from 0 here
SPIKE_AT = T_START + 47 * 3600  # demo_load{host="b"} jumps to 60 for 20 minutes here


def load(host: str, t: int) -> float:
    """A daily sine with deterministic noise; host b has a spike in its last hours."""
    base = {"a": 10.0, "b": 20.0}[host]
    x = base + 3 * math.sin(2 * math.pi * (t % 86_400) / 86_400) + 0.2 * math.sin(t * 0.7)
    if host == "b" and SPIKE_AT <= t < SPIKE_AT + 1200:
        x = 60.0
    return round(x, 4)


def openmetrics() -> str:
    lines = ["# TYPE demo_load gauge"]
    times = range(T_START, T_END + 1, STEP)
    for host in ("a", "b"):
        lines += [f'demo_load{{host="{host}"}} {load(host, t)} {t}' for t in times]
    lines.append("# TYPE demo_gap gauge")
    lines += [f"demo_gap {load('a', t)} {t}" for t in times if not GAP[0] <= t < GAP[1]]
    lines.append("# TYPE demo_requests counter")
    total = 0.0
    for t in times:
        total = 0.0 if t == RESET_AT else total + 120.0  # 2 requests a second
        lines.append(f"demo_requests_total {total} {t}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RealPrometheus:
    url: str
    data_dir: Path


def start_prometheus(tmp: Path) -> Iterator[RealPrometheus]:
    if not (Path(PROMETHEUS).exists() and Path(PROMTOOL).exists()):
        pytest.skip("prometheus/promtool not installed")
    data = tmp / "data"
    data.mkdir()
    src = tmp / "input.om"
    src.write_text(openmetrics())
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=24h", str(src), str(data)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (tmp / "prometheus.yml").write_text("global: {}\n")
    port = free_port()
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{port}",
            "--query.lookback-delta=5m",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("prometheus did not start: " + (tmp / "prometheus.log").read_text()[-2000:])
            time.sleep(0.1)
        yield RealPrometheus(url, data)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def real_prometheus_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealPrometheus]:
    """The body of a module-scoped `real_prometheus` fixture (each test module declares its own)."""
    tmp = tmp_path_factory.mktemp("prometheus")
    yield from start_prometheus(tmp)
    shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class FakePrometheus:
    """What the fake answers: `mode` is ok | garbage | error | slow | notapi; `requests` records
    (path, headers, form body) of every request."""

    url: str = ""
    mode: str = "ok"
    delay: float = 0.0
    answer: dict = field(default_factory=lambda: {"status": "success", "data": {"resultType": "matrix", "result": []}})
    requests: list[tuple[str, dict[str, str], str]] = field(default_factory=list)


def fake_prometheus_fixture() -> Iterator[FakePrometheus]:
    """The body of a `fake_prometheus` fixture."""
    fake = FakePrometheus()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            fake.requests.append((self.path, dict(self.headers), body))
            if fake.mode == "slow":
                time.sleep(fake.delay)
            if fake.mode == "garbage":
                payload, status = b"<html>502 Bad Gateway</html>", 200
            elif fake.mode == "error":
                payload = json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"}).encode()
                status = 400
            elif fake.mode == "notapi":
                payload, status = b'{"hello": "world"}', 200
            else:
                payload, status = json.dumps(fake.answer).encode(), 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"
