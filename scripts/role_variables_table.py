#!/usr/bin/env python3
"""Rewrite the "## Variables" section of each role's README from its meta/argument_specs.yml.

Usage: role_variables_table.py [ROLE...]   (default: every role with an argument spec)
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def cell(value: object) -> str:
    text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True, width=1000)
    text = str(text).strip().removesuffix("...").strip().replace("\n", " ").replace("|", "\\|")
    return f'`"{text}"`' if isinstance(value, str) else f"`{text}`"


def table(role: str) -> str:
    spec = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    rows = ["| variable | type | default | description |", "| --- | --- | --- | --- |"]
    for name, opt in spec["argument_specs"]["main"]["options"].items():
        desc = opt.get("description", "")
        desc = " ".join(desc) if isinstance(desc, list) else desc
        kind = opt["type"] + (f" ({', '.join(map(str, opt['choices']))})" if "choices" in opt else "")
        rows.append(f"| `{name}` | {kind} | {cell(opt.get('default'))} | {' '.join(desc.split())} |")
    return "\n".join(rows)


def rewrite(role: str) -> None:
    path = ROOT / "roles" / role / "README.md"
    text = path.read_text()
    start = text.index("## Variables\n")
    end = text.find("\n## ", start + 1)
    new = f"## Variables\n\n{table(role)}\n"
    path.write_text(text[:start] + new + (text[end:] if end != -1 else ""))


def main(roles: list[str]) -> int:
    roles = roles or sorted(p.parent.parent.name for p in ROOT.glob("roles/*/meta/argument_specs.yml"))
    for role in roles:
        rewrite(role)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
