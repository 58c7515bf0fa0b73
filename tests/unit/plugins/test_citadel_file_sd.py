"""plugins/filter/citadel_file_sd.py: file_sd target groups from inventory hosts."""

from __future__ import annotations

import pytest

from tests.conftest import load_module

fsd = load_module("plugins/filter/citadel_file_sd.py", "citadel_file_sd")

HOSTVARS = {
    "metrics": {"ansible_host": "10.77.0.10"},
    "model1": {"ansible_host": "10.77.0.11", "node_exporter_port": 9200},
    "model2": {"citadel_scrape_address": "model2.example", "ansible_host": "10.77.0.12"},
    "v6": {"ansible_host": "fd00::5"},
    "bare": {},
}


def test_one_group_per_host_with_instance_label():
    groups = fsd.file_sd_targets(["metrics", "model1"], HOSTVARS, 9100, port_var="node_exporter_port")
    assert groups == [
        {"targets": ["10.77.0.10:9100"], "labels": {"instance": "metrics"}},
        {"targets": ["10.77.0.11:9200"], "labels": {"instance": "model1"}},
    ]


def test_address_precedence_and_fallback_to_inventory_name():
    groups = fsd.file_sd_targets(["model2", "bare"], HOSTVARS, 9090)
    assert [g["targets"][0] for g in groups] == ["model2.example:9090", "bare:9090"]


def test_ipv6_addresses_are_bracketed():
    assert fsd.file_sd_targets(["v6"], HOSTVARS, 9100)[0]["targets"] == ["[fd00::5]:9100"]


def test_duplicates_are_dropped_and_labels_added():
    groups = fsd.file_sd_targets(["metrics", "metrics"], HOSTVARS, 9100, labels={"tier": "monitoring"})
    assert groups == [{"targets": ["10.77.0.10:9100"], "labels": {"instance": "metrics", "tier": "monitoring"}}]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hosts": ["nowhere"]}, "host nowhere: not in hostvars"),
        ({"hosts": ["metrics"], "port": 70000}, "port 70000 is not in 1..65535"),
        (
            {
                "hosts": ["model1"],
                "port_var": "node_exporter_port",
                "hostvars": {"model1": {"node_exporter_port": "x"}},
            },
            "host model1: node_exporter_port 'x' is not a port number",
        ),
        ({"hosts": ["metrics"], "labels": {"1bad": "x"}}, "'1bad' is not a valid Prometheus label name"),
    ],
)
def test_bad_input_names_the_host_and_field(kwargs, message):
    args = {"hosts": ["metrics"], "hostvars": HOSTVARS, "port": 9100} | kwargs
    with pytest.raises(fsd.TargetError, match=message):
        fsd.file_sd_targets(**args)


def test_filter_adapter_raises_ansible_filter_error():
    from ansible.errors import AnsibleFilterError

    f = fsd.FilterModule().filters()["citadel_file_sd"]
    assert f(["metrics"], HOSTVARS, 9100)[0]["targets"] == ["10.77.0.10:9100"]
    with pytest.raises(AnsibleFilterError, match="citadel_file_sd: host nowhere"):
        f(["nowhere"], HOSTVARS, 9100)


def test_addresses_follow_the_same_precedence_without_duplicates():
    assert fsd.host_addresses(["model2", "metrics", "bare", "metrics"], HOSTVARS) == [
        "model2.example",
        "10.77.0.10",
        "bare",
    ]
    with pytest.raises(fsd.TargetError, match="host nowhere: not in hostvars"):
        fsd.host_addresses(["nowhere"], HOSTVARS)
