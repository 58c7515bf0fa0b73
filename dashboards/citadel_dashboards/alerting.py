"""Alerting: firing alerts, incidents (paging alerts) and Alertmanager's notification volume."""

from __future__ import annotations

from .grafana import SHORT, Dashboard, Panel, Target

LEGEND = "{{alertname}} ({{severity}})"


def build() -> dict:
    d = Dashboard(
        "citadel-alerting",
        "Citadel / Alerting",
        "What is firing, how often the on-call was paged, and how many notifications went out.",
        ["alerting", "sre"],
        time_from="now-24h",
    )
    d.row("Now")
    d.add(
        Panel(
            "Alerts firing",
            "Alerts firing now, by severity (Prometheus's ALERTS series).",
            SHORT,
            [Target('sum by (severity) (ALERTS{alertstate="firing"}) or vector(0)', "{{severity}}", instant=True)],
            kind="stat",
            width=8,
            height=6,
            thresholds=[(None, "green"), (1, "red")],
        ),
        Panel(
            "Alerts pending",
            "Alerts whose condition holds but not yet for their `for` duration.",
            SHORT,
            [Target('count(ALERTS{alertstate="pending"}) or vector(0)', "pending", instant=True)],
            kind="stat",
            width=8,
            height=6,
            thresholds=[(None, "green"), (1, "orange")],
        ),
        Panel(
            "Rule evaluation failures",
            "Recording and alerting rule evaluations that failed in the last hour: alerts may be missing.",
            SHORT,
            [Target("sum(increase(prometheus_rule_evaluation_failures_total[1h]))", "failures", instant=True)],
            kind="stat",
            width=8,
            height=6,
            thresholds=[(None, "green"), (1, "red")],
        ),
        Panel(
            "Firing alerts",
            "Every alert firing now with its labels.",
            SHORT,
            [Target('ALERTS{alertstate="firing"}', LEGEND, instant=True, fmt="table")],
            kind="table",
            width=24,
        ),
    )
    d.row("History")
    d.add(
        Panel(
            "Alerts firing over time",
            "Alerts firing, per alert and severity.",
            SHORT,
            [Target('sum by (alertname, severity) (ALERTS{alertstate="firing"})', LEGEND)],
            width=12,
            stack=True,
        ),
        Panel(
            "Incidents (paging alerts)",
            "Paging alerts (severity=page) firing: each step up is an incident the on-call was paged for.",
            SHORT,
            [Target('count by (alertname) (ALERTS{alertstate="firing", severity="page"})', "{{alertname}}")],
            width=12,
        ),
        Panel(
            "Notifications sent",
            "Notifications Alertmanager sent per second, per integration (email, webhook, ...).",
            "reqps",
            [Target("sum by (integration) (rate(alertmanager_notifications_total[5m]))", "{{integration}}")],
            width=12,
        ),
        Panel(
            "Notifications failed",
            "Notifications Alertmanager could not deliver per second, per integration.",
            "reqps",
            [Target("sum by (integration) (rate(alertmanager_notifications_failed_total[5m]))", "{{integration}}")],
            width=12,
        ),
    )
    return d.to_json()
