"""Sends each incident's summary to the channel (a generic webhook), once per change, with retries.

The notifier thread wakes when the engine changes an incident (or every `poll_seconds`), takes
the incidents whose `notified_version < version` from the store, enriches firing ones with the
analytics context, and POSTs the summary. The channel updates its message in place by
`incident.id` (the `X-Citadel-Incident` header, with `X-Citadel-Incident-Version`); a failure is
retried with exponential backoff (capped), across restarts since the state is in SQLite.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from citadel_monitoring import __version__
from citadel_monitoring.incidents.config import NotifyConfig
from citadel_monitoring.incidents.engine import incident_summary
from citadel_monitoring.incidents.enrich import Enricher, PromAPIError
from citadel_monitoring.incidents.grouping import split_keys
from citadel_monitoring.incidents.store import Store

log = logging.getLogger("citadel_monitoring.incidents")


def post_json(url: str, doc: Any, timeout: float, headers: dict[str, str]) -> None:
    """POST `doc` as JSON; raises OSError (URLError, HTTPError, timeouts) on failure or a non-2xx answer."""
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("User-Agent", f"citadel-incidents/{__version__}")
    for key, value in headers.items():
        req.add_header(key, value)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        resp.read()


class Notifier:
    def __init__(
        self,
        store: Store,
        config: NotifyConfig,
        enricher: Enricher | None = None,
        poll_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.config = config
        self.enricher = enricher
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.sent = 0
        self.failed = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="incident-notifier", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # never let the loop die; the next round retries
                log.exception("notifier round failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def run_once(self) -> int:
        """Send every due summary once; returns how many were sent."""
        sent = 0
        for incident_id in self.store.pending(self.clock()):
            if self._stop.is_set():
                break
            inc = self.store.get(incident_id)
            if inc is None or inc.notified_version >= inc.version:
                continue
            if self.enricher and inc.status == "firing":
                hosts, models = split_keys(inc.keys)
                try:
                    inc.anomalies = self.enricher.anomalies(hosts, models)
                    self.store.set_anomalies(inc.id, inc.anomalies)
                except PromAPIError as exc:
                    log.warning("incident %d: no analytics context: %s", inc.id, exc)
            doc = incident_summary(inc)
            headers = {
                **self.config.headers,
                "X-Citadel-Incident": str(inc.id),
                "X-Citadel-Incident-Version": str(inc.version),
            }
            try:
                post_json(self.config.url, doc, self.config.timeout_seconds, headers)
            except (OSError, urllib.error.URLError) as exc:
                self.failed += 1
                delay = min(self.config.max_backoff_seconds, 2.0 ** min(inc.attempts, 16))
                self.store.mark_failed(inc.id, str(exc), self.clock() + delay)
                log.warning("incident %d: summary not sent (retry in %gs): %s", inc.id, delay, exc)
                continue
            self.store.mark_sent(inc.id, inc.version)
            self.sent += 1
            sent += 1
            log.info("incident %d: %s summary v%d sent", inc.id, doc["event"], inc.version)
        return sent
