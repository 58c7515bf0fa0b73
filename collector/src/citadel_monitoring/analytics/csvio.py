"""CSV in and out for the offline commands: strict reading, atomic writing, durations.

Input is NAB's format: a header with `timestamp` and `value` (other columns are kept), rows in
time order. Two rows with the same timestamp are accepted (NAB's own files have them, where local
time repeats an hour at a daylight-saving change); a row earlier than the one before is an error.
Timestamps are ISO 8601 (`2014-02-14 14:30:00`, `2014-02-14T14:30:00Z`, with or without a fraction
or an offset; naive ones are read as UTC) or Unix epoch seconds. Every problem raises `InputError`
naming the file, the line and the column. Output goes to a temporary file beside the target,
renamed over it only when complete, so a failure never leaves a partial file.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np


class InputError(ValueError):
    """Bad input, with a message meant for the user (file, line, column, what is wrong)."""


@dataclass
class Table:
    path: str
    header: list[str]
    rows: list[list[str]]  # the original cells, for writing back unchanged
    timestamps: np.ndarray  # seconds since the epoch, UTC
    values: np.ndarray
    epoch_format: bool  # timestamps were numbers
    aware: bool  # timestamps carried a UTC offset

    def step(self) -> float:
        """The sampling step in seconds (median positive spacing); 0 when it cannot be told."""
        gaps = np.diff(self.timestamps)
        gaps = gaps[gaps > 0]
        return float(np.median(gaps)) if gaps.size else 0.0

    def format_time(self, t: float) -> str:
        """A timestamp in the input's own style."""
        if self.epoch_format:
            return str(int(t)) if float(t).is_integer() else repr(float(t))
        dt = datetime.fromtimestamp(t, tz=UTC)
        if self.aware:
            return dt.isoformat().replace("+00:00", "Z")
        return dt.replace(tzinfo=None).isoformat(sep=" ")


def parse_timestamp(text: str) -> tuple[float, bool, bool]:
    """(seconds since the epoch, was a number, carried an offset); ValueError if unparsable."""
    s = text.strip()
    if not s:
        raise ValueError("empty")
    try:
        t = float(s)
    except ValueError:
        pass
    else:
        if not math.isfinite(t):
            raise ValueError("not finite")
        return t, True, False
    dt = datetime.fromisoformat(s.replace("z", "Z"))
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC).timestamp(), False, False
    return dt.timestamp(), False, True


def read_series(path: str | Path) -> Table:
    """Read and validate a `timestamp,value` CSV file; raises InputError."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a CSV file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror}") from None
    if not text.strip():
        raise InputError(f"{name}: empty file (expected a header 'timestamp,value' and rows)")
    reader = csv.reader(io.StringIO(text))
    try:
        records = [(reader.line_num, rec) for rec in reader]
    except csv.Error as exc:
        raise InputError(f"{name}:{reader.line_num}: malformed CSV: {exc}") from None
    records = [(ln, rec) for ln, rec in records if any(c.strip() for c in rec)]
    header_line, header = records[0]
    header = [h.strip() for h in header]
    missing = [c for c in ("timestamp", "value") if c not in header]
    if missing:
        raise InputError(
            f"{name}:{header_line}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} in the header (found: {', '.join(header) or 'nothing'})"
        )
    if len(records) == 1:
        raise InputError(f"{name}: no data rows after the header")
    ti, vi = header.index("timestamp"), header.index("value")
    ts: list[float] = []
    vs: list[float] = []
    rows: list[list[str]] = []
    kinds: set[tuple[bool, bool]] = set()
    prev_line = 0
    for line, rec in records[1:]:
        if len(rec) != len(header):
            raise InputError(f"{name}:{line}: expected {len(header)} fields like the header, got {len(rec)}")
        raw_t, raw_v = rec[ti].strip(), rec[vi].strip()
        try:
            t, numeric, aware = parse_timestamp(raw_t)
        except ValueError:
            raise InputError(
                f"{name}:{line}: column 'timestamp': cannot parse {raw_t!r} as a timestamp "
                "(expected ISO 8601 like '2014-02-14 14:30:00' or Unix seconds)"
            ) from None
        kinds.add((numeric, aware))
        try:
            v = float(raw_v)
        except ValueError:
            v = math.nan
        if not math.isfinite(v):
            raise InputError(f"{name}:{line}: column 'value': {raw_v!r} is not a finite number")
        if ts and t < ts[-1]:
            raise InputError(
                f"{name}:{line}: column 'timestamp': {raw_t!r} is earlier than the previous row's "
                f"{rows[-1][ti].strip()!r} (line {prev_line}); rows must be in time order"
            )
        ts.append(t)
        vs.append(v)
        rows.append(rec)
        prev_line = line
    if len(kinds) > 1:
        raise InputError(f"{name}: column 'timestamp' mixes formats (numbers, naive and offset ISO 8601)")
    numeric, aware = kinds.pop()
    return Table(name, header, rows, np.asarray(ts), np.asarray(vs), numeric, aware)


def write_csv_atomic(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write a CSV file completely or not at all (temporary file, fsync, rename)."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path()
    if not directory.is_dir():
        raise InputError(f"{target}: the output directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0, "y": 31_536_000.0}


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus-style duration (`90s`, `15m`, `1h30m`, `7d`, `2w`); ValueError if bad."""
    s = text.strip()
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s or total <= 0:
        raise ValueError(f"invalid duration {text!r} (expected e.g. 90s, 15m, 1h30m, 7d)")
    return total
