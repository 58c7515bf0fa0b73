"""A Sloth-style rule set for the same SLOs, written from Sloth's documented formulas (v0.11):
every window's error ratio from raw `rate()` over that window, the period's ratio as the mean of
the recorded 5m ratios, and the multi-window multi-burn-rate alerts on those ratios. This is the
baseline the benchmark compares the `slo_rule_groups` filter's rules against."""

from __future__ import annotations

from typing import Any

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
PAGE = (("5m", "1h", "14.4"), ("30m", "6h", "6"))
TICKET = (("2h", "1d", "3"), ("6h", "3d", "1"))


def _sel(ids: dict[str, str], window: str | None = None) -> str:
    labels = dict(ids)
    if window:
        labels["sloth_window"] = window
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def sloth_groups(slo: dict[str, Any], service: str, period: str = "30d") -> list[dict[str, Any]]:
    """The three groups Sloth generates for one SLO with an events SLI (error and total queries)."""
    ids = {"sloth_id": f"{service}-{slo['name']}", "sloth_service": service, "sloth_slo": slo["name"]}
    error_q = slo["sli"]["events"]["error_query"]
    total_q = slo["sli"]["events"]["total_query"]
    budget = round(1 - slo["objective"] / 100, 10)
    sli = []
    for w in WINDOWS:
        expr = f"({error_q.replace('{{.window}}', w)})\n/\n({total_q.replace('{{.window}}', w)})\n"
        sli.append({"record": f"slo:sli_error:ratio_rate{w}", "expr": expr, "labels": ids | {"sloth_window": w}})
    sli.append(
        {
            "record": f"slo:sli_error:ratio_rate{period}",
            "expr": (
                f"sum_over_time(slo:sli_error:ratio_rate5m{_sel(ids)}[{period}])\n"
                f"/ ignoring (sloth_window)\ncount_over_time(slo:sli_error:ratio_rate5m{_sel(ids)}[{period}])\n"
            ),
            "labels": ids | {"sloth_window": period},
        }
    )
    on = "on(sloth_id, sloth_slo, sloth_service) group_left"
    meta = [
        {"record": "slo:objective:ratio", "expr": f"vector({slo['objective'] / 100})", "labels": ids},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1-{slo['objective'] / 100})", "labels": ids},
        {"record": "slo:time_period:days", "expr": f"vector({period[:-1]})", "labels": ids},
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate5m{_sel(ids)}\n/ {on}\nslo:error_budget:ratio{_sel(ids)}\n",
            "labels": ids,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate{period}{_sel(ids)}\n/ {on}\nslo:error_budget:ratio{_sel(ids)}\n",
            "labels": ids,
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{_sel(ids)}",
            "labels": ids | {"sloth_window": period},
        },
        {"record": "sloth_slo_info", "expr": "vector(1)", "labels": ids | {"sloth_objective": str(slo["objective"])}},
    ]

    def alert_expr(tiers: tuple[tuple[str, str, str], ...]) -> str:
        clauses = []
        for short, long, factor in tiers:
            clauses.append(
                f"(max(slo:sli_error:ratio_rate{short}{_sel(ids)} > ({factor} * {budget})) without (sloth_window)\n"
                f"and\nmax(slo:sli_error:ratio_rate{long}{_sel(ids)} > ({factor} * {budget})) without (sloth_window))"
            )
        return "\nor\n".join(clauses) + "\n"

    alerts = [
        {"alert": slo["alerting"]["name"], "expr": alert_expr(tiers), "labels": {"sloth_severity": sev}}
        for sev, tiers in (("page", PAGE), ("ticket", TICKET))
    ]
    return [
        {"name": f"sloth-slo-sli-recordings-{ids['sloth_id']}", "rules": sli},
        {"name": f"sloth-slo-meta-recordings-{ids['sloth_id']}", "rules": meta},
        {"name": f"sloth-slo-alerts-{ids['sloth_id']}", "rules": alerts},
    ]
