#!/usr/bin/env python3
"""Build (or reuse) a wheelhouse of the citadel-monitoring project and its dependencies.

Runs on the Ansible controller:

    build_wheelhouse.py PROJECT_DIR CONSTRAINTS_FILE CACHE_DIR

The wheelhouse is CACHE_DIR/<key>, where the key is a sha256 of the project's version
(`__version__` in src/citadel_monitoring/__init__.py), its pyproject.toml, the constraints (lock)
file and this Python's major.minor: a release (a new version) or a new lock makes a new
wheelhouse, and nothing else does (a code change is deployed by bumping the version). It is
built only when that directory does not exist yet: `pip wheel` of a clean copy of the
project (the working tree is not written to) with the constraints, into a temporary directory
renamed into place when complete. Prints one JSON object: changed, key, dir, version, python.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_WHEEL = "citadel_monitoring-"
VERSION_FILE = "src/citadel_monitoring/__init__.py"
VERSION_RE = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)


def project_version(project: Path) -> str:
    match = VERSION_RE.search((project / VERSION_FILE).read_text())
    if not match:
        raise ValueError(f"{project / VERSION_FILE} sets no __version__")
    return match.group(1)


def cache_key(project: Path, constraints: Path, version: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"python{sys.version_info.major}.{sys.version_info.minor}\0{version}\0".encode())
    for path in (project / "pyproject.toml", constraints):
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def build(project: Path, constraints: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=dest.parent) as tmp:
        copy = Path(tmp) / "project"
        shutil.copytree(
            project,
            copy,
            ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", "*.pyc", "examples"),
        )
        wheels = Path(tmp) / "wheels"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--disable-pip-version-check",
                "--wheel-dir",
                str(wheels),
                "--constraint",
                str(constraints),
                str(copy),
            ],
            check=True,
            stdout=sys.stderr,
        )
        if not dest.exists():  # another run may have finished the same key meanwhile
            wheels.rename(dest)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    project, constraints, cache = (Path(a).resolve() for a in argv)
    for path in (project / "pyproject.toml", constraints):
        if not path.is_file():
            print(f"build_wheelhouse: {path} does not exist", file=sys.stderr)
            return 1
    try:
        version = project_version(project)
    except (OSError, ValueError) as exc:
        print(f"build_wheelhouse: {exc}", file=sys.stderr)
        return 1
    key = cache_key(project, constraints, version)
    dest = cache / key
    changed = not dest.is_dir()
    if changed:
        try:
            build(project, constraints, dest)
        except subprocess.CalledProcessError as exc:
            print(f"build_wheelhouse: pip wheel failed (exit {exc.returncode})", file=sys.stderr)
            return 1
    wheels = sorted(p.name for p in dest.glob("*.whl"))
    own = [w for w in wheels if w.startswith(PROJECT_WHEEL)]
    if len(own) != 1 or own[0].split("-")[1] != version:
        print(f"build_wheelhouse: {dest} holds {own}, not one citadel_monitoring {version} wheel", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "changed": changed,
                "key": key,
                "dir": str(dest),
                "version": own[0].split("-")[1],
                "python": f"{sys.version_info.major}.{sys.version_info.minor}",
                "wheels": wheels,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
