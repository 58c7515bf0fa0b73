"""Synthetic series for the analytics tests: small, seeded, with a daily pattern."""

from __future__ import annotations

import numpy as np
import pytest

from citadel_monitoring.analytics.ensemble import EnsembleDetector
from citadel_monitoring.analytics.forest import ForestDetector
from citadel_monitoring.analytics.novelty import NoveltyDetector
from citadel_monitoring.analytics.seasonal import SeasonalMedianDetector
from citadel_monitoring.analytics.smoothing import SmoothingDetector

STEP = 3600.0  # hourly points: a day is 24 of them
PERIOD = 24


def daily(n: int = 24 * 20, seed: int = 0, noise: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = 1.7e9 + STEP * np.arange(n)
    x = 10 + 3 * np.sin(2 * np.pi * np.arange(n) / PERIOD) + rng.normal(0, noise, n)
    return t, x


def small(kind: str):  # a detector of each kind, with small windows so the tests stay fast
    common = {"memory": 200, "onset": 5}
    if kind == "novelty":
        return NoveltyDetector(**common)
    if kind == "seasonal":
        return SeasonalMedianDetector(period=PERIOD, days=3, scale_window=48, **common)
    if kind == "smoothing":
        return SmoothingDetector(scale_window=48, **common)
    if kind == "forest":
        return ForestDetector(train_window=96, refit_every=40, min_train=48, n_estimators=10, **common)
    if kind == "ensemble":
        return EnsembleDetector([small("novelty"), small("seasonal"), small("smoothing")], onset=5)
    raise ValueError(kind)


KINDS = ["novelty", "seasonal", "smoothing", "forest", "ensemble"]


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param
