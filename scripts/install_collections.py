#!/usr/bin/env python3
"""Install the collections pinned in requirements.yml without Galaxy.

Galaxy is unreachable from the build machines; the `ansible` package on PyPI carries the
collections. This script takes its wheel (downloaded by pip, version pinned in
requirements/collections.txt), checks that each collection in requirements.yml has exactly the
pinned version there, and copies those collections alone into ./collections/ansible_collections.

Usage: install_collections.py WHEEL REQUIREMENTS_YML DEST
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

import yaml


def main(wheel: str, requirements: str, dest: str) -> int:
    wanted = yaml.safe_load(Path(requirements).read_text())["collections"]
    target = Path(dest) / "ansible_collections"
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        for item in wanted:
            namespace, name = item["name"].split(".")
            prefix = f"ansible_collections/{namespace}/{name}/"
            try:
                manifest = json.loads(whl.read(prefix + "MANIFEST.json"))["collection_info"]
            except KeyError:
                print(f"{requirements}: collection {item['name']}: not in {wheel}", file=sys.stderr)
                return 1
            if manifest["version"] != str(item["version"]):
                print(
                    f"{requirements}: collection {item['name']}: version {item['version']} pinned, "
                    f"{Path(wheel).name} carries {manifest['version']}",
                    file=sys.stderr,
                )
                return 1
            installed = target / namespace / name / "MANIFEST.json"
            if (
                installed.exists()
                and json.loads(installed.read_text())["collection_info"]["version"] == manifest["version"]
            ):
                continue
            shutil.rmtree(target / namespace / name, ignore_errors=True)
            for member in names:
                if member.startswith(prefix) and not member.endswith("/"):
                    out = Path(dest) / member
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(whl.read(member))
            print(f"installed {item['name']} {manifest['version']}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
