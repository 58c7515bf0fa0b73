"""The built-in load generator: bounded, loopback only, tenants in the access log."""

from __future__ import annotations

import json
import time

import pytest

from citadel_monitoring.simulator.loadgen import LoadConfig, LoadGenerator


def test_it_sends_a_bounded_number_of_requests(make_sim, tmp_path):
    sim = make_sim()
    load = LoadGenerator(
        LoadConfig(port=sim.port, model="sim", rps=50, concurrency=4, max_requests=12, duration_seconds=5, seed=1)
    )
    load.start()
    load.join(timeout=6)
    assert not load.is_alive()
    assert load.sent == 12
    lines: list[str] = []
    for _ in range(200):  # the last requests may still be streaming
        lines = (tmp_path / "access.log").read_text().splitlines()
        if len(lines) == 12:
            break
        time.sleep(0.02)
    records = [json.loads(line) for line in lines]
    assert len(records) == 12
    assert {r["status"] for r in records} == {200}
    assert {r["tenant"] for r in records} <= {"acme", "globex", "initech", "umbrella", "hooli"}


@pytest.mark.parametrize(("rps", "concurrency"), [(0, 1), (51, 1), (1, 0), (1, 65)])
def test_its_bounds_are_enforced(rps, concurrency):
    with pytest.raises(ValueError):
        LoadGenerator(LoadConfig(port=1, model="m", rps=rps, concurrency=concurrency))
