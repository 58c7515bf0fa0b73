"""`citadel-collector`: the command line of the AI-model-host collector."""

from __future__ import annotations

import sys

from citadel_monitoring.cli_common import base_parser

DESCRIPTION = (
    "Expose GPU, model-server probe, Ollama and gateway-log metrics of an AI model host "
    "for Prometheus. The sources are configured in a YAML file."
)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("citadel-collector", DESCRIPTION)
    parser.add_argument("--config", metavar="FILE", help="the collector's YAML configuration")
    parser.add_argument("--check-config", action="store_true", help="validate --config and exit")
    args = parser.parse_args(argv)
    if args.config or args.check_config:
        # The sources and the HTTP endpoint arrive with the collector issue; until then the
        # command refuses to pretend that it runs.
        parser.error("no collector sources are implemented in this version")
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
