"""The history-novelty detector: is this value unlike every value of the last `memory` points?

The signal is the value itself: a level never reached before, or a value in a gap the series has
never visited (between two regimes), scores high; a daily peak the series has had a dozen times
does not. It is the strongest single family on nab-dev (see docs/analytics.md) and the cheapest:
a sorted window, one binary search a point.
"""

from __future__ import annotations

from typing import Any, ClassVar

from citadel_monitoring.analytics.base import Detector


class NoveltyDetector(Detector):
    kind: ClassVar[str] = "novelty"

    def _signal(self, t: float, x: float) -> float | None:
        return x

    def _model_state(self) -> dict[str, Any]:
        return {}

    def _load_model_state(self, state: dict[str, Any]) -> None:
        return None
