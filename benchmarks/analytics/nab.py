"""NAB benchmark: the standard, low-FP and low-FN scores of each detector and of the ensemble on nab-dev.

    .venv/bin/python benchmarks/analytics/nab.py            # every detector, in-process (~15 s)
    .venv/bin/python benchmarks/analytics/nab.py --cli      # also `citadel-analytics detect` itself, file by file
    .venv/bin/python benchmarks/analytics/nab.py --detectors ensemble,novelty
    .venv/bin/python benchmarks/analytics/nab.py --sensitivity   # the ensemble, one knob at a time (~1 min)

Every detector runs with the defaults `detect` uses (`make_detector(name, step)`); the threshold is
chosen per profile over the whole corpus, as NAB does. The data: `$CITADEL_NAB_DIR`, else
`<repo root>/../shared/datasets/nab-dev`.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from nab_scoring import PROFILES, dataset_dir, load_corpus, probation, score_corpus

from citadel_monitoring.analytics.registry import DETECTORS, make_detector

ORDER = ["novelty", "seasonal", "smoothing", "forest", "ensemble"]


SENSITIVITY: list[tuple[str, dict]] = [
    ("defaults", {}),
    ("memory_days=7", {"memory_days": 7.0}),
    ("memory_days=28", {"memory_days": 28.0}),
    ("onset_hours=2", {"onset_hours": 2.0}),
    ("onset_hours=8", {"onset_hours": 8.0}),
    ("season_days=3", {"season_days": 3}),
    ("season_days=14", {"season_days": 14}),
    ("combine=mean", {"combine": "mean"}),
    ("members=novelty,smoothing", {"members": ("novelty", "smoothing")}),
    ("members=+forest", {"members": ("novelty", "seasonal", "smoothing", "forest")}),
]


def scores_in_process(name: str, corpus: list, **knobs: object) -> tuple[dict[str, np.ndarray], float]:
    out = {}
    start = time.perf_counter()
    for s in corpus:
        gaps = np.diff(s.timestamps)
        step = float(np.median(gaps[gaps > 0]))
        out[s.name] = make_detector(name, step, **knobs).score(s.timestamps, s.values)  # type: ignore[arg-type]
    return out, time.perf_counter() - start


def scores_by_cli(corpus: list) -> tuple[dict[str, np.ndarray], float]:
    exe = Path(sys.executable).parent / "citadel-analytics"
    out = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for s in corpus:
            target = Path(tmp) / "out.csv"
            subprocess.run([exe, "detect", dataset_dir() / "data" / s.name, "--output", target], check=True)
            with target.open() as fh:
                out[s.name] = np.array([float(r["anomaly_score"]) for r in csv.DictReader(fh)])
    return out, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detectors", default=",".join(ORDER), help="comma-separated (default: all)")
    parser.add_argument("--cli", action="store_true", help="also score the output of `citadel-analytics detect`")
    parser.add_argument("--sensitivity", action="store_true", help="the ensemble with one knob changed at a time")
    parser.add_argument(
        "--by-folder", action="store_true", help="also score each folder alone (its own threshold): consistency"
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.detectors.split(",") if n.strip()]
    unknown = [n for n in names if n not in DETECTORS]
    if unknown:
        parser.error(f"unknown detector(s): {', '.join(unknown)}")
    corpus = load_corpus()
    points = sum(len(s.values) for s in corpus)
    windows = sum(len(s.windows) for s in corpus)
    print(f"nab-dev: {len(corpus)} series, {points} points, {windows} windows ({dataset_dir()})")
    header = f"{'detector':<28}" + "".join(f"{p.name:>22}" for p in PROFILES) + f"{'seconds':>10}"
    print(header)
    print("-" * len(header))
    if args.sensitivity:
        runs = [(label, lambda k=k: scores_in_process("ensemble", corpus, **k)) for label, k in SENSITIVITY]
    else:
        runs = [(n, lambda n=n: scores_in_process(n, corpus)) for n in names]
    if args.cli:
        runs.append(("detect (CLI, defaults)", lambda: scores_by_cli(corpus)))
    for label, fn in runs:
        scores, seconds = fn()
        res = score_corpus(scores, corpus)
        cells = "".join(f"{res[p.name][0]:>12.1f} (t={res[p.name][1]:.3f})" for p in PROFILES)
        print(f"{label:<28}{cells}{seconds:>10.2f}", flush=True)
        if args.by_folder:
            for folder in sorted({c.name.split("/")[0] for c in corpus}):
                part = [c for c in corpus if c.name.startswith(folder + "/")]
                if not any(c.windows for c in part):
                    thr = res["standard"][1]
                    fps = sum(int(np.sum(scores[c.name][probation(len(c.values)) :] >= thr)) for c in part)
                    print(f"  {folder:<26}no windows: {fps} false positives after probation (standard threshold)")
                    continue
                sub = score_corpus({c.name: scores[c.name] for c in part}, part)
                cells = "".join(f"{sub[p.name][0]:>12.1f} (t={sub[p.name][1]:.3f})" for p in PROFILES)
                print(f"  {folder:<26}{cells}")
    print("\nscore (t=threshold chosen for that profile); reference on these 28 series, standard profile:")
    print("Numenta HTM 72.3, CAD OSE 71.6, ARTime 69.8, KNN CAD 57.0, Skyline 55.1, RCF 53.7, Windowed Gaussian 26.5")
    return 0


if __name__ == "__main__":
    sys.exit(main())
