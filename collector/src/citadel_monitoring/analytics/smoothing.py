"""The predictive detector: damped-trend exponential smoothing, scored on its one-step residuals.

Holt's linear method with a damped trend predicts each point from the level and trend learnt so
far; the score is the novelty of the one-step residual against the recent residuals. A slow drift is absorbed
by the level and trend, a sudden change in level or slope is not (until the smoothing catches up,
which is what makes the score fall back after a level shift).
"""

from __future__ import annotations

from typing import Any, ClassVar

from citadel_monitoring.analytics.base import Detector, RobustScale


class SmoothingDetector(Detector):
    kind: ClassVar[str] = "smoothing"

    def __init__(
        self,
        alpha: float = 0.3,
        beta: float = 0.05,
        phi: float = 0.9,
        scale_window: int = 288,
        memory: int = 4032,
        softness: float = 0.05,
        onset: int = 50,
    ) -> None:
        super().__init__(memory=memory, softness=softness, onset=onset)
        for name, v in (("alpha", alpha), ("beta", beta), ("phi", phi)):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        self.alpha = alpha
        self.beta = beta
        self.phi = phi
        self.level: float | None = None
        self.trend = 0.0
        self.n = 0
        self.scale = RobustScale(window=scale_window)

    def expected(self) -> float | None:
        """The one-step prediction for the next point."""
        return None if self.level is None else self.level + self.phi * self.trend

    def band(self, z: float = 1.2816) -> tuple[float, float] | None:
        """The one-step prediction +/- z robust standard deviations of its residuals."""
        e = self.expected()
        if e is None:
            return None
        half = z * self.scale.value()
        return e - half, e + half

    def _signal(self, t: float, x: float) -> float | None:
        self.scale.observe_value(x)
        self.n += 1
        if self.level is None:
            self.level = x
            return None
        pred = self.level + self.phi * self.trend
        r = x - pred
        self.scale.observe_residual(r)
        new_level = pred + self.alpha * r
        self.trend = self.phi * self.trend + self.beta * (new_level - self.level - self.phi * self.trend)
        self.level = new_level
        return r

    def _model_state(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "phi": self.phi,
            "level": self.level,
            "trend": self.trend,
            "n": self.n,
            "scale": self.scale.to_state(),
        }

    def _load_model_state(self, state: dict[str, Any]) -> None:
        self.alpha = state["alpha"]
        self.beta = state["beta"]
        self.phi = state["phi"]
        self.level = state["level"]
        self.trend = state["trend"]
        self.n = state["n"]
        self.scale = RobustScale.from_state(state["scale"])
