"""plugins/filter/slo_rule_groups.py: SLO definitions to Prometheus rules, without Ansible."""

from __future__ import annotations

import copy
import itertools
import re
import shutil
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from tests.conftest import load_module

slo = load_module("plugins/filter/slo_rule_groups.py", "slo_rule_groups")


def _ok(exprs):
    return [None] * len(exprs)


def doc(**slo_fields: Any) -> dict[str, Any]:
    """A valid document with one events SLO; keyword arguments replace SLO fields."""
    item = {
        "name": "chat-availability",
        "objective": 99.9,
        "description": "Chat requests without 5xx.",
        "sli": {
            "events": {
                "error_query": 'sum(rate(http_requests_total{job="gw", code=~"5.."}[{{.window}}]))',
                "total_query": 'sum(rate(http_requests_total{job="gw"}[{{ .window }}]))',
            }
        },
        "alerting": {"name": "ChatAvailabilityBudgetBurn"},
    }
    item.update(slo_fields)
    return {"version": "prometheus/v1", "service": "llm-gateway", "slos": [item]}


def render(*docs: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("promql_checker", _ok)
    return slo.slo_rule_groups(list(docs), **kwargs)


def rules_by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (group,) = result["groups"]
    out: dict[str, dict[str, Any]] = {}
    for rule in group["rules"]:
        out[rule.get("record") or f"{rule['alert']}/{rule['labels']['severity']}"] = rule
    return out


# --- arithmetic ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "factors"),
    [
        (30, ["14.4", "6", "3", "1"]),
        (28, ["13.44", "5.6", "2.8", "(14 / 15)"]),
        (7, ["3.36", "1.4", "0.7", "(7 / 30)"]),
    ],
)
def test_burn_factors_follow_the_period_exactly(days, factors):
    assert [slo._decimal(slo.burn_factor(t, days)) for t in slo.TIERS] == factors


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("0.999"), "0.999"),
        (1 - Decimal("0.999"), "0.001"),
        (Fraction(144, 10) * Fraction(1, 1000), "0.0144"),
        (Fraction(14, 15) * Fraction(1, 1000), "(7 / 7500)"),
        (Decimal("30"), "30"),
        (Decimal("0.00"), "0"),
    ],
)
def test_decimals_are_printed_without_float_noise(value, text):
    assert slo._decimal(value) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(300, "5m"), (1800, "30m"), (3600, "1h"), (86400 * 2, "2d"), (604800 * 3, "3w"), (90, "90s")]
)
def test_durations(seconds, text):
    assert slo.duration(seconds) == text


@pytest.mark.parametrize(
    ("threshold", "matches", "not_matches"),
    [
        ("1", ["1", "1.0"], ["10", "0.1", "1.5", "11.0"]),
        ("1.0", ["1", "1.0"], ["10"]),
        ("0.5", ["0.5"], ["5", "0.50x", "0.05"]),
        ("2.50", ["2.5"], ["25"]),
        ("20", ["20", "20.0"], ["2", "200"]),
        ("0.00001", ["1e-05", "0.00001"], ["1e-5x"]),
        ("1000000", ["1000000", "1000000.0", "1e+06"], ["100000"]),
    ],
)
def test_le_regex_matches_every_spelling_of_the_bound_and_nothing_else(threshold, matches, not_matches):
    pattern = re.compile(slo.le_regex(Decimal(threshold)))
    for text in matches:
        assert pattern.fullmatch(text), text
    for text in not_matches:
        assert not pattern.fullmatch(text), text


def test_period_tiles_cover_the_period_without_gaps():
    for days in (1, 6, 7, 28, 30, 90):
        tiles = slo.period_tiles(days)
        covered = sorted((off, off + slo.window_seconds(w)) for w, off in tiles)
        assert covered[0][0] == 0
        assert covered[-1][1] == days * 86400
        assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))


def test_window_tiles_cover_each_window():
    for window, (source, count) in slo.WINDOW_TILES.items():
        assert slo.window_seconds(source) * count == slo.window_seconds(window)


# --- rendering -----------------------------------------------------------------------------

SHARED = [
    "slo:objective:ratio",
    "slo:error_budget:ratio",
    "slo:time_period:days",
    "slo:alert_min_errors:count",
    "slo:sli_events:rate30m",
    "slo:sli_events:rate1h",
    "slo:sli_events:rate2h",
    "slo:sli_events:rate6h",
    "slo:sli_events:rate1d",
    "slo:sli_events:rate3d",
    "slo:sli_events:rate_period",
    "slo:sli_error:ratio",
    "slo:burn_rate:ratio",
    "slo:error_budget_remaining:ratio",
    "slo:alert_burn_rate:page",
    "slo:alert_burn_rate:ticket",
]


def test_one_group_per_call_per_slo_rates_then_shared_rules_then_alerts():
    result = render(doc())
    (group,) = result["groups"]
    assert group["name"] == "slo-llm-gateway"
    names = [r.get("record") or f"{r['alert']}/{r['labels']['severity']}" for r in group["rules"]]
    assert names == [
        "slo:sli_events:rate5m",
        *SHARED,
        "ChatAvailabilityBudgetBurn/page",
        "ChatAvailabilityBudgetBurn/ticket",
    ]
    rules = rules_by_name(result)
    identity = {"slo_service": "llm-gateway", "slo_name": "chat-availability"}
    assert rules["slo:sli_events:rate5m"]["labels"] == identity
    assert rules["slo:objective:ratio"]["expr"] == (
        'label_replace(label_replace(vector(0.999), "slo_service", "llm-gateway", "", ""), '
        '"slo_name", "chat-availability", "", "")'
    )
    assert "vector(0.001)" in rules["slo:error_budget:ratio"]["expr"]
    assert "vector(30)" in rules["slo:time_period:days"]["expr"]
    assert "vector(3)" in rules["slo:alert_min_errors:count"]["expr"]
    assert rules["ChatAvailabilityBudgetBurn/page"]["expr"] == (
        'slo:alert_burn_rate:page{slo_service="llm-gateway", slo_name="chat-availability"}'
    )
    for rule in group["rules"]:
        assert "{{" not in rule["expr"]


def test_raw_windows_come_from_the_queries_with_errors_zero_filled():
    rules = rules_by_name(render(doc()))
    expr = rules["slo:sli_events:rate5m"]["expr"]
    assert expr == (
        'label_replace((sum(rate(http_requests_total{job="gw", code=~"5.."}[5m]))) or '
        '(0 * (sum(rate(http_requests_total{job="gw"}[5m])))), "slo_events", "errors", "", "") or '
        'label_replace(sum(rate(http_requests_total{job="gw"}[5m])), "slo_events", "total", "", "")'
    )
    assert "offset 25m" in rules["slo:sli_events:rate30m"]["expr"]


def test_long_windows_are_tiles_of_recorded_rates_never_raw_ranges():
    rules = rules_by_name(render(doc()))
    three_days = rules["slo:sli_events:rate3d"]["expr"]
    assert "http_requests_total" not in three_days
    assert three_days == (
        '(slo:sli_events:rate1d{slo_service="llm-gateway"} + '
        '(slo:sli_events:rate1d{slo_service="llm-gateway"} offset 1d or '
        'slo:sli_events:rate1d{slo_service="llm-gateway"} * 0)'
        ' + (slo:sli_events:rate1d{slo_service="llm-gateway"} offset 2d or '
        'slo:sli_events:rate1d{slo_service="llm-gateway"} * 0)) / 3'
    )
    period = rules["slo:sli_events:rate_period"]["expr"]
    # 30d = ten 3d tiles.
    assert period.count("slo:sli_events:rate3d{") == 10 * 2 - 1
    assert "offset 27d" in period and period.endswith(") / 10")
    raw = [r["record"] for r in rules.values() if "record" in r and re.search(r"\[\d+[mhdw]\]", r["expr"])]
    assert raw == ["slo:sli_events:rate5m"]


def test_ratios_are_zero_not_nan_without_traffic():
    rules = rules_by_name(render(doc()))
    expr = rules["slo:sli_error:ratio"]["expr"]
    one = (
        'label_replace((sum without (slo_events) (slo:sli_events:rate1h{slo_service="llm-gateway", '
        'slo_events="errors"}) / (sum without (slo_events) (slo:sli_events:rate1h{slo_service="llm-gateway", '
        'slo_events="total"}) > 0) or sum without (slo_events) (slo:sli_events:rate1h{slo_service="llm-gateway", '
        'slo_events="total"}) == 0), "slo_window", "1h", "", "")'
    )
    assert one in expr
    assert re.findall(r'"slo_window", "(\w+)"', expr) == ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "period"]
    assert "slo:sli_events:rate_period{" in expr


def test_alerts_follow_the_workbook_tiers_with_the_low_traffic_guard():
    rules = rules_by_name(render(doc()))
    page = rules["slo:alert_burn_rate:page"]["expr"]
    ticket = rules["slo:alert_burn_rate:ticket"]["expr"]
    pattern = r'slo_window="(\w+)"\} > ([\d.]+|\(\d+ / \d+\))'
    assert re.findall(pattern, page) == [("1h", "14.4"), ("5m", "14.4"), ("6h", "6"), ("30m", "6")]
    assert re.findall(pattern, ticket) == [("1d", "3"), ("2h", "3"), ("3d", "1"), ("6h", "1")]
    guard = ">= on(slo_service, slo_name) group_left() slo:alert_min_errors:count{"
    assert "* 3600) " + guard in page and "* 21600) " + guard in page
    assert "* 259200) " + guard in ticket
    assert "time_period" not in page  # one period: no period filter


def test_28_day_period_thresholds():
    rules = rules_by_name(render(doc(period="4w")))
    ticket = rules["slo:alert_burn_rate:ticket"]["expr"]
    assert "} > 2.8 " in ticket and "} > (14 / 15) " in ticket
    assert "vector(28)" in rules["slo:time_period:days"]["expr"]
    period = rules["slo:sli_events:rate_period"]["expr"]
    # 28d = nine 3d tiles and a day, weighted 3:1.
    assert period.startswith("(3 * (") and "offset 27d" in period and period.endswith(") / 28")


def test_slos_of_several_periods_share_rules_filtered_by_period():
    d = doc()
    d["period"] = "28d"
    d["low_traffic"] = {"min_errors": 7}
    second = copy.deepcopy(d["slos"][0]) | {"name": "other", "period": "2w", "low_traffic": {"min_errors": 0}}
    d["slos"].append(second)
    loaded = slo.load_slos([d], promql_checker=_ok)
    assert [(s.period_days, s.min_errors) for s in loaded] == [(28, 7), (14, 0)]
    result = slo.rule_groups(loaded)
    rules = {r.get("record"): r for r in result["groups"][0]["rules"]}
    period = rules["slo:sli_events:rate_period"]["expr"]
    assert ") / 14 and on(slo_service, slo_name) slo:time_period:days{" in period
    assert "== 28)" in period
    page = rules["slo:alert_burn_rate:page"]["expr"]
    # Each factor twice (long and short window): 14d first, then 28d.
    factors = ["6.72", "6.72", "2.8", "2.8", "13.44", "13.44", "5.6", "5.6"]
    assert re.findall(r"> ([\d.]+) and ignoring", page) == factors
    assert page.count("slo:time_period:days{") == 4
    minimum = rules["slo:alert_min_errors:count"]["expr"]
    assert "vector(7)" in minimum and "vector(0)" in minimum


def test_labels_annotations_and_severity():
    alerting = {
        "name": "ChatAvailabilityBudgetBurn",
        "labels": {"category": "availability"},
        "annotations": {"summary": "Chat fails", "dashboard": "https://grafana/d/x"},
        "page_alert": {"labels": {"severity": "pageteam", "routing_key": "oncall"}},
        "ticket_alert": {"annotations": {"runbook_url": "docs/runbooks.md#chat"}},
    }
    d = doc(alerting=alerting, labels={"tier": "front"})
    d["labels"] = {"team": "inference", "tier": "overridden"}
    rules = rules_by_name(render(d))
    page, ticket = rules["ChatAvailabilityBudgetBurn/page"], rules["ChatAvailabilityBudgetBurn/ticket"]
    assert page["labels"] == {
        "slo_service": "llm-gateway",
        "slo_name": "chat-availability",
        "team": "inference",
        "tier": "front",
        "category": "availability",
        "routing_key": "oncall",
        "severity": "page",  # the Workbook's severity wins over a Sloth file's own
    }
    assert ticket["labels"]["severity"] == "ticket"
    assert page["annotations"]["summary"] == "Chat fails"
    assert page["annotations"]["dashboard"] == "https://grafana/d/x"
    assert page["annotations"]["runbook_url"] == "docs/slos.md#responding-to-an-slo-alert"
    assert ticket["annotations"]["runbook_url"] == "docs/runbooks.md#chat"
    assert "{{ $value | humanize }} times as fast" in page["annotations"]["description"]
    assert rules["slo:sli_events:rate5m"]["labels"]["tier"] == "front"


def test_alert_name_defaults_to_camel_case_of_service_and_slo():
    rules = rules_by_name(render(_with("slos.0.alerting", None)))
    assert "LlmGatewayChatAvailabilityBudgetBurn/page" in rules
    assert slo.default_alert_name("9th-svc", "p99 latency") == "Slo9thSvcP99LatencyBudgetBurn"


def test_disabled_alerts_are_not_rendered_and_need_no_name():
    alerting = {"page_alert": {"disable": True}, "ticket_alert": {"disable": True}}
    rules = rules_by_name(render(doc(alerting=alerting)))
    assert not [k for k in rules if "/" in k or k.startswith("slo:alert_burn_rate")]
    rules = rules_by_name(render(doc(alerting={"name": "X", "page_alert": {"disable": True}})))
    assert [k for k in rules if "/" in k] == ["X/ticket"]
    assert "slo:alert_burn_rate:page" not in rules


def test_latency_sli_counts_requests_slower_than_the_threshold():
    sli = {"latency": {"histogram": "vllm:e2e_request_latency_seconds", "selector": '{job="vllm"}', "threshold": 20}}
    expr = rules_by_name(render(doc(sli=sli)))["slo:sli_events:rate5m"]["expr"]
    count = 'sum(rate(vllm:e2e_request_latency_seconds_count{job="vllm"}[5m]))'
    good = 'sum(rate(vllm:e2e_request_latency_seconds_bucket{job="vllm", le=~"20|20\\\\.0"}[5m]))'
    assert expr == (
        f'label_replace(clamp_min({count} - {good}, 0), "slo_events", "errors", "", "") or '
        f'label_replace({count}, "slo_events", "total", "", "")'
    )


def test_latency_sli_without_selector():
    sli = {"latency": {"histogram": "ttft_seconds", "threshold": "0.5"}}
    expr = rules_by_name(render(doc(sli=sli)))["slo:sli_events:rate5m"]["expr"]
    assert 'ttft_seconds_bucket{le=~"0\\\\.5"}[5m]' in expr and "sum(rate(ttft_seconds_count[5m]))" in expr


def test_raw_sli_averages_the_ratio_over_time_without_a_count_guard():
    rules = rules_by_name(render(doc(sli={"raw": {"error_ratio_query": "1 - avg(avg_over_time(up[{{.window}}]))"}})))
    assert rules["slo:sli_events:rate5m"]["expr"] == (
        'label_replace((1 - avg(avg_over_time(up[5m]))) >= 0, "slo_events", "errors", "", "") or '
        'label_replace(((1 - avg(avg_over_time(up[5m]))) >= 0) * 0 + 1, "slo_events", "total", "", "")'
    )
    assert "vector(0)" in rules["slo:alert_min_errors:count"]["expr"]


def test_sloth_getting_started_example_works_unchanged():
    sloth = {
        "version": "prometheus/v1",
        "service": "myservice",
        "labels": {"owner": "myteam", "repo": "myorg/myservice", "tier": "2"},
        "slos": [
            {
                "name": "requests-availability",
                "objective": 99.9,
                "description": "Common SLO based on availability for HTTP request responses.",
                "labels": {"category": "availability"},
                "sli": {
                    "events": {
                        "error_query": (
                            'sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}'
                            "[{{.window}}]))"
                        ),
                        "total_query": 'sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))',
                    }
                },
                "alerting": {
                    "name": "MyServiceHighErrorRate",
                    "labels": {"category": "availability"},
                    "annotations": {"summary": "High error rate on 'myservice' requests responses"},
                    "page_alert": {"labels": {"severity": "pageteam", "routing_key": "myteam"}},
                    "ticket_alert": {"labels": {"severity": "slack", "slack_channel": "#alerts-myteam"}},
                },
            }
        ],
    }
    result = render(sloth)
    assert result["groups"][0]["name"] == "slo-myservice"
    alerts = [r for r in result["groups"][0]["rules"] if "alert" in r]
    assert [a["labels"]["slack_channel"] for a in alerts if a["labels"]["severity"] == "ticket"] == ["#alerts-myteam"]


def test_several_documents_share_one_group_scoped_to_their_services():
    a, b = doc(), doc(name="ttft")
    b["service"] = "other.svc"
    result = render(a, None, b)
    (group,) = result["groups"]
    assert group["name"] == "slo-llm-gateway-other.svc"
    rules = {r.get("record") or r["alert"] + r["expr"]: r for r in group["rules"]}
    assert 'slo:sli_events:rate1d{slo_service=~"llm-gateway|other\\\\.svc"}' in rules["slo:sli_events:rate3d"]["expr"]
    assert [r["labels"]["slo_service"] for r in group["rules"] if r.get("record") == "slo:sli_events:rate5m"] == [
        "llm-gateway",
        "other.svc",
    ]
    assert slo.slo_rule_groups(a, promql_checker=_ok)["groups"][0]["name"] == "slo-llm-gateway"
    assert render(None) == {"groups": []}


# --- validation ----------------------------------------------------------------------------


def _with(path: str, value: Any) -> dict[str, Any]:
    d = doc()
    keys = path.split(".")
    node: Any = d
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return d


_DELETE = object()
WHERE = "slos/gw.yml (document 1): service llm-gateway, SLO chat-availability: "


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "version",
            "prometheus/v2",
            "slos/gw.yml (document 1): service llm-gateway: version: 'prometheus/v1' was expected",
        ),
        ("service", _DELETE, "slos/gw.yml (document 1): (document): 'service' is a required property"),
        ("slos", [], "slos/gw.yml (document 1): service llm-gateway: slos: [] should be non-empty"),
        ("periodd", "30d", "service llm-gateway: (document): unknown key ('periodd' was unexpected)"),
        ("slos.0.objetive", 99, WHERE + "(document): unknown key ('objetive' was unexpected)"),
        ("slos.0.objective", "99.9", WHERE + "objective: '99.9' is not of type 'number'"),
        ("slos.0.objective", 120, WHERE + "objective: 120 is not in (0, 100)"),
        ("slos.0.objective", 100, WHERE + "objective: 100 is not in (0, 100)"),
        ("slos.0.objective", 0, WHERE + "objective: 0 is not in (0, 100)"),
        ("slos.0.sli", {}, WHERE + "sli: exactly one of events, raw or latency is required (found none)"),
        (
            "slos.0.sli.raw",
            {"error_ratio_query": "x[{{.window}}]"},
            WHERE + "sli: exactly one of events, raw or latency is required (found events, raw)",
        ),
        ("slos.0.sli", {"plugin": {"id": "x"}}, WHERE + "sli.plugin: Sloth SLI plugins are not supported"),
        ("slos.0.sli.events.error_query", "sum(rate(x[5m]))", WHERE + "sli.events.error_query: the query has no"),
        ("slos.0.sli.events.total_query", "sum(rate(x[5m]))", WHERE + "sli.events.total_query: the query has no"),
        ("slos.0.sli", {"raw": {"error_ratio_query": "x"}}, WHERE + "sli.raw.error_ratio_query: the query has no"),
        (
            "slos.0.sli.events.total_query",
            'sum(rate(http_requests_total{job="gw", code=~"5.."}[{{ .window }}]))',
            WHERE + "sli.events: error_query and total_query are the same query",
        ),
        ("slos.0.sli.events.total_query", _DELETE, WHERE + "sli.events: 'total_query' is a required property"),
        ("labels", {"1team": "x"}, "(document 1): service llm-gateway: labels: '1team' is not a valid"),
        ("slos.0.labels", {"team-name": "x"}, WHERE + "labels: 'team-name' is not a valid Prometheus label name"),
        ("slos.0.labels", {"__name__": "x"}, WHERE + "labels: '__name__' is not a valid Prometheus label name"),
        ("slos.0.labels", {"slo_name": "x"}, WHERE + "labels: 'slo_name' is set by the generator"),
        ("slos.0.alerting.labels", {"a b": "x"}, WHERE + "alerting.labels: 'a b' is not a valid"),
        ("slos.0.alerting.page_alert", {"labels": {"a-b": "x"}}, WHERE + "alerting.page_alert.labels: 'a-b'"),
        ("slos.0.alerting.annotations", {"run-book": "x"}, WHERE + "alerting.annotations: 'run-book' is not"),
        ("slos.0.alerting.ticket_alert", {"annotations": {"a.b": "x"}}, WHERE + "alerting.ticket_alert.annotations"),
        ("slos.0.alerting.labels", {"team": ["a"]}, WHERE + "alerting.labels.team: ['a'] is not of type"),
        ("slos.0.alerting.name", "Chat-Burn", WHERE + "alerting.name: 'Chat-Burn' is not a valid alert name"),
        ("slos.0.alerting.page_alert", {"disabled": True}, WHERE + "alerting.page_alert: unknown key"),
        ("slos.0.period", "30", WHERE + "period: '30' is not a whole number of days or weeks"),
        ("slos.0.period", "1.5d", WHERE + "period: '1.5d' is not a whole number"),
        ("slos.0.period", "720h", WHERE + "period: '720h' is not a whole number"),
        ("slos.0.period", "0d", WHERE + "period: '0d' is not a whole number"),
        ("slos.0.period", 30, WHERE + "period: 30 is not of type 'string'"),
        ("period", "a month", "service llm-gateway: period: 'a month' is not a whole number of days or weeks"),
        ("slos.0.low_traffic", {"min_errors": -1}, WHERE + "low_traffic.min_errors: -1 is less than the minimum of 0"),
        ("slos.0.low_traffic", {"min_failures": 3}, WHERE + "low_traffic: unknown key"),
        ("slos.0.sli", {"latency": {"histogram": "h"}}, WHERE + "sli.latency.threshold: the latency threshold"),
        (
            "slos.0.sli",
            {"latency": {"histogram": "h", "threshold": -1}},
            WHERE + "sli.latency.threshold: -1 is not a positive",
        ),
        (
            "slos.0.sli",
            {"latency": {"histogram": "h", "threshold": "fast"}},
            WHERE + "sli.latency.threshold: 'fast' is not a number of seconds",
        ),
        (
            "slos.0.sli",
            {"latency": {"histogram": "h", "threshold": "+Inf"}},
            WHERE + "sli.latency.threshold: '+Inf' is not a positive, finite",
        ),
        (
            "slos.0.sli",
            {"latency": {"histogram": "h_bucket", "threshold": 1}},
            WHERE + "sli.latency.histogram: 'h_bucket': give the histogram's base name",
        ),
        (
            "slos.0.sli",
            {"latency": {"histogram": "h-x", "threshold": 1}},
            WHERE + "sli.latency.histogram: 'h-x' is not a valid metric name",
        ),
        (
            "slos.0.sli",
            {"latency": {"histogram": "h", "threshold": 1, "selector": 'job="x"'}},
            WHERE + "sli.latency.selector: 'job=\"x\"' is not label matchers in braces",
        ),
    ],
)
def test_every_validation_error_names_file_service_slo_and_field(path, value, message):
    with pytest.raises(slo.SloError) as err:
        render(_with(path, value), source="slos/gw.yml")
    assert message in str(err.value)


def test_not_a_mapping():
    with pytest.raises(slo.SloError, match=r"^document 1: a definition must be a mapping, not list"):
        render([1, 2])  # type: ignore[arg-type]
    with pytest.raises(slo.SloError, match="got a string"):
        slo.slo_rule_groups("version: prometheus/v1")


def test_duplicate_slo_names_within_and_across_documents():
    d = doc()
    d["slos"].append(copy.deepcopy(d["slos"][0]))
    with pytest.raises(
        slo.SloError, match=r"^document 1: service llm-gateway, SLO chat-availability: name: SLO name already used"
    ):
        render(d)
    with pytest.raises(
        slo.SloError, match=r"^document 2: service llm-gateway, SLO chat-availability: name: .*document 1"
    ):
        render(doc(), doc())


def test_locations_from_a_locator():
    d = _with("slos.0.objective", 120)
    locate = {id(d): ("slos/from-origin.yml", 1), id(d["slos"][0]): (None, 9)}
    with pytest.raises(slo.SloError) as err:
        render(d, locate=lambda v: locate.get(id(v), (None, None)))
    assert str(err.value).startswith("slos/from-origin.yml (document 1, line 9): service llm-gateway, SLO chat")


def test_invalid_promql_is_reported_with_its_field():
    def checker(exprs):
        return ["1:5: parse error: unexpected" if "broken" in e else None for e in exprs]

    d = _with("slos.0.sli.events.total_query", "sum(rate(broken[{{.window}}])")
    with pytest.raises(slo.SloError, match=r"SLO chat-availability: sli.events.total_query: not valid PromQL \(1:5"):
        render(d, promql_checker=checker)


def test_nothing_is_rendered_when_a_later_document_is_bad():
    with pytest.raises(slo.SloError, match="document 2"):
        render(doc(), _with("slos.0.objective", 101))


BAD_QUERIES = ["sum(rate(x[5m])", "foo(bar)", 'x{job="a"', "rate(x)"]
GOOD_QUERIES = [
    'sum by (code) (rate(http_requests_total{job="a", code=~"5.."}[5m]))',
    "rate(vllm:request_success_total[5m])",
    "1 - avg(avg_over_time(up[5m]))",
    'histogram_quantile(0.99, sum by (le) (rate(h_bucket{le=~"1|1\\\\.0"}[5m])))',
]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_checker():
    assert slo.promtool_check(GOOD_QUERIES) == [None] * 4
    errors = slo.promtool_check(GOOD_QUERIES[:1] + BAD_QUERIES)
    assert errors[0] is None and all(errors[1:]), errors
    assert "unclosed left parenthesis" in errors[1]


def test_promql_parser_checker():
    pytest.importorskip("promql_parser")
    assert slo.promql_parser_check(GOOD_QUERIES) == [None] * 4
    errors = slo.promql_parser_check(BAD_QUERIES)
    assert all(errors), errors


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_default_checker_rejects_bad_promql_end_to_end():
    d = _with("slos.0.sli.events.error_query", "sum(rate(errors[{{.window}}])")
    with pytest.raises(slo.SloError, match="sli.events.error_query: not valid PromQL"):
        slo.slo_rule_groups([d])


# --- the Ansible adapter -------------------------------------------------------------------


def test_filter_adapter():
    from ansible.errors import AnsibleFilterError

    f = slo.FilterModule().filters()["slo_rule_groups"]
    assert f(doc())["groups"][0]["name"] == "slo-llm-gateway"
    with pytest.raises(AnsibleFilterError, match="slo_rule_groups: slos/x.yml .*objective: 120 is not in"):
        f([_with("slos.0.objective", 120)], source="slos/x.yml")
    with pytest.raises(AnsibleFilterError, match="got a string"):
        f("version: prometheus/v1")


def test_ansible_origin_reads_lines_from_ansible_yaml():
    import yaml
    from ansible._internal._yaml._loader import AnsibleInstrumentedLoader

    docs = list(
        yaml.load_all("---\nversion: prometheus/v1\nservice: s\nslos:\n  - name: a\n", Loader=AnsibleInstrumentedLoader)
    )
    assert slo.ansible_origin(docs[0]["slos"][0])[1] == 5
    assert slo.ansible_origin({"plain": "dict"}) == (None, None)
