"""A small HTTP client with hard time bounds, for probes and the Ollama API."""

from __future__ import annotations

import http.client
import json
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

MAX_BODY = 4 * 1024 * 1024


class ProbeError(Exception):
    """A failed request; `kind` is a bounded label value."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def connect(base_url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(base_url)
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    return conn, parts.path.rstrip("/")


def get_json(base_url: str, path: str, timeout: float) -> Any:
    """GET a JSON document; the whole exchange is bounded by `timeout` seconds."""
    deadline = time.monotonic() + timeout
    conn, prefix = connect(base_url, timeout)
    try:
        try:
            conn.request("GET", prefix + path, headers={"Accept": "application/json"})
            resp = conn.getresponse()
            if resp.status != 200:
                raise ProbeError("http_error", f"GET {path}: HTTP {resp.status}")
            body = read_bounded(resp, deadline)
        except (TimeoutError, ConnectionError, OSError, http.client.HTTPException) as exc:
            if isinstance(exc, ProbeError):
                raise
            kind = "timeout" if isinstance(exc, TimeoutError) else "connection_error"
            raise ProbeError(kind, f"GET {path}: {exc or type(exc).__name__}") from None
    finally:
        conn.close()
    try:
        return json.loads(body)
    except ValueError:
        raise ProbeError("bad_response", f"GET {path}: not JSON") from None


def read_bounded(resp: http.client.HTTPResponse, deadline: float) -> bytes:
    chunks = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("deadline exceeded")
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY:
            raise ProbeError("bad_response", "response too large")
        chunks.append(chunk)
