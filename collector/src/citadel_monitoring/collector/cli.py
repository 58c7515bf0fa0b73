"""`citadel-collector`: the command line of the AI-model-host collector."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from citadel_monitoring.cli_common import base_parser
from citadel_monitoring.collector.config import ConfigError, load_config

DESCRIPTION = (
    "Expose GPU, model-server probe, Ollama and gateway-log metrics of an AI model host "
    "for Prometheus. The sources are configured in a YAML file."
)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("citadel-collector", DESCRIPTION)
    parser.add_argument("--config", metavar="FILE", help="the collector's YAML configuration")
    parser.add_argument("--check-config", action="store_true", help="validate --config and exit")
    args = parser.parse_args(argv)
    if not args.config:
        parser.error("--config FILE is required")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"citadel-collector: {args.config}: {exc}", file=sys.stderr)
        return 1
    if args.check_config:
        print(f"{args.config}: OK")
        return 0

    logging.basicConfig(
        level=getattr(logging, config.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from citadel_monitoring.collector.service import Collector  # heavy imports only when running

    try:
        collector = Collector(config)
    except OSError as exc:  # port in use, unreadable TLS files
        print(f"citadel-collector: cannot serve on {config.address}:{config.port}: {exc}", file=sys.stderr)
        return 1
    done = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        logging.getLogger("citadel_monitoring.collector").info("signal %d: stopping", signum)
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    collector.start()
    done.wait()
    collector.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
