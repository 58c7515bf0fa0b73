"""The cost model: static figures as `_info` and gauges."""

from __future__ import annotations

from citadel_monitoring.collector.config import CostConfig
from citadel_monitoring.collector.sources.cost import CostSource


def test_cost_figures():
    fams = {f.sample_name: f for f in CostSource(CostConfig("EUR", 3.6, 8, {"budget": 1e4}), gpu_count=2).collect()}
    assert fams["citadel_cost_info"].samples == [("", {"currency": "EUR"}, 1)]
    assert fams["citadel_cost_gpu_per_second"].samples[0][2] == 0.001
    assert fams["citadel_cost_gpus"].samples[0][2] == 8  # the configured count wins over NVML's
    assert fams["citadel_cost_figure"].samples == [("", {"currency": "EUR", "figure": "budget"}, 1e4)]


def test_gpu_count_falls_back_to_the_detected_one():
    fams = {f.sample_name: f for f in CostSource(CostConfig("USD"), gpu_count=4).collect()}
    assert fams["citadel_cost_gpus"].samples[0][2] == 4
    assert "citadel_cost_gpu_per_second" not in fams
