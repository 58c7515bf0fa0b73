"""Speed of `detect` over all of nab-dev (target: under 10 s in total on the 2-core dev machine).

    .venv/bin/python benchmarks/analytics/speed.py

Three figures: the models alone (arrays in, scores out), the whole command in one process (read
and validate each CSV, score, write the output atomically), and the real command line, one
`citadel-analytics detect` process per file (start-up included). Also the size of a detector's
saved state, which is what a service keeps per series.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from nab_scoring import dataset_dir, load_corpus

from citadel_monitoring.analytics.cli import main as cli_main
from citadel_monitoring.analytics.registry import DEFAULT_DETECTOR, make_detector


def main() -> int:
    corpus = load_corpus()
    files = [dataset_dir() / "data" / s.name for s in corpus]
    points = sum(len(s.values) for s in corpus)
    print(f"nab-dev: {len(corpus)} files, {points} points; detector: {DEFAULT_DETECTOR} (defaults)")

    start = time.perf_counter()
    state_bytes = []
    for s in corpus:
        gaps = np.diff(s.timestamps)
        det = make_detector(DEFAULT_DETECTOR, float(np.median(gaps[gaps > 0])))
        det.score(s.timestamps, s.values)
        state_bytes.append(len(json.dumps(det.to_state())))
    models = time.perf_counter() - start
    print(f"models only:                  {models:6.2f} s  ({1e6 * models / points:.1f} us a point)")

    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "out.csv")
        start = time.perf_counter()
        for f in files:
            if cli_main(["detect", str(f), "--output", out]) != 0:
                raise SystemExit(f"detect failed on {f}")
        in_process = time.perf_counter() - start
        print(f"detect, one process:          {in_process:6.2f} s  (CSV read + validate + score + atomic write)")

        exe = Path(sys.executable).parent / "citadel-analytics"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        for f in files:
            subprocess.run([exe, "detect", f, "--output", out], check=True)
        processes = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"detect, a process per file:   {processes:6.2f} s  (`for f in *.csv; do citadel-analytics detect ...`)")
        print(f"  of which CPU time:          {cpu:6.2f} s  (the same work, less sensitive to other load)")
    kib = np.asarray(state_bytes) / 1024
    print(f"saved state per series (JSON): median {np.median(kib):.0f} KiB, max {kib.max():.0f} KiB")
    ok = processes < 10.0
    print(f"target < 10 s in total: {'met' if ok else 'NOT met'} (process per file: {processes:.2f} s wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
