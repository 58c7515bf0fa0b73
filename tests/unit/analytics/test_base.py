"""The shared pieces: novelty scoring, the onset gate, the robust scale, the step helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from citadel_monitoring.analytics.base import NoveltyScorer, OnsetGate, RobustScale, steps_per_day
from citadel_monitoring.analytics.novelty import NoveltyDetector
from citadel_monitoring.analytics.seasonal import SeasonalMedianDetector


def test_steps_per_day():
    assert steps_per_day(300) == 288
    assert steps_per_day(60) == 1440
    assert steps_per_day(2 * 86_400) == 1
    with pytest.raises(ValueError):
        steps_per_day(0)


def test_novelty_of_seen_values_is_zero_and_of_new_ones_grows_with_distance():
    sc = NoveltyScorer(memory=100, softness=0.05, warmup=3)
    for v in [0.0, 1.0, 2.0, 3.0, 4.0]:
        sc.update(v)
    assert sc.update(2.0) == 0.0
    near, far = NoveltyScorer.from_state(sc.to_state()), NoveltyScorer.from_state(sc.to_state())
    s_near, s_far = near.update(4.2), far.update(8.0)
    assert 0 < s_near < s_far < 1
    assert s_near == pytest.approx((0.2 / 4) / (0.2 / 4 + 0.05))


def test_novelty_memory_forgets_old_values():
    sc = NoveltyScorer(memory=3, warmup=1)
    for v in [100.0, 1.0, 2.0, 3.0]:
        sc.update(v)
    assert len(sc.sorted) == 3 and 100.0 not in sc.sorted
    assert sc.update(100.0) > 0.9


def test_flat_series_does_not_collapse_and_a_change_is_news():
    t = np.arange(500) * 60.0
    x = np.full(500, 7.0)
    x[400] = 7.5
    for det in (NoveltyDetector(memory=300), SeasonalMedianDetector(period=24, memory=300)):
        s = det.score(t, x)
        assert np.all(np.isfinite(s))
        assert s[:400].max() == 0.0
        assert s[400] > 0.9


def test_quantised_series_scale_stays_positive():
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(50, 0.4, 2000))  # mostly 50, sometimes 49 or 51: MAD is 0
    scale = RobustScale(window=288)
    for v in x:
        scale.observe_value(float(v))
        scale.observe_residual(float(v) - 50.0)
    assert scale.mad() == 0.0
    assert scale.value() >= 0.5  # floored by the quantum (1.0) and the mean absolute residual
    det = SeasonalMedianDetector(period=24, memory=500)
    s = det.score(np.arange(2000) * 3600.0, x)
    assert np.all(np.isfinite(s)) and s.max() <= 1.0
    assert np.mean(s[600:] >= 0.5) < 0.01  # quantisation alone is not an anomaly


def test_onset_gate_reports_an_event_once():
    g = OnsetGate(span=3)
    out = [g.update(v) for v in [0.1, 0.6, 0.7, 0.8, 0.2, 0.2, 0.2, 0.9]]
    assert out == [0.1, 0.6, 0.7, 0.8, 0.0, 0.0, 0.0, 0.9]
    assert OnsetGate(0).update(0.3) == 0.3


def test_onset_gate_suppresses_a_sustained_plateau():
    g = OnsetGate(span=5)
    out = [g.update(v) for v in [0.0] * 3 + [0.9] * 10]
    assert sum(1 for v in out if v >= 0.5) == 1


def test_invalid_parameters_are_refused():
    with pytest.raises(ValueError):
        NoveltyScorer(memory=1)
    with pytest.raises(ValueError):
        OnsetGate(-1)
    assert math.isinf(RobustScale().quantum)
