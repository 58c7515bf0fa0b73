"""`citadel-model-sim`: runs, generates its own bounded load, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_it_serves_its_own_load_and_stops_on_sigterm(tmp_path):
    port, log = free_port(), tmp_path / "access.log"
    proc = subprocess.Popen(
        [
            BIN / "citadel-model-sim",
            "--port",
            str(port),
            "--time-scale",
            "0.01",
            "--access-log",
            log,
            "--load-rps",
            "40",
            "--load-max-requests",
            "5",
            "--seed",
            "1",
            "--log-level",
            "warning",
        ],
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 5):
            time.sleep(0.05)
        records = [json.loads(line) for line in log.read_text().splitlines()]
        assert len(records) == 5 and all(r["status"] == 200 for r in records)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert "vllm:request_success_total" in body
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_an_unbounded_load_is_refused():
    out = subprocess.run(
        [BIN / "citadel-model-sim", "--port", "0", "--load-rps", "500"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 2 and "load rps" in out.stderr
