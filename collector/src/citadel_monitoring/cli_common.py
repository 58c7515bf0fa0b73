"""Pieces every console script shares: the version flag and the program name."""

from __future__ import annotations

import argparse

from citadel_monitoring import __version__


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with `--version` answering `<prog> <version>`."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"{prog} {__version__}")
    return parser
