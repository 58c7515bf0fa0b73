"""Forecasting with prediction intervals, and time to exhaustion.

`SeasonalTrendForecaster` is additive Holt-Winters with a damped trend (level + damped trend +
daily season), fitted online. Its smoothing parameters are chosen per series from a small grid by
what matters: the mean absolute error of its own forecasts from every origin of the history over
the whole horizon it will be asked for (not only one step ahead). Its prediction intervals are
empirical (split-conformal style): the quantiles of those same in-sample errors at each horizon,
so they widen with the horizon as much as the series' own history says, not as a Gaussian
assumption says.

`time_to_exhaustion` answers "when will this capacity series cross its limit" from a linear trend
over a recent window, with an interval from the confidence band of that line (`predict_linear`,
with error bars).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from itertools import product
from statistics import NormalDist
from typing import Any

import numpy as np

from citadel_monitoring.analytics.base import steps_per_day

ALPHAS = (0.05, 0.2, 0.5, 0.9)
BETAS = (0.0, 0.02, 0.1)
GAMMAS = (0.05, 0.3)


@dataclass(frozen=True)
class Forecast:
    timestamps: np.ndarray
    yhat: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def _damp_sums(phi: float, horizon: int) -> np.ndarray:
    """[phi, phi + phi^2, ...] for h = 1..horizon."""
    return np.cumsum(phi ** np.arange(1, horizon + 1))


class SeasonalTrendForecaster:
    """Damped-trend additive Holt-Winters with empirical prediction intervals.

    `period` is the season in points (0 or 1: none); `memory` bounds the history kept for the
    interval estimates (and the state's size). Use `fit` on history (chooses the parameters),
    `update` for each new point, `forecast(horizon)` for the next `horizon` points.
    """

    def __init__(
        self,
        period: int,
        step: float,
        alpha: float = 0.2,
        beta: float = 0.0,
        gamma: float = 0.05,
        phi: float = 0.98,
        coverage: float = 0.8,
        memory: int = 2016,
        clip: float = 3.0,
    ) -> None:
        if step <= 0:
            raise ValueError("step must be positive")
        if not 0 < coverage < 1:
            raise ValueError("coverage must be in (0, 1)")
        self.period = max(1, int(period))
        self.step = float(step)
        self.alpha, self.beta, self.gamma, self.phi = alpha, beta, gamma, phi
        self.coverage = coverage
        self.memory = memory
        self.clip = clip
        self.resid_scale: float | None = None
        self.level: float | None = None
        self.trend = 0.0
        self.season = [0.0] * self.period
        self.n = 0
        self.last_t: float | None = None
        self.init_buffer: list[float] = []
        # Recent history: value, and the state that forecasts were made from (level, trend, and
        # the seasonal estimate made at that time for that time's phase).
        self.hist_x: deque[float] = deque(maxlen=memory)
        self.hist_l: deque[float] = deque(maxlen=memory)
        self.hist_b: deque[float] = deque(maxlen=memory)
        self.hist_s: deque[float] = deque(maxlen=memory)

    # -- online filter -------------------------------------------------------------------------

    def update(self, t: float, x: float) -> None:
        """Feed one point (in time order)."""
        self.last_t = t
        p = self.period
        if self.level is None:
            self.init_buffer.append(x)
            if len(self.init_buffer) < (2 * p if p > 1 else 1):
                return
            self._initialise()
            return
        if self.n == p and p == 1:
            self.trend = x - self.level  # no season: the first step is the first trend estimate
        k = self.n % p
        s_old = self.season[k]
        prev_level = self.level
        damped = self.phi * self.trend
        x = self._robust(x, prev_level + damped + s_old)
        level = self.alpha * (x - s_old) + (1 - self.alpha) * (prev_level + damped)
        self.trend = self.beta * (level - prev_level) + (1 - self.beta) * damped
        self.level = level
        self.season[k] = self.gamma * (x - level) + (1 - self.gamma) * s_old
        self.n += 1
        self._remember(x, level, self.trend, self.season[k])

    def _robust(self, x: float, pred: float) -> float:
        """The value the model learns from: x, with its one-step residual clipped at `clip` robust
        standard deviations (robust exponential smoothing: one spike does not drag the level and
        the season along; a lasting shift is followed as the residual scale grows)."""
        r = x - pred
        if self.resid_scale is None:
            self.resid_scale = abs(r)
            return x
        bound = self.clip * 1.25 * self.resid_scale  # mean absolute deviation -> standard deviation
        rc = r if self.clip <= 0 or bound <= 0 else max(-bound, min(bound, r))
        self.resid_scale += 0.02 * (abs(rc) - self.resid_scale)
        return pred + rc

    def _initialise(self) -> None:
        """Level, trend and season from the first two seasons (a robust classical decomposition)."""
        buf, p = self.init_buffer, self.period
        if p == 1:
            self.level, self.trend, self.n = buf[0], 0.0, 1
            self._remember(buf[0], buf[0], 0.0, 0.0)
        else:
            # Medians, not means: one spike in the first two days must not become the season.
            m1, m2 = float(np.median(buf[:p])), float(np.median(buf[p:]))
            b0 = (m2 - m1) / p
            line = [m1 + b0 * (i - (p - 1) / 2) for i in range(2 * p)]
            d = [v - c for v, c in zip(buf, line, strict=True)]
            self.season = [
                float(np.median([d[(k + j) % p + day * p] for j in (-1, 0, 1) for day in (0, 1)])) for k in range(p)
            ]
            self.level, self.trend, self.n = line[-1], b0, 2 * p
            for i, v in enumerate(buf):
                self._remember(v, line[i], b0, self.season[i % p])
        self.init_buffer = []

    def _remember(self, x: float, level: float, trend: float, season: float) -> None:
        self.hist_x.append(x)
        self.hist_l.append(level)
        self.hist_b.append(trend)
        self.hist_s.append(season)

    def fit(self, timestamps: np.ndarray, values: np.ndarray, horizon: int | None = None) -> SeasonalTrendForecaster:
        """Choose the parameters on this history (grid, by in-sample MAE up to `horizon`), then learn it."""
        xs = np.asarray(values, dtype=float)
        ts = np.asarray(timestamps, dtype=float)
        horizon = horizon or self.period
        if len(xs) < 2 * self.period + 2:
            self.period = 1  # not enough history for a season: level + trend only
            self.season = [0.0]
        best: tuple[float, tuple[float, float, float]] | None = None
        for a, b, g in product(ALPHAS, BETAS, GAMMAS if self.period > 1 else (0.0,)):
            trial = SeasonalTrendForecaster(
                self.period, self.step, a, b, g, self.phi, self.coverage, len(xs), self.clip
            )
            for t, x in zip(ts.tolist(), xs.tolist(), strict=True):
                trial.update(t, x)
            err = trial._errors(min(horizon, max(1, len(xs) // 3)), max_origins=400)
            if err.size == 0:
                continue
            mae = float(np.nanmean(np.abs(err)))
            if best is None or mae < best[0]:
                best = (mae, (a, b, g))
        if best is not None:
            self.alpha, self.beta, self.gamma = best[1]
        for t, x in zip(ts.tolist(), xs.tolist(), strict=True):
            self.update(t, x)
        return self

    # -- forecasting ---------------------------------------------------------------------------

    def _point(self, horizon: int) -> np.ndarray:
        assert self.level is not None
        p = self.period
        h = np.arange(1, horizon + 1)
        season = np.asarray(self.season)[(self.n + h - 1) % p]
        return self.level + _damp_sums(self.phi, horizon) * self.trend + season

    def _errors(self, horizon: int, max_origins: int | None = None) -> np.ndarray:
        """In-sample forecast errors, shape (origins, horizon), NaN where the target is unknown.

        `max_origins` spreads at most that many origins evenly over the history (for speed).
        """
        x = np.asarray(self.hist_x)
        lv = np.asarray(self.hist_l)
        b = np.asarray(self.hist_b)
        s = np.asarray(self.hist_s)
        n, p = len(x), self.period
        if n < 2:
            return np.empty((0, horizon))
        stride = max(1, n // max_origins) if max_origins else 1
        o = np.arange(n - 1, -1, -stride)[::-1][:, None]
        h = np.arange(1, horizon + 1)[None, :]
        target = o + h
        # The seasonal estimate for the target's phase, as known at the origin.
        src = target - p * np.ceil(h / p).astype(int)
        valid = (target < n) & (src >= 0)
        tgt = np.clip(target, 0, n - 1)
        srcc = np.clip(src, 0, n - 1)
        pred = lv[o] + _damp_sums(self.phi, horizon)[None, :] * b[o] + (s[srcc] if p > 1 else 0.0)
        err = np.where(valid, x[tgt] - pred, np.nan)
        return err[np.isfinite(err).any(axis=1)]

    def forecast(self, horizon: int) -> Forecast:
        """The next `horizon` points: timestamps, prediction and the central `coverage` interval."""
        if self.level is None or self.last_t is None:
            raise ValueError(f"need at least {self.period} points before forecasting")
        if horizon < 1:
            raise ValueError("horizon must be >= 1")
        yhat = self._point(horizon)
        err = self._errors(horizon)
        lo_q, hi_q = (1 - self.coverage) / 2, (1 + self.coverage) / 2
        lower = np.empty(horizon)
        upper = np.empty(horizon)
        counts = np.sum(np.isfinite(err), axis=0) if err.size else np.zeros(horizon, dtype=int)
        usable = np.flatnonzero(counts >= 20)
        for i in range(horizon):
            if counts[i] >= 20:
                col = err[:, i]
                ql, qh = np.nanquantile(col, [lo_q, hi_q])
            elif usable.size:
                # Too few errors this far ahead: grow the furthest usable one like a random walk.
                j = int(usable[usable <= i].max()) if (usable <= i).any() else int(usable[0])
                ql, qh = np.nanquantile(err[:, j], [lo_q, hi_q])
                grow = math.sqrt((i + 1) / (j + 1))
                ql, qh = ql * grow, qh * grow
            else:
                spread = float(np.std(np.asarray(self.hist_x))) if len(self.hist_x) > 1 else 0.0
                ql, qh = -1.2816 * spread * math.sqrt(i + 1), 1.2816 * spread * math.sqrt(i + 1)
            lower[i] = yhat[i] + min(ql, 0.0)
            upper[i] = yhat[i] + max(qh, 0.0)
        ts = self.last_t + self.step * np.arange(1, horizon + 1)
        return Forecast(ts, yhat, lower, upper)

    # -- state ---------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "step": self.step,
            "alpha": self.alpha,
            "beta": self.beta,
            "gamma": self.gamma,
            "phi": self.phi,
            "coverage": self.coverage,
            "memory": self.memory,
            "clip": self.clip,
            "resid_scale": self.resid_scale,
            "level": self.level,
            "trend": self.trend,
            "season": list(self.season),
            "n": self.n,
            "last_t": self.last_t,
            "init_buffer": list(self.init_buffer),
            "hist": [list(self.hist_x), list(self.hist_l), list(self.hist_b), list(self.hist_s)],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SeasonalTrendForecaster:
        obj = cls(
            state["period"],
            state["step"],
            state["alpha"],
            state["beta"],
            state["gamma"],
            state["phi"],
            state["coverage"],
            state["memory"],
            state["clip"],
        )
        obj.resid_scale = state["resid_scale"]
        obj.level, obj.trend, obj.n, obj.last_t = state["level"], state["trend"], state["n"], state["last_t"]
        obj.season = list(state["season"])
        obj.init_buffer = list(state["init_buffer"])
        for dq, vals in zip((obj.hist_x, obj.hist_l, obj.hist_b, obj.hist_s), state["hist"], strict=True):
            dq.extend(vals)
        return obj


def make_forecaster(step_seconds: float, coverage: float = 0.8, memory_days: float = 7.0) -> SeasonalTrendForecaster:
    """The default forecaster for a series sampled every `step_seconds` (daily season)."""
    period = steps_per_day(step_seconds)
    return SeasonalTrendForecaster(
        period, step_seconds, coverage=coverage, memory=max(2 * period, round(memory_days * period))
    )


def seasonal_naive(values: np.ndarray, period: int, horizon: int) -> np.ndarray:
    """The benchmark forecast: the value one season earlier (the last value without a season)."""
    x = np.asarray(values, dtype=float)
    h = np.arange(1, horizon + 1)
    if period <= 1 or len(x) < period:
        return np.full(horizon, x[-1])
    return x[len(x) - period + (h - 1) % period]


@dataclass(frozen=True)
class Exhaustion:
    """Seconds from the last point until the limit is crossed: best estimate and interval.

    `math.inf` where the trend does not reach the limit (flat or moving away); 0 where the
    series is already at or past it.
    """

    seconds: float
    lower: float
    upper: float
    slope: float  # units per second


def time_to_exhaustion(
    timestamps: np.ndarray,
    values: np.ndarray,
    limit: float,
    *,
    window: float | None = None,
    coverage: float = 0.8,
    direction: str | None = None,
) -> Exhaustion:
    """When will the series cross `limit`?

    `direction` is "up" (usage growing to a capacity) or "down" (free space shrinking to a floor);
    by default it is inferred from which side of the limit the series is on. A least-squares line
    over the last `window` seconds (all the data by default) gives the estimate; the interval is
    where the line's `coverage` confidence band (its level and slope uncertainty, normal quantile)
    reaches the limit: earliest for the band's near edge, latest for its far edge. Needs 3 points.
    """
    ts = np.asarray(timestamps, dtype=float)
    xs = np.asarray(values, dtype=float)
    if window is not None:
        keep = ts >= ts[-1] - window
        ts, xs = ts[keep], xs[keep]
    if len(ts) < 3:
        raise ValueError("need at least 3 points for a trend")
    if direction not in (None, "up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
    tc = ts - ts[-1]
    design = np.vstack([tc, np.ones_like(tc)]).T
    (slope, now), *_ = np.linalg.lstsq(design, xs, rcond=None)
    slope, now = float(slope), float(now)
    span = float(tc[-1] - tc[0])
    if abs(slope) * span <= 1e-12 * max(float(np.abs(xs).max()), 1e-300):
        slope = 0.0  # rounding noise of a flat series, not a trend
    resid = xs - (slope * tc + now)
    sigma2 = float(resid @ resid) / (len(ts) - 2)
    tmean = float(tc.mean())
    sxx = float(np.sum((tc - tmean) ** 2))
    z = NormalDist().inv_cdf(0.5 + coverage / 2)
    up = (now < limit) if direction is None else direction == "up"
    sign = 1.0 if up else -1.0
    gap = (limit - now) * sign  # distance still to go, in the direction of travel
    if gap <= 0:
        return Exhaustion(0.0, 0.0, 0.0, slope)
    toward = slope * sign  # positive when heading to the limit

    def band(t: float) -> float:
        """z standard errors of the fitted line, t seconds after the last point."""
        return z * math.sqrt(sigma2 * (1.0 / len(ts) + ((t - tmean) ** 2 / sxx if sxx > 0 else 0.0)))

    def first_crossing(edge: float) -> float:
        """The first t >= 0 where the line, moved by `edge` x its band towards the limit, reaches it."""

        def reached(t: float) -> bool:
            return toward * t + edge * band(t) >= gap

        if reached(0.0):
            return 0.0
        hi = max(gap / abs(toward), 1.0) if toward else 1.0
        while not reached(hi):
            hi *= 2
            if hi > 1e13:  # beyond 300,000 years: it does not get there
                return math.inf
        lo = 0.0
        for _ in range(100):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if reached(mid) else (mid, hi)
        return hi

    eta = gap / toward if toward > 0 else math.inf
    return Exhaustion(eta, first_crossing(1.0), first_crossing(-1.0), slope)
