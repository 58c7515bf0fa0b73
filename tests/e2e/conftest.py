"""The end-to-end fixtures: the default lab (inventory/lab) up and site.yml applied to it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, load_module

access = load_module("lab/access.py", "lab_access")

INVENTORY = ROOT / "inventory/lab"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass
class PlaybookRun:
    returncode: int
    output: str

    def recap(self) -> dict[str, dict[str, int]]:
        """Per host, the counts of every PLAY RECAP in the output added up (one per playbook)."""
        total: dict[str, dict[str, int]] = {}
        for m in RECAP.finditer(self.output):
            counts = total.setdefault(m[1], {"ok": 0, "changed": 0, "unreachable": 0, "failed": 0})
            for key, value in zip(("ok", "changed", "unreachable", "failed"), m.groups()[1:], strict=True):
                counts[key] += int(value)
        return total


# What `make lab` applies: the lab's simulated model servers (lab only), then the stack.
PLAYBOOKS = ("playbooks/lab_model_servers.yml", "playbooks/site.yml")


def run_playbook(*extra: str) -> PlaybookRun:
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_VAULT_PASSWORD_FILE=str(access.VAULT_PASSWORD),
    )
    cmd = [str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(INVENTORY), *(str(ROOT / p) for p in PLAYBOOKS), *extra]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    return PlaybookRun(res.returncode, res.stdout + res.stderr)


@pytest.fixture(scope="session")
def lab_hosts():
    if os.geteuid() != 0:
        pytest.fail("the end-to-end tests need root: they bring up the lab (systemd-nspawn, netns)")
    res = subprocess.run(
        [sys.executable, str(ROOT / "lab/labctl.py"), "up", "--inventory", str(INVENTORY / "hosts.yml")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, f"lab bring-up failed:\n{res.stderr}"
    return json.loads(Path("/var/lib/citadel-lab/labs/default/hosts.json").read_text())["hosts"]


@pytest.fixture(scope="session")
def converged(lab_hosts):
    """site.yml applied once to the lab: the first run of the session."""
    run = run_playbook()
    assert run.returncode == 0, f"site.yml failed:\n{run.output[-6000:]}"
    return run


def prometheus_api(address: str, path: str, **params: str) -> dict:
    return access.prometheus_api(address, path, **params)


def wait_for(predicate, timeout: float, interval: float = 1.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = predicate()
        if ok:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last}")
