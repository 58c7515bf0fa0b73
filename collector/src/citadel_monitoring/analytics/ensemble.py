"""The ensemble: several detectors on the same series, their scores combined, then gated once.

Every member scores the point (ungated, in [0, 1]); the ensemble reports their combination, `max`
(the default: any member's evidence is enough, measured best on nab-dev), `mean` (an alarm needs
agreement) or weighted `mean`, through its own onset gate.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from citadel_monitoring.analytics.base import Detector, OnsetGate

COMBINERS = ("max", "mean")


class EnsembleDetector(Detector):
    kind: ClassVar[str] = "ensemble"

    def __init__(
        self, members: list[Detector], combine: str = "max", weights: list[float] | None = None, onset: int = 50
    ) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if combine not in COMBINERS:
            raise ValueError(f"combine must be one of {', '.join(COMBINERS)}, got {combine!r}")
        if weights is not None and len(weights) != len(members):
            raise ValueError("one weight per member")
        self.members = members
        self.combine = combine
        self.weights = [float(w) for w in weights] if weights is not None else [1.0] * len(members)
        self.gate = OnsetGate(onset)

    def _combine(self, scores: np.ndarray) -> np.ndarray:
        """scores: (members, points) -> (points,)."""
        w = np.asarray(self.weights)[:, None]
        if self.combine == "max":
            return (w * scores).max(axis=0)
        return (w * scores).sum(axis=0) / w.sum()

    def _raw(self, t: float, x: float) -> float:
        scores = [w * m._raw(t, x) for w, m in zip(self.weights, self.members, strict=True)]
        if self.combine == "max":
            return max(scores)
        return sum(scores) / sum(self.weights)

    def raw_scores(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        if len(values) == 0:
            return np.zeros(0)
        return self._combine(np.vstack([m.raw_scores(timestamps, values) for m in self.members]))

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "combine": self.combine,
            "weights": self.weights,
            "gate": self.gate.to_state(),
            "members": [m.to_state() for m in self.members],
        }

    @classmethod
    def _restore(cls, state: dict[str, Any]) -> EnsembleDetector:
        obj = cls([Detector.from_state(s) for s in state["members"]], state["combine"], state["weights"])
        obj.gate = OnsetGate.from_state(state["gate"])
        return obj
