"""The cost model: static business figures from the configuration, for cost-per-token rules."""

from __future__ import annotations

from collections.abc import Callable

from citadel_monitoring.collector.config import CostConfig
from citadel_monitoring.collector.exposition import Family
from citadel_monitoring.collector.sources.base import Source


class CostSource(Source):
    """Static figures; collected every minute (the GPU count comes from NVML once it is read)."""

    def __init__(self, config: CostConfig, gpu_count: Callable[[], int | None] | int | None = None) -> None:
        self.name = "cost"
        self.interval = 60.0
        self.config = config
        self.gpu_count = gpu_count

    def collect(self) -> list[Family]:
        c = self.config
        cur = {"currency": c.currency}
        fams = [Family("citadel_cost", "info", "The currency of the citadel_cost_* figures.").add(cur, 1)]
        detected = self.gpu_count() if callable(self.gpu_count) else self.gpu_count
        gpus = c.gpus if c.gpus is not None else detected
        if c.gpu_hourly_cost is not None:
            per_s = Family(
                "citadel_cost_gpu_per_second", "gauge", "Cost of one GPU for one second (gpu_hourly_cost / 3600)."
            )
            fams.append(per_s.add(cur, c.gpu_hourly_cost / 3600))
        if gpus is not None:
            fams.append(Family("citadel_cost_gpus", "gauge", "GPUs the host's cost covers.").add({}, gpus))
        if c.figures:
            fig = Family("citadel_cost_figure", "gauge", "Static business figures from the configuration.")
            for name, value in sorted(c.figures.items()):
                fig.add({**cur, "figure": name}, value)
            fams.append(fig)
        return fams
