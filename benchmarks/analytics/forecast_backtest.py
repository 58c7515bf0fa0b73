"""Rolling-origin forecast backtest on nab-dev: 1 h and 24 h horizons, MASE against seasonal naive,
coverage of the 80% interval; optionally statsmodels' ETS on the same origins.

    .venv/bin/python benchmarks/analytics/forecast_backtest.py          # ~1 minute
    .venv/bin/python benchmarks/analytics/forecast_backtest.py --ets    # + statsmodels ETS (a few minutes)

Origins: every 24 h from day 7 of each series (the forecaster sees only the data before the
origin), 24 h ahead; "1 h" scores the first 12 steps of each forecast, "24 h" all 288.
Relative MASE = MAE(model) / MAE(seasonal naive: the same time one day earlier) on the same
targets, per series, then the geometric mean over series (series where seasonal naive is exact,
the noiseless synthetic ones, are left out of the ratio and listed). Coverage = share of actuals
inside the interval, pooled over all series and origins.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

import numpy as np
from nab_scoring import load_corpus

from citadel_monitoring.analytics.base import steps_per_day
from citadel_monitoring.analytics.forecast import make_forecaster, seasonal_naive

HORIZONS = {"1h": 3600.0, "24h": 86_400.0}


def ets_forecast(history: np.ndarray, period: int, horizon: int, coverage: float) -> tuple[np.ndarray, ...]:
    """statsmodels ETS(A,Ad,A), heuristic initial states (estimating 288 initial seasonal states
    takes ~35 s a fit), maximum-likelihood smoothing parameters, analytic prediction intervals."""
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ETSModel(
            pd.Series(history),
            error="add",
            trend="add",
            damped_trend=True,
            seasonal="add",
            seasonal_periods=period,
            initialization_method="heuristic",
        )
        fit = model.fit(disp=False, maxiter=200)
        pred = fit.get_prediction(start=len(history), end=len(history) + horizon - 1)
        frame = pred.summary_frame(alpha=1 - coverage)
    return frame["mean"].to_numpy(), frame["pi_lower"].to_numpy(), frame["pi_upper"].to_numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ets", action="store_true", help="also run statsmodels' ETS (needs statsmodels)")
    parser.add_argument("--coverage", type=float, default=0.8)
    args = parser.parse_args()
    corpus = load_corpus()
    methods = ["citadel", "seasonal_naive"] + (["ets"] if args.ets else [])
    # per method, per horizon: per-series absolute-error sums, and pooled coverage counts
    abs_err = {m: {h: {} for h in HORIZONS} for m in methods}
    inside = {m: dict.fromkeys(HORIZONS, 0) for m in methods}
    total = dict.fromkeys(HORIZONS, 0)
    seconds = dict.fromkeys(methods, 0.0)
    origins = 0
    for s in corpus:
        gaps = np.diff(s.timestamps)
        step = float(np.median(gaps[gaps > 0]))
        period = steps_per_day(step)
        horizon = round(HORIZONS["24h"] / step)
        for origin in range(7 * period, len(s.values) - horizon + 1, period):
            origins += 1
            hist_t, hist_x = s.timestamps[:origin], s.values[:origin]
            actual = s.values[origin : origin + horizon]
            preds = {}
            t0 = time.perf_counter()
            fc = make_forecaster(step, coverage=args.coverage).fit(hist_t, hist_x, horizon=horizon).forecast(horizon)
            seconds["citadel"] += time.perf_counter() - t0
            preds["citadel"] = (fc.yhat, fc.lower, fc.upper)
            sn = seasonal_naive(hist_x, period, horizon)
            preds["seasonal_naive"] = (sn, sn, sn)
            if args.ets:
                t0 = time.perf_counter()
                try:
                    preds["ets"] = ets_forecast(hist_x, period, horizon, args.coverage)
                except Exception as exc:  # a failed fit counts as seasonal naive, and is reported
                    print(f"  ETS failed on {s.name} at {origin}: {exc}", file=sys.stderr)
                    preds["ets"] = (sn, sn, sn)
                seconds["ets"] += time.perf_counter() - t0
            for hname, hsec in HORIZONS.items():
                k = round(hsec / step)
                total[hname] += k
                for m, (y, lo, hi) in preds.items():
                    e = np.abs(actual[:k] - y[:k]).sum()
                    abs_err[m][hname][s.name] = abs_err[m][hname].get(s.name, 0.0) + float(e)
                    inside[m][hname] += int(np.sum((actual[:k] >= lo[:k]) & (actual[:k] <= hi[:k])))
    print(f"nab-dev: {len(corpus)} series, {origins} origins (every 24 h from day 7), coverage {args.coverage:.0%}")
    print(
        f"{'method':<16}{'horizon':>8}{'rel. MASE':>11}{'pooled MAE ratio':>18}{'coverage':>10}{'fit+forecast s':>16}"
    )
    for m in methods:
        for hname in HORIZONS:
            ratios, skipped = [], []
            for name, e in abs_err[m][hname].items():
                base = abs_err["seasonal_naive"][hname][name]
                if base <= 1e-12:
                    skipped.append(name.split("/")[-1])
                    continue
                ratios.append(max(e, 1e-12) / base)
            gmean = math.exp(np.mean(np.log(ratios)))
            kept = [n for n in abs_err[m][hname] if abs_err["seasonal_naive"][hname][n] > 1e-12]
            pooled = sum(abs_err[m][hname][n] for n in kept) / sum(abs_err["seasonal_naive"][hname][n] for n in kept)
            cov = inside[m][hname] / total[hname] if m != "seasonal_naive" else float("nan")
            print(f"{m:<16}{hname:>8}{gmean:>11.3f}{pooled:>18.3f}{cov:>10.1%}{seconds[m]:>16.1f}")
    print(f"left out of the ratios (seasonal naive exact): {', '.join(sorted(set(skipped))) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
