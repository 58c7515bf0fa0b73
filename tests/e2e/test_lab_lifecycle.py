"""lab/labctl.py on the real system: a killed host is re-created by the next `up`, and `down`
leaves nothing behind (namespace, veth, mount, processes, records)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

LAB = "lifecycle"
STATE = Path("/var/lib/citadel-lab/labs") / LAB


def labctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, str(ROOT / "lab/labctl.py"), *args], capture_output=True, text=True)
    if check:
        assert res.returncode == 0, res.stderr
    return res


def record() -> dict:
    return json.loads((STATE / "lab.json").read_text())["hosts"][0]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False


@pytest.fixture
def lab():
    if os.geteuid() != 0:
        pytest.fail("needs root")
    labctl("up", "--lab", LAB, "--host", "probe=auto")
    yield
    labctl("down", "--lab", LAB, check=False)


def test_a_killed_host_is_recreated_and_down_leaves_nothing(lab):
    host = record()
    os.kill(host["pid"], signal.SIGKILL)
    time.sleep(0.5)
    assert labctl("status", "--lab", LAB, check=False).returncode == 1

    labctl("up", "--lab", LAB, "--host", "probe=auto")
    again = record()
    assert again["pid"] != host["pid"] and again["address"] == host["address"]
    assert labctl("exec", "--lab", LAB, "probe", "--", "systemctl", "is-system-running").returncode == 0

    labctl("down", "--lab", LAB)
    assert not STATE.exists()
    assert not Path("/run/netns", again["netns"]).exists()
    assert not Path("/sys/class/net", again["veth"]).exists()
    assert again["root"] + "/merged" not in Path("/proc/mounts").read_text()
    assert not alive(again["pid"])
