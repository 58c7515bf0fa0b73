"""Every dashboard: the file name of its generated JSON and its builder."""

from __future__ import annotations

from collections.abc import Callable

from . import alerting, anomalies, executive, gpu_fleet, model_serving, slos

DASHBOARDS: dict[str, Callable[[], dict]] = {
    "executive-overview.json": executive.build,
    "model-serving.json": model_serving.build,
    "gpu-fleet.json": gpu_fleet.build,
    "slos.json": slos.build,
    "anomalies-forecasts.json": anomalies.build,
    "alerting.json": alerting.build,
}
