"""Every detector: causal, scores in [0, 1], state saved and restored exactly, update == score."""

from __future__ import annotations

import json

import numpy as np

from citadel_monitoring.analytics.base import Detector
from citadel_monitoring.analytics.registry import DETECTORS, make_detector

from .conftest import daily, small


def test_scores_are_in_unit_interval_and_finite(kind):
    t, x = daily()
    s = small(kind).score(t, x)
    assert s.shape == x.shape
    assert np.all(np.isfinite(s))
    assert s.min() >= 0.0 and s.max() <= 1.0


def test_causal_future_points_do_not_change_past_scores(kind):
    t, x = daily(seed=1)
    cut = 300
    prefix = small(kind).score(t[:cut], x[:cut])
    future = x.copy()
    future[cut:] += 50.0  # whatever comes later, however wild
    full = small(kind).score(t, future)
    np.testing.assert_array_equal(prefix, full[:cut])


def test_state_round_trip_is_exact(kind):
    t, x = daily(seed=2)
    x[400] += 15.0
    cut = 250
    straight = small(kind).score(t, x)
    first = small(kind)
    a = first.score(t[:cut], x[:cut])
    state = json.loads(json.dumps(first.to_state()))  # through JSON, as a service would store it
    resumed = Detector.from_state(state)
    assert type(resumed) is type(first)
    b = resumed.score(t[cut:], x[cut:])
    np.testing.assert_array_equal(np.concatenate([a, b]), straight)
    assert json.dumps(resumed.to_state()) == json.dumps(small_after(kind, t, x))


def small_after(kind, t, x):
    d = small(kind)
    d.score(t, x)
    return d.to_state()


def test_update_point_by_point_equals_batch_score(kind):
    t, x = daily(n=24 * 8, seed=3)
    batch = small(kind).score(t, x)
    d = small(kind)
    online = np.array([d.update(ti, xi) for ti, xi in zip(t, x, strict=True)])
    np.testing.assert_allclose(online, batch, rtol=0, atol=1e-12)


def test_a_spike_scores_far_above_the_normal_points(kind):
    t, x = daily(seed=4)
    spike = 400
    x[spike] += 12.0
    s = small(kind).score(t, x)
    assert s[spike] >= 0.5
    assert s[spike] > np.quantile(s[200:spike], 0.99)


def test_registry_builds_every_detector_with_defaults():
    t, x = daily(n=100)
    for name in DETECTORS:
        if name == "forest":
            continue  # its defaults need days of data; covered with small windows above
        s = make_detector(name, 300.0).score(t, x)
        assert s.shape == x.shape


def test_registry_rejects_unknown_names():
    import pytest

    with pytest.raises(ValueError, match="unknown detector"):
        make_detector("magic", 60.0)


def test_forest_sees_a_broken_relation_between_related_series():
    """Two series that move together: at the anomaly each stays in its usual range, but the pair does not."""
    from citadel_monitoring.analytics.forest import ForestDetector

    rng = np.random.default_rng(8)
    n = 600
    load = 5 + 4 * np.sin(np.arange(n) * 2 * np.pi / 48) + rng.normal(0, 0.2, n)
    latency = 2 * load + rng.normal(0, 0.2, n)
    latency[500:505] = 2 * (10 - load[500:505])  # high latency at low load: each value seen before
    pair = np.column_stack([load, latency])
    det = ForestDetector(train_window=300, refit_every=100, min_train=100, n_estimators=50, memory=300, onset=5)
    s = det.score(np.arange(n) * 60.0, pair)
    assert s[500:505].max() >= 0.5
    assert s[500:505].max() > np.quantile(s[200:500], 0.99)
    uni = small("novelty").score(np.arange(n) * 60.0, latency)
    assert uni[500:505].max() < s[500:505].max()


def test_update_with_raw_gives_the_gated_and_the_sustained_score():
    t, x = daily(n=24 * 10, seed=9)
    x[200:230] += 20.0  # a level shift that lasts
    d = small("ensemble")
    pairs = [d.update_with_raw(ti, xi) for ti, xi in zip(t, x, strict=True)]
    gated = np.array([p[0] for p in pairs])
    raw = np.array([p[1] for p in pairs])
    np.testing.assert_array_equal(gated, small("ensemble").score(t, x))
    assert np.all(gated <= raw)
    assert gated[200] >= 0.5 and raw[200] >= 0.5
    assert np.sum(gated[200:230] >= 0.5) < np.sum(raw[200:230] >= 0.5)


def test_defaults_scale_with_the_step_within_their_floors_and_caps():
    five_min = make_detector("novelty", 300.0)
    assert five_min.novelty.memory == 4032 and five_min.gate.span == 50  # 14 days, 250 minutes
    hourly = make_detector("novelty", 3600.0)
    assert hourly.novelty.memory == 4032 and hourly.gate.span == 50  # floors: 336 and 4 points
    ten_s = make_detector("novelty", 10.0)
    assert ten_s.novelty.memory == 8064 and ten_s.gate.span == 1500  # the cap; 250 minutes


def test_saved_state_of_an_unknown_kind_is_refused():
    import pytest

    with pytest.raises(ValueError, match="unknown detector kind 'magic'"):
        Detector.from_state({"kind": "magic"})
