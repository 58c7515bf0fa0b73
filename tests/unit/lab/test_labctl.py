"""lab/labctl.py: the parts that decide what the lab is, without touching the system."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT, load_module

labctl = load_module("lab/labctl.py", "labctl")


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setattr(labctl, "STATE_DIR", tmp_path)
    return tmp_path


def record(state, lab, hosts):
    rec = labctl.LabRecord(name=lab, hosts={n: labctl.HostRecord(name=n, address=a) for n, a in hosts.items()})
    rec.save()
    return rec


def test_the_lab_inventory_gives_the_default_lab():
    hosts = labctl.hosts_from_inventory(ROOT / "inventory/lab/hosts.yml")
    assert {n: (h.address, h.groups) for n, h in hosts.items()} == {
        "metrics": ("10.77.0.10", ["metrics_servers"]),
        "model1": ("10.77.0.11", ["model_hosts"]),
        "model2": ("10.77.0.12", ["model_hosts"]),
    }


def test_an_inventory_host_without_address_is_refused(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  children:\n    g:\n      hosts:\n        lost: {}\n")
    with pytest.raises(labctl.LabError, match="hosts.yml: host lost: ansible_host is missing"):
        labctl.hosts_from_inventory(inv)


def test_host_arguments_carry_groups():
    hosts = labctl.hosts_from_args(["a=10.77.0.20,metrics_servers,x", "b=auto"])
    assert (hosts["a"].address, hosts["a"].groups) == ("10.77.0.20", ["metrics_servers", "x"])
    assert (hosts["b"].address, hosts["b"].groups) == ("auto", [])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (["a=10.77.1.5"], "not a host address in 10.77.0.0/24"),
        (["a=10.77.0.1"], "other than 10.77.0.1"),
        (["a=10.77.0.255"], "not a host address"),
        (["a=banana"], "address 'banana'"),
        (["a=10.77.0.5", "b=10.77.0.5"], "hosts a and b share the address 10.77.0.5"),
        (["bad_name=10.77.0.5"], "name must be letters, digits and '-'"),
        ([], "no hosts given"),
    ],
)
def test_bad_specs_are_refused_with_the_host_named(state, spec, message):
    with pytest.raises(labctl.LabError, match=message):
        labctl.validate("x", labctl.hosts_from_args(spec))


def test_an_address_used_by_another_lab_is_refused(state):
    record(state, "default", {"metrics": "10.77.0.10"})
    with pytest.raises(labctl.LabError, match="10.77.0.10 is used by host metrics of lab default"):
        labctl.validate("mol", labctl.hosts_from_args(["m=10.77.0.10"]))


def test_auto_addresses_skip_every_lab_and_stay_stable(state):
    record(state, "other", {"o": "10.77.0.100"})
    wanted = labctl.hosts_from_args(["a=auto", "b=auto", "c=10.77.0.102"])
    labctl.allocate("mol", wanted)
    assert [wanted[n].address for n in "abc"] == ["10.77.0.101", "10.77.0.103", "10.77.0.102"]
    record(state, "mol", {"a": "10.77.0.101", "b": "10.77.0.103"})
    again = labctl.hosts_from_args(["b=auto", "a=auto"])
    labctl.allocate("mol", again)
    assert (again["a"].address, again["b"].address) == ("10.77.0.101", "10.77.0.103")


def test_records_round_trip(state):
    rec = labctl.LabRecord(name="x", base="/b")
    rec.hosts["h"] = labctl.HostRecord(name="h", address="10.77.0.9", groups=["g"], netns="n", veth="v", pid=5)
    rec.save()
    back = labctl.LabRecord.load("x")
    assert back == rec
    assert json.loads((state / "labs/x/lab.json").read_text())["hosts"][0]["netns"] == "n"
    assert labctl.all_labs() == ["x"]


def test_names_are_short_and_deterministic():
    assert labctl.short_id("default", "metrics") == labctl.short_id("default", "metrics")
    assert labctl.short_id("default", "metrics") != labctl.short_id("mol", "metrics")
    assert len("cv" + labctl.short_id("a-very-long-lab-name", "a-very-long-host-name")) <= 15  # IFNAMSIZ - 1


def test_the_rootfs_cache_key_follows_the_package_list(monkeypatch):
    before = labctl.rootfs_key()
    monkeypatch.setattr(labctl, "PACKAGES", [*labctl.PACKAGES, "curl"])
    assert labctl.rootfs_key() != before


def test_nft_ruleset_limits_egress_to_dns_and_registries(monkeypatch):
    monkeypatch.setattr(labctl, "resolvers", lambda: ["10.255.255.53"])
    monkeypatch.setattr(labctl, "egress_addresses", lambda: ["203.0.113.80"])
    rules = labctl.nft_ruleset()
    assert "table inet citadel_lab {" in rules
    assert "ip daddr { 10.255.255.53 } meta l4proto { tcp, udp } th dport 53 accept" in rules
    assert "ip daddr { 203.0.113.80 } tcp dport { 80, 443 } accept" in rules
    # Everything else leaving the bridge is dropped, after the allowed rules.
    assert rules.index('iifname "citadel0" counter drop') > rules.index("tcp dport { 80, 443 } accept")
    assert "ip saddr 10.77.0.0/24 ip daddr != 10.77.0.0/24 masquerade" in rules
