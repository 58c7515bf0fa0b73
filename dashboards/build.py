#!/usr/bin/env python3
"""Regenerate the dashboards' JSON (dashboards/json/) from their Python sources.

Usage: build.py [--check]   (--check: exit 1 and name the stale files instead of writing them)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from citadel_dashboards.registry import DASHBOARDS  # noqa: E402

OUT = HERE / "json"


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, sort_keys=True) + "\n" for name, build in DASHBOARDS.items()}


def stale(rendered: dict[str, str]) -> list[str]:
    """Files that differ from their sources, are missing, or have no source any more."""
    names = [n for n, text in rendered.items() if not (OUT / n).exists() or (OUT / n).read_text() != text]
    names += [p.name for p in sorted(OUT.glob("*.json")) if p.name not in rendered]
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    rendered = render()
    if args.check:
        names = stale(rendered)
        for name in names:
            print(f"dashboards/json/{name} is stale: run dashboards/build.py", file=sys.stderr)
        return 1 if names else 0
    OUT.mkdir(exist_ok=True)
    for name, text in rendered.items():
        path = OUT / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote dashboards/json/{name}")
    for path in sorted(OUT.glob("*.json")):
        if path.name not in rendered:
            path.unlink()
            print(f"removed dashboards/json/{path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
