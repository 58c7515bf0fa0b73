"""Model-server probes over the OpenAI-compatible API (vLLM, TGI, llama.cpp, Ollama, ...).

Each endpoint is its own source with its own thread, so there is never more than one probe in
flight per endpoint; every exchange is bounded by the probe's timeout. A probe sends one small
streaming completion and measures the time to the first token, the mean inter-token latency, the
decode rate and success, then GETs the server's health endpoint.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from dataclasses import dataclass

from citadel_monitoring.collector.config import ProbeConfig
from citadel_monitoring.collector.exposition import Family
from citadel_monitoring.collector.sources.base import PartialFailure, Source
from citadel_monitoring.collector.sources.http_util import ProbeError, connect

log = logging.getLogger("citadel_monitoring.collector.probe")

RESULTS = ("success", "timeout", "connection_error", "http_error", "bad_response")


@dataclass
class ProbeResult:
    ok: bool
    result: str
    duration: float
    ttft: float | None = None
    itl: float | None = None
    tokens: int = 0
    tokens_per_second: float | None = None
    error: str = ""


def _token_text(chunk: dict, api: str) -> str:
    choices = chunk.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    if api == "chat":
        delta = choices[0].get("delta") or {}
        return str(delta.get("content") or "")
    return str(choices[0].get("text") or "")


def stream_completion(config: ProbeConfig, api_key: str | None = None) -> ProbeResult:
    """Send one streaming completion; never takes longer than `timeout_seconds` (plus a read)."""
    started = time.monotonic()
    deadline = started + config.timeout_seconds
    if config.api == "chat":
        path = "/v1/chat/completions"
        body = {"model": config.model, "messages": [{"role": "user", "content": config.prompt}]}
    else:
        path = "/v1/completions"
        body = {"model": config.model, "prompt": config.prompt}
    body.update({"max_tokens": config.max_tokens, "stream": True, "temperature": 0})
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    conn, prefix = connect(config.base_url, config.timeout_seconds)
    token_times: list[float] = []
    try:
        conn.request("POST", prefix + path, body=json.dumps(body).encode(), headers=headers)
        if conn.sock is not None:  # waiting for the response counts against the same deadline
            conn.sock.settimeout(max(0.001, deadline - time.monotonic()))
        resp = conn.getresponse()
        if resp.status != 200:
            raise ProbeError("http_error", f"HTTP {resp.status}")
        done = False
        pending = b""
        while not done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("probe deadline exceeded")
            if conn.sock is not None:  # no single read may outlive the deadline
                conn.sock.settimeout(remaining)
            chunk = resp.read1(65536)
            if not chunk:
                break
            now = time.monotonic()
            pending += chunk
            if len(pending) > 1_048_576:
                raise ProbeError("bad_response", "an event larger than 1 MiB")
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    done = True
                    break
                try:
                    event = json.loads(data)
                except ValueError:
                    raise ProbeError("bad_response", "a stream event that is not JSON") from None
                if not isinstance(event, dict):
                    raise ProbeError("bad_response", "a stream event that is not an object")
                if "error" in event:
                    raise ProbeError("http_error", f"error event: {str(event['error'])[:200]}")
                if _token_text(event, config.api):
                    token_times.append(now)
    except ProbeError as exc:
        return ProbeResult(False, exc.kind, time.monotonic() - started, error=str(exc))
    except TimeoutError as exc:
        return ProbeResult(False, "timeout", time.monotonic() - started, error=str(exc) or "timed out")
    except (OSError, http.client.HTTPException) as exc:
        return ProbeResult(False, "connection_error", time.monotonic() - started, error=str(exc) or type(exc).__name__)
    finally:
        conn.close()
    duration = time.monotonic() - started
    if not token_times:
        return ProbeResult(False, "bad_response", duration, error="no token in the stream")
    result = ProbeResult(True, "success", duration, ttft=token_times[0] - started, tokens=len(token_times))
    if len(token_times) > 1:
        span = token_times[-1] - token_times[0]
        result.itl = span / (len(token_times) - 1)
        result.tokens_per_second = (len(token_times) - 1) / span if span > 0 else None
    return result


def check_health(config: ProbeConfig) -> tuple[bool, float]:
    started = time.monotonic()
    if not config.health_path:
        return False, 0.0
    conn, prefix = connect(config.base_url, config.timeout_seconds)
    try:
        conn.request("GET", prefix + config.health_path)
        resp = conn.getresponse()
        resp.read(65536)
        ok = 200 <= resp.status < 300
    except (OSError, http.client.HTTPException):
        ok = False
    finally:
        conn.close()
    return ok, time.monotonic() - started


class ProbeSource(Source):
    """One model-server endpoint, probed every `interval_seconds` (default 30)."""

    def __init__(self, config: ProbeConfig) -> None:
        self.name = f"probe:{config.name}"
        self.interval = config.interval_seconds
        self.config = config
        self.runs = dict.fromkeys(RESULTS, 0)
        self.last: ProbeResult | None = None
        self.last_time = 0.0

    def _api_key(self) -> str | None:
        if self.config.api_key_file is None:
            return None
        return self.config.api_key_file.read_text(encoding="utf-8").strip()

    def collect(self) -> list[Family]:
        c = self.config
        result = stream_completion(c, self._api_key())
        self.runs[result.result] += 1
        self.last, self.last_time = result, time.time()
        health = check_health(c) if c.health_path else None

        labels = {"endpoint": c.name, "model": c.model, "engine": c.engine}
        fams = []
        success = Family("citadel_probe_success", "gauge", "1 if the last probe completion streamed tokens.")
        fams.append(success.add(labels, 1 if result.ok else 0))
        runs = Family("citadel_probe_runs", "counter", "Probe completions sent, by result.")
        for name, n in self.runs.items():
            runs.add({**labels, "result": name}, n)
        fams.append(runs)
        dur = Family("citadel_probe_duration_seconds", "gauge", "Duration of the last probe completion.")
        fams.append(dur.add(labels, result.duration))
        if result.ttft is not None:
            ttft = Family("citadel_probe_time_to_first_token_seconds", "gauge", "Time to first token, last probe.")
            fams.append(ttft.add(labels, result.ttft))
        if result.itl is not None:
            itl = Family("citadel_probe_inter_token_latency_seconds", "gauge", "Mean time between tokens, last probe.")
            fams.append(itl.add(labels, result.itl))
        if result.tokens_per_second is not None:
            tps = Family(
                "citadel_probe_generation_tokens_per_second", "gauge", "Decode rate after the first token, last probe."
            )
            fams.append(tps.add(labels, result.tokens_per_second))
        toks = Family("citadel_probe_generated_tokens", "gauge", "Tokens streamed by the last probe.")
        fams.append(toks.add(labels, result.tokens))
        stamp = Family("citadel_probe_last_run_timestamp_seconds", "gauge", "When the last probe ran.")
        fams.append(stamp.add(labels, self.last_time))
        if health is not None:
            up = Family("citadel_probe_health_up", "gauge", "1 if the health endpoint answered 2xx.")
            fams.append(up.add(labels, 1 if health[0] else 0))
            hd = Family("citadel_probe_health_duration_seconds", "gauge", "Duration of the last health request.")
            fams.append(hd.add(labels, health[1]))
        if not result.ok:
            raise PartialFailure(fams, f"probe {result.result}: {result.error}")
        return fams
