"""A bad rule file or configuration fails the play with promtool's message, and the running
Prometheus keeps serving with what it had: nothing bad reaches the service."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import prometheus_api, run_playbook

BROKEN_RULES = """\
groups:
  - name: broken
    rules:
      - alert: Broken
        expr: sum(rate(up[5m]) by (job)   # an unclosed parenthesis
"""


def metrics_server(lab_hosts):
    return next(h["address"] for h in lab_hosts.values() if "metrics_servers" in h["groups"])


def state(address):
    rules = prometheus_api(address, "rules")["groups"]
    config = prometheus_api(address, "status/config")["yaml"]
    return sorted(g["name"] for g in rules), config


def on_metrics(*cmd: str) -> str:
    res = subprocess.run(
        [str(ROOT / ".venv/bin/python"), str(ROOT / "lab/labctl.py"), "exec", "metrics", "--", *cmd],
        capture_output=True,
        text=True,
    )
    return res.stdout


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        (
            "rule file",
            lambda broken: {"prometheus_rule_files": [str(ROOT / "rules/availability.yml"), str(broken)]},
            "parse error",
        ),
        (
            "configuration",
            lambda broken: {"prometheus_config_extra": {"global": {"scrape_interval": "ten seconds"}}},
            "not a valid duration string",
        ),
    ],
)
def test_a_bad_input_fails_the_play_and_changes_nothing(converged, lab_hosts, tmp_path, name, extra, message):
    address = metrics_server(lab_hosts)
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN_RULES)
    before = state(address)
    files_before = on_metrics("sh", "-c", "ls /etc/prometheus/rules; sha256sum /etc/prometheus/prometheus.yml")

    run = run_playbook("-e", json.dumps(extra(broken)))
    assert run.returncode != 0, f"the play accepted a bad {name}"
    assert "failed to validate" in run.output and message in run.output, run.output[-3000:]

    assert state(address) == before
    assert on_metrics("sh", "-c", "ls /etc/prometheus/rules; sha256sum /etc/prometheus/prometheus.yml") == files_before
    assert (
        prometheus_api(address, "query", query="prometheus_config_last_reload_successful")["result"][0]["value"][1]
        == "1"
    )
