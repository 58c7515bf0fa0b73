#!/usr/bin/env python3
"""Write the executive report (a self-contained HTML page) from Prometheus or from a snapshot.

  report.py --prometheus https://metrics:9090 --user grafana --password-file pw --ca ca.crt \
      --since 7d --output report.html [--save-snapshot week.json]
  report.py --snapshot dashboards/fixtures/report-snapshot.json --output report.html
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from citadel_dashboards import report


def days(text: str) -> int:
    if not text.endswith("d") or not text[:-1].isdigit() or int(text[:-1]) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected whole days, such as 7d")
    return int(text[:-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prometheus", metavar="URL", help="Prometheus's base URL")
    source.add_argument("--snapshot", type=Path, help="a snapshot JSON file (from --save-snapshot)")
    parser.add_argument("--user", default="", help="basic auth user")
    parser.add_argument("--password-file", type=Path, help="file holding the basic auth password")
    parser.add_argument("--ca", default="", help="CA file to check Prometheus's certificate against")
    parser.add_argument("--since", type=days, default=7, help="the period, in days (default 7d)")
    parser.add_argument("--output", "-o", type=Path, required=True, help="the HTML file to write")
    parser.add_argument("--save-snapshot", type=Path, help="also write the figures read, as JSON")
    args = parser.parse_args(argv)
    try:
        if args.snapshot:
            snap = json.loads(args.snapshot.read_text())
        else:
            password = args.password_file.read_text().strip() if args.password_file else ""
            prom = report.Prometheus(args.prometheus, args.user, password, args.ca)
            snap = report.collect(prom, days=args.since)
        if args.save_snapshot:
            args.save_snapshot.write_text(json.dumps(snap, indent=2, sort_keys=True) + "\n")
        args.output.write_text(report.render(snap))
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"report.py: error: {exc}", file=sys.stderr)
        return 1
    print(f"report.py: wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
