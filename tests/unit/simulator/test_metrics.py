"""The simulator's vLLM exposition carries everything rules/engines.yml needs for vLLM."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[3]
ENGINE_NEUTRAL = [
    "model:llm_requests:rate5m",
    "model:llm_prompt_tokens:rate5m",
    "model:llm_generation_tokens:rate5m",
    "model:llm_time_to_first_token_seconds:p95_5m",
    "model:llm_inter_token_latency_seconds:p95_5m",
    "model:llm_inter_token_latency_seconds:mean5m",
    "model:llm_e2e_request_latency_seconds:p95_5m",
    "model:llm_e2e_request_latency_seconds:mean5m",
    "model:llm_requests_waiting:sum",
    "model:llm_requests_running:sum",
    "model:llm_kv_cache_usage_ratio:max",
]


def _labels(labels):
    return ",".join(f'{k}="{v}"' for k, v in {**labels, "instance": "sim:8000", "job": "vllm"}.items())


@pytest.mark.skipif(not shutil.which("promtool"), reason="needs promtool")
@pytest.mark.parametrize("deprecated", [False, True])
def test_the_engine_neutral_series_exist_for_the_simulator(make_sim, tmp_path, deprecated):
    sim = make_sim(deprecated_metrics=deprecated)
    for _ in range(2):
        body = json.dumps({"model": "sim", "prompt": "x" * 80, "max_tokens": 4}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{sim.port}/v1/completions", data=body)
        urllib.request.urlopen(req, timeout=5).read()
    text = urllib.request.urlopen(f"http://127.0.0.1:{sim.port}/metrics", timeout=5).read().decode()
    series = [
        {"series": f"{s.name}{{{_labels(s.labels)}}}", "values": f"0+{s.value}x15"}
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name.startswith("vllm:")
    ]
    tests = {
        "rule_files": [str(ROOT / "rules/engines.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": f"count by (engine, source, model, instance, job) ({name})",
                        "eval_time": "10m",
                        "exp_samples": [
                            {
                                "labels": '{engine="vllm",source="engine",model="sim",instance="sim:8000",job="vllm"}',
                                "value": 1,
                            }
                        ],
                    }
                    for name in ENGINE_NEUTRAL
                ],
            }
        ],
    }
    path = tmp_path / "sim.test.yml"
    path.write_text(json.dumps(tests))
    out = subprocess.run(["promtool", "test", "rules", path], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
