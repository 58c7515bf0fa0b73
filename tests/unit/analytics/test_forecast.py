"""Forecasting: interval shape and coverage, accuracy against seasonal naive, state, exhaustion."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from citadel_monitoring.analytics.forecast import (
    SeasonalTrendForecaster,
    make_forecaster,
    seasonal_naive,
    time_to_exhaustion,
)

from .conftest import PERIOD, STEP, daily


def test_forecast_shape_order_and_timestamps():
    t, x = daily()
    f = SeasonalTrendForecaster(PERIOD, STEP).fit(t, x, horizon=30)
    fc = f.forecast(30)
    for arr in (fc.timestamps, fc.yhat, fc.lower, fc.upper):
        assert arr.shape == (30,)
    assert np.all(fc.lower <= fc.yhat) and np.all(fc.yhat <= fc.upper)
    np.testing.assert_allclose(np.diff(fc.timestamps), STEP)
    assert fc.timestamps[0] == pytest.approx(t[-1] + STEP)
    assert np.all(fc.upper - fc.lower > 0)


def test_forecast_beats_seasonal_naive_and_covers_about_80_percent():
    t, x = daily(n=24 * 60, seed=5, noise=0.6)
    errs, naive_errs, inside, total = [], [], 0, 0
    for origin in range(24 * 20, len(x) - 24, 24 * 5):
        f = SeasonalTrendForecaster(PERIOD, STEP).fit(t[:origin], x[:origin], horizon=24)
        fc = f.forecast(24)
        actual = x[origin : origin + 24]
        errs.append(np.abs(actual - fc.yhat).mean())
        naive_errs.append(np.abs(actual - seasonal_naive(x[:origin], PERIOD, 24)).mean())
        inside += int(np.sum((actual >= fc.lower) & (actual <= fc.upper)))
        total += len(actual)
    assert np.mean(errs) < np.mean(naive_errs)
    assert 0.65 <= inside / total <= 0.95


def test_forecast_follows_a_trend():
    t = np.arange(24 * 10) * STEP
    x = 0.5 * np.arange(24 * 10) + np.random.default_rng(0).normal(0, 0.1, 240)
    fc = SeasonalTrendForecaster(PERIOD, STEP).fit(t, x, horizon=12).forecast(12)
    assert fc.yhat[-1] > x[-1] + 3  # still rising, not flat


def test_short_history_falls_back_to_no_season():
    t, x = daily(n=30)
    f = SeasonalTrendForecaster(PERIOD, STEP).fit(t, x, horizon=5)
    assert f.period == 1
    assert f.forecast(5).yhat.shape == (5,)


def test_state_round_trip_is_exact():
    t, x = daily(n=24 * 12, seed=6)
    cut = 24 * 9
    straight = make_forecaster(STEP)
    straight.fit(t, x, horizon=24)
    # the same parameters, learnt in two halves through a JSON state
    first = SeasonalTrendForecaster(
        straight.period, STEP, straight.alpha, straight.beta, straight.gamma, memory=straight.memory
    )
    for ti, xi in zip(t[:cut], x[:cut], strict=True):
        first.update(ti, xi)
    resumed = SeasonalTrendForecaster.from_state(json.loads(json.dumps(first.to_state())))
    for ti, xi in zip(t[cut:], x[cut:], strict=True):
        resumed.update(ti, xi)
    a, b = straight.forecast(24), resumed.forecast(24)
    np.testing.assert_array_equal(a.yhat, b.yhat)
    np.testing.assert_array_equal(a.lower, b.lower)
    np.testing.assert_array_equal(a.upper, b.upper)


def test_seasonal_naive_repeats_the_last_season():
    x = np.arange(48, dtype=float)
    np.testing.assert_array_equal(seasonal_naive(x, 24, 3), [24.0, 25.0, 26.0])
    np.testing.assert_array_equal(seasonal_naive(x, 1, 2), [47.0, 47.0])


def test_time_to_exhaustion_on_a_linear_ramp():
    rng = np.random.default_rng(7)
    t = np.arange(0, 6 * 3600, 60.0)
    x = 20 + 0.01 * t + rng.normal(0, 2, len(t))  # 36 units an hour, noisy
    ex = time_to_exhaustion(t, x, limit=500.0)
    truth = (500 - (20 + 0.01 * t[-1])) / 0.01
    assert ex.lower <= ex.seconds <= ex.upper
    assert ex.lower <= truth <= ex.upper
    assert ex.seconds == pytest.approx(truth, rel=0.05)
    assert ex.slope == pytest.approx(0.01, rel=0.05)


def test_time_to_exhaustion_downwards_flat_and_already_crossed():
    t = np.arange(0, 100.0)
    free = 1000 - 5 * t  # free space shrinking to 0
    ex = time_to_exhaustion(t, free, limit=0.0)
    assert ex.seconds == pytest.approx(free[-1] / 5)
    flat = np.full(100, 3.0)
    assert math.isinf(time_to_exhaustion(t, flat, limit=10.0).seconds)
    flat_epoch = time_to_exhaustion(1.7e9 + 60 * t, np.full(100, 5.0), limit=10.0)  # lstsq leaves ~1e-17 of slope
    assert flat_epoch.slope == 0.0 and math.isinf(flat_epoch.seconds) and math.isinf(flat_epoch.upper)
    assert time_to_exhaustion(t, 20 + t, limit=50.0, direction="up").seconds == 0.0
    away = time_to_exhaustion(t, 100 - t, limit=500.0)
    assert math.isinf(away.seconds)
    with pytest.raises(ValueError):
        time_to_exhaustion(t[:2], flat[:2], limit=1.0)
