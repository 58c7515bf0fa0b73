"""`citadel-model-sim`: run the simulated model server (TEST AND DEMO ONLY)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from citadel_monitoring.cli_common import base_parser

DESCRIPTION = (
    "TEST AND DEMO ONLY: a simulated LLM model server with an OpenAI-compatible API (streaming), "
    "vLLM-format /metrics, a JSON-lines access log, fault injection (POST /control/faults) and "
    "an optional built-in load generator. Never deploy it in production."
)


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return number


def build_parser() -> argparse.ArgumentParser:
    p = base_parser("citadel-model-sim", DESCRIPTION)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--model", default="sim-llama-3-8b", help="the served model name (default sim-llama-3-8b)")
    p.add_argument("--access-log", type=Path, help="append one JSON line per request to this file")
    p.add_argument("--time-scale", type=_positive, default=1.0, help="multiply every simulated delay (default 1)")
    p.add_argument("--deprecated-metrics", action="store_true", help="also export vLLM's deprecated metric names")
    p.add_argument("--no-control", action="store_true", help="disable the /control/faults endpoint")
    p.add_argument("--seed", type=int, help="random seed, for repeatable runs")
    p.add_argument("--max-num-seqs", type=int, default=32, help="concurrent sequences before queueing (default 32)")
    g = p.add_argument_group("built-in load generator (off unless --load-rps is given)")
    g.add_argument("--load-rps", type=_positive, help="mean requests per second (at most 50)")
    g.add_argument("--load-concurrency", type=int, default=4, help="requests in flight at most (default 4)")
    g.add_argument("--load-max-requests", type=int, default=0, help="stop after this many requests (0: never)")
    g.add_argument("--load-duration", type=float, default=0.0, help="stop after this many seconds (0: never)")
    g.add_argument("--tenants", default="acme,globex,initech,umbrella,hooli", help="comma-separated tenant names")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from dataclasses import replace

    from citadel_monitoring.simulator.loadgen import LoadConfig, LoadGenerator
    from citadel_monitoring.simulator.model import Profile
    from citadel_monitoring.simulator.server import SimConfig, SimServer

    config = SimConfig(
        model=args.model,
        time_scale=args.time_scale,
        deprecated_metrics=args.deprecated_metrics,
        control=not args.no_control,
        access_log=args.access_log,
        seed=args.seed,
        profile=replace(Profile(), max_num_seqs=args.max_num_seqs),
    )
    try:
        server = SimServer(args.host, args.port, config)
    except OSError as exc:
        print(f"citadel-model-sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    logging.info("citadel-model-sim (TEST/DEMO) serving %s on %s:%d", args.model, args.host, server.port)
    if args.load_rps:
        try:
            load = LoadGenerator(
                LoadConfig(
                    port=server.port,
                    model=args.model,
                    rps=args.load_rps,
                    concurrency=args.load_concurrency,
                    max_requests=args.load_max_requests,
                    duration_seconds=args.load_duration,
                    tenants=tuple(t.strip() for t in args.tenants.split(",") if t.strip()),
                    seed=args.seed,
                ),
                stop,
            )
        except ValueError as exc:
            print(f"citadel-model-sim: {exc}", file=sys.stderr)
            server.server_close()
            return 2
        load.start()
    stop.wait()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
