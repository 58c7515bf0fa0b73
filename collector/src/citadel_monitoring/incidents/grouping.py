"""Pure grouping logic: which incident an alert belongs to, by topology and time.

An alert's *keys* say what it is about: `host:<h>` from the host label (a `host:port` instance is
cut to the host), `model:<m>` from the model label, and, with a topology, `model:<m>` for every
model that runs on its host. An alert joins the oldest open incident that shares a key with it and
saw activity within the grouping window; otherwise it opens a new incident. An alert with neither
host nor model has the key `alertname:<name>`: it groups only with itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

SEVERITY_ORDER = ("page", "critical", "ticket", "error", "warning", "info")


@dataclass(frozen=True)
class OpenIncident:
    """What grouping needs to know of an open incident."""

    id: int
    keys: frozenset[str]
    last_activity: float
    opened_at: float


def host_of(value: str) -> str:
    """`model1:9100` -> `model1`; `[fd00::1]:80` -> `fd00::1`; anything else unchanged."""
    if value.startswith("[") and "]" in value:
        return value[1 : value.index("]")]
    head, sep, tail = value.rpartition(":")
    if sep and tail.isdigit() and ":" not in head:
        return head
    return value


def alert_keys(
    labels: Mapping[str, str],
    host_label: str = "instance",
    model_label: str = "model",
    topology: Mapping[str, Sequence[str]] | None = None,
) -> frozenset[str]:
    keys: set[str] = set()
    host = labels.get(host_label)
    if host:
        host = host_of(host)
        keys.add(f"host:{host}")
        for model in (topology or {}).get(host, ()):
            keys.add(f"model:{model}")
    model = labels.get(model_label)
    if model:
        keys.add(f"model:{model}")
    if not keys:
        keys.add(f"alertname:{labels.get('alertname', '')}")
    return frozenset(keys)


def choose_incident(keys: Iterable[str], incidents: Iterable[OpenIncident], now: float, window: float) -> int | None:
    """The oldest open incident sharing a key with `keys` and active within `window` seconds."""
    wanted = set(keys)
    candidates = [i for i in incidents if i.keys & wanted and now - i.last_activity <= window]
    if not candidates:
        return None
    return min(candidates, key=lambda i: (i.opened_at, i.id)).id


def severity_rank(severity: str | None) -> int:
    """Lower is more urgent; unknown severities come last."""
    try:
        return SEVERITY_ORDER.index(severity or "")
    except ValueError:
        return len(SEVERITY_ORDER)


def worst_severity(severities: Iterable[str | None]) -> str | None:
    known = [s for s in severities if s]
    return min(known, key=severity_rank) if known else None


def split_keys(keys: Iterable[str]) -> tuple[list[str], list[str]]:
    """(hosts, models) of a key set, sorted."""
    hosts = sorted(k[5:] for k in keys if k.startswith("host:"))
    models = sorted(k[6:] for k in keys if k.startswith("model:"))
    return hosts, models
