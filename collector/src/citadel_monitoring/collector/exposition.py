"""Rendering metric families to the Prometheus text format, and the cache that `/metrics` serves.

Sources render their families in the background (`render_families`), so a scrape only joins
cached bytes: nothing expensive happens at scrape time. Families with the same name coming
from several sources (one probe source per endpoint, say) are merged under one HELP/TYPE.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.utils import floatToGoString

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Family:
    """One metric family: name (without `_total`/`_info`), type, help and its samples.

    A sample is `(suffix, labels, value)`; suffix is appended to the family's sample name
    (`_bucket`, `_sum`, `_count`), and the sample name of a counter ends in `_total`.
    """

    name: str
    type: str  # gauge | counter | histogram | info
    help: str
    samples: list[tuple[str, Mapping[str, str], float]] = field(default_factory=list)

    def add(self, labels: Mapping[str, str], value: float, suffix: str = "") -> Family:
        self.samples.append((suffix, labels, value))
        return self

    @property
    def sample_name(self) -> str:
        if self.type == "counter":
            return self.name + "_total"
        if self.type == "info":
            return self.name + "_info"
        return self.name


def add_histogram(
    family: Family,
    labels: Mapping[str, str],
    buckets: Sequence[float],
    counts: Sequence[float],
    total: float,
) -> None:
    """Add one histogram child: `counts` are per-bucket (not cumulative), one more for +Inf."""
    cumulative = 0.0
    for bound, count in zip(buckets, counts, strict=False):
        cumulative += count
        family.add({**labels, "le": floatToGoString(bound)}, cumulative, "_bucket")
    cumulative += counts[len(buckets)]
    family.add({**labels, "le": "+Inf"}, cumulative, "_bucket")
    family.add(labels, total, "_sum")
    family.add(labels, cumulative, "_count")


def _escape_label(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def render_samples(family: Family) -> str:
    """The sample lines of one family (no HELP/TYPE)."""
    base = family.sample_name
    lines = []
    for suffix, labels, value in family.samples:
        name = base + suffix
        if labels:
            inner = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{inner}}} {floatToGoString(value)}\n")
        else:
            lines.append(f"{name} {floatToGoString(value)}\n")
    return "".join(lines)


def header(family: Family) -> str:
    kind = "gauge" if family.type == "info" else family.type
    name = family.sample_name if family.type in ("counter", "info") else family.name
    return f"# HELP {name} {_escape_help(family.help)}\n# TYPE {name} {kind}\n"


@dataclass
class Rendered:
    """A family rendered in the background: its header and its sample lines."""

    name: str
    header: str
    body: str


def render_families(families: Iterable[Family]) -> list[Rendered]:
    return [Rendered(f.sample_name, header(f), render_samples(f)) for f in families if f.samples]


def join_rendered(groups: Iterable[Sequence[Rendered]]) -> str:
    """Merge rendered families from several sources: one header per family name."""
    order: list[str] = []
    headers: dict[str, str] = {}
    bodies: dict[str, list[str]] = {}
    for group in groups:
        for r in group:
            if r.name not in headers:
                headers[r.name] = r.header
                bodies[r.name] = []
                order.append(r.name)
            bodies[r.name].append(r.body)
    return "".join(headers[n] + "".join(bodies[n]) for n in order)


@dataclass
class SourceState:
    """What `/metrics` knows of one source: its last good data and its health."""

    name: str
    rendered: list[Rendered] = field(default_factory=list)
    up: bool = False
    errors: int = 0
    last_success: float | None = None  # time.monotonic()
    last_duration: float = 0.0


class MetricsCache:
    """Thread-safe store of every source's last rendered families and health."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, SourceState] = {}
        self._families: dict[str, list[Family]] = {}

    def register(self, name: str) -> None:
        with self._lock:
            self._states.setdefault(name, SourceState(name))

    def success(self, name: str, families: list[Family], duration: float) -> None:
        """Store a collection; the very same list object as last time is not rendered again."""
        with self._lock:
            unchanged = self._families.get(name) is families
        rendered = None if unchanged else render_families(families)
        with self._lock:
            state = self._states.setdefault(name, SourceState(name))
            if rendered is not None:
                state.rendered = rendered
                self._families[name] = families
            state.up = True
            state.last_success = time.monotonic()
            state.last_duration = duration

    def failure(self, name: str, duration: float, families: Iterable[Family] | None = None) -> None:
        """A failed collection: the last good data stays (its age grows) unless `families` replace it."""
        rendered = render_families(families) if families is not None else None
        with self._lock:
            state = self._states.setdefault(name, SourceState(name))
            if rendered is not None:
                state.rendered = rendered
                self._families.pop(name, None)
                state.last_success = time.monotonic()
            state.up = False
            state.errors += 1
            state.last_duration = duration

    def snapshot(self) -> list[SourceState]:
        with self._lock:
            return [
                SourceState(s.name, s.rendered, s.up, s.errors, s.last_success, s.last_duration)
                for s in self._states.values()
            ]
