"""`citadel-analytics`: offline anomaly detection and forecasting on CSV files.

    citadel-analytics detect IN.csv --output OUT.csv
    citadel-analytics forecast IN.csv --horizon 24h --output OUT.csv [--limit 100]
    citadel-analytics serve --config FILE [--check-config]

A thin adapter: it reads and validates the file (`csvio`), feeds the pure models and writes the
result atomically. Bad input exits with status 1 and one line naming the file, the line and the
column; the output file is then left as it was.
"""

from __future__ import annotations

import argparse
import math
import sys

from citadel_monitoring.analytics.csvio import InputError, parse_duration, read_series, write_csv_atomic
from citadel_monitoring.analytics.ensemble import COMBINERS
from citadel_monitoring.analytics.forecast import make_forecaster, time_to_exhaustion
from citadel_monitoring.analytics.registry import (
    DEFAULT_DETECTOR,
    DEFAULT_MEMBERS,
    DETECTORS,
    MAX_MEMORY,
    MEMORY_DAYS,
    MIN_MEMORY,
    MIN_ONSET,
    ONSET_HOURS,
    make_detector,
)
from citadel_monitoring.cli_common import base_parser

PROG = "citadel-analytics"
DESCRIPTION = (
    "Anomaly detection and forecasting for Prometheus series: offline backtests on CSV files "
    "(timestamp,value rows in time order), and the service that scores Prometheus series (serve)."
)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1)")
    return v


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return v


def _members(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in DETECTORS or n == "ensemble"]
    if not names or bad:
        known = ", ".join(n for n in DETECTORS if n != "ensemble")
        raise argparse.ArgumentTypeError(f"unknown member(s) {', '.join(bad) or '(none)'}; known: {known}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(PROG, DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    det = sub.add_parser("detect", help="score every row of a series with an anomaly score in [0, 1] (causal)")
    det.add_argument("input", metavar="IN.csv", help="input CSV with columns timestamp,value")
    det.add_argument("--output", "-o", required=True, metavar="OUT.csv", help="the input rows plus anomaly_score")
    det.add_argument("--detector", choices=list(DETECTORS), default=DEFAULT_DETECTOR, help="(default: %(default)s)")
    det.add_argument(
        "--members",
        type=_members,
        default=DEFAULT_MEMBERS,
        help=f"the ensemble's members, comma-separated (default: {','.join(DEFAULT_MEMBERS)})",
    )
    det.add_argument("--combine", choices=COMBINERS, default="max", help="how the ensemble combines (default: max)")
    det.add_argument(
        "--softness",
        type=_positive,
        default=0.05,
        help="novelty (as a fraction of the recent range) that scores 0.5; lower is more sensitive "
        "(default: %(default)s)",
    )
    det.add_argument(
        "--memory",
        type=_duration,
        metavar="DURATION",
        help=f"how far back 'seen before' reaches (default: {MEMORY_DAYS:g}d, "
        f"but at least {MIN_MEMORY} and at most {MAX_MEMORY} points)",
    )
    det.add_argument(
        "--onset",
        type=_duration,
        metavar="DURATION",
        help=f"report an event once, then stay quiet unless it grows, for this long "
        f"(default: {ONSET_HOURS * 60:g}m, but at least {MIN_ONSET} points)",
    )
    det.add_argument("--step", type=_duration, help="sampling step (default: the median spacing of the input)")

    fc = sub.add_parser("forecast", help="forecast the next DURATION at the input's step, with an interval")
    fc.add_argument("input", metavar="IN.csv", help="input CSV with columns timestamp,value")
    fc.add_argument("--horizon", required=True, type=_duration, metavar="DURATION", help="how far ahead, e.g. 24h")
    fc.add_argument(
        "--output", "-o", required=True, metavar="OUT.csv", help="rows timestamp,yhat,yhat_lower,yhat_upper"
    )
    fc.add_argument("--coverage", type=_fraction, default=0.8, help="interval coverage (default: %(default)s)")
    fc.add_argument("--step", type=_duration, help="sampling step (default: the median spacing of the input)")
    fc.add_argument("--limit", type=float, help="a capacity limit: also print the time until the series crosses it")
    fc.add_argument(
        "--trend-window", type=_duration, metavar="DURATION", help="history for the exhaustion trend (default: all)"
    )

    srv = sub.add_parser(
        "serve", help="run the analytics service: Prometheus series in, scores and forecasts on /metrics"
    )
    srv.add_argument("--config", required=True, metavar="FILE", help="the service's YAML configuration")
    srv.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    return parser


def run_serve(args: argparse.Namespace) -> int:
    """`serve`: load and check the configuration, then run the loop and the /metrics server until
    SIGTERM/SIGINT. Status 1 with the key path on a bad configuration."""
    import logging
    import signal
    import threading

    from citadel_monitoring.analytics.config import check_files, load_config
    from citadel_monitoring.collector.config import ConfigError

    try:
        config = load_config(args.config)
        check_files(config)
    except ConfigError as exc:
        print(f"{PROG}: {args.config}: {exc}", file=sys.stderr)
        return 1
    if args.check_config:
        print(f"{args.config}: OK")
        return 0
    logging.basicConfig(
        level=getattr(logging, config.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from citadel_monitoring.analytics.service import AnalyticsService
    from citadel_monitoring.collector.server import MetricsServer

    log = logging.getLogger("citadel_monitoring.analytics")
    try:
        config.state_dir.mkdir(parents=True, exist_ok=True)
        service = AnalyticsService(config)
        service.load_state()
        server = MetricsServer(config.address, config.port, service, config.basic_auth_users, config.tls)  # type: ignore[arg-type]
    except OSError as exc:
        print(f"{PROG}: cannot start: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    thread = threading.Thread(target=server.serve_forever, args=(0.2,), name="http", daemon=True)
    thread.start()
    log.info(
        "citadel-analytics listening on %s:%d (%s), %d watch(es), Prometheus %s",
        config.address,
        server.port,
        "https" if config.tls else "http",
        len(service.watches),
        config.prometheus.url,
    )
    try:
        service.run(stop)
    finally:
        server.shutdown()
        server.server_close()
    return 0


def _step(table_step: float, override: float | None, path: str) -> float:
    step = override or table_step
    if not step > 0:
        raise InputError(f"{path}: one row is not enough to know the sampling step (add rows or pass --step)")
    return step


def _fmt(v: float) -> str:
    return repr(round(float(v), 6))


def run_detect(args: argparse.Namespace) -> int:
    table = read_series(args.input)
    step = args.step or (table.step() or 300.0)
    detector = make_detector(
        args.detector,
        step,
        softness=args.softness,
        members=args.members,
        combine=args.combine,
        memory_days=None if args.memory is None else args.memory / 86_400,
        onset_hours=None if args.onset is None else args.onset / 3600,
    )
    scores = detector.score(table.timestamps, table.values)
    header = [*table.header, "anomaly_score"]
    write_csv_atomic(args.output, header, ([*row, _fmt(s)] for row, s in zip(table.rows, scores, strict=True)))
    return 0


def _human(seconds: float) -> str:
    if math.isinf(seconds):
        return "never"
    parts = []
    rest = round(seconds)
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    if rest or not parts:
        parts.append(f"{rest}s")
    return "".join(parts)


def run_forecast(args: argparse.Namespace) -> int:
    table = read_series(args.input)
    step = _step(table.step(), args.step, table.path)
    horizon = max(1, math.ceil(args.horizon / step - 1e-9))
    model = make_forecaster(step, coverage=args.coverage)
    model.fit(table.timestamps, table.values, horizon=horizon)
    if model.level is None:
        raise InputError(f"{table.path}: {len(table.values)} rows are too few to forecast (need at least 2)")
    fc = model.forecast(horizon)
    summary = None
    if args.limit is not None:
        if len(table.values) < 3:
            raise InputError(f"{table.path}: need at least 3 rows for a time to exhaustion")
        ex = time_to_exhaustion(
            table.timestamps, table.values, args.limit, window=args.trend_window, coverage=args.coverage
        )
        pct = round(args.coverage * 100)
        if ex.seconds == 0.0:
            when = "already reached"
        elif math.isinf(ex.lower):
            when = "not heading there"
        else:
            when = f"in {_human(ex.seconds)} ({pct}% interval: {_human(ex.lower)} to {_human(ex.upper)})"
        summary = f"time to exhaustion of limit {args.limit:g}: {when}; trend {ex.slope * 3600:.6g} per hour"
    rows = (
        [table.format_time(t), _fmt(y), _fmt(lo), _fmt(hi)]
        for t, y, lo, hi in zip(fc.timestamps, fc.yhat, fc.lower, fc.upper, strict=True)
    )
    write_csv_atomic(args.output, ["timestamp", "yhat", "yhat_lower", "yhat_upper"], rows)
    if summary:
        print(summary)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "serve":
            return run_serve(args)
        if args.command == "detect":
            return run_detect(args)
        return run_forecast(args)
    except InputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{PROG}: error: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
