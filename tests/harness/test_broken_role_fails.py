"""The test harness catches a broken role: a copy of node_exporter, broken on purpose, must fail
its Molecule scenario on the lab, at the step that shows the fault."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCENARIO = "harness"
LAB = f"mol-node_exporter-{SCENARIO}"


@pytest.fixture
def role_copy(tmp_path):
    """A git work tree with the shared Molecule base, the lab and a copy of node_exporter."""
    for part in (".config", "tests/molecule", "lab", "plugins", "roles/node_exporter"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    role = tmp_path / "roles/node_exporter"
    shutil.move(role / "molecule/default", role / f"molecule/{SCENARIO}")
    yield role
    subprocess.run([sys.executable, str(ROOT / "lab/labctl.py"), "down", "--lab", LAB], check=False)


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failed_step(output: str) -> list[str]:
    """The scenario steps Molecule's log reports as failed ("[harness > idempotence] Executed: Failed")."""
    return re.findall(rf"\[{SCENARIO} > (\w+)\] Executed: Failed", ANSI.sub("", output))


def molecule_test(role: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{ROOT / '.venv/bin'}:{os.environ['PATH']}", NO_COLOR="1", ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run(["molecule", "test", "-s", SCENARIO], cwd=role, env=env, capture_output=True, text=True)


def test_a_role_that_cannot_install_fails_at_its_first_run(role_copy):
    defaults = role_copy / "defaults/main.yml"
    defaults.write_text(
        defaults.read_text().replace(
            "node_exporter_package_name: prometheus-node-exporter",
            "node_exporter_package_name: no-such-package-citadel",
        )
    )
    res = molecule_test(role_copy)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-3000:]
    assert "No package matching 'no-such-package-citadel'" in out, out[-3000:]
    # The first run of the role is the check-mode step on the fresh host.
    assert failed_step(out) == ["check"], out[-3000:]


def test_a_role_that_is_not_idempotent_fails_at_idempotence(role_copy):
    configure = role_copy / "tasks/configure.yml"
    configure.write_text(
        configure.read_text()
        + """
- name: A step that always changes something (the fault under test)
  ansible.builtin.command: date
  changed_when: true
"""
    )
    res = molecule_test(role_copy)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-3000:]
    assert failed_step(out) == ["idempotence"], out[-3000:]
