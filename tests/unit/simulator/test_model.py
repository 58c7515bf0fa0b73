"""Distributions and fault bookkeeping of the simulator."""

from __future__ import annotations

import math
import statistics
import time

import pytest

from citadel_monitoring.simulator.model import FaultState, Profile, Sampler


def test_distributions_are_right_skewed_around_their_medians():
    s = Sampler(Profile(), seed=1)
    ttft = [s.ttft(0, 0) for _ in range(4000)]
    completions = [s.completion_tokens() for _ in range(4000)]
    assert statistics.median(ttft) == pytest.approx(Profile().ttft_median_seconds, rel=0.1)
    assert statistics.mean(ttft) > statistics.median(ttft)  # a long tail
    assert statistics.median(completions) == pytest.approx(Profile().completion_tokens_median, rel=0.1)


def test_load_and_long_prompts_slow_the_first_token():
    a, b = Sampler(Profile(), seed=2), Sampler(Profile(), seed=2)
    assert b.ttft(4000, 30) > a.ttft(10, 0)


def test_the_same_seed_repeats():
    a, b = Sampler(Profile(), seed=5), Sampler(Profile(), seed=5)
    assert [a.prompt_tokens() for _ in range(5)] == [b.prompt_tokens() for _ in range(5)]


def test_faults_expire():
    faults = FaultState()
    faults.inject("latency_spike", {"duration_seconds": 0.05})
    assert faults.active("latency_spike") is not None
    time.sleep(0.08)
    assert faults.active("latency_spike") is None
    assert faults.describe() == []


def test_a_leak_without_a_duration_runs_until_cleared():
    faults = FaultState()
    fault = faults.inject("memory_leak", {"bytes_per_second": 1000})
    assert math.isinf(fault.until)
    time.sleep(0.05)
    faults.clear()
    leaked = faults.leaked_bytes()
    assert 40 <= leaked < 1000
    time.sleep(0.02)
    assert faults.leaked_bytes() == leaked
