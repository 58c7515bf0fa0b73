"""Model serving (SRE): latency, throughput, saturation and errors per model and host.

Every query reads the engine-neutral recorded series of rules/engines.yml, so one dashboard
serves vLLM, TGI, Triton and llama.cpp.
"""

from __future__ import annotations

from .grafana import PERCENT_UNIT, REQPS, SECONDS, SHORT, Dashboard, Panel, Target, query_variable

SEL = 'model=~"$model", instance=~"$host"'


def _latency(title: str, series: str, what: str, quantiles: tuple[str, ...]) -> Panel:
    return Panel(
        title,
        f"{what} per model and host: "
        + ", ".join(f"model:{series}:{q}" for q in quantiles)
        + " (engine histograms; the collector's probes where the engine has none).",
        SECONDS,
        [
            Target(f"max by (model, instance) (model:{series}:{q}{{{SEL}}})", f"{q} {{{{model}}}} {{{{instance}}}}")
            for q in quantiles
        ],
        width=8,
    )


def build() -> dict:
    d = Dashboard(
        "citadel-model-serving",
        "Citadel / Model serving",
        "Latency, throughput, saturation and errors of the model servers, per model and host (engine-neutral series).",
        ["sre"],
        variables=[
            query_variable("model", "Model", "label_values(model:llm_requests:rate5m, model)"),
            query_variable("host", "Host", 'label_values(model:llm_requests:rate5m{model=~"$model"}, instance)'),
        ],
    )
    d.row("Latency")
    d.add(
        _latency("Time to first token", "llm_time_to_first_token_seconds", "Time to first token", ("p50_5m", "p95_5m")),
        _latency("Inter-token latency", "llm_inter_token_latency_seconds", "Time between tokens", ("mean5m", "p95_5m")),
        _latency("End-to-end latency", "llm_e2e_request_latency_seconds", "Request duration", ("mean5m", "p95_5m")),
    )
    d.row("Throughput")
    d.add(
        Panel(
            "Requests per second",
            "Requests answered per second, per model, host and source (engine, gateway).",
            REQPS,
            [
                Target(
                    f"sum by (model, instance, source) (model:llm_requests:rate5m{{{SEL}}})",
                    "{{model}} {{instance}} ({{source}})",
                )
            ],
            width=8,
        ),
        Panel(
            "Prompt tokens per second",
            "Input tokens processed per second (model:llm_prompt_tokens:rate5m).",
            "tokens/s",
            [
                Target(
                    f"sum by (model, instance, source) (model:llm_prompt_tokens:rate5m{{{SEL}}})",
                    "{{model}} {{instance}} ({{source}})",
                )
            ],
            width=8,
        ),
        Panel(
            "Generated tokens per second",
            "Output tokens generated per second (model:llm_generation_tokens:rate5m).",
            "tokens/s",
            [
                Target(
                    f"sum by (model, instance, source) (model:llm_generation_tokens:rate5m{{{SEL}}})",
                    "{{model}} {{instance}} ({{source}})",
                )
            ],
            width=8,
        ),
    )
    d.row("Saturation")
    d.add(
        Panel(
            "Queue depth",
            "Requests waiting for a slot on the server (model:llm_requests_waiting:sum).",
            SHORT,
            [Target(f"sum by (model, instance) (model:llm_requests_waiting:sum{{{SEL}}})", "{{model}} {{instance}}")],
            width=8,
        ),
        Panel(
            "Requests running",
            "Requests being generated at once (model:llm_requests_running:sum).",
            SHORT,
            [Target(f"sum by (model, instance) (model:llm_requests_running:sum{{{SEL}}})", "{{model}} {{instance}}")],
            width=8,
        ),
        Panel(
            "KV-cache use",
            "Share of the KV cache in use (model:llm_kv_cache_usage_ratio:max); near 1 the engine preempts requests.",
            PERCENT_UNIT,
            [
                Target(
                    f"max by (model, instance) (model:llm_kv_cache_usage_ratio:max{{{SEL}}})", "{{model}} {{instance}}"
                )
            ],
            width=8,
            min=0,
            max=1,
            thresholds=[(None, "green"), (0.8, "orange"), (0.95, "red")],
        ),
    )
    d.row("Errors")
    d.add(
        Panel(
            "Failed requests per second",
            "Failed requests per second (model:llm_request_errors:rate5m; vLLM and llama.cpp count none, "
            "the gateway does).",
            REQPS,
            [
                Target(
                    f"sum by (model, instance, source) (model:llm_request_errors:rate5m{{{SEL}}})",
                    "{{model}} {{instance}} ({{source}})",
                )
            ],
            width=8,
        ),
        Panel(
            "Error ratio",
            "Share of requests that failed (model:llm_request_errors:ratio_rate5m).",
            PERCENT_UNIT,
            [
                Target(
                    f"max by (model, instance, source) (model:llm_request_errors:ratio_rate5m{{{SEL}}})",
                    "{{model}} {{instance}} ({{source}})",
                )
            ],
            width=8,
            min=0,
            thresholds=[(None, "green"), (0.001, "orange"), (0.01, "red")],
        ),
        Panel(
            "Probe success",
            "Share of the collector's synthetic completions that succeeded (model:llm_probe_success:avg5m).",
            PERCENT_UNIT,
            [Target(f"avg by (model, instance) (model:llm_probe_success:avg5m{{{SEL}}})", "{{model}} {{instance}}")],
            width=8,
            min=0,
            max=1,
        ),
    )
    return d.to_json()
