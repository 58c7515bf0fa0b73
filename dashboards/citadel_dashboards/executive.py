"""Executive overview: service levels, usage, cost and efficiency, capacity outlook."""

from __future__ import annotations

from .grafana import PERCENT_UNIT, REQPS, SHORT, Dashboard, Panel, Target, query_variable

# Fleet token rates come from the engines' own counters; the gateway's (the only source with a
# tenant) would count the same tokens twice.
ENGINE = 'source="engine"'
TOKENS = f"(sum(model:llm_prompt_tokens:rate5m{{{ENGINE}}}) + sum(model:llm_generation_tokens:rate5m{{{ENGINE}}}))"
COST_PER_SECOND = "sum by (currency) (citadel_cost_gpu_per_second * on (instance) group_left () citadel_cost_gpus)"
GOOD = [(None, "red"), (0.99, "orange"), (0.999, "green")]


def build() -> dict:
    d = Dashboard(
        "citadel-executive",
        "Citadel / Executive overview",
        "Service levels, usage and cost of the LLM inference service, for the people who pay for it.",
        ["executive"],
        variables=[
            query_variable("tenant", "Tenant", "label_values(tenant:llm_requests:rate5m, tenant)"),
            query_variable("model", "Model", "label_values(model:llm_requests:rate5m, model)"),
        ],
        time_from="now-7d",
    )
    d.row("Service levels")
    d.add(
        Panel(
            "SLO attainment over each SLO's period",
            "Share of good events over the SLO's whole period (slo:sli_error:ratio, slo_window=period), "
            "per service and SLO; the objective is in the SLOs dashboard.",
            PERCENT_UNIT,
            [Target('1 - slo:sli_error:ratio{slo_window="period"}', "{{slo_service}} / {{slo_name}}", instant=True)],
            kind="bargauge",
            width=12,
            min=0.95,
            max=1,
            decimals=3,
            thresholds=GOOD,
        ),
        Panel(
            "Error budget remaining",
            "Share of each SLO's error budget not yet spent in its period; below 0 the SLO is missed.",
            PERCENT_UNIT,
            [Target("slo:error_budget_remaining:ratio", "{{slo_service}} / {{slo_name}}", instant=True)],
            kind="bargauge",
            width=12,
            min=0,
            max=1,
            thresholds=[(None, "red"), (0.25, "orange"), (0.5, "green")],
        ),
        Panel(
            "Availability per model",
            "Share of requests answered without error, per model (model:llm_request_errors:ratio_rate5m).",
            PERCENT_UNIT,
            [
                Target(
                    '1 - max by (model) (model:llm_request_errors:ratio_rate5m{model=~"$model"})',
                    "{{model}}",
                )
            ],
            width=12,
            max=1,
            thresholds=GOOD,
        ),
        Panel(
            "Synthetic probe success per model",
            "Share of the collector's synthetic completions that succeeded (model:llm_probe_success:avg5m).",
            PERCENT_UNIT,
            [Target('avg by (model) (model:llm_probe_success:avg5m{model=~"$model"})', "{{model}}")],
            width=12,
            max=1,
            thresholds=GOOD,
        ),
    )
    d.row("Usage")
    d.add(
        Panel(
            "Requests per day by tenant and model",
            "Requests over the last 24 hours, from the gateway's access log (tenant:llm_requests:rate5m).",
            SHORT,
            [
                Target(
                    'sum by (tenant, model) (avg_over_time(tenant:llm_requests:rate5m{tenant=~"$tenant", '
                    'model=~"$model"}[1d])) * 86400',
                    "{{tenant}} / {{model}}",
                )
            ],
            stack=True,
        ),
        Panel(
            "Tokens per day by tenant and model",
            "Prompt and completion tokens over the last 24 hours, from the gateway (tenant:llm_tokens:rate5m).",
            SHORT,
            [
                Target(
                    'sum by (tenant, model) (avg_over_time(tenant:llm_tokens:rate5m{tenant=~"$tenant", '
                    'model=~"$model"}[1d])) * 86400',
                    "{{tenant}} / {{model}}",
                )
            ],
            stack=True,
        ),
        Panel(
            "Requests per second",
            "Requests the model servers answer per second, per model (model:llm_requests:rate5m, engine counters).",
            REQPS,
            [Target(f'sum by (model) (model:llm_requests:rate5m{{{ENGINE}, model=~"$model"}})', "{{model}}")],
            width=8,
            stack=True,
        ),
        Panel(
            "Tokens per second",
            "Prompt plus generated tokens per second over the fleet (engine counters).",
            "tokens/s",
            [Target(TOKENS, "tokens/s")],
            kind="stat",
            width=8,
            height=8,
        ),
        Panel(
            "GPUs in service",
            "GPUs the collectors report (citadel_gpus).",
            SHORT,
            [Target("sum(citadel_gpus)", "GPUs")],
            kind="stat",
            width=8,
        ),
    )
    d.row("Cost and efficiency")
    d.add(
        Panel(
            "Cost per hour",
            "GPU-hours times the configured hourly cost of a GPU (collector cost source); the legend "
            "names the currency (sources.cost.currency), which Grafana's units cannot follow.",
            SHORT,
            [Target(f"{COST_PER_SECOND} * 3600", "{{currency}}")],
            kind="stat",
            width=6,
            decimals=2,
        ),
        Panel(
            "Cost per 1K tokens",
            "GPU cost per second over the fleet divided by the tokens processed per second, times 1000; "
            "the legend names the currency.",
            SHORT,
            [Target(f"{COST_PER_SECOND} / scalar({TOKENS}) * 1000", "{{currency}}")],
            width=6,
            decimals=4,
        ),
        Panel(
            "Tokens per GPU-hour",
            "Tokens processed per hour divided by the GPUs in service.",
            SHORT,
            [Target(f"{TOKENS} * 3600 / sum(citadel_gpus)", "tokens per GPU-hour")],
            width=6,
        ),
        Panel(
            "Energy per 1K tokens",
            "GPU energy (citadel_gpu_energy_joules_total) per 1000 tokens processed.",
            "joule",
            [Target(f"sum(rate(citadel_gpu_energy_joules_total[5m])) / {TOKENS} * 1000", "J per 1K tokens")],
            width=6,
        ),
    )
    d.row("Capacity outlook")
    d.add(
        Panel(
            "KV-cache headroom per model",
            "Share of the KV cache still free on the busiest server of each model.",
            PERCENT_UNIT,
            [Target('1 - max by (model) (model:llm_kv_cache_usage_ratio:max{model=~"$model"})', "{{model}}")],
            width=8,
            min=0,
            max=1,
            thresholds=[(None, "red"), (0.1, "orange"), (0.3, "green")],
        ),
        Panel(
            "GPU memory headroom",
            "Share of the fleet's GPU memory not in use.",
            PERCENT_UNIT,
            [Target("1 - sum(citadel_gpu_memory_used_bytes) / sum(citadel_gpu_memory_total_bytes)", "free")],
            kind="gauge",
            width=8,
            min=0,
            max=1,
            thresholds=[(None, "red"), (0.1, "orange"), (0.3, "green")],
        ),
        Panel(
            "Soonest exhaustion (analytics forecast)",
            "The shortest time until a forecast series reaches its limit "
            "(citadel_analytics_time_to_exhaustion_seconds); see the Anomalies and forecasts dashboard.",
            "s",
            [Target("min(citadel_analytics_time_to_exhaustion_seconds)", "time to exhaustion")],
            kind="stat",
            width=8,
            thresholds=[(None, "red"), (86400 * 7, "orange"), (86400 * 30, "green")],
        ),
    )
    return d.to_json()
