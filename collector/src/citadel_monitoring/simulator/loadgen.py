"""A bounded built-in load generator: the simulator's own traffic, so the lab has data.

It only talks to the simulator it belongs to, on 127.0.0.1; the rate, the concurrency and
(optionally) the number of requests and the run time are capped.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import threading
import time
from dataclasses import dataclass

from citadel_monitoring.simulator.server import prompt_of

log = logging.getLogger("citadel_monitoring.simulator.loadgen")

MAX_RPS = 50.0
MAX_CONCURRENCY = 64
DEFAULT_TENANTS = ("acme", "globex", "initech", "umbrella", "hooli")


@dataclass(frozen=True)
class LoadConfig:
    port: int
    model: str
    rps: float = 1.0
    concurrency: int = 4
    max_requests: int = 0  # 0: until stopped
    duration_seconds: float = 0.0  # 0: until stopped
    tenants: tuple[str, ...] = DEFAULT_TENANTS
    stream_ratio: float = 0.8
    timeout_seconds: float = 120.0
    seed: int | None = None


class LoadGenerator(threading.Thread):
    """Poisson arrivals at `rps`, at most `concurrency` in flight, tenants Zipf-weighted."""

    def __init__(self, config: LoadConfig, stop: threading.Event | None = None) -> None:
        super().__init__(name="loadgen", daemon=True)
        if not 0 < config.rps <= MAX_RPS:
            raise ValueError(f"load rps: must be in (0, {MAX_RPS:g}]")
        if not 1 <= config.concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"load concurrency: must be in [1, {MAX_CONCURRENCY}]")
        self.config = config
        self.stop_event = stop or threading.Event()
        self.rng = random.Random(config.seed)
        self.slots = threading.BoundedSemaphore(config.concurrency)
        self.sent = 0
        self.results: dict[int, int] = {}
        self._lock = threading.Lock()
        self._weights = [1 / (rank + 1) for rank in range(len(config.tenants))]

    def run(self) -> None:
        c = self.config
        started = time.monotonic()
        while not self.stop_event.is_set():
            if c.max_requests and self.sent >= c.max_requests:
                break
            if c.duration_seconds and time.monotonic() - started >= c.duration_seconds:
                break
            if self.stop_event.wait(self.rng.expovariate(c.rps)):
                break
            if not self.slots.acquire(timeout=1.0):
                continue  # all slots busy: drop this arrival, as an overloaded client would
            self.sent += 1
            threading.Thread(target=self._one, name="loadgen-req", daemon=True).start()

    def _one(self) -> None:
        c = self.config
        try:
            tenant = self.rng.choices(c.tenants, self._weights)[0]
            stream = self.rng.random() < c.stream_ratio
            chat = self.rng.random() < 0.5
            prompt = prompt_of(max(1, round(self.rng.lognormvariate(5.6, 0.8))))
            body: dict[str, object] = {"model": c.model, "max_tokens": self.rng.choice((64, 128, 256, 512)),
                                       "stream": stream, "user": tenant}  # fmt: skip
            if chat:
                body["messages"] = [{"role": "user", "content": prompt}]
            else:
                body["prompt"] = prompt
            path = "/v1/chat/completions" if chat else "/v1/completions"
            conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=c.timeout_seconds)
            try:
                conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json", "X-Tenant": tenant})
                resp = conn.getresponse()
                deadline = time.monotonic() + c.timeout_seconds
                while resp.read(65536) and time.monotonic() < deadline:
                    pass
                status = resp.status
            finally:
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            log.debug("load request failed: %s", exc)
            status = 0
        finally:
            self.slots.release()
        with self._lock:
            self.results[status] = self.results.get(status, 0) + 1
