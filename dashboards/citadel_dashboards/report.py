"""The executive report: a self-contained, printable HTML page from a snapshot of figures.

`collect(prometheus)` reads the snapshot from Prometheus's HTTP API (recorded series only, so
it is cheap over a week); `render(snapshot)` turns it into HTML with inline SVG charts and no
external assets. The snapshot is plain JSON, so the page can also be rendered from a saved one
(dashboards/fixtures/report-snapshot.json is one).
"""

from __future__ import annotations

import base64
import html
import json
import math
import ssl
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Snapshot = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Reading the figures from Prometheus


@dataclass
class Prometheus:
    """A small client of Prometheus's HTTP API (basic auth, a CA file for TLS)."""

    url: str
    username: str = ""
    password: str = ""
    ca_file: str = ""
    timeout: float = 30.0

    def _get(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        url = f"{self.url.rstrip('/')}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url)
        if self.username:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        context = ssl.create_default_context(cafile=self.ca_file or None) if url.startswith("https") else None
        with urllib.request.urlopen(request, timeout=self.timeout, context=context) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"{url}: {body.get('error', body)}")
        return body["data"]["result"]

    def query(self, expr: str, at: datetime) -> list[dict[str, Any]]:
        return self._get("query", {"query": expr, "time": f"{at.timestamp():.0f}"})

    def query_range(self, expr: str, start: datetime, end: datetime, step: str) -> list[dict[str, Any]]:
        return self._get(
            "query_range",
            {"query": expr, "start": f"{start.timestamp():.0f}", "end": f"{end.timestamp():.0f}", "step": step},
        )


def _value(sample: dict[str, Any]) -> float:
    return float(sample["value"][1])


def collect(prom: Prometheus, days: int = 7, now: datetime | None = None) -> Snapshot:
    """The report's figures over the last `days` days, from recorded series."""
    end = now or datetime.now(UTC)
    start = end - timedelta(days=days)
    w = f"{days}d"
    seconds = days * 86400

    def by(expr: str, *labels: str) -> dict[tuple[str, ...], float]:
        found = {}
        for s in prom.query(expr, end):
            v = _value(s)
            if math.isfinite(v):
                found[tuple(s["metric"].get(label, "") for label in labels)] = v
        return found

    slo_keys = ("slo_service", "slo_name")
    objective = by("slo:objective:ratio", *slo_keys)
    week = by(f'1 - avg_over_time(slo:sli_error:ratio{{slo_window="5m"}}[{w}])', *slo_keys)
    period = by('1 - slo:sli_error:ratio{slo_window="period"}', *slo_keys)
    remaining = by("slo:error_budget_remaining:ratio", *slo_keys)
    days_ = by("slo:time_period:days", *slo_keys)
    slos = [
        {
            "service": key[0],
            "name": key[1],
            "objective": objective[key],
            "attainment": week.get(key),
            "period_attainment": period.get(key),
            "budget_remaining": remaining.get(key),
            "period_days": int(days_.get(key, 30)),
        }
        for key in sorted(objective)
    ]

    requests = by(
        f"sum by (tenant, model) (avg_over_time(tenant:llm_requests:rate5m[{w}])) * {seconds}", "tenant", "model"
    )
    tokens = by(f"sum by (tenant, model) (avg_over_time(tenant:llm_tokens:rate5m[{w}])) * {seconds}", "tenant", "model")
    cost_rate = prom.query(
        "sum by (currency) (avg_over_time(citadel_cost_gpu_per_second[{w}]) * on (instance) group_left () "
        "avg_over_time(citadel_cost_gpus[{w}]))".replace("{w}", w),
        end,
    )
    currency = cost_rate[0]["metric"].get("currency", "") if cost_rate else ""
    cost_total = _value(cost_rate[0]) * seconds if cost_rate else 0.0
    gpu_hours = sum(by(f"sum(avg_over_time(citadel_gpus[{w}]))").values()) * seconds / 3600
    total_tokens = sum(tokens.values())
    traffic = [
        {
            "tenant": key[0],
            "model": key[1],
            "requests": requests.get(key, 0.0),
            "tokens": tokens.get(key, 0.0),
            # The fleet's cost shared out by tokens: tenants pay for what they generate.
            "cost": cost_total * tokens.get(key, 0.0) / total_tokens if total_tokens else 0.0,
        }
        for key in sorted(set(requests) | set(tokens))
    ]

    daily: list[dict[str, Any]] = []
    for name, expr in (
        ("requests", "sum(avg_over_time(tenant:llm_requests:rate5m[1d])) * 86400"),
        ("tokens", "sum(avg_over_time(tenant:llm_tokens:rate5m[1d])) * 86400"),
    ):
        series = prom.query_range(expr, start + timedelta(days=1), end, "1d")
        for i, (ts, value) in enumerate(series[0]["values"] if series else []):
            if len(daily) <= i:
                daily.append({"date": datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d")})
            daily[i][name] = float(value)

    incidents = []
    for s in prom.query_range('ALERTS{alertstate="firing", severity="page"}', start, end, "5m"):
        stamps = [float(t) for t, _ in s["values"]]
        first = stamps[0]
        for prev, cur in zip(stamps, [*stamps[1:], None], strict=True):
            if cur is None or cur - prev > 300:
                incidents.append(
                    {
                        "alertname": s["metric"].get("alertname", ""),
                        "severity": "page",
                        "started": datetime.fromtimestamp(first, UTC).strftime("%Y-%m-%d %H:%M"),
                        "minutes": round((prev - first) / 60) + 5,
                    }
                )
                first = cur or 0.0
    capacity = [
        {"series": key[0], "time_to_exhaustion_seconds": v}
        for key, v in sorted(by("min by (series) (citadel_analytics_time_to_exhaustion_seconds)", "series").items())
    ]
    return {
        "title": "Citadel LLM inference: weekly executive report",
        "source": f"Prometheus at {prom.url}",
        "generated_at": end.strftime("%Y-%m-%d %H:%M UTC"),
        "period": {"start": start.strftime("%Y-%m-%d"), "end": end.strftime("%Y-%m-%d"), "days": days},
        "currency": currency,
        "slos": slos,
        "traffic": traffic,
        "daily": daily,
        "cost": {"total": cost_total, "gpu_hours": gpu_hours},
        "incidents": sorted(incidents, key=lambda i: i["started"]),
        "capacity": capacity,
    }


# ---------------------------------------------------------------------------------------------
# Rendering


def _num(value: float) -> str:
    """1234567 -> 1.23M; small numbers as they are."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}" if value else "0"


def _pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def _money(value: float, currency: str) -> str:
    """Amounts with cents; amounts under 1 with four significant digits (cost per 1K tokens)."""
    text = f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.4g}"
    return f"{text} {currency}".strip()


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds / 3600:.1f} hours"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def bar_chart(points: list[tuple[str, float]], title: str, fmt: Callable[[float], str] = _num) -> str:
    """A vertical bar chart as inline SVG (one bar per point, labels under the bars)."""
    width, height, pad, top = 640, 220, 40, 20
    top_value = max((v for _, v in points), default=0) or 1
    step = (width - 2 * pad) / max(len(points), 1)
    bars = []
    for i, (label, value) in enumerate(points):
        h = (height - pad - top) * value / top_value
        x = pad + i * step + step * 0.15
        y = height - pad - h
        bars.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}">'
            f"<title>{_esc(label)}: {_esc(fmt(value))}</title></rect>"
            f'<text class="value" x="{x + step * 0.35:.1f}" y="{y - 4:.1f}">{_esc(fmt(value))}</text>'
            f'<text class="label" x="{x + step * 0.35:.1f}" y="{height - pad + 16}">{_esc(label)}</text>'
        )
    return (
        f'<svg class="chart" role="img" aria-label="{_esc(title)}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><line class="axis" x1="{pad}" y1="{height - pad}" '
        f'x2="{width - pad}" y2="{height - pad}"/>{"".join(bars)}</svg>'
    )


def slo_chart(slos: list[dict[str, Any]]) -> str:
    """Horizontal bars: each SLO's attainment against its objective (scale 95% to 100%)."""
    width, row, left, right = 640, 26, 230, 70
    height = row * len(slos) + 10
    low = 0.95

    def x(v: float) -> float:
        return left + (width - left - right) * (min(max(v, low), 1) - low) / (1 - low)

    parts = []
    for i, s in enumerate(slos):
        y = 5 + i * row
        att = s.get("attainment")
        met = att is not None and att >= s["objective"]
        name = f"{_esc(s['service'])} / {_esc(s['name'])}"
        parts.append(f'<text class="label" x="{left - 8}" y="{y + 16}" text-anchor="end">{name}</text>')
        parts.append(f'<rect class="track" x="{left}" y="{y + 4}" width="{width - left - right}" height="16"/>')
        if att is not None:
            cls = "met" if met else "missed"
            parts.append(
                f'<rect class="{cls}" x="{left}" y="{y + 4}" width="{x(att) - left:.1f}" height="16">'
                f"<title>{_esc(s['name'])}: {_pct(att, 3)}</title></rect>"
            )
        xo = x(s["objective"])
        parts.append(f'<line class="objective" x1="{xo:.1f}" y1="{y}" x2="{xo:.1f}" y2="{y + 24}"/>')
        parts.append(f'<text class="pct" x="{width - right + 8}" y="{y + 16}">{_pct(att, 3)}</text>')
    return (
        f'<svg class="chart" role="img" aria-label="SLO attainment against objectives" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )


CSS = """
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1d2330; margin: 2em auto;
       max-width: 900px; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; } h2 { font-size: 1.2em; border-bottom: 2px solid #dde3ec;
     padding-bottom: 0.2em; margin-top: 1.6em; }
.meta { color: #5a6478; }
.kpis { display: grid; grid-template-columns: repeat(4, 1fr); gap: 0.8em; margin-top: 1em; }
.kpi { background: #f3f6fa; border-radius: 6px; padding: 0.7em; }
.kpi .figure { font-size: 1.3em; font-weight: bold; } .kpi .name { color: #5a6478; font-size: 0.85em; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { text-align: left; padding: 0.3em 0.5em; border-bottom: 1px solid #e4e8ef; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1a7f37; font-weight: bold; } .bad { color: #c62828; font-weight: bold; }
svg.chart { width: 100%; height: auto; }
svg .bar { fill: #3b6fd4; } svg .track { fill: #eef1f5; } svg .met { fill: #2e9e5b; } svg .missed { fill: #d84a4a; }
svg .objective { stroke: #1d2330; stroke-width: 2; } svg .axis { stroke: #9aa5b8; }
svg text { font-size: 11px; fill: #1d2330; } svg text.value, svg text.label { text-anchor: middle; }
svg text.label[text-anchor="end"] { text-anchor: end; } svg text.pct { text-anchor: start; }
h3 { font-size: 0.95em; margin: 1em 0 0.2em; color: #5a6478; }
.empty { color: #5a6478; font-style: italic; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } section { break-inside: avoid; } }
"""


def render(snap: Snapshot) -> str:
    cur = snap.get("currency", "")
    slos = snap.get("slos", [])
    traffic = sorted(snap.get("traffic", []), key=lambda t: -t["tokens"])
    total_requests = sum(t["requests"] for t in traffic)
    total_tokens = sum(t["tokens"] for t in traffic)
    cost = snap.get("cost", {}).get("total", 0.0)
    met = sum(1 for s in slos if s.get("attainment") is not None and s["attainment"] >= s["objective"])
    per_1k = cost / total_tokens * 1000 if total_tokens else 0.0

    kpis = [
        ("slos-met", f"{met} of {len(slos)}", "SLOs met this week"),
        ("requests", _num(total_requests), "requests"),
        ("tokens", _num(total_tokens), "tokens"),
        ("cost", _money(cost, cur), f"GPU cost ({_money(per_1k, cur)} per 1K tokens)"),
    ]
    kpi_html = "".join(
        f'<div class="kpi"><div class="figure" data-figure="{k}">{_esc(v)}</div><div class="name">{_esc(n)}</div></div>'
        for k, v, n in kpis
    )

    slo_rows = "".join(
        f'<tr data-slo="{_esc(s["service"])}/{_esc(s["name"])}"><td>{_esc(s["service"])}</td><td>{_esc(s["name"])}</td>'
        f'<td class="num">{_pct(s["objective"], 2)}</td><td class="num">{_pct(s.get("attainment"), 3)}</td>'
        f'<td class="num">{_pct(s.get("budget_remaining"), 1)} of {s.get("period_days", 30)}d</td>'
        f'<td class="{"ok" if s.get("attainment") is not None and s["attainment"] >= s["objective"] else "bad"}">'
        f"{'met' if s.get('attainment') is not None and s['attainment'] >= s['objective'] else 'missed'}</td></tr>"
        for s in slos
    )
    traffic_rows = "".join(
        f'<tr><td>{_esc(t["tenant"])}</td><td>{_esc(t["model"])}</td><td class="num">{_num(t["requests"])}</td>'
        f'<td class="num">{_num(t["tokens"])}</td><td class="num">{_money(t["cost"], cur)}</td></tr>'
        for t in traffic
    )
    incidents = snap.get("incidents", [])
    incident_html = (
        '<table id="incidents"><tr><th>started (UTC)</th><th>alert</th><th class="num">minutes</th></tr>'
        + "".join(
            f'<tr><td>{_esc(i["started"])}</td><td>{_esc(i["alertname"])}</td><td class="num">{i["minutes"]}</td></tr>'
            for i in incidents
        )
        + "</table>"
        if incidents
        else '<p class="empty" id="incidents">No paging incident this week.</p>'
    )
    capacity = sorted(snap.get("capacity", []), key=lambda c: c["time_to_exhaustion_seconds"])
    capacity_html = (
        '<table id="capacity"><tr><th>resource (forecast series)</th><th class="num">time to exhaustion</th></tr>'
        + "".join(
            f'<tr><td>{_esc(c["series"])}</td><td class="num">{_duration(c["time_to_exhaustion_seconds"])}</td></tr>'
            for c in capacity
        )
        + "</table>"
        if capacity
        else '<p class="empty" id="capacity">No forecast reaches its limit within the horizon.</p>'
    )
    daily = snap.get("daily", [])
    period = snap.get("period", {})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(snap.get("title", "Executive report"))}</title>
<style>{CSS}</style></head>
<body>
<header><h1>{_esc(snap.get("title", "Executive report"))}</h1>
<p class="meta">{_esc(period.get("start", ""))} to {_esc(period.get("end", ""))} ({period.get("days", 7)} days);
generated {_esc(snap.get("generated_at", ""))} from {_esc(snap.get("source", "Prometheus"))}.</p>
<div class="kpis">{kpi_html}</div></header>
<section id="slos"><h2>Service levels</h2>
{slo_chart(slos) if slos else '<p class="empty">No SLO is defined.</p>'}
<table><tr><th>service</th><th>SLO</th><th class="num">objective</th><th class="num">this week</th>
<th class="num">budget left</th><th>status</th></tr>{slo_rows}</table></section>
<section id="traffic"><h2>Traffic</h2>
<h3>Requests per day</h3>
{bar_chart([(d["date"][5:], d.get("requests", 0.0)) for d in daily], "Requests per day")}
<h3>Tokens per day</h3>
{bar_chart([(d["date"][5:], d.get("tokens", 0.0)) for d in daily], "Tokens per day")}
</section>
<section id="usage"><h2>Tokens and cost by tenant and model</h2>
<table id="usage-table"><tr><th>tenant</th><th>model</th><th class="num">requests</th><th class="num">tokens</th>
<th class="num">cost</th></tr>{traffic_rows}</table>
<p class="meta">Cost is the GPU cost of the fleet ({_num(snap.get("cost", {}).get("gpu_hours", 0.0))} GPU-hours),
shared out by tokens.</p></section>
<section><h2>Incidents</h2>{incident_html}</section>
<section><h2>Capacity outlook</h2>{capacity_html}</section>
</body></html>
"""
