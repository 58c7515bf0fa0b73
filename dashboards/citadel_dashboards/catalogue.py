"""The series the project produces or scrapes, read from the files that define them.

Dashboards take their SLO rows from slos/*.yml (through the same loader that renders the SLO
rules, plugins/filter/slo_rule_groups.py), and the tests check every panel's metric names
against `known_metrics()`: the recording rules of rules/*.yml and of the SLOs, the collector's
catalogue (docs/collector.md), the analytics service's outputs and the few series scraped from
Prometheus's and Alertmanager's own exposition.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]

# The analytics service's outputs (docs/analytics.md; the service is being written): every
# series carries `series` (the analysed series' name) plus the labels of the analysed series.
ANALYTICS_METRICS = frozenset(
    {
        "citadel_analytics_anomaly_score",
        "citadel_analytics_expected",
        "citadel_analytics_expected_lower",
        "citadel_analytics_expected_upper",
        "citadel_analytics_forecast",
        "citadel_analytics_time_to_exhaustion_seconds",
    }
)
ANALYTICS_SERIES_LABEL = "series"

# Series of Prometheus's own (`up`, `ALERTS`) and of Alertmanager's exposition (scrape job
# `alertmanager`).
SCRAPED_METRICS = frozenset(
    {
        "up",
        "ALERTS",
        "ALERTS_FOR_STATE",
        "alertmanager_alerts",
        "alertmanager_notifications_total",
        "alertmanager_notifications_failed_total",
        "alertmanager_silences",
        "prometheus_rule_evaluation_failures_total",
    }
)

_COLLECTOR_NAME = re.compile(r"`(citadel_[a-z0-9_]+)[`{]")


@cache
def _slo_module() -> ModuleType:
    name = "citadel_slo_rule_groups"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "plugins/filter/slo_rule_groups.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _no_check(exprs: Any) -> list[None]:
    # The SLO files' PromQL is checked by their own tests; the dashboards only need the objects.
    return [None] * len(list(exprs))


@cache
def slos() -> tuple[Any, ...]:
    """Every SLO of slos/*.yml, validated, in file order (objects of slo_rule_groups.Slo)."""
    module = _slo_module()
    found: list[Any] = []
    for path in sorted((ROOT / "slos").glob("*.yml")):
        docs = list(yaml.safe_load_all(path.read_text()))
        found += module.load_slos(docs, source=str(path.relative_to(ROOT)), promql_checker=_no_check)
    return tuple(found)


def slo_alert_names() -> dict[tuple[str, str], str | None]:
    return {(s.service, s.name): s.alert_name for s in slos()}


def slo_record_names() -> frozenset[str]:
    module = _slo_module()
    groups = module.rule_groups(list(slos()))["groups"] if slos() else []
    return frozenset(r["record"] for g in groups for r in g["rules"] if "record" in r)


def rule_record_names() -> frozenset[str]:
    names: set[str] = set()
    for path in sorted((ROOT / "rules").glob("*.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            names.update(r["record"] for r in group.get("rules", []) if "record" in r)
    return frozenset(names)


def collector_metrics() -> frozenset[str]:
    """`citadel_*` names of the collector's catalogue in docs/collector.md (counters with _total)."""
    path = ROOT / "docs/collector.md"
    return frozenset(_COLLECTOR_NAME.findall(path.read_text())) if path.exists() else frozenset()


def known_metrics() -> frozenset[str]:
    return rule_record_names() | slo_record_names() | collector_metrics() | ANALYTICS_METRICS | SCRAPED_METRICS
