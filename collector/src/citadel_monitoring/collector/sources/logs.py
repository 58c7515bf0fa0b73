"""Gateway access logs (JSON lines): requests, tokens, errors and latency per tenant and model.

The tailer follows the file across rotation (rename-and-create: the rest of the old file is read
before the new one; copy-truncate: a file shorter than the offset starts over) and saves
`(inode, offset)` to a state file after each read, so a restarted collector resumes where it
stopped, neither losing nor double-counting lines. Only complete lines are consumed.
Tenant and model label values are capped: the first `max_tenants`/`max_models` seen keep their
name, the rest are counted as `other`. Malformed lines are counted and skipped.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from citadel_monitoring.collector.config import AccessLogConfig
from citadel_monitoring.collector.exposition import Family, add_histogram
from citadel_monitoring.collector.sources.base import Source

log = logging.getLogger("citadel_monitoring.collector.logs")

OTHER = "other"
MAX_LINE = 65536
MAX_LABEL = 128
READ_CHUNK = 1024 * 1024
#: at most this many bytes per collection, so one huge backlog cannot starve the loop forever
MAX_BYTES_PER_POLL = 256 * 1024 * 1024
#: seconds between two renderings of a changing log's families (Prometheus scrapes every 10-60 s)
RENDER_INTERVAL = 5.0


@dataclass
class Position:
    inode: int
    offset: int


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not a count")  # NaN and Infinity would poison the counters


class Aggregates:
    """Counters per (tenant, model); the pure core of the log source (no files, no HTTP)."""

    def __init__(self, config: AccessLogConfig) -> None:
        self.config = config
        self.buckets = config.latency_buckets
        self.tenants: set[str] = set()
        self.models: set[str] = set()
        # key -> [requests, errors, prompt tokens, completion tokens, duration sum, *bucket counts]
        self.series: dict[tuple[str, str], list[float]] = {}
        self.lines = 0
        self.rejected = 0
        self._width = 5 + len(self.buckets) + 1
        f = config.fields
        self._fields = (f.tenant, f.model, f.status, f.prompt_tokens, f.completion_tokens, f.duration_seconds)

    def _cap(self, value: str, seen: set[str], limit: int) -> str:
        if value in seen:
            return value
        if len(seen) < limit and len(value) <= MAX_LABEL and value != OTHER:
            seen.add(value)
            return value
        return OTHER

    def add_lines(self, lines: list[bytes]) -> None:
        tenant_f, model_f, status_f, prompt_f, completion_f, duration_f = self._fields
        loads = json.loads
        series = self.series
        tenants, models = self.tenants, self.models
        buckets, width = self.buckets, self._width
        error_min = self.config.error_status_min
        max_t, max_m = self.config.max_tenants, self.config.max_models
        rejected = 0
        for line in lines:
            if not line or line.isspace():
                continue
            if len(line) > MAX_LINE:
                rejected += 1
                continue
            try:
                rec = loads(line, parse_constant=_no_constants)
                tenant = rec[tenant_f]
                model = rec[model_f]
                status = rec[status_f]
                if type(tenant) is not str or type(model) is not str or type(status) is not int:
                    raise TypeError
                prompt = rec.get(prompt_f, 0) or 0
                completion = rec.get(completion_f, 0) or 0
                duration = rec.get(duration_f)
                if prompt < 0 or completion < 0 or (duration is not None and duration < 0):
                    raise ValueError
                prompt + completion + (duration or 0)
            except (ValueError, TypeError, KeyError, AttributeError):
                rejected += 1
                continue
            if tenant not in tenants:
                tenant = self._cap(tenant, tenants, max_t)
            if model not in models:
                model = self._cap(model, models, max_m)
            key = (tenant, model)
            row = series.get(key)
            if row is None:
                row = series[key] = [0.0] * width
            row[0] += 1
            if status >= error_min:
                row[1] += 1
            row[2] += prompt
            row[3] += completion
            if duration is not None:
                row[4] += duration
                row[5 + bisect_left(buckets, duration)] += 1
        self.lines += len(lines)
        self.rejected += rejected

    def families(self, log_name: str, source: str) -> list[Family]:
        requests = Family("citadel_gateway_requests", "counter", "Requests in the gateway access log.")
        errors = Family(
            "citadel_gateway_request_errors", "counter", "Requests whose status is at or above error_status_min."
        )
        prompt = Family("citadel_gateway_prompt_tokens", "counter", "Prompt (input) tokens of logged requests.")
        completion = Family(
            "citadel_gateway_completion_tokens", "counter", "Completion (output) tokens of logged requests."
        )
        latency = Family("citadel_gateway_request_duration_seconds", "histogram", "Request duration from the log.")
        for (tenant, model), row in sorted(self.series.items()):
            labels = {"log": log_name, "tenant": tenant, "model": model}
            requests.add(labels, row[0])
            errors.add(labels, row[1])
            prompt.add(labels, row[2])
            completion.add(labels, row[3])
            add_histogram(latency, labels, self.buckets, row[5:], row[4])
        lines = Family("citadel_collector_log_lines_read", "counter", "Lines read from an access log.")
        lines.add({"source": source}, self.lines)
        rejected = Family(
            "citadel_collector_log_lines_rejected", "counter", "Malformed access-log lines, counted and skipped."
        )
        rejected.add({"source": source}, self.rejected)
        return [requests, errors, prompt, completion, latency, lines, rejected]


class LogTailer:
    """Reads complete new lines from a file that may be rotated, remembering its position."""

    def __init__(self, path: Path, state_file: Path | None = None) -> None:
        self.path = path
        self.state_file = state_file
        self.position: Position | None = None
        self._fh: BinaryIO | None = None
        self._saved: Position | None = None
        self.restored = self._load_state()

    def _load_state(self) -> bool:
        if self.state_file is None:
            return False
        try:
            doc = json.loads(self.state_file.read_text(encoding="utf-8"))
            self.position = Position(int(doc["inode"]), int(doc["offset"]))
            self._saved = Position(self.position.inode, self.position.offset)
            return True
        except FileNotFoundError:
            return False
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: ignoring unreadable state file: %s", self.state_file, exc)
            return False

    def save_state(self) -> None:
        if self.state_file is None or self.position is None or self.position == self._saved:
            return
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps({"inode": self.position.inode, "offset": self.position.offset}), encoding="utf-8")
        tmp.replace(self.state_file)
        self._saved = Position(self.position.inode, self.position.offset)

    def _rotated_predecessor(self, inode: int) -> Path | None:
        """After a restart: the rotated file (`access.log.1`, ...) that still has our old inode."""
        try:
            for candidate in self.path.parent.glob(self.path.name + ".*"):
                if candidate.stat().st_ino == inode:
                    return candidate
        except OSError:
            return None
        return None

    def _drain(self, fh: BinaryIO, pos: Position, budget: int) -> Iterator[list[bytes]]:
        """Complete lines from `pos.offset` on, a chunk at a time (memory stays bounded however
        large the backlog); a trailing partial line is left for later."""
        fh.seek(pos.offset)
        consumed = 0
        rest = b""
        while consumed < budget:
            chunk = fh.read(READ_CHUNK)
            if not chunk:
                break
            data = rest + chunk if rest else chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                if len(rest) > MAX_LINE * 16:  # a runaway line without a newline: skip it
                    pos.offset += len(rest)
                    consumed += len(rest)
                    rest = b""
                continue
            used = cut + 1
            yield data[:cut].split(b"\n")
            consumed += used
            pos.offset += used
            rest = data[used:]
        fh.seek(pos.offset)

    def _open(self) -> BinaryIO | None:
        try:
            return open(self.path, "rb")
        except FileNotFoundError:
            return None

    def read_new(self) -> Iterator[list[bytes]]:
        """Batches of complete new lines since the last call; the position advances as they are
        consumed."""
        try:
            inode: int | None = self.path.stat().st_ino
        except FileNotFoundError:
            inode = None  # between rotation and creation, or not written yet
        if self._fh is not None and self.position is not None and inode != self.position.inode:
            # rotated while we run: finish the old file through the descriptor we hold
            yield from self._drain(self._fh, self.position, MAX_BYTES_PER_POLL)
            self._fh.close()
            self._fh = None
            self.position = None
        if self._fh is None:
            if self.position is not None and inode != self.position.inode:
                # rotated while we were stopped: finish the old file by its new name
                old = self._rotated_predecessor(self.position.inode)
                if old is not None:
                    with open(old, "rb") as fh:
                        yield from self._drain(fh, self.position, MAX_BYTES_PER_POLL)
                self.position = None
            fh = self._open()
            if fh is None:
                return
            ino = os.fstat(fh.fileno()).st_ino
            if self.position is None or self.position.inode != ino:
                self.position = Position(ino, 0)
            self._fh = fh
        assert self.position is not None
        if os.fstat(self._fh.fileno()).st_size < self.position.offset:
            log.info("%s: truncated (copy-truncate rotation); reading from the start", self.path)
            self.position.offset = 0
        yield from self._drain(self._fh, self.position, MAX_BYTES_PER_POLL)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class AccessLogSource(Source):
    def __init__(self, config: AccessLogConfig, render_interval: float = RENDER_INTERVAL) -> None:
        self.name = f"log:{config.name}"
        self.render_interval = render_interval
        self.interval = config.poll_interval_seconds
        self.config = config
        self.tailer = LogTailer(config.path, config.state_file)
        self.aggregates = Aggregates(config)
        self._lock = threading.Lock()
        self._families: list[Family] | None = None
        self._rendered_at = 0.0
        self._dirty = False

    def poll(self) -> int:
        """Ingest what is new; returns the number of lines read."""
        n = 0
        with self._lock:
            for batch in self.tailer.read_new():
                self.aggregates.add_lines(batch)
                n += len(batch)
            self.tailer.save_state()
        return n

    def close(self) -> None:
        with self._lock:
            self.tailer.save_state()
            self.tailer.close()

    def collect(self) -> list[Family]:
        """Ingest every poll; render the (large) families only when something changed, and at
        most every `render_interval` seconds, so a busy log costs little CPU between scrapes."""
        read = self.poll()
        now = time.monotonic()
        self._dirty = self._dirty or read > 0
        if self._families is None or (self._dirty and now - self._rendered_at >= self.render_interval):
            self._families = self.aggregates.families(self.config.name, self.name)
            self._rendered_at = now
            self._dirty = False
        return self._families  # the same object: the cache does not render it again
