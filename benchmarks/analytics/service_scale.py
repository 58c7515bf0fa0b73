"""How the analytics service scales: 1,000 series, 7 days of history at a 1-minute step.

    .venv/bin/python benchmarks/analytics/service_scale.py [--series 1000] [--cycles 5]

Feeds synthetic series (daily pattern + noise + a trend, one in ten a counter-like ramp) to the
service's own cycle function through an in-memory stand-in for the Prometheus API (no network),
so what is measured is the service: start-up (the backfill: 7 days fetched in chunks, the
detectors learning their last day, the forecasters the 7 days at 15 minutes), steady-state
cycles (one new point per series at the 1-minute step, i.e. six 10-second scrapes summarised by
the query step; `--step 10s` feeds 10-second points instead), saving all model state, resuming
from it, and peak RSS. Then, if `--prometheus URL` is given (127.0.0.1 only), a real fetch of 7 days at 1 minute of
`--query`: in one `query_range`, and in 6-hour chunks as the service does it.
Prints a table.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from citadel_monitoring.analytics.config import parse_config
from citadel_monitoring.analytics.csvio import parse_duration
from citadel_monitoring.analytics.service import AnalyticsService
from citadel_monitoring.promapi import PromClient, Series

T0 = 1_780_000_000.0  # a fixed "now" (2026): runs are repeatable


class SyntheticProm:
    """Answers query_range/query like Prometheus would for `n` series of one query."""

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n = n
        self.amp = rng.uniform(1, 10, n)
        self.base = rng.uniform(20, 200, n)
        self.phase = rng.uniform(0, 2 * np.pi, n)
        self.noise = rng.uniform(0.05, 0.5, n)
        self.trend = rng.uniform(-1e-5, 1e-5, n)
        self.labels = [{"__name__": "synthetic", "instance": f"host{i // 8}", "gpu": str(i % 8)} for i in range(n)]
        self.calls = 0
        self.points = 0

    def _values(self, ts: np.ndarray) -> np.ndarray:
        day = 2 * np.pi * (ts[None, :] % 86_400) / 86_400
        out = self.base[:, None] + self.amp[:, None] * np.sin(day + self.phase[:, None])
        out += self.trend[:, None] * (ts[None, :] - T0)
        # deterministic noise per (series, time): the same point always has the same value
        h = np.sin(ts[None, :] * 12.9898 + np.arange(self.n)[:, None] * 78.233) * 43758.5453
        return out + self.noise[:, None] * (h - np.floor(h) - 0.5)

    def query_range(self, query: str, start: float, end: float, step: float) -> list[Series]:
        self.calls += 1
        ts = np.arange(start, end + step / 2, step)
        xs = self._values(ts)
        self.points += xs.size
        return [Series(self.labels[i], ts, xs[i]) for i in range(self.n)]

    def query(self, query: str, time: float | None = None) -> list[Series]:
        t = np.array([time or T0])
        xs = self._values(t)
        return [Series(self.labels[i], t, xs[i]) for i in range(self.n)]


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def config(state_dir: Path, n: int, step: str) -> dict:
    return {
        "prometheus": {"url": "http://127.0.0.1:1"},
        "state_dir": str(state_dir),
        "cycle": {"interval": "1m", "lag": "0s"},
        "limits": {"max_series": n},
        "watch": [
            {
                "name": "synthetic",
                "query": "synthetic",
                "step": step,
                "history": "7d",
                "capacity": {"limit": 1000, "window": "1d", "alert_within": "1d"},
            }
        ],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--step", default="1m", help="the watch's query step (default 1m)")
    ap.add_argument("--prometheus", help="also time one query_range against this URL (127.0.0.1 only)")
    ap.add_argument("--query", default="up", help="the query for --prometheus")
    args = ap.parse_args()
    parse_duration(args.step)  # a bad --step fails here, before any work
    rows: list[tuple[str, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="citadel-analytics-bench-"))
    try:
        cfg = parse_config(config(tmp, args.series, args.step))
        prom = SyntheticProm(args.series)
        now = T0
        svc = AnalyticsService(cfg, client=prom, clock=lambda: now)  # type: ignore[arg-type]
        svc.config = cfg
        started = time.perf_counter()
        cpu0 = time.process_time()
        svc.run_cycle(now)
        startup = time.perf_counter() - started
        rows.append(
            (
                f"start-up: backfill 7 d at {args.step} step, {args.series} series ({prom.points:,} points fetched)",
                f"{startup:.1f} s wall, {time.process_time() - cpu0:.1f} s CPU",
            )
        )
        rows.append(("RSS after start-up (peak)", f"{rss_mib():.0f} MiB"))
        rows.append(("load average (1 min) while measuring", f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"))
        durations, cpus = [], []
        for _ in range(args.cycles):
            now += 60.0
            t, c = time.perf_counter(), time.process_time()
            svc.run_cycle(now)
            durations.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        rows.append(
            (
                f"steady-state cycle ({args.cycles} cycles, 1 minute of new points a series)",
                f"wall median {np.median(durations):.2f} s, max {max(durations):.2f} s; "
                f"CPU median {np.median(cpus):.2f} s, max {max(cpus):.2f} s",
            )
        )
        # one cycle that also closes a 15-minute forecast step for every series (forecasts recomputed)
        now = (np.floor(now / 900) + 1) * 900 + 1
        t, c = time.perf_counter(), time.process_time()
        svc.run_cycle(now)
        rows.append(
            (
                "cycle that recomputes every forecast (a 15 min step closes)",
                f"{time.perf_counter() - t:.2f} s wall, {time.process_time() - c:.2f} s CPU",
            )
        )
        t, c = time.perf_counter(), time.process_time()
        saved = svc.save_state(now=now)
        size = sum(p.stat().st_size for p in (tmp / "series").glob("*.json"))
        rows.append(
            (
                f"save all state ({saved} dirty series; {len(svc.models)} files)",
                f"{time.perf_counter() - t:.1f} s wall, {time.process_time() - c:.1f} s CPU, "
                f"{size / 2**20:.0f} MiB on disk",
            )
        )
        del svc
        gc.collect()
        t, c = time.perf_counter(), time.process_time()
        resumed = AnalyticsService(cfg, client=prom, clock=lambda: now)  # type: ignore[arg-type]
        n = resumed.load_state()
        load, load_cpu = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        resumed.run_cycle(now + 60)
        rows.append(
            (
                f"restart: load {n} states, then first cycle (catch-up)",
                f"{load:.1f} s + {time.perf_counter() - t:.2f} s wall, "
                f"{load_cpu:.1f} s + {time.process_time() - c:.2f} s CPU",
            )
        )
        rows.append(("peak RSS (whole run)", f"{rss_mib():.0f} MiB"))
        del resumed
        if args.prometheus:
            client = PromClient(args.prometheus, timeout=60)
            end = math.floor(time.time() / 60) * 60
            for label, chunk in (("one request", 7 * 86_400), ("6 h chunks", 6 * 3600)):
                t, c = time.perf_counter(), time.process_time()
                start, pts, nseries = end - 7 * 86_400, 0, 0
                while start <= end:
                    res = client.query_range(args.query, start, min(end, start + chunk), 60)
                    nseries, pts = len(res), pts + sum(len(s.values) for s in res)
                    start += chunk + 60
                rows.append(
                    (
                        f"real query_range {args.query!r}, 7 d at 1 m, {label} ({nseries} series, {pts:,} points)",
                        f"{time.perf_counter() - t:.2f} s wall, {time.process_time() - c:.2f} s client CPU",
                    )
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  measured")
    print(f"{'-' * width}  --------")
    for what, value in rows:
        print(f"{what:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
