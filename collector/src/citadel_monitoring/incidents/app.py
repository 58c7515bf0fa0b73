"""Wires the pieces together: store, engine, enricher, notifier and HTTP server."""

from __future__ import annotations

import threading

from citadel_monitoring.incidents.config import IncidentsConfig
from citadel_monitoring.incidents.engine import IncidentEngine
from citadel_monitoring.incidents.enrich import Enricher
from citadel_monitoring.incidents.notify import Notifier
from citadel_monitoring.incidents.remediation import Remediator
from citadel_monitoring.incidents.server import IncidentServer
from citadel_monitoring.incidents.store import Store


class IncidentApp:
    def __init__(self, config: IncidentsConfig, poll_seconds: float = 5.0) -> None:
        self.config = config
        self.store = Store(config.database)
        self.engine = IncidentEngine(self.store, config.grouping)
        enricher = None
        if config.enrichment:
            enricher = Enricher(config.enrichment, config.grouping.host_label, config.grouping.model_label)
        self.notifier = Notifier(self.store, config.notify, enricher, poll_seconds=poll_seconds)
        self.remediator = None
        if config.remediation:
            self.remediator = Remediator(self.store, config.remediation, on_change=self.notifier.wake)
        try:
            self.server = IncidentServer(
                config.listen_address,
                config.listen_port,
                self.engine,
                self.notifier,
                config.basic_auth_users,
                self.remediator,
                config.tls_cert_file,
                config.tls_key_file,
            )
        except Exception:
            self.store.close()
            raise
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> None:
        self.notifier.start()
        if self.remediator:
            self.remediator.start()
        self.notifier.wake()  # resume summaries left unsent by a previous run
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.1,), name="incident-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.remediator:
            self.remediator.stop()
        self.notifier.stop()
        self.store.close()
