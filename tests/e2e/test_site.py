"""End to end on the lab: site.yml converges, re-runs change nothing, Prometheus scrapes every
node exporter and itself every 10 seconds."""

from __future__ import annotations

import itertools
import json
import time

from tests.e2e.conftest import access, prometheus_api, run_playbook, wait_for


def metrics_server(lab_hosts) -> str:
    return next(h["address"] for h in lab_hosts.values() if "metrics_servers" in h["groups"])


def test_site_converges_on_every_host(converged, lab_hosts):
    recap = converged.recap()
    assert set(recap) == set(lab_hosts)
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap.values()), recap


def test_a_second_run_changes_nothing(converged):
    run = run_playbook()
    assert run.returncode == 0, run.output[-4000:]
    changed = {h: r["changed"] for h, r in run.recap().items() if r["changed"]}
    assert changed == {}, f"not idempotent: {changed}\n{run.output[-4000:]}"


def test_check_diff_on_the_converged_lab_shows_nothing(converged):
    run = run_playbook("--check", "--diff")
    assert run.returncode == 0, run.output[-4000:]
    assert all(r["changed"] == 0 for r in run.recap().values()), run.output[-4000:]


def test_prometheus_reports_every_target_up(converged, lab_hosts):
    expected = {("node", name) for name in lab_hosts}
    for job in ("prometheus", "alertmanager", "blackbox"):
        expected |= {(job, name) for name, h in lab_hosts.items() if "metrics_servers" in h["groups"]}
    for job in ("ai_collector", "analytics", "vllm", "blackbox_model_health"):
        expected |= {(job, name) for name, h in lab_hosts.items() if "model_hosts" in h["groups"]}
    address = metrics_server(lab_hosts)

    def all_up():
        targets = prometheus_api(address, "targets", state="active")["activeTargets"]
        seen: dict[tuple[str, str], list[str]] = {}
        for t in targets:
            seen.setdefault((t["labels"]["job"], t["labels"]["instance"]), []).append(t["health"])
        return set(seen) == expected and all(set(h) == {"up"} for h in seen.values()), seen

    wait_for(all_up, timeout=60, what="every target up")


def test_consecutive_samples_are_10_seconds_apart(converged, lab_hosts):
    address = metrics_server(lab_hosts)

    # Three samples of every series need at least 20 s of scraping after the first one.
    def three_samples():
        result = prometheus_api(address, "query", query="up[35s]", time=str(time.time()))["result"]
        return bool(result) and all(len(s["values"]) >= 3 for s in result), result

    series = wait_for(three_samples, timeout=60, what="three samples of every target")
    for s in series:
        stamps = [float(v[0]) for v in s["values"]]
        gaps = [round(b - a, 3) for a, b in itertools.pairwise(stamps)]
        assert all(abs(g - 10.0) < 0.05 for g in gaps), (s["metric"], gaps)
        assert all(v[1] == "1" for v in s["values"]), s


def test_alerts_reach_every_alertmanager(converged, lab_hosts):
    """The always-firing Watchdog goes from each Prometheus to every Alertmanager, over TLS with
    Prometheus's own user; each alert carries the cluster and replica labels."""
    servers = [h["address"] for h in lab_hosts.values() if "metrics_servers" in h["groups"]]
    for address in servers:
        ams = prometheus_api(address, "alertmanagers")["activeAlertmanagers"]
        assert sorted(a["url"] for a in ams) == sorted(f"https://{s}:9093/api/v2/alerts" for s in servers)

    def watchdog_everywhere():
        seen = {}
        for address in servers:
            status, body = access.get(
                f"https://{address}:9093/api/v2/alerts?filter=alertname%3D%22Watchdog%22",
                "admin",
                access.secrets()["vault_alertmanager_admin_password"],
            )
            alerts = json.loads(body) if status == 200 else []
            seen[address] = sorted(a["labels"].get("replica", "") for a in alerts)
        return all(len(v) == len(servers) for v in seen.values()), seen

    seen = wait_for(watchdog_everywhere, timeout=90, what="the Watchdog alert in every Alertmanager")
    assert all(
        replicas == sorted(n for n, h in lab_hosts.items() if "metrics_servers" in h["groups"])
        for replicas in seen.values()
    ), seen


def test_collectors_and_engine_neutral_series_on_every_model_host(converged, lab_hosts):
    """Prometheus scrapes the collector on each model host over TLS, every collector source is up,
    and the simulated vLLM servers appear in the engine-neutral series, per host and model."""
    address = metrics_server(lab_hosts)
    models = sorted(n for n, h in lab_hosts.items() if "model_hosts" in h["groups"])

    def sources_up():
        result = prometheus_api(address, "query", query='citadel_collector_source_up{job="ai_collector"}')["result"]
        by_host = {}
        for r in result:
            by_host.setdefault(r["metric"]["instance"], []).append(r["value"][1])
        return sorted(by_host) == models and all(set(v) == {"1"} for v in by_host.values()), by_host

    wait_for(sources_up, timeout=90, what="every collector source up on every model host")

    def engine_neutral():
        result = prometheus_api(
            address, "query", query='count by (instance, model) (model:llm_requests:rate5m{engine="vllm"})'
        )["result"]
        seen = sorted((r["metric"].get("instance"), r["metric"].get("model")) for r in result)
        want = sorted((m, model) for m in models for model in ("sim-llama-3-8b", "sim-mistral-7b"))
        return seen == want, seen

    wait_for(engine_neutral, timeout=120, what="model:llm_requests:rate5m for both simulated models on every host")


def test_slo_rules_from_slos_are_deployed_and_evaluated(converged, lab_hosts):
    """The rules the slo_rule_groups filter makes from slos/*.yml are loaded (promtool checked
    them before they were written) and record an objective for every SLO defined there."""
    import yaml

    from tests.conftest import ROOT

    defined = set()
    for path in sorted((ROOT / "slos").glob("*.yml")):
        for doc in yaml.safe_load_all(path.read_text()):
            defined |= {(doc["service"], slo["name"]) for slo in doc["slos"]}
    address = metrics_server(lab_hosts)
    groups = prometheus_api(address, "rules")["groups"]
    assert any(g["file"].endswith("/slo.yml") for g in groups), [g["file"] for g in groups]

    def objectives():
        result = prometheus_api(address, "query", query="slo:objective:ratio")["result"]
        seen = {(r["metric"]["slo_service"], r["metric"]["slo_name"]) for r in result}
        return seen == defined, seen

    wait_for(objectives, timeout=60, what="slo:objective:ratio for every SLO in slos/")


def test_model_servers_health_endpoints_are_probed(converged, lab_hosts):
    """The availability SLI: the blackbox exporter probes every model server's health endpoint."""
    address = metrics_server(lab_hosts)
    models = [n for n, h in lab_hosts.items() if "model_hosts" in h["groups"]]

    def probed():
        result = prometheus_api(address, "query", query='probe_success{job="blackbox_model_health"}')["result"]
        seen = sorted((r["metric"]["instance"], r["metric"]["server"], r["value"][1]) for r in result)
        want = sorted((m, server, "1") for m in models for server in ("llama", "mistral"))
        return seen == want, seen

    wait_for(probed, timeout=60, what="probe_success 1 for every model server")


def test_the_analytics_service_analyses_each_model_hosts_series(converged, lab_hosts):
    """citadel-analytics on every model host completes cycles against Prometheus (TLS, its own
    user) and analyses that host's engine-neutral series; Prometheus scrapes it over TLS."""
    address = metrics_server(lab_hosts)
    models = sorted(n for n, h in lab_hosts.items() if "model_hosts" in h["groups"])

    def analysing():
        ok = prometheus_api(
            address, "query", query='citadel_analytics_last_success_timestamp_seconds{job="analytics"} > 0'
        )
        analysed = prometheus_api(address, "query", query='citadel_analytics_series_analysed{job="analytics"} > 0')
        seen = (
            sorted(r["metric"]["instance"] for r in ok["result"]),
            sorted({r["metric"]["instance"] for r in analysed["result"]}),
        )
        return seen == (models, models), seen

    wait_for(analysing, timeout=240, interval=5, what="a successful analytics cycle with series on every model host")
