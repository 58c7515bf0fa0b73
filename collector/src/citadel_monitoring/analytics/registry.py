"""Detectors by name, and the defaults the CLI and the service use.

Defaults are expressed in time and converted to points at the series' step, with floors in points
where the statistics need a sample: the novelty memory is 14 days but at least `MIN_MEMORY` points
(a nearest-neighbour distance over 336 hourly points is much noisier than over 4032) and at most
`MAX_MEMORY` (which bounds memory per series); the onset gate is 250 minutes but at least
`MIN_ONSET` points; the seasonal history is 7 days. At NAB's 5-minute step the floors do not bind
(14 days = 4032 points, 250 minutes = 50 points), so nab-dev does not measure them.
"""

from __future__ import annotations

from citadel_monitoring.analytics.base import Detector, steps_per_day
from citadel_monitoring.analytics.ensemble import EnsembleDetector
from citadel_monitoring.analytics.forest import ForestDetector
from citadel_monitoring.analytics.novelty import NoveltyDetector
from citadel_monitoring.analytics.seasonal import SeasonalMedianDetector
from citadel_monitoring.analytics.smoothing import SmoothingDetector

DETECTORS: dict[str, type[Detector]] = {
    "novelty": NoveltyDetector,
    "seasonal": SeasonalMedianDetector,
    "smoothing": SmoothingDetector,
    "forest": ForestDetector,
    "ensemble": EnsembleDetector,
}

DEFAULT_DETECTOR = "ensemble"
DEFAULT_MEMBERS = ("novelty", "seasonal", "smoothing")
MEMORY_DAYS = 14.0
MIN_MEMORY = 4032
MAX_MEMORY = 8064
ONSET_HOURS = 250 / 60
MIN_ONSET = 50


def _points(days: float, step_seconds: float, floor: int = 2, cap: int | None = None) -> int:
    n = max(floor, round(days * 86_400.0 / step_seconds))
    return min(n, cap) if cap else n


def make_detector(
    name: str,
    step_seconds: float,
    *,
    softness: float = 0.05,
    members: tuple[str, ...] = DEFAULT_MEMBERS,
    combine: str = "max",
    memory_days: float | None = None,
    onset_hours: float | None = None,
    season_days: int = 7,
) -> Detector:
    """A detector with its default parameters for a series sampled every `step_seconds`.

    The knobs: `softness` (novelty, as a fraction of the recent range, that scores 0.5),
    `memory_days` (how far back "seen before" reaches), `onset_hours` (how long an event is
    reported only once), `season_days` (days in the seasonal median), and for the ensemble its
    `members` and how it `combine`s them. The floors in points apply to the defaults only: a
    duration given explicitly is taken as it is (still capped at `MAX_MEMORY`).
    """
    period = steps_per_day(step_seconds)
    if memory_days is None:
        memory = _points(MEMORY_DAYS, step_seconds, MIN_MEMORY, MAX_MEMORY)
    else:
        memory = _points(memory_days, step_seconds, 2, MAX_MEMORY)
    if onset_hours is None:
        onset = _points(ONSET_HOURS / 24.0, step_seconds, MIN_ONSET)
    else:
        onset = _points(onset_hours / 24.0, step_seconds, 1) if onset_hours > 0 else 0
    common = {"memory": memory, "softness": softness, "onset": onset}
    if name == "novelty":
        return NoveltyDetector(**common)
    if name == "seasonal":
        return SeasonalMedianDetector(period=period, days=season_days, scale_window=period, **common)
    if name == "smoothing":
        return SmoothingDetector(scale_window=period, **common)
    if name == "forest":
        return ForestDetector(
            train_window=7 * period, refit_every=max(1, period * 7 // 2), min_train=max(16, period), **common
        )
    if name == "ensemble":
        parts = [
            make_detector(
                m,
                step_seconds,
                softness=softness,
                memory_days=memory_days,
                onset_hours=onset_hours,
                season_days=season_days,
            )
            for m in members
        ]
        return EnsembleDetector(parts, combine=combine, onset=onset)
    raise ValueError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}")
