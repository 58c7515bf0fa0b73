"""The simulated model server: OpenAI-compatible API with streaming, vLLM `/metrics`, faults.

TEST AND DEMO ONLY. Endpoints:
  POST /v1/completions, /v1/chat/completions   (``"stream": true`` for server-sent events)
  GET  /v1/models, /health, /metrics
  GET/POST/DELETE /control/faults               (fault injection; off with ``control=False``)
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from citadel_monitoring.simulator.metrics import VllmMetrics
from citadel_monitoring.simulator.model import FAULTS, FaultState, Profile, Sampler

log = logging.getLogger("citadel_monitoring.simulator")

MAX_BODY = 1024 * 1024
WORDS = ("the", "model", "token", "cache", "queue", "prompt", "answer", "latency", "GPU", "batch", "stream", "data")


@dataclass(frozen=True)
class SimConfig:
    model: str = "sim-llama-3-8b"
    time_scale: float = 1.0  # multiply every simulated delay (tests use 0.01)
    deprecated_metrics: bool = False
    control: bool = True
    access_log: Path | None = None
    seed: int | None = None
    queue_timeout_seconds: float = 60.0
    profile: Profile = field(default_factory=Profile)


class AccessLog:
    """JSON lines, one per request, in the format the collector's log source reads by default."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._fh: TextIO | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def write(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            return
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


class SimulatedEngine:
    """Scheduling state: running and waiting requests, KV-cache use, metrics."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.sampler = Sampler(config.profile, config.seed)
        self.metrics = VllmMetrics(config.model, config.deprecated_metrics)
        self.faults = FaultState()
        self._cond = threading.Condition()
        self.running = 0
        self.waiting = 0
        self.kv_tokens = 0
        self.access_log = AccessLog(config.access_log)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds * self.config.time_scale))

    def admit(self) -> bool:
        """Wait for a free sequence slot (bounded); False on queue timeout."""
        deadline = time.monotonic() + self.config.queue_timeout_seconds * max(self.config.time_scale, 0.01)
        with self._cond:
            self.waiting += 1
            self.metrics.waiting.set(self.waiting)
            try:
                while self.running >= self.config.profile.max_num_seqs:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                self.running += 1
                self.metrics.running.set(self.running)
                return True
            finally:
                self.waiting -= 1
                self.metrics.waiting.set(self.waiting)

    def release(self, kv_tokens: int) -> None:
        with self._cond:
            self.running -= 1
            self.kv_tokens -= kv_tokens
            self.metrics.running.set(self.running)
            self._update_kv()
            self._cond.notify()

    def add_kv(self, tokens: int) -> None:
        with self._cond:
            self.kv_tokens += tokens
            self._update_kv()

    def _update_kv(self) -> None:
        self.metrics.set_kv_cache(min(1.0, self.kv_tokens / self.config.profile.kv_capacity_tokens))

    def render_metrics(self) -> bytes:
        self.metrics.gpu_memory.set(self.config.profile.gpu_memory_baseline_bytes + self.faults.leaked_bytes())
        active = {f["fault"] for f in self.faults.describe()}
        for kind in FAULTS:
            self.metrics.fault_active.labels(fault=kind).set(1 if kind in active else 0)
        text = generate_latest(self.metrics.registry)
        # vLLM's exposition has no `_created` series; drop prometheus_client's (without touching its
        # process-wide setting, which other code in the same process may rely on)
        return b"\n".join(line for line in text.split(b"\n") if b"_created" not in line)


def _count_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _prompt_text(body: dict[str, Any], chat: bool) -> str:
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValueError("messages: a non-empty list is required")
        return " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        return " ".join(map(str, prompt))
    if not isinstance(prompt, str):
        raise ValueError("prompt: a string is required")
    return prompt


def make_handler(engine: SimulatedEngine, on_crash: Callable[[int], None]) -> type[BaseHTTPRequestHandler]:
    cfg = engine.config

    class Handler(BaseHTTPRequestHandler):
        server_version = "citadel-model-sim"
        timeout = 60

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _json(self, status: int, doc: Any) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str, kind: str = "BadRequestError") -> None:
            self._json(status, {"object": "error", "message": message, "type": kind, "code": status})

        def _body(self) -> dict[str, Any] | None:
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._error(413 if length > MAX_BODY else 400, "bad Content-Length")
                return None
            try:
                doc = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._error(400, "the body is not JSON")
                return None
            if not isinstance(doc, dict):
                self._error(400, "the body must be a JSON object")
                return None
            return doc

        def _wait_out_hang(self) -> None:
            while (fault := engine.faults.active("hang")) is not None:
                time.sleep(min(0.2, max(0.01, fault.until - time.monotonic())))

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body = engine.render_metrics()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif path == "/health":
                self._wait_out_hang()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/v1/models":
                self._json(200, {"object": "list", "data": [
                    {"id": cfg.model, "object": "model", "owned_by": "citadel-simulator", "max_model_len": 32768}
                ]})  # fmt: skip
            elif path == "/control/faults" and cfg.control:
                self._json(200, {"faults": engine.faults.describe()})
            else:
                self._error(404, f"no route {path}", "NotFoundError")

        def do_DELETE(self) -> None:
            if self.path.split("?", 1)[0] == "/control/faults" and cfg.control:
                engine.faults.clear()
                self._json(200, {"faults": []})
            else:
                self._error(404, "not found", "NotFoundError")

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            body = self._body()
            if body is None:
                return
            if path == "/control/faults" and cfg.control:
                self._control(body)
            elif path in ("/v1/completions", "/v1/chat/completions"):
                self._complete(body, chat=path.endswith("chat/completions"), path=path)
            else:
                self._error(404, f"no route {path}", "NotFoundError")

        def _control(self, body: dict[str, Any]) -> None:
            kind = body.get("fault")
            try:
                fault = engine.faults.inject(str(kind), body)
            except ValueError as exc:
                self._error(400, str(exc))
                return
            log.warning("fault injected: %s %s", fault.kind, fault.params)
            if fault.kind == "crash":
                self._json(202, {"fault": "crash", "exit_code": int(fault.params["exit_code"])})
                self.wfile.flush()
                threading.Timer(0.1, on_crash, args=(int(fault.params["exit_code"]),)).start()
                return
            self._json(200, {"faults": engine.faults.describe()})

        def _complete(self, body: dict[str, Any], chat: bool, path: str) -> None:
            started = time.monotonic()
            tenant = str(self.headers.get("X-Tenant") or body.get("user") or "anonymous")[:64]
            record: dict[str, Any] = {
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "request_id": uuid.uuid4().hex[:16],
                "tenant": tenant,
                "model": str(body.get("model", ""))[:128],
                "path": path,
                "stream": bool(body.get("stream")),
                "status": 200,
                "prompt_tokens": 0,
                "completion_tokens": 0,
            }

            def finish(status: int) -> None:
                record["status"] = status
                record["duration_seconds"] = round(time.monotonic() - started, 4)
                engine.access_log.write(record)

            if body.get("model") != cfg.model:
                finish(404)
                self._error(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError")
                return
            try:
                text = _prompt_text(body, chat)
                max_tokens = body.get("max_tokens")
                max_tokens = 256 if max_tokens is None else max_tokens
                if type(max_tokens) is not int or not 1 <= max_tokens <= 4096:
                    raise ValueError("max_tokens: must be in [1, 4096]")
            except (ValueError, TypeError) as exc:
                finish(400)
                self._error(400, str(exc))
                return
            self._wait_out_hang()
            burst = engine.faults.active("error_burst")
            if burst is not None and engine.sampler.chance(burst.params["error_ratio"]):
                status = int(burst.params["status"])
                finish(status)
                self._error(status, "simulated engine error (error_burst fault)", "InternalServerError")
                return
            queued = time.monotonic()
            if not engine.admit():
                finish(503)
                self._error(503, "the request queue is full", "ServiceUnavailableError")
                return
            engine.metrics.queue_time.observe(time.monotonic() - queued)
            prompt_tokens = _count_tokens(text)
            engine.add_kv(prompt_tokens)
            kv = prompt_tokens
            wanted = engine.sampler.completion_tokens()
            n_tokens = min(wanted, max_tokens)
            reason = "length" if wanted >= max_tokens else "stop"
            record["prompt_tokens"] = prompt_tokens
            accounted = released = False

            def account(reason: str, status: int) -> None:
                """Metrics and the log line, before the last bytes leave: a client that has its
                answer finds them."""
                nonlocal accounted, released
                accounted = released = True
                engine.release(kv)
                engine.metrics.prompt_tokens.inc(prompt_tokens)
                engine.metrics.generation_tokens.inc(record["completion_tokens"])
                engine.metrics.prompt_hist.observe(prompt_tokens)
                engine.metrics.generation_hist.observe(record["completion_tokens"])
                engine.metrics.e2e.observe(time.monotonic() - started)
                engine.metrics.success(reason)
                finish(status)

            try:
                spike = engine.faults.active("latency_spike")
                factor = spike.params["factor"] if spike is not None else 1.0
                ttft = engine.sampler.ttft(prompt_tokens, engine.running) * factor
                engine.sleep(ttft)
                ttft_seen = time.monotonic() - started
                engine.metrics.ttft.observe(ttft_seen)
                record["ttft_seconds"] = round(ttft_seen, 4)
                rid = f"cmpl-{record['request_id']}"
                pieces: list[str] = []
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-cache")
                    self.end_headers()
                last = time.monotonic()
                for i in range(n_tokens):
                    if i:
                        engine.sleep(engine.sampler.itl(engine.running) * factor)
                        now = time.monotonic()
                        engine.metrics.observe_itl(now - last)
                        last = now
                    word = engine.sampler.rng.choice(WORDS) + " "
                    pieces.append(word)
                    engine.add_kv(1)
                    kv += 1
                    if body.get("stream"):
                        self._event(rid, chat, word, None)
                record["completion_tokens"] = n_tokens
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n_tokens,
                         "total_tokens": prompt_tokens + n_tokens}  # fmt: skip
                account(reason, 200)
                if body.get("stream"):
                    self._event(rid, chat, "", reason)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                else:
                    text_out = "".join(pieces)
                    choice: dict[str, Any] = {"index": 0, "finish_reason": reason}
                    if chat:
                        choice["message"] = {"role": "assistant", "content": text_out}
                    else:
                        choice["text"] = text_out
                    self._json(200, {"id": rid, "object": "chat.completion" if chat else "text_completion",
                                     "created": int(time.time()), "model": cfg.model, "choices": [choice],
                                     "usage": usage})  # fmt: skip
            except (BrokenPipeError, ConnectionResetError):
                if not accounted:
                    account("abort", 499)  # the client went away
            finally:
                if not released:
                    engine.release(kv)

        def _event(self, rid: str, chat: bool, text: str, finish_reason: str | None) -> None:
            if chat:
                choice: dict[str, Any] = {"index": 0, "delta": {"content": text} if text else {},
                                          "finish_reason": finish_reason}  # fmt: skip
                obj = "chat.completion.chunk"
            else:
                choice = {"index": 0, "text": text, "finish_reason": finish_reason}
                obj = "text_completion"
            doc = {"id": rid, "object": obj, "created": int(time.time()), "model": cfg.model, "choices": [choice]}
            self.wfile.write(b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n")
            self.wfile.flush()

    return Handler


def _exit(code: int) -> None:
    log.error("crash fault: exiting with code %d", code)
    logging.shutdown()
    os._exit(code)


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: str, port: int, config: SimConfig, on_crash: Callable[[int], None] = _exit) -> None:
        self.engine = SimulatedEngine(config)
        super().__init__((address, port), make_handler(self.engine, on_crash))

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def server_close(self) -> None:
        super().server_close()
        self.engine.access_log.close()


def prompt_of(tokens: int, rng_words: tuple[str, ...] = WORDS) -> str:
    """A synthetic prompt of about `tokens` tokens (4 characters a token)."""
    reps = math.ceil(tokens * 4 / 6)
    return " ".join(rng_words[i % len(rng_words)][:5] for i in range(reps))[: tokens * 4]
