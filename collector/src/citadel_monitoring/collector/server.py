"""The `/metrics` endpoint: joins cached source output, with optional TLS and basic auth.

Basic-auth passwords are checked against bcrypt hashes. bcrypt is slow on purpose (~0.2 s at
cost 12), so a credential that once matched is remembered as a salted SHA-256 digest and later
scrapes compare digests in constant time; a wrong password always pays the bcrypt price.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import socket
import ssl
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import bcrypt

from citadel_monitoring import __version__
from citadel_monitoring.collector.config import TlsConfig
from citadel_monitoring.collector.exposition import (
    CONTENT_TYPE,
    Family,
    MetricsCache,
    add_histogram,
    join_rendered,
    render_families,
)

log = logging.getLogger("citadel_monitoring.collector.http")

SCRAPE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25)


class BasicAuth:
    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = {u: h.encode() for u, h in users.items()}
        self._salt = os.urandom(16)
        self._verified: dict[str, bytes] = {}
        self._lock = threading.Lock()
        # one bcrypt check at a time: a flood of wrong passwords costs at most one core
        self._bcrypt_slot = threading.Lock()

    def _bcrypt(self, password: str, hashed: bytes) -> bool:
        with self._bcrypt_slot:
            try:
                return bcrypt.checkpw(password.encode(), hashed)
            except ValueError:  # e.g. a password over bcrypt's 72 bytes
                return False

    def check(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        hashed = self.users.get(user)
        if hashed is None:
            # the same bcrypt cost as for a known user, so timing does not tell which users exist
            self._bcrypt(password, next(iter(self.users.values())))
            return False
        digest = hashlib.sha256(self._salt + hashed + b"\0" + password.encode()).digest()
        with self._lock:
            known = self._verified.get(user)
        if known is not None and hmac.compare_digest(known, digest):
            return True
        ok = self._bcrypt(password, hashed)
        if ok:
            with self._lock:
                self._verified[user] = digest
        return ok


class Exposition:
    """Builds the `/metrics` body from the cache plus the collector's own series."""

    def __init__(self, cache: MetricsCache) -> None:
        self.cache = cache
        self._lock = threading.Lock()
        self._scrape_counts = [0] * (len(SCRAPE_BUCKETS) + 1)
        self._scrape_sum = 0.0

    def observe_scrape(self, seconds: float) -> None:
        index = 0
        while index < len(SCRAPE_BUCKETS) and seconds > SCRAPE_BUCKETS[index]:
            index += 1
        with self._lock:
            self._scrape_counts[index] += 1
            self._scrape_sum += seconds

    def render(self) -> bytes:
        now = time.monotonic()
        states = self.cache.snapshot()
        up = Family("citadel_collector_source_up", "gauge", "1 if the source's last collection succeeded.")
        errors = Family("citadel_collector_source_errors", "counter", "Failed collections of the source.")
        age = Family(
            "citadel_collector_source_data_age_seconds", "gauge", "Age of the source's cached data (last success)."
        )
        dur = Family(
            "citadel_collector_source_collect_duration_seconds", "gauge", "Duration of the source's last collection."
        )
        for s in states:
            labels = {"source": s.name}
            up.add(labels, 1 if s.up else 0)
            errors.add(labels, s.errors)
            dur.add(labels, s.last_duration)
            if s.last_success is not None:
                age.add(labels, now - s.last_success)
        info = Family("citadel_collector_build", "info", "The collector's version.").add({"version": __version__}, 1)
        scrape = Family(
            "citadel_collector_scrape_duration_seconds", "histogram", "Time to render /metrics (earlier scrapes)."
        )
        with self._lock:
            add_histogram(scrape, {}, SCRAPE_BUCKETS, list(self._scrape_counts), self._scrape_sum)
        own = render_families([info, up, errors, age, dur, scrape])
        return join_rendered([own, *(s.rendered for s in states)]).encode("utf-8")


def make_handler(exposition: Exposition, auth: BasicAuth | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"citadel-collector/{__version__}"
        protocol_version = "HTTP/1.1"
        timeout = 30  # seconds a connection may idle: a slow client cannot hold a thread forever
        disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stalls on kept-alive connections
        wbufsize = 65536  # headers and the start of the body leave in one segment

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="citadel-collector"')
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            if auth is not None and not auth.check(self.headers.get("Authorization")):
                self._send(401, b"Unauthorized\n")
                return
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                started = time.perf_counter()
                body = exposition.render()
                exposition.observe_scrape(time.perf_counter() - started)
                self._send(200, body, CONTENT_TYPE)
            elif path in ("/-/healthy", "/healthz"):
                self._send(200, b"OK\n")
            elif path == "/":
                self._send(200, b'<html><body><a href="/metrics">/metrics</a></body></html>\n', "text/html")
            else:
                self._send(404, b"Not Found\n")

        do_HEAD = do_GET

    return Handler


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        address: str,
        port: int,
        exposition: Exposition,
        users: Mapping[str, str] | None = None,
        tls: TlsConfig | None = None,
    ) -> None:
        auth = BasicAuth(users) if users else None
        if ":" in address:
            self.address_family = socket.AF_INET6
        super().__init__((address, port), make_handler(exposition, auth))
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
            if tls.client_ca_file is not None:
                context.load_verify_locations(cafile=str(tls.client_ca_file))
                context.verify_mode = ssl.CERT_REQUIRED
            # the handshake runs in the connection's thread, never in the accept loop
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that breaks off or speaks plain HTTP to TLS is not worth a traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            log.debug("connection from %s: %s", client_address, exc)
        else:
            log.warning("error serving %s", client_address, exc_info=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])
