"""Fixtures for the incident receiver: a notification sink, a fake Prometheus, the app on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import bcrypt
import pytest

from citadel_monitoring.incidents.app import IncidentApp
from citadel_monitoring.incidents.config import parse_config

PASSWORD = "correct horse"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


class Sink:
    """A webhook channel on 127.0.0.1 that records every POST; `fail` answers 503 that many times."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail = 0
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink.lock:
                    if sink.fail > 0:
                        sink.fail -= 1
                        self.send_response(503)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    sink.received.append(json.loads(body))
                    sink.headers.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/incident"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        with self.lock:
            raise AssertionError(f"expected {count} notifications, got {len(self.received)}: {self.received}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.close()


@pytest.fixture
def fake_prometheus() -> Iterator[Callable[[dict[str, Any]], str]]:
    """Start a server answering /api/v1/query with the given `data`; records the queries."""
    servers: list[ThreadingHTTPServer] = []

    def start(data: dict[str, Any], queries: list[str] | None = None) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                if queries is not None:
                    queries.append(urllib.parse.parse_qs(body)["query"][0])
                out = json.dumps({"status": "success", "data": data}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def make_config(tmp_path, sink_url: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "listen": {"address": "127.0.0.1", "port": 0},
        "basic_auth_users": {"alertmanager": HASH},
        "database": str(tmp_path / "incidents.db"),
        "notify": {"url": sink_url, "timeout_seconds": 2, "max_backoff_seconds": 0.2},
        "grouping": {"window_seconds": 600, "topology": {"model1": {"models": ["llama"]}}},
    }
    doc.update(extra)
    return doc


@pytest.fixture
def start_app(tmp_path) -> Iterator[Callable[..., IncidentApp]]:
    apps: list[IncidentApp] = []

    def start(doc: dict[str, Any]) -> IncidentApp:
        app = IncidentApp(parse_config(doc), poll_seconds=0.05)
        app.start()
        apps.append(app)
        return app

    yield start
    for app in apps:
        if app.server.socket.fileno() != -1:
            app.stop()


def request(
    app: IncidentApp,
    method: str,
    path: str,
    doc: Any = None,
    user: str | None = "alertmanager",
    password: str = PASSWORD,
    scheme: str = "http",
    context: Any = None,
) -> tuple[int, Any]:
    data = json.dumps(doc).encode() if doc is not None else None
    req = urllib.request.Request(f"{scheme}://127.0.0.1:{app.port}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if user is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            body = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        body = exc.read()
        status = exc.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


def alert(name: str, status: str = "firing", fp: str | None = None, **labels: str) -> dict[str, Any]:
    all_labels = {"alertname": name, **labels}
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": f"{name} summary"},
        "startsAt": "2026-11-27T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-27T10:30:00Z",
        "fingerprint": fp or f"{name}-{'-'.join(f'{k}={v}' for k, v in sorted(labels.items()))}",
    }


def payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    """An Alertmanager webhook payload (version 4)."""
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="x"}',
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "incident-receiver",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": list(alerts),
    }
