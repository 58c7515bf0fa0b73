"""The console scripts are installed and answer --help and --version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import citadel_monitoring

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("script", ["citadel-collector", "citadel-analytics"])
def test_version(script):
    out = subprocess.run([BIN / script, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"{script} {citadel_monitoring.__version__}"


@pytest.mark.parametrize("script", ["citadel-collector", "citadel-analytics"])
def test_help(script):
    out = subprocess.run([BIN / script, "--help"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith(f"usage: {script}")


def test_collector_refuses_to_pretend_it_runs():
    out = subprocess.run([BIN / "citadel-collector", "--config", "x.yml"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "no collector sources are implemented" in out.stderr
