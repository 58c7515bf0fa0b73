"""Analytics context for an incident: which series are anomalous on its hosts or models, since when.

One Prometheus query per incident update, through `citadel_monitoring.promapi.PromClient`:
`(citadel_analytics_anomaly_score > T)[lookback:step]`, a subquery that returns, for every series
above the threshold in the lookback, the points where it was. The analytics service labels its
results `watch` and `series` (the analysed series' labels as text, `{instance="m1",model="llama"}`);
a result belongs to the incident when that text names one of its hosts (`instance`, port cut off)
or models (`model`). "Since" is the start of the newest unbroken run above the threshold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from citadel_monitoring.incidents.config import EnrichmentConfig
from citadel_monitoring.incidents.grouping import host_of
from citadel_monitoring.promapi import PromAPIError, PromClient, Series

LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
MAX_ANOMALIES = 20


def parse_series_text(text: str) -> dict[str, str]:
    """`{instance="m1",model="llama"}` -> {'instance': 'm1', 'model': 'llama'}."""
    return {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in LABEL_PAIR.findall(text)}


def anomalies_for(
    results: Sequence[Series],
    hosts: Sequence[str],
    models: Sequence[str],
    step: float,
    host_label: str = "instance",
    model_label: str = "model",
) -> list[dict[str, Any]]:
    """The anomalous series of `results` on `hosts` or `models`, most anomalous first."""
    out = []
    for s in results:
        if len(s.values) == 0:
            continue
        inner = parse_series_text(s.labels.get("series", ""))
        host = host_of(inner[host_label]) if inner.get(host_label) else None
        if host not in hosts and inner.get(model_label) not in models:
            continue
        ts = list(s.timestamps)
        start = len(ts) - 1
        while start > 0 and ts[start] - ts[start - 1] <= 1.5 * step:
            start -= 1
        out.append(
            {
                "watch": s.labels.get("watch", ""),
                "series": s.labels.get("series", ""),
                "score": round(float(s.values[-1]), 4),
                "since": datetime.fromtimestamp(float(ts[start]), UTC).isoformat().replace("+00:00", "Z"),
            }
        )
    out.sort(key=lambda a: (-a["score"], a["watch"], a["series"]))
    return out[:MAX_ANOMALIES]


class Enricher:
    def __init__(self, config: EnrichmentConfig, host_label: str = "instance", model_label: str = "model") -> None:
        self.config = config
        self.host_label = host_label
        self.model_label = model_label
        self.client = PromClient(
            config.prometheus_url,
            timeout=config.timeout_seconds,
            ca_file=config.ca_file,
            username=config.username,
            password_file=config.password_file,
        )

    def query(self) -> str:
        c = self.config
        return f"(citadel_analytics_anomaly_score > {c.threshold:g})[{c.lookback_seconds}s:{c.step_seconds}s]"

    def anomalies(self, hosts: Sequence[str], models: Sequence[str]) -> list[dict[str, Any]]:
        """Raises PromAPIError when Prometheus cannot answer."""
        if not hosts and not models:
            return []
        results = self.client.query(self.query())
        return anomalies_for(results, hosts, models, self.config.step_seconds, self.host_label, self.model_label)


__all__ = ["Enricher", "PromAPIError", "anomalies_for", "parse_series_text"]
