"""Anomalies and forecasts: the analytics service's outputs beside the series they describe.

The analytics service (docs/analytics.md) writes `citadel_analytics_*` series labelled with
`series`, the name of the series it analyses; the actual values are read back by that name.
"""

from __future__ import annotations

from .catalogue import ANALYTICS_SERIES_LABEL as S
from .grafana import SECONDS, SHORT, Dashboard, Panel, Target, query_variable

SEL = f'{S}=~"$series"'


def build() -> dict:
    d = Dashboard(
        "citadel-anomalies-forecasts",
        "Citadel / Anomalies and forecasts",
        "Anomaly scores with the expected band around each analysed series, forecasts against actuals, "
        "and the time until each forecast reaches its limit.",
        ["capacity", "analytics"],
        variables=[query_variable("series", "Series", f"label_values(citadel_analytics_anomaly_score, {S})")],
        time_from="now-2d",
    )
    d.row("Anomalies")
    d.add(
        Panel(
            "Anomaly score",
            "How anomalous each analysed series' latest point is, from 0 (expected) to 1 "
            "(citadel_analytics_anomaly_score); the detectors alert above their threshold.",
            "percentunit",
            [Target(f"max by ({S}) (citadel_analytics_anomaly_score{{{SEL}}})", f"{{{{{S}}}}}")],
            width=24,
            min=0,
            max=1,
            thresholds=[(None, "green"), (0.5, "orange"), (0.8, "red")],
        ),
        Panel(
            "Actual against the expected band",
            "The analysed series (actual), the value the model expected and its band "
            "(citadel_analytics_expected, _lower, _upper).",
            SHORT,
            [
                Target('{__name__=~"$series"}', "actual {{__name__}} {{instance}}"),
                Target(f"citadel_analytics_expected{{{SEL}}}", f"expected {{{{{S}}}}}"),
                Target(f"citadel_analytics_expected_lower{{{SEL}}}", f"lower {{{{{S}}}}}"),
                Target(f"citadel_analytics_expected_upper{{{SEL}}}", f"upper {{{{{S}}}}}"),
            ],
            width=24,
            height=10,
        ),
    )
    d.row("Forecasts")
    d.add(
        Panel(
            "Forecast against actual",
            "The analytics forecast of each series (citadel_analytics_forecast) beside its actual values.",
            SHORT,
            [
                Target('{__name__=~"$series"}', "actual {{__name__}} {{instance}}"),
                Target(f"citadel_analytics_forecast{{{SEL}}}", f"forecast {{{{{S}}}}}"),
            ],
            width=16,
            height=10,
        ),
        Panel(
            "Time to exhaustion",
            "Time until each forecast series reaches its configured limit "
            "(citadel_analytics_time_to_exhaustion_seconds), soonest first.",
            SECONDS,
            [
                Target(
                    f"sort(min by ({S}) (citadel_analytics_time_to_exhaustion_seconds{{{SEL}}}))",
                    f"{{{{{S}}}}}",
                    instant=True,
                )
            ],
            kind="bargauge",
            width=8,
            height=10,
            thresholds=[(None, "red"), (86400 * 7, "orange"), (86400 * 30, "green")],
        ),
    )
    return d.to_json()
