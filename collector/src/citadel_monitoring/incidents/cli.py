"""`citadel-incidents`: the Alertmanager webhook receiver that groups alerts into incidents."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from citadel_monitoring.cli_common import base_parser
from citadel_monitoring.incidents.config import ConfigError, load_config

DESCRIPTION = (
    "Receive Alertmanager's webhook, group alerts into incidents by topology and time, enrich them "
    "with the analytics service's anomalies and send one summary per incident to a webhook."
)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("citadel-incidents", DESCRIPTION)
    parser.add_argument("--config", metavar="FILE", required=True, help="the receiver's YAML configuration")
    parser.add_argument("--check-config", action="store_true", help="validate --config and exit")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"citadel-incidents: {exc}", file=sys.stderr)
        return 1
    if args.check_config:
        print(f"{args.config}: OK")
        return 0
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from citadel_monitoring.incidents.app import IncidentApp

    try:
        app = IncidentApp(config)
    except OSError as exc:
        where = f"{config.listen_address}:{config.listen_port}"
        print(f"citadel-incidents: cannot serve on {where}: {exc}", file=sys.stderr)
        return 1
    done = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        logging.getLogger("citadel_monitoring.incidents").info("signal %d: stopping", signum)
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    app.start()
    logging.getLogger("citadel_monitoring.incidents").info(
        "listening on %s:%d, database %s", config.listen_address, app.port, config.database
    )
    done.wait()
    app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
