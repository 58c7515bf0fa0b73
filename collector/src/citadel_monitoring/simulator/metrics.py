"""vLLM-format metrics of the simulated server, shaped after vLLM's V1 exposition.

Names, label names (`model_name`, `engine`, `finished_reason`) and histogram buckets follow
vLLM's `vllm/v1/metrics/loggers.py`; `deprecated=True` also exports the names vLLM shows with
`--show-hidden-metrics-for-version` (`vllm:gpu_cache_usage_perc`, `vllm:time_per_output_token_seconds`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
               40.0, 80.0)  # fmt: skip
E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
               480.0, 960.0, 1920.0, 7680.0)  # fmt: skip
TOKEN_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


class VllmMetrics:
    def __init__(self, model: str, deprecated: bool = False) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        labels = ["model_name", "engine"]
        self.labels = {"model_name": model, "engine": "0"}
        self.running = Gauge("vllm:num_requests_running", "Number of requests in model execution batches.", labels,
                             registry=r).labels(**self.labels)  # fmt: skip
        self.waiting = Gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", labels,
                             registry=r).labels(**self.labels)  # fmt: skip
        self.kv_cache = Gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", labels,
                              registry=r).labels(**self.labels)  # fmt: skip
        self.prompt_tokens = Counter("vllm:prompt_tokens", "Number of prefill tokens processed.", labels,
                                     registry=r).labels(**self.labels)  # fmt: skip
        self.generation_tokens = Counter("vllm:generation_tokens", "Number of generation tokens processed.", labels,
                                         registry=r).labels(**self.labels)  # fmt: skip
        self._success = Counter("vllm:request_success", "Count of successfully processed requests.",
                                [*labels, "finished_reason"], registry=r)  # fmt: skip
        for reason in ("stop", "length", "abort"):
            self._success.labels(**self.labels, finished_reason=reason)
        self.preemptions = Counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.",
                                   labels, registry=r).labels(**self.labels)  # fmt: skip
        self.ttft = Histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
                              labels, buckets=TTFT_BUCKETS, registry=r).labels(**self.labels)  # fmt: skip
        self.itl = Histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
                             labels, buckets=ITL_BUCKETS, registry=r).labels(**self.labels)  # fmt: skip
        self.e2e = Histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
                             labels, buckets=E2E_BUCKETS, registry=r).labels(**self.labels)  # fmt: skip
        self.queue_time = Histogram("vllm:request_queue_time_seconds",
                                    "Histogram of time spent in WAITING phase for request.", labels,
                                    buckets=E2E_BUCKETS, registry=r).labels(**self.labels)  # fmt: skip
        self.prompt_hist = Histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", labels,
                                     buckets=TOKEN_BUCKETS, registry=r).labels(**self.labels)  # fmt: skip
        self.generation_hist = Histogram("vllm:request_generation_tokens", "Number of generation tokens processed.",
                                         labels, buckets=TOKEN_BUCKETS, registry=r).labels(**self.labels)  # fmt: skip
        self.gpu_memory = Gauge("citadel_simulator_gpu_memory_used_bytes",
                                "SIMULATED GPU memory of the server (grows under the memory_leak fault).",
                                ["model_name"], registry=r).labels(model_name=model)  # fmt: skip
        self.fault_active = Gauge("citadel_simulator_fault_active", "1 while an injected fault is active.",
                                  ["fault"], registry=r)  # fmt: skip
        self.deprecated = deprecated
        if deprecated:
            self.gpu_cache = Gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage (deprecated name).", labels,
                                   registry=r).labels(**self.labels)  # fmt: skip
            self.tpot = Histogram("vllm:time_per_output_token_seconds",
                                  "Histogram of time per output token in seconds (deprecated name).", labels,
                                  buckets=ITL_BUCKETS, registry=r).labels(**self.labels)  # fmt: skip

    def success(self, finished_reason: str) -> None:
        self._success.labels(**self.labels, finished_reason=finished_reason).inc()

    def set_kv_cache(self, ratio: float) -> None:
        self.kv_cache.set(ratio)
        if self.deprecated:
            self.gpu_cache.set(ratio)

    def observe_itl(self, seconds: float) -> None:
        self.itl.observe(seconds)
        if self.deprecated:
            self.tpot.observe(seconds)
