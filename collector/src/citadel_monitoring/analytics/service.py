"""The analytics service: Prometheus history in, anomaly scores, bands and forecasts out on /metrics.

One cycle (`AnalyticsService.run_cycle`), for each watched query this instance owns:

1. fetch the points since the last cycle with `query_range` at the watch's step (on the first
   cycle after start-up: the whole `history`, in bounded chunks, so the response size and memory
   stay bounded; when every current series of the watch has saved state, only the time since that
   state was saved);
2. feed each result series, point by point in time order, to its models (`SeriesModel.feed`):
   the detector (anomaly score; expected value and band), the forecaster (at its own coarser step,
   fed with the mean of each forecast step) and the time to exhaustion of a capacity limit;
3. render everything into the cached `/metrics` body, and save the state of some models.

Data handling (stated in docs/analytics.md, "Service"):

- Gaps: missing steps between two real points are filled by linear interpolation, so the
  seasonal models keep their daily phase; filled points are learnt from but never reported. A gap
  longer than the watch's history resets the series' models (there is nothing left to resume).
- Counter resets (`counter: true`, for a raw counter selector): the value fed to the models is the
  per-second increase between consecutive points; after a decrease (a reset) the increase is the
  new value itself, as PromQL's `rate()` does. A query already using `rate()` needs nothing.
- NaN or infinite values are skipped (treated as missing).
- Faults: a failed query (Prometheus down, slow, an answer that is not the API's JSON) leaves that
  watch's series untouched and marks them stale: `citadel_analytics_series_stale 1`, and their
  scores, bands and forecasts are not exported until fresh data arrives (never silently
  reused). The loop backs off exponentially (interval x 2^failures, at most `max_backoff`). A
  series whose newest point is older than `stale_after` is stale too.
- Restarts: every model's state is saved atomically (temporary file, fsync, rename) in
  `state_dir/series/`, spread over cycles, and all of it at shutdown; on start it is loaded and
  only the points after it are fetched. A state saved with other model settings is discarded
  (logged) and the series relearnt.
- Memory: at most `limits.max_series` series are analysed; series beyond it are not (logged
  once per watch and count change, `citadel_analytics_series_dropped`). A series that has not
  been seen for longer than its watch's history is forgotten (its state file removed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from citadel_monitoring import __version__
from citadel_monitoring.analytics.base import Detector
from citadel_monitoring.analytics.config import AnalyticsConfig, WatchConfig
from citadel_monitoring.analytics.ensemble import EnsembleDetector
from citadel_monitoring.analytics.forecast import (
    Exhaustion,
    SeasonalTrendForecaster,
    make_forecaster,
    time_to_exhaustion,
)
from citadel_monitoring.analytics.registry import make_detector
from citadel_monitoring.collector.exposition import Family, join_rendered, render_families
from citadel_monitoring.promapi import PromAPIError, PromClient, Series, format_labels

log = logging.getLogger("citadel_monitoring.analytics.service")

STATE_VERSION = 1
Z80 = 1.2816  # the band: a central 80% interval of a normal residual


def _duration_label(seconds: float) -> str:
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def model_fingerprint(watch: WatchConfig) -> str:
    """What a saved state must match to be resumed: the query and the model settings."""
    spec = {
        "query": watch.query,
        "step": watch.step_seconds,
        "counter": watch.counter,
        "detector": asdict(watch.detector),
        "forecast": [watch.forecast.enabled, watch.forecast.step_seconds, watch.forecast.coverage],
    }
    spec["detector"].pop("history_seconds")
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def build_detector(watch: WatchConfig) -> Detector:
    d = watch.detector
    return make_detector(
        d.name,
        watch.step_seconds,
        softness=d.softness,
        members=d.members,
        combine=d.combine,
        memory_days=d.memory_seconds / 86_400.0,
        onset_hours=None if d.onset_seconds is None else d.onset_seconds / 3600.0,
        season_days=d.season_days,
    )


def _band_model(det: Detector) -> Any:
    """The member whose prediction is exported as the expected value: seasonal once it has two
    days, else smoothing; None for a detector without a prediction (novelty alone)."""
    members = det.members if isinstance(det, EnsembleDetector) else [det]
    by_kind = {m.kind: m for m in members}
    seasonal = by_kind.get("seasonal")
    if seasonal is not None and seasonal.n > 2 * seasonal.period:
        return seasonal
    return by_kind.get("smoothing") or seasonal


def forecast_at(f: SeasonalTrendForecaster, steps: list[int]) -> list[tuple[float, float, float]]:
    """(yhat, lower, upper) at a few horizons (in steps): what `f.forecast(max(steps))` gives at
    those steps, but with the interval quantiles taken only at those steps (2 quantiles instead of
    one per step up to the furthest: 96 at 1 day of 15 minutes). Falls back to `forecast` where a
    horizon has fewer than 20 in-sample errors."""
    horizon = max(steps)
    yhat = f._point(horizon)
    x = np.asarray(f.hist_x)
    lv = np.asarray(f.hist_l)
    b = np.asarray(f.hist_b)
    season = np.asarray(f.hist_s)
    n, p = len(x), f.period
    damp = np.cumsum(f.phi ** np.arange(1, horizon + 1))
    lo_q, hi_q = (1 - f.coverage) / 2, (1 + f.coverage) / 2
    out: list[tuple[float, float, float]] = []
    full = None
    for s in steps:
        # the in-sample errors at horizon s from every origin (as `SeasonalTrendForecaster._errors`)
        o = np.arange(n)
        target = o + s
        src = target - p * math.ceil(s / p)
        ok = (target < n) & (src >= 0)
        o, target, src = o[ok], target[ok], src[ok]
        pred = lv[o] + damp[s - 1] * b[o] + (season[src] if p > 1 else 0.0)
        col = x[target] - pred
        col = col[np.isfinite(col)]
        if col.size >= 20:
            ql, qh = np.quantile(col, [lo_q, hi_q])
            y = float(yhat[s - 1])
            out.append((y, y + min(float(ql), 0.0), y + max(float(qh), 0.0)))
            continue
        if full is None:
            full = f.forecast(horizon)
        out.append((float(full.yhat[s - 1]), float(full.lower[s - 1]), float(full.upper[s - 1])))
    return out


class SeriesModel:
    """One watched series: its models, its latest outputs, and the cursor of what it has seen."""

    def __init__(self, watch: WatchConfig, labels: dict[str, str], detector_from: float = -math.inf) -> None:
        self.watch = watch
        self.labels = labels
        self.series = format_labels(labels)
        self.key = f"{watch.name}\x00{self.series}"
        self.detector = build_detector(watch)
        self.detector_from = detector_from  # the detector learns from points at or after this time
        fc = watch.forecast
        self.forecaster: SeasonalTrendForecaster | None = None
        self.f_ts: deque[float] = deque(maxlen=max(3, int(watch.history_seconds // fc.step_seconds)))
        self.f_x: deque[float] = deque(maxlen=self.f_ts.maxlen)
        if fc.enabled or watch.capacity is not None:
            self.forecaster = make_forecaster(fc.step_seconds, fc.coverage, watch.history_seconds / 86_400.0)
        self.bucket: list[float] | None = None  # [bucket index, sum, count] of the open forecast step
        self.fitted_at = 0.0  # wall time of the last parameter search (0: never)
        self.last_t: float | None = None  # the last grid point fed (real or filled)
        self.last_value: float | None = None  # the model input at last_t
        self.last_raw: float | None = None  # counters: the raw value at last_t
        self.last_real_t: float | None = None
        # outputs
        self.score = 0.0
        self.onset = 0.0
        self.expected: float | None = None
        self.band: tuple[float, float] | None = None
        self.forecasts: dict[float, tuple[float, float, float]] = {}
        self.exhaustion: Exhaustion | None = None
        self.dirty = True
        self.saved_at = 0.0

    # -- feeding ---------------------------------------------------------------------------------

    def _reset(self) -> None:
        fresh = SeriesModel(self.watch, self.labels)
        self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k not in ("saved_at",)})

    def feed(self, timestamps: Iterable[float], values: Iterable[float]) -> int:
        """Feed new points (time order; those at or before the last one seen are skipped).
        Returns the number of real points learnt."""
        w = self.watch
        step = w.step_seconds
        learnt = 0
        onset = 0.0
        pts = [(t, x) for t, x in zip(timestamps, values, strict=True) if math.isfinite(x)]
        if self.last_t is not None:
            pts = [(t, x) for t, x in pts if t > self.last_t + 1e-6]
        if not pts:
            return 0
        if self.last_t is not None and pts[0][0] - self.last_t > w.history_seconds:
            log.info("%s %s: no data for longer than the history; relearning", w.name, self.series)
            self._reset()
        last_index = len(pts) - 1
        for i, (t, raw) in enumerate(pts):
            x = raw
            if w.counter:
                prev_raw, prev_t = self.last_raw, self.last_t
                self.last_raw = raw
                if prev_raw is None or prev_t is None:
                    self.last_t = t  # the first point of a counter gives no rate yet
                    continue
                x = (raw - prev_raw if raw >= prev_raw else raw) / (t - prev_t)
            if self.last_t is not None and self.last_value is not None:
                missing = round((t - self.last_t) / step) - 1
                if missing > 0:
                    t0, x0 = self.last_t, self.last_value
                    for k in range(1, missing + 1):
                        frac = k / (missing + 1)
                        self._learn(t0 + k * step, x0 + (x - x0) * frac)
            if i == last_index and t >= self.detector_from:
                bm = _band_model(self.detector)
                self.expected = bm.expected() if bm is not None else None
                self.band = bm.band(Z80) if bm is not None else None
            gated, raw_score = self._learn(t, x)
            onset = max(onset, gated)
            if i == last_index:
                self.score = raw_score
            self.last_real_t = t
            learnt += 1
        self.onset = onset
        self.dirty = True
        return learnt

    def _learn(self, t: float, x: float) -> tuple[float, float]:
        out = (0.0, 0.0)
        if t >= self.detector_from:
            out = self.detector.update_with_raw(t, x)
        self.last_t = t
        self.last_value = x
        if self.forecaster is not None:
            fstep = self.watch.forecast.step_seconds
            b = math.floor(t / fstep + 1e-9)
            if self.bucket is not None and b != self.bucket[0]:
                self._close_bucket()
            if self.bucket is None:
                self.bucket = [b, 0.0, 0]
            self.bucket[1] += x
            self.bucket[2] += 1
        return out

    def _close_bucket(self) -> None:
        assert self.bucket is not None and self.forecaster is not None
        b, total, count = self.bucket
        t = b * self.watch.forecast.step_seconds
        mean = total / count
        self.forecaster.update(t, mean)
        self.f_ts.append(t)
        self.f_x.append(mean)
        self.bucket = None
        self.forecasts = {}  # recomputed by `predict`
        self.exhaustion = None

    # -- forecasting -----------------------------------------------------------------------------

    def needs_predict(self) -> bool:
        return self.forecaster is not None and not self.forecasts and self.forecaster.level is not None

    def predict(self) -> None:
        """Forecasts at the configured horizons and the time to exhaustion, from the closed steps."""
        f = self.forecaster
        w = self.watch
        if f is None or f.level is None:
            return
        fstep = w.forecast.step_seconds
        if w.forecast.enabled and w.forecast.horizons_seconds:
            steps = [max(1, math.ceil(h / fstep - 1e-9)) for h in w.forecast.horizons_seconds]
            self.forecasts = dict(zip(w.forecast.horizons_seconds, forecast_at(f, steps), strict=True))
        else:
            self.forecasts = {0.0: (0.0, 0.0, 0.0)}  # marks "done" when only exhaustion is wanted
        cap = w.capacity
        if cap is not None and len(self.f_ts) >= 3:
            ts = np.fromiter(self.f_ts, float, len(self.f_ts))
            xs = np.fromiter(self.f_x, float, len(self.f_x))
            keep = ts >= ts[-1] - cap.window_seconds
            if keep.sum() >= 3:
                self.exhaustion = time_to_exhaustion(
                    ts[keep], xs[keep], cap.limit, coverage=w.forecast.coverage, direction=cap.direction
                )

    def refit(self, now: float) -> bool:
        """Choose the forecaster's parameters on its history (the grid search of `fit`); False if
        the history is still too short for a season."""
        if self.forecaster is None:
            return False
        w = self.watch
        n = len(self.f_x)
        if n < 2 * make_forecaster(w.forecast.step_seconds).period + 2 and (self.forecaster.level is not None or n < 3):
            # Too short for a season: wait, unless the model has no level yet (then fit a level and
            # trend now; the seasonal fit follows a day later, when this refit is due again).
            return False
        steps = max([1, *(math.ceil(h / w.forecast.step_seconds) for h in w.forecast.horizons_seconds)])
        fresh = make_forecaster(w.forecast.step_seconds, w.forecast.coverage, w.history_seconds / 86_400.0)
        fresh.fit(np.fromiter(self.f_ts, float), np.fromiter(self.f_x, float), horizon=steps)
        self.forecaster = fresh
        self.fitted_at = now
        self.forecasts = {}
        self.dirty = True
        return True

    # -- state -----------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "watch": self.watch.name,
            "fingerprint": model_fingerprint(self.watch),
            "labels": self.labels,
            "detector": self.detector.to_state(),
            "forecaster": self.forecaster.to_state() if self.forecaster is not None else None,
            "f_ts": list(self.f_ts),
            "f_x": list(self.f_x),
            "bucket": self.bucket,
            "fitted_at": self.fitted_at,
            "last_t": self.last_t,
            "last_value": self.last_value,
            "last_raw": self.last_raw,
            "last_real_t": self.last_real_t,
        }

    @classmethod
    def from_state(cls, watch: WatchConfig, state: dict[str, Any]) -> SeriesModel:
        obj = cls(watch, dict(state["labels"]))
        obj.detector = Detector.from_state(state["detector"])
        if state["forecaster"] is not None and obj.forecaster is not None:
            obj.forecaster = SeasonalTrendForecaster.from_state(state["forecaster"])
        obj.f_ts.extend(state["f_ts"])
        obj.f_x.extend(state["f_x"])
        obj.bucket = state["bucket"]
        obj.fitted_at = state["fitted_at"]
        obj.last_t = state["last_t"]
        obj.last_value = state["last_value"]
        obj.last_raw = state["last_raw"]
        obj.last_real_t = state["last_real_t"]
        obj.dirty = False
        return obj


def state_file(state_dir: Path, key: str) -> Path:
    return state_dir / "series" / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that a crash leaves either the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class WatchStatus:
    def __init__(self) -> None:
        self.cursor: float | None = None  # end of the last fetched range
        self.up = False
        self.error: str | None = None
        self.dropped_keys: set[str] = set()  # series not analysed (cap) in the last fetch
        self.logged_dropped = 0


class AnalyticsService:
    """The service loop. `run_cycle` does one cycle (tests and the benchmark call it directly);
    `run` loops with back-off until `stop` is set. `render` is the /metrics body."""

    def __init__(
        self,
        config: AnalyticsConfig,
        client: PromClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        if client is None:
            p = config.prometheus
            client = PromClient(
                p.url,
                timeout=p.timeout_seconds,
                ca_file=p.ca_file,
                insecure_skip_verify=p.insecure_skip_verify,
                username=p.username,
                password_file=p.password_file,
            )
        self.client = client
        self.watches = config.owned_watches()
        self.status = {w.name: WatchStatus() for w in self.watches}
        self.models: dict[str, SeriesModel] = {}
        self.query_errors: dict[tuple[str, str], int] = {}
        self.save_errors = 0
        self.cycles = 0
        self.failures = 0
        self.last_success: float | None = None
        self.last_cycle_duration = 0.0
        self.backoff = 0.0
        self._body = b""
        self._lock = threading.Lock()
        self._scrapes = 0
        self.stop_event: threading.Event | None = None  # set by `run`: a long backfill stops early

    # -- state files -----------------------------------------------------------------------------

    def load_state(self) -> int:
        """Load saved models of the owned watches (at most `max_series`); returns how many."""
        directory = self.config.state_dir / "series"
        directory.mkdir(parents=True, exist_ok=True)
        by_name = {w.name: w for w in self.watches}
        loaded = 0
        for path in sorted(directory.glob("*.json")):
            try:
                state = json.loads(path.read_bytes())
                watch = by_name.get(state.get("watch"))
                if watch is None:
                    log.info("state %s: watch %r is not configured here; ignored", path.name, state.get("watch"))
                    continue
                if state.get("version") != STATE_VERSION or state.get("fingerprint") != model_fingerprint(watch):
                    log.warning("state %s: saved with other settings of watch %s; relearning", path.name, watch.name)
                    path.unlink(missing_ok=True)
                    continue
                if len(self.models) >= self.config.limits.max_series:
                    log.warning("state %s: not loaded, limits.max_series=%d reached", path.name, len(self.models))
                    continue
                model = SeriesModel.from_state(watch, state)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("state %s: unreadable (%s); that series is relearnt", path.name, exc)
                continue
            model.saved_at = self.clock()
            self.models[model.key] = model
            loaded += 1
        if loaded:
            log.info("resumed %d series from %s", loaded, directory)
        return loaded

    def save_state(self, limit: int | None = None, now: float | None = None) -> int:
        """Save dirty models, the longest unsaved first (at most `limit`); returns how many."""
        now = self.clock() if now is None else now
        directory = self.config.state_dir / "series"
        directory.mkdir(parents=True, exist_ok=True)
        due = sorted((m for m in self.models.values() if m.dirty), key=lambda m: m.saved_at)
        if limit is not None:
            due = due[:limit]
        saved = 0
        for m in due:
            try:
                write_atomic(state_file(self.config.state_dir, m.key), json.dumps(m.to_state()).encode())
            except (OSError, TypeError, ValueError) as exc:
                self.save_errors += 1
                log.error("cannot save the state of %s %s: %s", m.watch.name, m.series, exc)
                continue
            m.dirty = False
            m.saved_at = now
            saved += 1
        return saved

    # -- one cycle -------------------------------------------------------------------------------

    def _model(self, watch: WatchConfig, s: Series, detector_from: float) -> SeriesModel | None:
        labels = s.labels
        key = f"{watch.name}\x00{format_labels(labels)}"
        m = self.models.get(key)
        if m is not None:
            return m
        if len(self.models) >= self.config.limits.max_series:
            self.status[watch.name].dropped_keys.add(key)
            return None
        m = SeriesModel(watch, labels, detector_from)
        self.models[key] = m
        return m

    def _fetch(self, watch: WatchConfig, now: float) -> None:
        st = self.status[watch.name]
        step = watch.step_seconds
        end = math.floor((now - self.config.cycle.lag_seconds) / step) * step
        oldest = end - watch.history_seconds
        detector_from = -math.inf
        if st.cursor is None:
            start = oldest
            mine = [m for m in self.models.values() if m.watch.name == watch.name and m.last_t is not None]
            if mine:
                current = self.client.query(watch.query, end)
                keys = {f"{watch.name}\x00{format_labels(s.labels)}" for s in current}
                if keys and keys <= {m.key for m in mine}:
                    start = max(oldest, min(m.last_t or oldest for m in mine if m.key in keys) + step)
            detector_from = end - watch.detector.history_seconds
        else:
            start = max(oldest, st.cursor + step)
        if start > end:
            return
        st.dropped_keys = set()
        chunk = min(self.config.limits.backfill_chunk_seconds, (self.config.limits.max_points_per_query - 1) * step)
        chunk = max(step, math.floor(chunk / step) * step)
        cs = start
        while cs <= end:
            if self.stop_event is not None and self.stop_event.is_set():
                break  # shutting down: the cursor stays after the last chunk learnt
            ce = min(end, cs + chunk)
            for s in self.client.query_range(watch.query, cs, ce, step):
                m = self._model(watch, s, detector_from)
                if m is not None:
                    m.feed(s.timestamps.tolist(), s.values.tolist())
            st.cursor = ce
            cs = ce + step
        dropped = len(st.dropped_keys)
        if dropped != st.logged_dropped:
            if dropped:
                log.warning(
                    "series cap reached (limits.max_series=%d): %d series of watch %s are not analysed",
                    self.config.limits.max_series,
                    dropped,
                    watch.name,
                )
            st.logged_dropped = dropped

    def run_cycle(self, now: float | None = None) -> bool:
        """Fetch, learn, forecast, render, save some state. True if every query succeeded."""
        started = time.perf_counter()
        now = self.clock() if now is None else now
        ok = True
        for watch in self.watches:
            st = self.status[watch.name]
            try:
                self._fetch(watch, now)
            except PromAPIError as exc:
                ok = False
                st.up = False
                st.error = str(exc)
                key = (watch.name, exc.kind)
                self.query_errors[key] = self.query_errors.get(key, 0) + 1
                log.warning("watch %s: query failed: %s", watch.name, exc)
                continue
            st.up = True
            st.error = None
        refits = self.config.cycle.forecast_refits_per_cycle
        if refits:
            due = sorted(
                (m for m in self.models.values() if m.forecaster is not None and now - m.fitted_at > 86_400.0),
                key=lambda m: m.fitted_at,
            )
            for m in due:
                if refits <= 0:
                    break
                if m.refit(now):
                    refits -= 1
        for m in self.models.values():
            if m.needs_predict():
                try:
                    m.predict()
                except (ValueError, FloatingPointError) as exc:
                    log.warning("%s %s: forecast failed: %s", m.watch.name, m.series, exc)
        self._forget(now)
        self.cycles += 1
        if ok:
            self.last_success = now
        self.last_cycle_duration = time.perf_counter() - started
        self._render(now)
        every = self.config.cycle.save_state_every_seconds
        share = max(1, math.ceil(len(self.models) * self.config.cycle.interval_seconds / every))
        self.save_state(limit=share, now=now)
        return ok

    def _forget(self, now: float) -> None:
        for key, m in list(self.models.items()):
            if m.last_real_t is not None and now - m.last_real_t > m.watch.history_seconds:
                log.info("%s %s: not seen for longer than its history; forgotten", m.watch.name, m.series)
                del self.models[key]
                state_file(self.config.state_dir, key).unlink(missing_ok=True)

    def is_stale(self, m: SeriesModel, now: float) -> bool:
        if not self.status[m.watch.name].up or m.last_real_t is None:
            return True
        return now - m.last_real_t > self.config.cycle.stale_after_seconds + self.config.cycle.lag_seconds

    # -- exposition ------------------------------------------------------------------------------

    def _render(self, now: float) -> None:
        fam = {
            name: Family(f"citadel_analytics_{name}", "gauge", help_)
            for name, help_ in (
                ("anomaly_score", "Anomaly score of the newest point, in [0, 1] (ungated: stays high while it lasts)."),
                ("anomaly_onset_score", "Largest gated score of the last cycle: non-zero once, at an anomaly's onset."),
                ("anomaly_threshold", "The configured alerting threshold of the anomaly score."),
                ("expected", "The value the detector expected for the newest point."),
                ("lower", "Lower edge of the expected band (central 80%)."),
                ("upper", "Upper edge of the expected band (central 80%)."),
                ("forecast", "Forecast of the series at the horizon."),
                ("forecast_lower", "Lower edge of the forecast's prediction interval."),
                ("forecast_upper", "Upper edge of the forecast's prediction interval."),
                ("capacity_limit", "The configured capacity limit of the series."),
                ("time_to_exhaustion_seconds", "Seconds until the trend crosses the capacity limit (+Inf: never)."),
                ("time_to_exhaustion_earliest_seconds", "Early edge of the time to exhaustion's interval."),
                ("time_to_exhaustion_latest_seconds", "Late edge of the time to exhaustion's interval."),
                ("time_to_exhaustion_alert_seconds", "The configured alerting horizon for the time to exhaustion."),
                (
                    "series_stale",
                    "1 if the results are stale (query failing or no recent data); they are then not exported.",
                ),
                ("series_last_point_timestamp_seconds", "Timestamp of the newest real point learnt for the series."),
            )
        }
        for m in self.models.values():
            labels = {"watch": m.watch.name, "series": m.series}
            stale = self.is_stale(m, now)
            fam["series_stale"].add(labels, 1 if stale else 0)
            if m.last_real_t is not None:
                fam["series_last_point_timestamp_seconds"].add(labels, m.last_real_t)
            if stale:
                continue
            fam["anomaly_score"].add(labels, m.score)
            fam["anomaly_onset_score"].add(labels, m.onset)
            fam["anomaly_threshold"].add(labels, m.watch.anomaly_threshold)
            if m.expected is not None and m.band is not None:
                fam["expected"].add(labels, m.expected)
                fam["lower"].add(labels, m.band[0])
                fam["upper"].add(labels, m.band[1])
            if m.watch.forecast.enabled:
                for h, (y, lo, hi) in m.forecasts.items():
                    if h <= 0:
                        continue
                    hl = {**labels, "horizon": _duration_label(h)}
                    fam["forecast"].add(hl, y)
                    fam["forecast_lower"].add(hl, lo)
                    fam["forecast_upper"].add(hl, hi)
            cap = m.watch.capacity
            if cap is not None:
                fam["capacity_limit"].add(labels, cap.limit)
                fam["time_to_exhaustion_alert_seconds"].add(labels, cap.alert_within_seconds)
                if m.exhaustion is not None:
                    fam["time_to_exhaustion_seconds"].add(labels, m.exhaustion.seconds)
                    fam["time_to_exhaustion_earliest_seconds"].add(labels, m.exhaustion.lower)
                    fam["time_to_exhaustion_latest_seconds"].add(labels, m.exhaustion.upper)
        health = [
            Family("citadel_analytics_build", "info", "The analytics service's version.").add(
                {"version": __version__}, 1
            ),
            Family("citadel_analytics_cycles", "counter", "Cycles run.").add({}, self.cycles),
            Family(
                "citadel_analytics_cycle_duration_seconds",
                "gauge",
                "Duration of the last cycle (fetch, learn, render).",
            ).add({}, self.last_cycle_duration),
            Family("citadel_analytics_last_cycle_timestamp_seconds", "gauge", "When the last cycle ran.").add({}, now),
            Family(
                "citadel_analytics_backoff_seconds", "gauge", "Current delay before the next cycle after failures."
            ).add({}, self.backoff),
            Family("citadel_analytics_series_analysed", "gauge", "Series with fresh results.").add(
                {}, sum(1 for m in self.models.values() if not self.is_stale(m, now))
            ),
            Family("citadel_analytics_series_tracked", "gauge", "Series in memory (at most limits.max_series).").add(
                {}, len(self.models)
            ),
            Family("citadel_analytics_series_limit", "gauge", "The configured limits.max_series.").add(
                {}, self.config.limits.max_series
            ),
            Family("citadel_analytics_state_save_errors", "counter", "Failed saves of model state.").add(
                {}, self.save_errors
            ),
        ]
        if self.last_success is not None:
            health.append(
                Family(
                    "citadel_analytics_last_success_timestamp_seconds",
                    "gauge",
                    "When the last cycle whose queries all succeeded ran.",
                ).add({}, self.last_success)
            )
        up = Family("citadel_analytics_watch_up", "gauge", "1 if the watch's last query succeeded.")
        dropped = Family("citadel_analytics_series_dropped", "gauge", "Series of the watch not analysed (series cap).")
        errors = Family("citadel_analytics_query_errors", "counter", "Failed Prometheus queries, by cause.")
        for w in self.watches:
            st = self.status[w.name]
            up.add({"watch": w.name}, 1 if st.up else 0)
            dropped.add({"watch": w.name}, len(st.dropped_keys))
            for kind in ("connection", "timeout", "http", "bad_response", "query"):
                errors.add({"watch": w.name, "kind": kind}, self.query_errors.get((w.name, kind), 0))
        body = join_rendered([render_families([*health, up, dropped, errors, *fam.values()])]).encode()
        with self._lock:
            self._body = body

    def render(self) -> bytes:
        with self._lock:
            return self._body

    def observe_scrape(self, seconds: float) -> None:
        self._scrapes += 1

    # -- the loop --------------------------------------------------------------------------------

    def run(self, stop: threading.Event, max_cycles: int | None = None) -> None:
        """Cycle until `stop` is set (or `max_cycles` ran): back off exponentially while queries
        fail, save all state on the way out."""
        cycle = self.config.cycle
        self.stop_event = stop if isinstance(stop, threading.Event) else None
        self._render(self.clock())  # /metrics answers (health, restored series as stale) during the backfill
        n = 0
        try:
            while not stop.is_set() and (max_cycles is None or n < max_cycles):
                started = time.monotonic()
                try:
                    ok = self.run_cycle()
                except Exception:  # a bug must not kill the endpoint; it is logged and retried
                    log.exception("cycle failed")
                    ok = False
                n += 1
                if ok:
                    self.failures = 0
                    self.backoff = 0.0
                    wait = max(0.0, cycle.interval_seconds - (time.monotonic() - started))
                else:
                    self.failures += 1
                    self.backoff = min(cycle.max_backoff_seconds, cycle.interval_seconds * 2 ** min(self.failures, 30))
                    wait = self.backoff
                    log.info("backing off %.0fs after %d failed cycle(s)", wait, self.failures)
                stop.wait(wait)
        finally:
            self.save_state()
