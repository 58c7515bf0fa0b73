"""Anomaly detection and forecasting: pure models (no I/O) and the thin command line that feeds them.

- `base`: the detector interface (`update`/`score`/`fit`, `to_state`/`from_state`), `NoveltyScorer`,
  `OnsetGate`, `RobustScale`.
- `novelty`, `seasonal`, `smoothing`, `forest`: the detector families; `ensemble` combines them;
  `registry.make_detector` builds them with their defaults for a sampling step.
- `forecast`: `SeasonalTrendForecaster` (intervals), `seasonal_naive`, `time_to_exhaustion`.
- `csvio`, `cli`: `citadel-analytics detect` / `forecast` (see docs/analytics.md).
"""
