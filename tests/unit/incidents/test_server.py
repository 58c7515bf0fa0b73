"""The incident receiver over real HTTP on 127.0.0.1: auth, grouping, one summary per incident change,
resolution, persistence across a restart, retries, analytics enrichment and TLS."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time

import pytest

from .conftest import PASSWORD, alert, make_config, payload, request


def test_requests_without_valid_credentials_get_401(sink, start_app, tmp_path):
    app = start_app(make_config(tmp_path, sink.url))
    doc = payload(alert("HostDown", instance="model1"))
    assert request(app, "POST", "/alerts", doc, user=None)[0] == 401
    assert request(app, "POST", "/alerts", doc, password="wrong")[0] == 401
    assert request(app, "POST", "/alerts", doc, user="mallory", password=PASSWORD)[0] == 401
    assert request(app, "GET", "/incidents", user=None)[0] == 401
    assert request(app, "GET", "/metrics", user=None)[0] == 401
    assert request(app, "GET", "/healthz", user=None) == (200, "ok\n")
    # nothing was recorded
    assert request(app, "GET", "/incidents")[1] == {"incidents": []}
    assert sink.received == []


def test_bad_bodies_get_400_and_unknown_paths_404(sink, start_app, tmp_path):
    app = start_app(make_config(tmp_path, sink.url))
    status, body = request(app, "POST", "/alerts", {"alerts": [{"status": "nope", "labels": {"alertname": "X"}}]})
    assert status == 400 and "alerts[0].status" in body["error"]
    assert request(app, "POST", "/elsewhere", payload())[0] == 404
    assert request(app, "GET", "/incidents/99")[0] == 404


def test_one_summary_per_incident_updated_as_alerts_join_and_resolve(sink, start_app, tmp_path):
    app = start_app(make_config(tmp_path, sink.url))
    status, body = request(app, "POST", "/alerts", payload(alert("HostDown", instance="model1", severity="critical")))
    assert (status, body) == (200, {"incidents": [1]})
    first = sink.wait_for(1)[0]
    assert first["event"] == "opened"
    assert first["incident"]["id"] == 1 and first["incident"]["version"] == 1
    assert sink.headers[0]["X-Citadel-Incident"] == "1"

    # the same group again (Alertmanager's repeat): no new summary
    request(app, "POST", "/alerts", payload(alert("HostDown", instance="model1", severity="critical")))
    # a model alert of a model on that host joins the incident: one update
    request(app, "POST", "/alerts", payload(alert("LlamaTtftBudgetBurn", model="llama", severity="page")))
    update = sink.wait_for(2)[1]
    assert update["event"] == "updated"
    assert update["incident"]["id"] == 1 and update["incident"]["version"] == 2
    assert [a["alertname"] for a in update["incident"]["alerts"]] == ["HostDown", "LlamaTtftBudgetBurn"]
    assert update["incident"]["severity"] == "page"

    # a different host: a second incident
    request(app, "POST", "/alerts", payload(alert("HostDown", instance="model2", severity="critical")))
    assert sink.wait_for(3)[2]["incident"]["id"] == 2

    request(
        app,
        "POST",
        "/alerts",
        payload(
            alert("HostDown", "resolved", instance="model1", severity="critical"),
            alert("LlamaTtftBudgetBurn", "resolved", model="llama", severity="page"),
        ),
    )
    resolved = sink.wait_for(4)[3]
    assert resolved["event"] == "resolved"
    assert resolved["incident"]["status"] == "resolved" and resolved["incident"]["firing"] == 0
    assert resolved["incident"]["resolved_at"].endswith("Z")
    time.sleep(0.3)
    assert len(sink.received) == 4  # exactly one message per change

    status, listing = request(app, "GET", "/incidents?status=firing")
    assert [i["id"] for i in listing["incidents"]] == [2]
    status, metrics = request(app, "GET", "/metrics")
    assert 'citadel_incidents{status="resolved"} 1' in metrics
    assert 'citadel_incidents_notifications_total{result="sent"} 4' in metrics


def test_incidents_survive_a_restart(sink, start_app, tmp_path):
    config = make_config(tmp_path, sink.url)
    app = start_app(config)
    request(app, "POST", "/alerts", payload(alert("GpuXidErrors", instance="model1", severity="critical")))
    sink.wait_for(1)
    app.stop()

    app = start_app(config)
    status, doc = request(app, "GET", "/incidents/1")
    assert status == 200 and doc["status"] == "firing" and doc["alerts"][0]["alertname"] == "GpuXidErrors"
    # a new alert after the restart joins the same incident, whose summary is updated (not re-opened)
    request(app, "POST", "/alerts", payload(alert("LlamaLatencyHigh", model="llama", severity="warning")))
    update = sink.wait_for(2)[1]
    assert update["event"] == "updated" and update["incident"]["id"] == 1 and update["incident"]["version"] == 2


def test_unsent_summaries_are_retried_even_across_a_restart(sink, start_app, tmp_path):
    config = make_config(tmp_path, sink.url)
    config["notify"]["max_backoff_seconds"] = 0.1
    sink.fail = 2
    app = start_app(config)
    request(app, "POST", "/alerts", payload(alert("HostDown", instance="model1")))
    assert sink.wait_for(1)[0]["event"] == "opened"  # after two 503s

    sink.fail = 1000
    request(app, "POST", "/alerts", payload(alert("HostDown", "resolved", instance="model1")))
    deadline = time.monotonic() + 5
    while app.notifier.failed < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    app.stop()
    with sink.lock:
        sink.fail = 0
    app = start_app(config)
    assert sink.wait_for(2)[1]["event"] == "resolved"


def test_summaries_carry_the_anomalous_series_of_the_incident(sink, start_app, tmp_path, fake_prometheus):
    t0 = 1_800_000_000
    data = {
        "resultType": "matrix",
        "result": [
            {  # on the incident's host, anomalous for the last 3 minutes (a gap before)
                "metric": {"watch": "latency", "series": '{instance="model1:8000",model="llama"}'},
                "values": [[t0 - 600, "0.9"], [t0 - 180, "0.85"], [t0 - 120, "0.9"], [t0 - 60, "0.95"]],
            },
            {  # another host
                "metric": {"watch": "latency", "series": '{instance="model2",model="mistral"}'},
                "values": [[t0 - 60, "0.99"]],
            },
        ],
    }
    queries: list[str] = []
    url = fake_prometheus(data, queries)
    config = make_config(tmp_path, sink.url, enrichment={"prometheus_url": url, "threshold": 0.8})
    app = start_app(config)
    request(app, "POST", "/alerts", payload(alert("HostDown", instance="model1")))
    incident = sink.wait_for(1)[0]["incident"]
    assert queries == ["(citadel_analytics_anomaly_score > 0.8)[3600s:60s]"]
    assert incident["anomalies"] == [
        {
            "watch": "latency",
            "series": '{instance="model1:8000",model="llama"}',
            "score": 0.95,
            "since": "2027-01-15T07:57:00Z",
        }
    ]
    assert "anomalous since 2027-01-15T07:57:00Z" in incident["text"]


def test_prometheus_down_does_not_block_the_summary(sink, start_app, tmp_path):
    config = make_config(tmp_path, sink.url, enrichment={"prometheus_url": "http://127.0.0.1:9", "timeout_seconds": 1})
    app = start_app(config)
    request(app, "POST", "/alerts", payload(alert("HostDown", instance="model1")))
    assert sink.wait_for(1)[0]["incident"]["anomalies"] == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_tls(sink, start_app, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    app = start_app(make_config(tmp_path, sink.url, tls={"cert_file": str(cert), "key_file": str(key)}))
    context = ssl.create_default_context(cafile=str(cert))
    status, _ = request(
        app, "POST", "/alerts", payload(alert("HostDown", instance="model1")), scheme="https", context=context
    )
    assert status == 200
    assert request(app, "GET", "/incidents", user=None, scheme="https", context=context)[0] == 401
