"""Latency and token-count distributions of a simulated LLM server, and its fault state."""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

GiB = 1024**3

FAULTS = ("latency_spike", "error_burst", "memory_leak", "hang", "crash")
MAX_FAULT_SECONDS = 3600.0


@dataclass(frozen=True)
class Profile:
    """Shapes of one model's behaviour (an 8B model on one H100-class GPU, by default).

    Log-normal distributions: LLM latencies and lengths are right-skewed with long tails.
    """

    ttft_median_seconds: float = 0.12
    ttft_sigma: float = 0.5
    prefill_seconds_per_token: float = 0.00015
    itl_median_seconds: float = 0.022
    itl_sigma: float = 0.25
    prompt_tokens_median: float = 350
    prompt_tokens_sigma: float = 0.9
    completion_tokens_median: float = 180
    completion_tokens_sigma: float = 0.8
    max_num_seqs: int = 32
    kv_capacity_tokens: int = 250_000
    load_slowdown_per_request: float = 0.02  # each running request slows the others by 2 %
    gpu_memory_baseline_bytes: int = 62 * GiB


class Sampler:
    def __init__(self, profile: Profile, seed: int | None = None) -> None:
        self.p = profile
        self.rng = random.Random(seed)
        self._lock = threading.Lock()

    def _lognormal(self, median: float, sigma: float) -> float:
        with self._lock:
            return self.rng.lognormvariate(math.log(median), sigma)

    def prompt_tokens(self) -> int:
        return max(1, min(16_000, round(self._lognormal(self.p.prompt_tokens_median, self.p.prompt_tokens_sigma))))

    def completion_tokens(self) -> int:
        return max(
            1, min(4_096, round(self._lognormal(self.p.completion_tokens_median, self.p.completion_tokens_sigma)))
        )

    def ttft(self, prompt_tokens: int, running: int) -> float:
        base = self._lognormal(self.p.ttft_median_seconds, self.p.ttft_sigma)
        return (base + prompt_tokens * self.p.prefill_seconds_per_token) * (
            1 + running * self.p.load_slowdown_per_request
        )

    def itl(self, running: int) -> float:
        return self._lognormal(self.p.itl_median_seconds, self.p.itl_sigma) * (
            1 + running * self.p.load_slowdown_per_request
        )

    def chance(self, probability: float) -> bool:
        with self._lock:
            return self.rng.random() < probability


@dataclass
class Fault:
    kind: str
    until: float  # time.monotonic(); math.inf for "until cleared"
    params: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)


class FaultState:
    """The injected faults; each expires on its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
        self._leaked = 0.0  # bytes from expired or cleared leaks stay leaked until a restart

    def inject(self, kind: str, params: dict[str, Any]) -> Fault:
        if kind not in FAULTS:
            raise ValueError(f"fault: unknown fault {kind!r} (known: {', '.join(FAULTS)})")
        duration = params.get("duration_seconds", 60.0 if kind != "memory_leak" else math.inf)
        if not isinstance(duration, int | float) or not 0 < duration <= (math.inf if kind == "memory_leak" else 3600):
            raise ValueError(f"duration_seconds: must be in (0, {MAX_FAULT_SECONDS:g}]")
        values: dict[str, float] = {}
        defaults = {
            "latency_spike": {"factor": 5.0},
            "error_burst": {"error_ratio": 0.5, "status": 500},
            "memory_leak": {"bytes_per_second": 50 * 1024**2},
            "hang": {},
            "crash": {"exit_code": 3},
        }[kind]
        for key, default in defaults.items():
            value = params.get(key, default)
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key}: must be a non-negative number")
            values[key] = float(value)
        if kind == "error_burst" and not (values["error_ratio"] <= 1 and 400 <= values["status"] <= 599):
            raise ValueError("error_ratio must be in [0, 1] and status in [400, 599]")
        fault = Fault(kind, time.monotonic() + duration, values)
        with self._lock:
            self._settle_leak()
            self._faults[kind] = fault
        return fault

    def clear(self) -> None:
        with self._lock:
            self._settle_leak()
            self._faults.clear()

    def _settle_leak(self) -> None:
        leak = self._faults.get("memory_leak")
        if leak is not None:
            end = min(time.monotonic(), leak.until)
            self._leaked += max(0.0, end - leak.started) * leak.params["bytes_per_second"]
            leak.started = end

    def active(self, kind: str) -> Fault | None:
        with self._lock:
            fault = self._faults.get(kind)
            if fault is not None and time.monotonic() >= fault.until:
                if kind == "memory_leak":
                    self._settle_leak()
                del self._faults[kind]
                return None
            return fault

    def leaked_bytes(self) -> float:
        with self._lock:
            total = self._leaked
            leak = self._faults.get("memory_leak")
            if leak is not None:
                end = min(time.monotonic(), leak.until)
                total += max(0.0, end - leak.started) * leak.params["bytes_per_second"]
            return total

    def describe(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        out = []
        for kind in FAULTS:
            fault = self.active(kind)
            if fault is not None:
                remaining = None if math.isinf(fault.until) else round(fault.until - now, 3)
                out.append({"fault": kind, "remaining_seconds": remaining, **fault.params})
        return out
