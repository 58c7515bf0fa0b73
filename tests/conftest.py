"""Shared test helpers: the repository root and loaders for the repo's own Python files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def load_module(relpath: str, name: str) -> ModuleType:
    """Import a Python file of the repo that is not in a package (lab/, plugins/filter/)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relpath)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
