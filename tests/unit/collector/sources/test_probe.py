"""Model-server probes: a streaming completion and the health endpoint, always time-bounded."""

from __future__ import annotations

import json
import time

import pytest

from citadel_monitoring.collector.config import ProbeConfig
from citadel_monitoring.collector.sources.base import PartialFailure
from citadel_monitoring.collector.sources.probe import ProbeSource, stream_completion


def config(base_url, **kw):
    return ProbeConfig(name="ep", base_url=base_url, model=kw.pop("model", "sim-model"), **kw)


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_a_streaming_completion_is_measured(sim, api):
    result = stream_completion(config(f"http://127.0.0.1:{sim.port}", api=api, max_tokens=8))
    assert result.ok, result.error
    assert 1 <= result.tokens <= 8
    assert 0 < result.ttft < result.duration
    if result.tokens > 1:
        assert result.itl > 0 and result.tokens_per_second > 0


def test_the_probe_source_exports_its_figures(sim):
    fams = {f.sample_name: f for f in ProbeSource(config(f"http://127.0.0.1:{sim.port}", max_tokens=4)).collect()}
    labels = {"endpoint": "ep", "model": "sim-model", "engine": "openai"}
    assert fams["citadel_probe_success"].samples == [("", labels, 1)]
    assert fams["citadel_probe_health_up"].samples == [("", labels, 1)]
    runs = {lab["result"]: v for _, lab, v in fams["citadel_probe_runs_total"].samples}
    assert runs["success"] == 1 and runs["timeout"] == 0
    assert fams["citadel_probe_time_to_first_token_seconds"].samples[0][2] > 0


def test_an_unknown_model_is_an_http_error(sim):
    result = stream_completion(config(f"http://127.0.0.1:{sim.port}", model="nope"))
    assert (result.ok, result.result) == (False, "http_error")


def test_an_unreachable_server_fails_fast_and_marks_the_source_down():
    source = ProbeSource(config("http://127.0.0.1:9", timeout_seconds=1))
    with pytest.raises(PartialFailure) as failure:
        source.collect()
    fams = {f.sample_name: f for f in failure.value.families}
    assert fams["citadel_probe_success"].samples[0][2] == 0
    runs = {lab["result"]: v for _, lab, v in fams["citadel_probe_runs_total"].samples}
    assert runs["connection_error"] == 1


def test_garbage_is_a_bad_response(http_server):
    def garbage(req):
        req.send_response(200)
        req.send_header("Content-Type", "text/event-stream")
        req.end_headers()
        req.wfile.write(b"data: {not json\n\n")

    result = stream_completion(config(http_server(garbage)))
    assert (result.ok, result.result) == (False, "bad_response")


def test_a_stream_without_tokens_is_a_bad_response(http_server):
    def empty(req):
        req.send_response(200)
        req.end_headers()
        req.wfile.write(b"data: " + json.dumps({"choices": [{"text": ""}]}).encode() + b"\n\ndata: [DONE]\n\n")

    assert stream_completion(config(http_server(empty))).result == "bad_response"


def test_a_server_that_trickles_forever_is_cut_at_the_timeout(http_server):
    def trickle(req):
        req.send_response(200)
        req.end_headers()
        chunk = b"data: " + json.dumps({"choices": [{"text": "x"}]}).encode() + b"\n\n"
        for _ in range(100):  # bounded: at most 10 s, the probe gives up after 0.3 s
            try:
                req.wfile.write(chunk)
                req.wfile.flush()
            except OSError:
                return
            time.sleep(0.1)

    started = time.monotonic()
    result = stream_completion(config(http_server(trickle), timeout_seconds=0.3))
    assert result.result == "timeout"
    assert time.monotonic() - started < 1.5


def test_a_hung_server_is_cut_at_the_timeout(sim):
    sim.engine.faults.inject("hang", {"duration_seconds": 5})
    started = time.monotonic()
    result = stream_completion(config(f"http://127.0.0.1:{sim.port}", timeout_seconds=0.3))
    sim.engine.faults.clear()
    assert result.result == "timeout"
    assert time.monotonic() - started < 1.0
