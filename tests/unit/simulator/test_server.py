"""The simulated model server: OpenAI-compatible API, vLLM metrics, access log, faults."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from citadel_monitoring.collector.config import AccessLogConfig
from citadel_monitoring.collector.sources.logs import AccessLogSource


def call(sim, path, body=None, method=None, headers=None, timeout=5):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{sim.port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metrics(sim):
    out = {}
    for fam in text_string_to_metric_families(call(sim, "/metrics")[1]):
        for s in fam.samples:
            out[(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("model_name", "engine"))))] = (
                s.value
            )
    return out


def test_models_and_health(make_sim):
    sim = make_sim()
    status, body = call(sim, "/v1/models")
    assert status == 200 and json.loads(body)["data"][0]["id"] == "sim"
    assert call(sim, "/health")[0] == 200


def test_a_streaming_chat_completion(make_sim):
    sim = make_sim()
    body = {"model": "sim", "messages": [{"role": "user", "content": "hello " * 40}], "stream": True, "max_tokens": 6}
    status, text = call(sim, "/v1/chat/completions", body)
    events = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    assert status == 200 and events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    tokens = [c for c in chunks if c["choices"][0]["delta"].get("content")]
    assert 1 <= len(tokens) <= 6
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")


def test_a_plain_completion_has_usage(make_sim):
    sim = make_sim()
    status, text = call(sim, "/v1/completions", {"model": "sim", "prompt": "x" * 400, "max_tokens": 3})
    doc = json.loads(text)
    assert status == 200 and doc["usage"]["prompt_tokens"] == 100
    assert 1 <= doc["usage"]["completion_tokens"] <= 3


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model": "other", "prompt": "x"}, 404),
        ({"model": "sim"}, 400),
        ({"model": "sim", "prompt": "x", "max_tokens": 0}, 400),
    ],
)
def test_bad_requests(make_sim, body, status):
    assert call(make_sim(), "/v1/completions", body)[0] == status


def test_vllm_metrics_follow_the_requests(make_sim):
    sim = make_sim()
    for _ in range(3):
        call(sim, "/v1/completions", {"model": "sim", "prompt": "x" * 40, "max_tokens": 4})
    m = metrics(sim)
    finished = sum(v for (name, _), v in m.items() if name == "vllm:request_success_total")
    assert finished == 3
    assert m[("vllm:prompt_tokens_total", ())] == 30
    assert m[("vllm:time_to_first_token_seconds_count", ())] == 3
    assert m[("vllm:e2e_request_latency_seconds_count", ())] == 3
    assert m[("vllm:num_requests_running", ())] == 0
    assert m[("vllm:kv_cache_usage_perc", ())] == 0
    assert 0 < m[("vllm:generation_tokens_total", ())] <= 12


def test_vllm_metric_names_and_labels_match_vllm(make_sim):
    text = call(make_sim(deprecated_metrics=True), "/metrics")[1]
    for name in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:inter_token_latency_seconds_bucket",
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:e2e_request_latency_seconds_bucket",
        "vllm:gpu_cache_usage_perc",
        "vllm:time_per_output_token_seconds_bucket",
    ):
        assert f"\n{name}{{" in text, name
    assert 'vllm:request_success_total{engine="0",finished_reason="stop",model_name="sim"}' in text
    assert "_created" not in text


@pytest.mark.skipif(not shutil.which("promtool"), reason="needs promtool")
def test_vllm_metrics_pass_promtool(make_sim):
    text = call(make_sim(), "/metrics")[1]
    out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    # vLLM's real names contain colons, which promtool's linter flags (colons are meant for recording
    # rules); the simulator keeps vLLM's names on purpose, so that is the only finding allowed.
    problems = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert problems, "expected the colon finding for vLLM's names"
    assert all("should not contain ':'" in line for line in problems), problems


def test_the_access_log_is_what_the_collector_reads(make_sim, tmp_path):
    sim = make_sim()
    call(sim, "/v1/completions", {"model": "sim", "prompt": "x" * 40, "max_tokens": 2}, headers={"X-Tenant": "acme"})
    call(sim, "/v1/completions", {"model": "sim", "prompt": "y", "max_tokens": 2, "user": "globex"})
    call(sim, "/v1/completions", {"model": "nope", "prompt": "y"})
    source = AccessLogSource(AccessLogConfig(name="gw", path=tmp_path / "access.log"))
    fams = {f.sample_name: f for f in source.collect()}
    requests = {(lab["tenant"], lab["model"]): v for _, lab, v in fams["citadel_gateway_requests_total"].samples}
    assert requests == {("acme", "sim"): 1, ("globex", "sim"): 1, ("anonymous", "nope"): 1}
    prompt = {lab["tenant"]: v for _, lab, v in fams["citadel_gateway_prompt_tokens_total"].samples}
    assert prompt["acme"] == 10
    assert fams["citadel_collector_log_lines_rejected_total"].samples[0][2] == 0


def test_error_burst(make_sim):
    sim = make_sim()
    assert call(sim, "/control/faults", {"fault": "error_burst", "error_ratio": 1, "status": 503}, "POST")[0] == 200
    assert call(sim, "/v1/completions", {"model": "sim", "prompt": "x"})[0] == 503
    assert metrics(sim)[("citadel_simulator_fault_active", (("fault", "error_burst"),))] == 1
    assert call(sim, "/control/faults", method="DELETE")[0] == 200
    assert call(sim, "/v1/completions", {"model": "sim", "prompt": "x", "max_tokens": 1})[0] == 200


def test_latency_spike_slows_the_first_token(make_sim):
    sim = make_sim(time_scale=0.02)
    body = {"model": "sim", "prompt": "x", "max_tokens": 1}

    def ttft_sum():
        return metrics(sim)[("vllm:time_to_first_token_seconds_sum", ())]

    for _ in range(3):
        call(sim, "/v1/completions", body)
    normal = ttft_sum() / 3
    call(sim, "/control/faults", {"fault": "latency_spike", "factor": 50, "duration_seconds": 30}, "POST")
    for _ in range(3):
        call(sim, "/v1/completions", body)
    spiked = (ttft_sum() - normal * 3) / 3
    assert spiked > 5 * normal


def test_memory_leak_grows_the_simulated_gpu_memory(make_sim):
    sim = make_sim()
    before = metrics(sim)[("citadel_simulator_gpu_memory_used_bytes", ())]
    call(sim, "/control/faults", {"fault": "memory_leak", "bytes_per_second": 1e9}, "POST")
    time.sleep(0.2)
    grown = metrics(sim)[("citadel_simulator_gpu_memory_used_bytes", ())]
    assert grown - before >= 1e8
    call(sim, "/control/faults", method="DELETE")  # a cleared leak stays leaked, like real memory
    assert metrics(sim)[("citadel_simulator_gpu_memory_used_bytes", ())] >= grown


def test_hang_blocks_requests_until_it_ends(make_sim):
    sim = make_sim()
    call(sim, "/control/faults", {"fault": "hang", "duration_seconds": 0.3}, "POST")
    started = time.monotonic()
    assert call(sim, "/health")[0] == 200
    assert time.monotonic() - started >= 0.25


def test_hang_times_out_a_client(make_sim):
    sim = make_sim()
    call(sim, "/control/faults", {"fault": "hang", "duration_seconds": 3}, "POST")
    with pytest.raises(TimeoutError):
        call(sim, "/health", timeout=0.2)
    call(sim, "/control/faults", method="DELETE")


def test_crash_calls_the_crash_handler(make_sim):
    sim = make_sim()
    status, _ = call(sim, "/control/faults", {"fault": "crash", "exit_code": 7}, "POST")
    assert status == 202
    deadline = time.monotonic() + 2
    while not sim.crashes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.crashes == [7]


@pytest.mark.parametrize(
    "body",
    [{"fault": "meteor"}, {"fault": "hang", "duration_seconds": -1}, {"fault": "error_burst", "error_ratio": 2}],
)
def test_bad_faults_are_refused(make_sim, body):
    assert call(make_sim(), "/control/faults", body, "POST")[0] == 400


def test_the_control_endpoint_can_be_disabled(make_sim):
    assert call(make_sim(control=False), "/control/faults", {"fault": "crash"}, "POST")[0] == 404


def test_a_full_engine_queues_then_refuses(make_sim):
    from dataclasses import replace

    from citadel_monitoring.simulator.model import Profile

    sim = make_sim(profile=replace(Profile(), max_num_seqs=1), queue_timeout_seconds=0.01)
    sim.engine.running = 1  # the only sequence slot is taken
    assert call(sim, "/v1/completions", {"model": "sim", "prompt": "x"})[0] == 503
    sim.engine.running = 0
