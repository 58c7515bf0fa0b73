"""SLOs: one row per SLO of slos/*.yml, generated from the same definitions as the SLO rules.

Each row shows the objective, the SLI over the SLO's period, the error budget remaining, the
burn rates of the alert windows and the state of the SLO's burn-rate alert, all from the
`slo:*` series the slo_rule_groups filter records (docs/slos.md).
"""

from __future__ import annotations

import json

from . import catalogue
from .grafana import PERCENT_UNIT, SHORT, Dashboard, Panel, Target, query_variable

BURN_WINDOWS = "5m|30m|1h|6h|1d|3d"


def _sel(slo: object, window: str = "", window_regex: str = "") -> str:
    """The SLO's selector, with an exact (`window`) or regex (`window_regex`) slo_window matcher."""
    matchers = [f"slo_service={json.dumps(slo.service)}", f"slo_name={json.dumps(slo.name)}"]  # type: ignore[attr-defined]
    if window:
        matchers.append(f"slo_window={json.dumps(window)}")
    if window_regex:
        matchers.append(f"slo_window=~{json.dumps(window_regex)}")
    return "{" + ", ".join(matchers) + "}"


def build() -> dict:
    d = Dashboard(
        "citadel-slos",
        "Citadel / SLOs",
        "Every SLO of slos/*.yml: objective, attainment over its period, error budget, burn rates and alerts.",
        ["slo", "sre"],
        variables=[query_variable("service", "Service", "label_values(slo:objective:ratio, slo_service)")],
        time_from="now-7d",
    )
    d.row("All SLOs")
    d.add(
        Panel(
            "Error budget remaining",
            "Share of each SLO's error budget left in its period (slo:error_budget_remaining:ratio).",
            PERCENT_UNIT,
            [
                Target(
                    'slo:error_budget_remaining:ratio{slo_service=~"$service"}',
                    "{{slo_service}} / {{slo_name}}",
                    instant=True,
                )
            ],
            kind="bargauge",
            width=12,
            min=0,
            max=1,
            thresholds=[(None, "red"), (0.25, "orange"), (0.5, "green")],
        ),
        Panel(
            "Burn-rate alerts firing",
            "SLO burn-rate alerts firing now, by alert and severity (page or ticket).",
            SHORT,
            [
                Target(
                    'sum by (alertname, severity) (ALERTS{alertstate="firing", slo_service=~"$service"})',
                    "{{alertname}} ({{severity}})",
                )
            ],
            width=12,
        ),
    )
    for slo in catalogue.slos():
        days = slo.period_days
        d.row(f"{slo.service} / {slo.name}: {float(slo.objective) * 100:g}% over {days}d")
        about = f"{slo.description} ({slo.source})" if slo.description else slo.source
        d.add(
            Panel(
                "Objective",
                f"The objective of {slo.service} / {slo.name}: {about}",
                PERCENT_UNIT,
                [Target(f"slo:objective:ratio{_sel(slo)}", "objective", instant=True)],
                kind="stat",
                width=4,
                decimals=3,
            ),
            Panel(
                f"SLI over {days}d",
                f"Share of good events over the SLO's {days}-day period (1 - slo:sli_error:ratio, slo_window=period).",
                PERCENT_UNIT,
                [Target(f"1 - slo:sli_error:ratio{_sel(slo, window='period')}", "SLI", instant=True)],
                kind="stat",
                width=4,
                decimals=3,
                thresholds=[(None, "red"), (float(slo.objective), "green")],
            ),
            Panel(
                "Budget remaining",
                f"Share of the {days}-day error budget not yet spent (slo:error_budget_remaining:ratio).",
                PERCENT_UNIT,
                [Target(f"slo:error_budget_remaining:ratio{_sel(slo)}", "remaining")],
                kind="stat",
                width=4,
                thresholds=[(None, "red"), (0.25, "orange"), (0.5, "green")],
            ),
            Panel(
                "Burn rates",
                "How many times faster than sustainable the budget is spent, per alert window "
                "(slo:burn_rate:ratio); pages fire at 14.4 (1h) and 6 (6h), tickets at 1 to 3 (1d, 3d).",
                SHORT,
                [Target(f"slo:burn_rate:ratio{_sel(slo, window_regex=BURN_WINDOWS)}", "{{slo_window}}")],
                width=8,
            ),
            Panel(
                "Alert state",
                f"The SLO's burn-rate alert ({slo.alert_name or 'none'}): 1 while firing, by severity.",
                SHORT,
                [
                    Target(
                        f'sum by (severity) (ALERTS{{alertname="{slo.alert_name}", alertstate="firing"}}) or vector(0)'
                        if slo.alert_name
                        else "vector(0)",
                        "{{severity}}",
                    )
                ],
                kind="stat",
                width=4,
                thresholds=[(None, "green"), (1, "red")],
            ),
        )
    return d.to_json()
