"""NAB scoring (Numenta Anomaly Benchmark), reimplemented from its description and NAB's sweeper.

Per file: rows in the probationary period (first 15%, at most 750 rows) are ignored; a row whose
score reaches the threshold is a detection. A detection inside a window is worth the scaled sigmoid
of its position (1 at the window's left edge), only the first in a window counts; a window without a
detection costs the miss weight; a detection outside every window costs the false-positive weight,
scaled by the sigmoid of its distance after the preceding window (full weight with none before).
The raw sum over all files is normalised against the null and the perfect detector, and one
threshold for the whole corpus is chosen to maximise that, per profile, by an exact sweep over
every distinct score.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def dataset_dir() -> Path:
    """nab-dev: `$CITADEL_NAB_DIR`, else `<repo root>/../shared/datasets/nab-dev`."""
    env = os.environ.get("CITADEL_NAB_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "datasets" / "nab-dev"


@dataclass(frozen=True)
class Profile:
    name: str
    tp: float
    fp: float
    fn: float


PROFILES = (
    Profile("standard", 1.0, 0.11, 1.0),
    Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
)


@dataclass
class Series:
    name: str  # relative to data/, e.g. realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv
    timestamps: np.ndarray  # float seconds since the epoch
    values: np.ndarray
    windows: list[tuple[int, int]]  # inclusive row indices


def _parse(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


def load_corpus(root: Path | None = None) -> list[Series]:
    root = root or dataset_dir()
    labels = json.loads((root / "labels" / "combined_windows.json").read_text())
    corpus = []
    for name in sorted(labels):
        rows = (root / "data" / name).read_text().splitlines()[1:]
        stamps = [r.split(",")[0] for r in rows]
        ts = np.array([_parse(s) for s in stamps])
        xs = np.array([float(r.split(",")[1]) for r in rows])
        windows = []
        for start, end in labels[name]:
            a, b = _parse(start), _parse(end)
            lo = int(np.searchsorted(ts, a, side="left"))
            hi = int(np.searchsorted(ts, b, side="right")) - 1
            windows.append((lo, hi))
        corpus.append(Series(name, ts, xs, windows))
    return corpus


def probation(n: int, percent: float = 0.15) -> int:
    return int(min(math.floor(percent * n), percent * 5000))


def scaled_sigmoid(y: float) -> float:
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def row_weights(n: int, windows: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the unweighted value of a detection there, and its window index (-1: outside)."""
    value = np.empty(n)
    window = np.full(n, -1, dtype=int)
    prev_right: int | None = None
    prev_width = 0.0
    bounds = sorted(windows)
    k = 0
    i = 0
    while i < n:
        if k < len(bounds) and i == bounds[k][0]:
            lo, hi = bounds[k]
            width = float(hi - lo + 1)
            for j in range(lo, hi + 1):
                value[j] = scaled_sigmoid(-(hi - j + 1) / width)
                window[j] = k
            prev_right, prev_width = hi, width
            k += 1
            i = hi + 1
            continue
        if prev_right is None:
            value[i] = -1.0
        else:
            value[i] = scaled_sigmoid(abs(prev_right - i) / max(prev_width - 1.0, 1.0))
        i += 1
    return value, window


def score_corpus(
    scores: dict[str, np.ndarray], corpus: list[Series], profiles: tuple[Profile, ...] = PROFILES
) -> dict[str, tuple[float, float]]:
    """{profile name: (normalised score, best threshold)} for per-file score arrays."""
    max_tp = scaled_sigmoid(-1.0)
    # Gather every scorable row: its score, its value, its global window id.
    all_scores, all_values, all_windows = [], [], []
    n_windows = 0
    for s in corpus:
        value, window = row_weights(len(s.values), s.windows)
        start = probation(len(s.values))
        all_scores.append(np.asarray(scores[s.name], dtype=float)[start:])
        all_values.append(value[start:])
        all_windows.append(np.where(window[start:] >= 0, window[start:] + n_windows, -1))
        n_windows += len(s.windows)
    sc = np.concatenate(all_scores)
    val = np.concatenate(all_values)
    win = np.concatenate(all_windows)
    order = np.argsort(-sc, kind="stable")
    sc, val, win = sc[order], val[order], win[order]
    # Boundaries of groups of equal scores: a threshold admits whole groups.
    cut = np.flatnonzero(np.diff(sc) != 0) + 1
    ends = np.append(cut, len(sc))
    results = {}
    for prof in profiles:
        null = -prof.fn * n_windows
        perfect = prof.tp * n_windows
        best_in_window = np.full(n_windows, -np.inf)
        tp_sum = 0.0
        hit = 0
        fp_sum = 0.0
        best = (0.0, float("inf"))  # the null detector: never fires
        begin = 0
        for end in ends:
            for j in range(begin, end):
                w = win[j]
                if w >= 0:
                    gain = val[j] * prof.tp / max_tp
                    if best_in_window[w] == -np.inf:
                        hit += 1
                        tp_sum += gain
                        best_in_window[w] = gain
                    elif gain > best_in_window[w]:
                        tp_sum += gain - best_in_window[w]
                        best_in_window[w] = gain
                else:
                    fp_sum += val[j] * prof.fp
            raw = tp_sum + fp_sum - prof.fn * (n_windows - hit)
            norm = 100.0 * (raw - null) / (perfect - null)
            if norm > best[0]:
                best = (norm, float(sc[end - 1]))
            begin = end
        results[prof.name] = best
    return results
