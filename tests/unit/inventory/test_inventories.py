"""The inventories have the shape the playbooks expect; tests never target production."""

from __future__ import annotations

import ipaddress
import re

import yaml

from tests.conftest import ROOT


def hosts_of(path, group):
    data = yaml.safe_load((ROOT / path).read_text())
    return data["all"]["children"][group]["hosts"]


def test_production_monitoring_server():
    assert hosts_of("inventory/production/hosts.yml", "metrics_servers") == {
        "citadel-metrics-01": {"ansible_host": "192.168.10.37"}
    }
    assert hosts_of("inventory/production/hosts.yml", "model_hosts")


def test_production_keeps_10_second_scrapes():
    gv = yaml.safe_load((ROOT / "inventory/production/group_vars/metrics_servers.yml").read_text())
    assert gv["prometheus_scrape_interval"] == "10s"
    assert gv["prometheus_evaluation_interval"] == "10s"


def test_lab_hosts_live_on_the_lab_bridge_below_the_auto_range():
    net = ipaddress.ip_network("10.77.0.0/24")
    for group in ("metrics_servers", "model_hosts"):
        for name, hvars in hosts_of("inventory/lab/hosts.yml", group).items():
            addr = ipaddress.ip_address(hvars["ansible_host"])
            assert addr in net and int(addr) & 0xFF < 100, name


def test_nothing_that_runs_tests_points_at_production():
    pattern = re.compile(r"inventory/production|192\.168\.10\.37")
    offenders = []
    for path in [
        *ROOT.glob("tests/**/*.py"),
        *ROOT.glob("tests/**/*.yml"),
        ROOT / "scripts/test.sh",
        ROOT / ".ci/run",
        *ROOT.glob("roles/*/molecule/**/*.yml"),
    ]:
        if path.name == "test_inventories.py":
            continue
        if pattern.search(path.read_text()):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
