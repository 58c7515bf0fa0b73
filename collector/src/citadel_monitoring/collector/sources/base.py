"""The source contract and the background loop that runs one source."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod

from citadel_monitoring.collector.exposition import Family, MetricsCache

log = logging.getLogger("citadel_monitoring.collector")


class PartialFailure(Exception):
    """Raised by `collect` when it failed but still has families to show (a failed probe)."""

    def __init__(self, families: list[Family], reason: str) -> None:
        super().__init__(reason)
        self.families = families


class Source(ABC):
    """Something that collects metric families; `collect` runs in a background thread."""

    #: unique name, the `source` label of `citadel_collector_source_up`
    name: str
    #: seconds between the starts of two collections
    interval: float

    @abstractmethod
    def collect(self) -> list[Family]:
        """Collect once; raise to report the source as down."""

    def start(self) -> None:  # noqa: B027 - optional hook
        """Start helper threads (e.g. an event waiter); called once before the first collect."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; called once when the collector stops."""


class SourceRunner(threading.Thread):
    """Runs one source at its interval and stores its result (or its failure) in the cache."""

    def __init__(self, source: Source, cache: MetricsCache, stop: threading.Event) -> None:
        super().__init__(name=f"source-{source.name}", daemon=True)
        self.source = source
        self.cache = cache
        self.stop_event = stop
        cache.register(source.name)

    def run_once(self) -> bool:
        started = time.monotonic()
        try:
            families = self.source.collect()
        except PartialFailure as exc:
            self.cache.failure(self.source.name, time.monotonic() - started, exc.families)
            log.warning("source %s failed: %s", self.source.name, exc)
            return False
        except Exception as exc:  # one failing source never breaks the others
            self.cache.failure(self.source.name, time.monotonic() - started)
            log.warning("source %s failed: %s: %s", self.source.name, type(exc).__name__, exc)
            return False
        self.cache.success(self.source.name, families, time.monotonic() - started)
        return True

    def run(self) -> None:
        try:
            self.source.start()
        except Exception as exc:
            log.warning("source %s could not start: %s: %s", self.source.name, type(exc).__name__, exc)
        next_run = time.monotonic()
        while not self.stop_event.is_set():
            self.run_once()
            next_run += self.source.interval
            now = time.monotonic()
            if next_run < now:  # a slow collection: skip the missed slots, never pile up
                next_run = now + self.source.interval
            self.stop_event.wait(next_run - now)
        try:
            self.source.close()
        except Exception as exc:
            log.debug("source %s close: %s", self.source.name, exc)
