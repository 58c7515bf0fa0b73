"""`citadel-analytics`: offline backtests and the analytics service."""

from __future__ import annotations

import sys

from citadel_monitoring.cli_common import base_parser

DESCRIPTION = (
    "Anomaly detection and forecasting for Prometheus series: offline backtests on CSV files "
    "and a service that exports scores and forecasts as metrics."
)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("citadel-analytics", DESCRIPTION)
    parser.parse_args(argv)
    # The detectors, forecasters and the service arrive with the analytics issue.
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
