"""The multivariate detector: an IsolationForest over related series, refitted on a rolling window.

Each point is a vector (the values of related series of one host or model server at one time, or a
single series); its features are each value, its step from the previous point and its distance from
the recent mean. The forest is refitted every `refit_every` points on the last `train_window`
feature rows (a fixed random seed, so the same rows give the same forest) and scores points with
the forest fitted before them: causal. The surprise is the isolation score's distance above the
training median, in units of the training MAD; its novelty against recent isolation scores is the
anomaly score, as for every detector.

The state keeps the rows of the last fit, not the fitted trees: `from_state` refits on them with
the same seed, which reproduces the same forest exactly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from citadel_monitoring.analytics.base import Detector

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest


class ForestDetector(Detector):
    kind: ClassVar[str] = "forest"

    def __init__(
        self,
        train_window: int = 2016,
        refit_every: int = 1008,
        min_train: int = 288,
        n_estimators: int = 50,
        mean_window: int = 12,
        seed: int = 0,
        memory: int = 4032,
        softness: float = 0.05,
        onset: int = 50,
    ) -> None:
        super().__init__(memory=memory, softness=softness, onset=onset)
        if min_train < 16 or train_window < min_train or refit_every < 1:
            raise ValueError("need min_train >= 16, train_window >= min_train, refit_every >= 1")
        self.train_window = train_window
        self.refit_every = refit_every
        self.min_train = min_train
        self.n_estimators = n_estimators
        self.mean_window = mean_window
        self.seed = seed
        self.rows: deque[list[float]] = deque(maxlen=train_window)
        self.recent: deque[list[float]] = deque(maxlen=mean_window)
        self.fitted_rows: list[list[float]] = []
        self.since_fit = 0
        self.model: IsolationForest | None = None
        self.center = 0.0
        self.spread = 1.0

    def _features(self, x: Sequence[float]) -> list[float]:
        if self.recent:
            prev = self.recent[-1]
            means = [sum(r[j] for r in self.recent) / len(self.recent) for j in range(len(x))]
        else:
            prev = list(x)
            means = list(x)
        feats: list[float] = []
        for j, v in enumerate(x):
            feats.extend((v, v - prev[j], v - means[j]))
        self.recent.append(list(x))
        return feats

    def _fit(self) -> None:
        from sklearn.ensemble import IsolationForest  # imported when needed: it costs a second at start-up

        self.fitted_rows = [list(r) for r in self.rows]
        train = np.asarray(self.fitted_rows)
        self.model = IsolationForest(
            n_estimators=self.n_estimators, max_samples=min(256, len(train)), random_state=self.seed
        ).fit(train)
        s = -self.model.score_samples(train)
        self.center = float(np.median(s))
        self.spread = max(float(np.median(np.abs(s - self.center))) * 1.4826, 1e-3)
        self.since_fit = 0

    def _after(self, feats: list[float]) -> None:
        self.rows.append(feats)
        self.since_fit += 1
        if len(self.rows) >= self.min_train and (self.model is None or self.since_fit >= self.refit_every):
            self._fit()

    def _signal(self, t: float, x: float | Sequence[float]) -> float | None:
        vec = [float(x)] if isinstance(x, float | int) else [float(v) for v in x]
        feats = self._features(vec)
        sig = None
        if self.model is not None:
            s = float(-self.model.score_samples(np.asarray([feats]))[0])
            sig = max(0.0, (s - self.center) / self.spread)
        self._after(feats)
        return sig

    def update(self, t: float, x: float | Sequence[float]) -> float:  # type: ignore[override]
        """Feed one point: a value, or the values of the related series at this time."""
        return self.gate.update(self._raw(t, x))  # type: ignore[arg-type]

    def signals(self, values: np.ndarray) -> list[float | None]:
        """Batch `_signal` over rows of `values` (1-D: one series; 2-D: related series).

        Points between two refits are scored in one call to the forest: the same numbers as
        point by point, much faster.
        """
        vals = np.asarray(values, dtype=float)
        mat = vals.reshape(-1, 1) if vals.ndim == 1 else vals
        out: list[float | None] = [None] * len(mat)
        pending: list[tuple[int, list[float]]] = []

        def flush() -> None:
            if pending and self.model is not None:
                s = -self.model.score_samples(np.asarray([f for _, f in pending]))
                for (i, _), si in zip(pending, s.tolist(), strict=True):
                    out[i] = max(0.0, (si - self.center) / self.spread)
            pending.clear()

        for i, row in enumerate(mat.tolist()):
            feats = self._features(row)
            if self.model is not None:
                pending.append((i, feats))
            self.rows.append(feats)
            self.since_fit += 1
            if len(self.rows) >= self.min_train and (self.model is None or self.since_fit >= self.refit_every):
                flush()
                self._fit()
        flush()
        return out

    def raw_scores(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        nov = self.novelty.update
        sigs = self.signals(values)
        return np.fromiter((0.0 if s is None else nov(s) for s in sigs), float, len(sigs))

    def _model_state(self) -> dict[str, Any]:
        return {
            "train_window": self.train_window,
            "refit_every": self.refit_every,
            "min_train": self.min_train,
            "n_estimators": self.n_estimators,
            "mean_window": self.mean_window,
            "seed": self.seed,
            "rows": [list(r) for r in self.rows],
            "recent": [list(r) for r in self.recent],
            "fitted_rows": self.fitted_rows,
            "since_fit": self.since_fit,
        }

    def _load_model_state(self, state: dict[str, Any]) -> None:
        for key in ("train_window", "refit_every", "min_train", "n_estimators", "mean_window", "seed"):
            setattr(self, key, state[key])
        self.rows = deque((list(r) for r in state["rows"]), maxlen=self.train_window)
        self.recent = deque((list(r) for r in state["recent"]), maxlen=self.mean_window)
        self.model = None
        self.center, self.spread = 0.0, 1.0
        if state["fitted_rows"]:
            saved_rows, since = self.rows, state["since_fit"]
            self.rows = deque(state["fitted_rows"], maxlen=self.train_window)
            self._fit()
            self.rows, self.since_fit = saved_rows, since
        else:
            self.fitted_rows, self.since_fit = [], state["since_fit"]
