"""The NAB scorer of the benchmarks: null 0, perfect 100, early beats late, false alarms cost."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import load_module

nab = load_module("benchmarks/analytics/nab_scoring.py", "nab_scoring")


def corpus():
    ts = np.arange(1000) * 300.0
    return [
        nab.Series("a.csv", ts, np.zeros(1000), [(400, 499)]),
        nab.Series("b.csv", ts, np.zeros(1000), [(300, 349), (700, 749)]),
        nab.Series("c.csv", ts, np.zeros(1000), []),
    ]


def scores(**marks):
    out = {s.name: np.zeros(1000) for s in corpus()}
    for name, rows in marks.items():
        for r in rows:
            out[f"{name}.csv"][r] = 1.0
    return out


def test_null_and_perfect():
    c = corpus()
    assert all(v[0] == 0.0 for v in nab.score_corpus(scores(), c).values())
    perfect = nab.score_corpus(scores(a=[400], b=[300, 700]), c)
    assert all(v[0] == pytest.approx(100.0) for v in perfect.values())


def test_early_detection_beats_late_and_only_the_first_counts():
    c = corpus()
    early = nab.score_corpus(scores(a=[410]), c)["standard"][0]
    late = nab.score_corpus(scores(a=[490]), c)["standard"][0]
    both = nab.score_corpus(scores(a=[410, 490]), c)["standard"][0]
    assert early > late > 0
    assert both == pytest.approx(early)


def test_false_positives_cost_more_in_the_low_fp_profile_and_probation_is_free():
    c = corpus()
    res = nab.score_corpus(scores(a=[400], c=[500]), c)
    hit_only = nab.score_corpus(scores(a=[400]), c)
    assert res["standard"][0] < hit_only["standard"][0]
    drop_std = hit_only["standard"][0] - res["standard"][0]
    drop_fp = hit_only["reward_low_FP_rate"][0] - res["reward_low_FP_rate"][0]
    assert drop_fp == pytest.approx(2 * drop_std)
    in_probation = nab.score_corpus(scores(a=[400], c=[50]), c)  # probation: first 150 rows
    assert in_probation["standard"][0] == pytest.approx(hit_only["standard"][0])


def test_the_threshold_is_chosen_to_maximise():
    c = corpus()
    s = scores(a=[400])
    s["c.csv"][600] = 0.5  # a weaker false alarm: the best threshold excludes it
    score, thr = nab.score_corpus(s, c)["standard"]
    assert thr == 1.0
    assert score == pytest.approx(nab.score_corpus(scores(a=[400]), c)["standard"][0])


def test_row_weights_follow_the_sigmoid():
    value, window = nab.row_weights(100, [(40, 59)])
    assert window[40] == 0 and window[39] == -1 and window[60] == -1
    assert value[40] == pytest.approx(nab.scaled_sigmoid(-1.0))
    assert value[59] < value[40]
    assert value[0] == -1.0  # no window before: a full false positive
    assert -1.0 <= value[99] < value[61] < 0  # a false alarm just after a window costs less
