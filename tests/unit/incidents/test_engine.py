"""citadel_monitoring.incidents.engine: payloads into incidents, without HTTP."""

from __future__ import annotations

import pytest

from citadel_monitoring.incidents.config import GroupingConfig
from citadel_monitoring.incidents.engine import IncidentEngine, PayloadError, incident_summary, parse_payload
from citadel_monitoring.incidents.store import Store

from .conftest import alert, payload

GROUPING = GroupingConfig(window_seconds=600, topology={"model1": ("llama",)})


@pytest.fixture
def engine(tmp_path):
    store = Store(tmp_path / "i.db")
    yield IncidentEngine(store, GROUPING)
    store.close()


def test_alerts_of_one_host_and_its_models_form_one_incident(engine):
    assert engine.ingest(payload(alert("HostDown", instance="model1", severity="critical")), now=1000) == [1]
    # an SLO alert of a model that runs on model1 joins it
    assert engine.ingest(payload(alert("LlamaLatencyBudgetBurn", model="llama", severity="page")), now=1060) == [1]
    # another host is another incident
    assert engine.ingest(payload(alert("HostDown", instance="model2", severity="critical")), now=1070) == [2]
    inc = engine.store.get(1)
    assert inc.status == "firing" and inc.version == 2
    doc = incident_summary(inc)["incident"]
    assert doc["hosts"] == ["model1"] and doc["models"] == ["llama"]
    assert doc["severity"] == "page"
    assert doc["title"] == "LlamaLatencyBudgetBurn on model1 (+1 related)"


def test_resends_change_nothing(engine):
    doc = payload(alert("HostDown", instance="model1"))
    assert engine.ingest(doc, now=1000) == [1]
    assert engine.ingest(doc, now=1300) == []
    assert engine.store.get(1).version == 1


def test_the_window_separates_incidents_by_time(engine):
    engine.ingest(payload(alert("GpuXidErrors", instance="model1")), now=1000)
    engine.ingest(payload(alert("GpuXidErrors", "resolved", instance="model1")), now=1100)
    # resolved: a new firing alert opens a new incident
    assert engine.ingest(payload(alert("GpuXidErrors", instance="model1")), now=1200) == [2]
    # an open incident silent for longer than the window is not joined
    assert engine.ingest(payload(alert("GpuEccErrors", instance="model1")), now=1200 + 601) == [3]


def test_an_incident_resolves_when_all_its_alerts_have(engine):
    engine.ingest(payload(alert("A", instance="model1"), alert("B", instance="model1")), now=1000)
    assert engine.ingest(payload(alert("A", "resolved", instance="model1")), now=1010) == [1]
    assert engine.store.get(1).status == "firing"
    assert engine.ingest(payload(alert("B", "resolved", instance="model1")), now=1020) == [1]
    inc = engine.store.get(1)
    assert inc.status == "resolved" and inc.resolved_at == 1020 and inc.version == 3
    # a resolved alert nobody knows is ignored
    assert engine.ingest(payload(alert("C", "resolved", instance="model9")), now=1030) == []


def test_ignored_alertnames(engine):
    assert engine.ingest(payload(alert("Watchdog")), now=1000) == []


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "body: expected an Alertmanager webhook payload"),
        ({"alerts": "x"}, "body: expected an Alertmanager webhook payload"),
        ({"alerts": [1]}, r"alerts\[0\]: must be a mapping"),
        ({"alerts": [{"status": "open", "labels": {"alertname": "X"}}]}, r"alerts\[0\].status: must be firing"),
        ({"alerts": [{"status": "firing", "labels": {}}]}, r"alerts\[0\].labels: no alertname"),
        ({"alerts": [{"status": "firing", "labels": {"alertname": 1}}]}, r"alerts\[0\].labels: must be a mapping"),
    ],
)
def test_bad_payloads_are_rejected(doc, message):
    with pytest.raises(PayloadError, match=message):
        parse_payload(doc)


def test_missing_fingerprint_is_derived_from_labels():
    a = parse_payload({"alerts": [{"status": "firing", "labels": {"alertname": "X", "instance": "h"}}]})[0]
    b = parse_payload({"alerts": [{"status": "firing", "labels": {"instance": "h", "alertname": "X"}}]})[0]
    assert a["fingerprint"] == b["fingerprint"] and len(a["fingerprint"]) == 16
