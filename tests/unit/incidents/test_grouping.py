"""citadel_monitoring.incidents.grouping: the pure grouping rules."""

from __future__ import annotations

import pytest

from citadel_monitoring.incidents.grouping import (
    OpenIncident,
    alert_keys,
    choose_incident,
    host_of,
    split_keys,
    worst_severity,
)

TOPOLOGY = {"model1": ("llama", "mistral")}


@pytest.mark.parametrize(
    ("value", "host"),
    [("model1", "model1"), ("model1:9100", "model1"), ("[fd00::1]:80", "fd00::1"), ("fd00::1", "fd00::1")],
)
def test_host_of_cuts_the_port(value, host):
    assert host_of(value) == host


def test_keys_from_host_model_and_topology():
    assert alert_keys({"alertname": "HostDown", "instance": "model1:9100"}, topology=TOPOLOGY) == {
        "host:model1",
        "model:llama",
        "model:mistral",
    }
    assert alert_keys({"alertname": "Slo", "model": "llama"}) == {"model:llama"}
    assert alert_keys({"alertname": "Lonely"}) == {"alertname:Lonely"}
    assert alert_keys({"alertname": "X", "host": "h"}, host_label="host") == {"host:h"}


def test_choose_the_oldest_open_incident_sharing_a_key_within_the_window():
    incidents = [
        OpenIncident(2, frozenset({"host:model1"}), last_activity=950, opened_at=900),
        OpenIncident(1, frozenset({"model:llama"}), last_activity=990, opened_at=100),
        OpenIncident(3, frozenset({"host:model2"}), last_activity=999, opened_at=50),
    ]
    assert choose_incident({"model:llama", "host:model1"}, incidents, now=1000, window=300) == 1
    # too old: incident 2's last activity is 950 s ago
    assert choose_incident({"host:model1"}, incidents, now=1900, window=300) is None
    assert choose_incident({"host:other"}, incidents, now=1000, window=300) is None


def test_severity_and_key_helpers():
    assert worst_severity(["warning", "page", None, "critical"]) == "page"
    assert worst_severity(["whatever", "info"]) == "info"
    assert worst_severity([None]) is None
    assert split_keys({"host:b", "host:a", "model:m", "alertname:x"}) == (["a", "b"], ["m"])
