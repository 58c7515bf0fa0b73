"""The HTTP side: Alertmanager's webhook in, the incidents out, behind basic auth (optionally TLS).

    POST /alerts            Alertmanager webhook payload -> {"incidents": [changed ids]}
    GET  /incidents         the last 100 incidents (?status=firing|resolved)
    GET  /incidents/<id>    one incident, as the summary sent to the channel
    GET  /metrics           counts in the Prometheus text format
    GET  /healthz           "ok" (no authentication)

Passwords are checked against bcrypt hashes; a verified password is remembered as a salted
digest so repeated requests do not pay bcrypt again, and unknown users pay the same bcrypt cost.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from citadel_monitoring.collector.server import BasicAuth  # the same bcrypt check and cache
from citadel_monitoring.incidents.engine import IncidentEngine, PayloadError, incident_summary
from citadel_monitoring.incidents.notify import Notifier
from citadel_monitoring.incidents.remediation import Remediator
from citadel_monitoring.incidents.store import Store

log = logging.getLogger("citadel_monitoring.incidents")
MAX_BODY = 4 * 1024 * 1024


def _metrics(store: Store, notifier: Notifier) -> bytes:
    counts = store.counts()
    lines = [
        "# HELP citadel_incidents Incidents in the store, by status.",
        "# TYPE citadel_incidents gauge",
        *(f'citadel_incidents{{status="{s}"}} {counts.get(s, 0)}' for s in ("firing", "resolved")),
        "# HELP citadel_incidents_unsent Incidents with a change not yet delivered to the channel.",
        "# TYPE citadel_incidents_unsent gauge",
        f"citadel_incidents_unsent {counts.get('unsent', 0)}",
        "# HELP citadel_incidents_notifications_total Summaries POSTed to the channel, by result.",
        "# TYPE citadel_incidents_notifications_total counter",
        f'citadel_incidents_notifications_total{{result="sent"}} {notifier.sent}',
        f'citadel_incidents_notifications_total{{result="failed"}} {notifier.failed}',
    ]
    return ("\n".join(lines) + "\n").encode()


def make_handler(
    engine: IncidentEngine, notifier: Notifier, auth: BasicAuth, remediator: Remediator | None = None
) -> type[BaseHTTPRequestHandler]:
    store = engine.store

    class Handler(BaseHTTPRequestHandler):
        server_version = "citadel-incidents"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), format % args)

        def _send(self, status: int, doc: Any, content_type: str = "application/json") -> None:
            body = doc if isinstance(doc, bytes) else (json.dumps(doc, indent=1) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="citadel-incidents"')
            self.end_headers()
            self.wfile.write(body)

        def _authorized(self) -> bool:
            if auth.check(self.headers.get("Authorization")):
                return True
            self._send(401, {"error": "unauthorized"})
            return False

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == "/healthz":
                self._send(200, b"ok\n", "text/plain; charset=utf-8")
                return
            if not self._authorized():
                return
            if path == "/metrics":
                self._send(200, _metrics(store, notifier), "text/plain; version=0.0.4; charset=utf-8")
            elif path == "/incidents":
                status = dict(p.partition("=")[::2] for p in query.split("&") if p).get("status") or None
                self._send(200, {"incidents": [incident_summary(i)["incident"] for i in store.list(status)]})
            elif m := re.fullmatch(r"/incidents/([0-9]{1,12})", path):
                inc = store.get(int(m.group(1)))
                if inc is None:
                    self._send(404, {"error": "no such incident"})
                else:
                    self._send(200, incident_summary(inc)["incident"])
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            if not self._authorized():
                return
            if self.path.partition("?")[0] != "/alerts":
                self._send(404, {"error": "not found"})
                return
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self._send(411, {"error": "Content-Length required"})
                return
            if length > MAX_BODY or length < 0:
                self._send(413, {"error": f"body over {MAX_BODY} bytes"})
                self.close_connection = True
                return
            try:
                doc = json.loads(self.rfile.read(length))
                changed, fired = engine.ingest_detailed(doc)
            except (ValueError, PayloadError) as exc:
                self._send(400, {"error": str(exc)})
                return
            if changed:
                notifier.wake()
            if remediator and fired:
                remediator.submit(fired)
            self._send(200, {"incidents": changed})

    return Handler


class IncidentServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: str,
        port: int,
        engine: IncidentEngine,
        notifier: Notifier,
        users: Mapping[str, str],
        remediator: Remediator | None = None,
        tls_cert_file: str | None = None,
        tls_key_file: str | None = None,
    ) -> None:
        super().__init__((address, port), make_handler(engine, notifier, BasicAuth(users), remediator))
        if tls_cert_file and tls_key_file:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(tls_cert_file, tls_key_file)
            self.socket = context.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request: object, client_address: object) -> None:
        log.warning("request from %s failed", client_address, exc_info=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])
