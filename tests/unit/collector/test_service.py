"""Wiring the sources from the configuration."""

from __future__ import annotations

import threading

from citadel_monitoring.collector.config import parse_config
from citadel_monitoring.collector.service import build_sources
from citadel_monitoring.simulator.fake_nvml import FakeNvml


def test_every_configured_source_is_built_with_a_unique_name():
    config = parse_config(
        {
            "sources": {
                "nvml": {"xid_events": False},
                "probes": [
                    {"name": "a", "base_url": "http://127.0.0.1:1", "model": "m"},
                    {"name": "b", "base_url": "http://127.0.0.1:2", "model": "m"},
                ],
                "ollama": [{"name": "a", "base_url": "http://127.0.0.1:3"}],
                "access_logs": [{"name": "gw", "path": "/nonexistent/access.log"}],
                "cost": {"currency": "USD"},
            }
        }
    )
    names = [s.name for s in build_sources(config, threading.Event(), nvml_module=FakeNvml(1))]
    assert names == ["nvml", "nvml_slow", "probe:a", "probe:b", "ollama:a", "log:gw", "cost"]


def test_a_disabled_nvml_builds_no_gpu_source():
    config = parse_config({"sources": {"nvml": {"enabled": False}}})
    assert build_sources(config, threading.Event()) == []


def test_the_cost_model_counts_the_gpus_nvml_found():
    config = parse_config({"sources": {"nvml": {"xid_events": False}, "cost": {"currency": "USD"}}})
    nvml, _, cost = build_sources(config, threading.Event(), nvml_module=FakeNvml(3))
    assert "citadel_cost_gpus" not in {f.name for f in cost.collect()}  # unknown before NVML is read
    nvml.collect()
    (gpus,) = [f for f in cost.collect() if f.name == "citadel_cost_gpus"]
    assert gpus.samples[0][2] == 3
