"""`citadel-collector`: --version, --help, --check-config, and a real run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import citadel_monitoring
from citadel_monitoring.collector.cli import main

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("script", ["citadel-collector", "citadel-analytics", "citadel-model-sim"])
def test_version(script):
    out = subprocess.run([BIN / script, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"{script} {citadel_monitoring.__version__}"


@pytest.mark.parametrize("script", ["citadel-collector", "citadel-analytics", "citadel-model-sim"])
def test_help(script):
    out = subprocess.run([BIN / script, "--help"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith(f"usage: {script}")


def test_check_config_accepts_the_example(capsys):
    assert main(["--config", str(ROOT / "collector/examples/collector.yml"), "--check-config"]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_config_names_the_key_path_of_the_first_error(tmp_path, capsys):
    bad = tmp_path / "c.yml"
    bad.write_text(
        "sources:\n  probes:\n    - name: a\n      base_url: http://127.0.0.1:8000\n      model: m\n"
        "      timeout_seconds: -1\n"
    )
    assert main(["--config", str(bad), "--check-config"]) == 1
    err = capsys.readouterr().err
    assert "sources.probes[0].timeout_seconds:" in err


def test_check_config_as_a_validate_command(tmp_path):
    """How Ansible's `validate:` calls it: a non-zero exit for a bad file."""
    bad = tmp_path / "c.yml"
    bad.write_text("listen: {port: many}\n")
    out = subprocess.run([BIN / "citadel-collector", "--config", bad, "--check-config"], capture_output=True, text=True)
    assert out.returncode == 1 and "listen.port:" in out.stderr


def test_config_is_required():
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_it_runs_serves_and_stops_on_sigterm(tmp_path):
    port = free_port()
    config = tmp_path / "c.yml"
    config.write_text(f"listen: {{address: 127.0.0.1, port: {port}}}\nsources:\n  cost: {{currency: USD}}\n")
    proc = subprocess.Popen([BIN / "citadel-collector", "--config", config], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        body = ""
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
                if "citadel_cost_info" in body:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        assert 'citadel_cost_info{currency="USD"} 1.0' in body
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
