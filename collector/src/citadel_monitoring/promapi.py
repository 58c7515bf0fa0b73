"""A small client for the Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`).

Works against anything that speaks that API (Prometheus, Thanos Query, Mimir, VictoriaMetrics).
HTTPS with a CA file, basic auth with the password read from a file, a timeout on every request,
and one exception type, `PromAPIError`, whose message says what failed (connection refused,
timeout, HTTP status with the server's error text, a body that is not the API's JSON) and whose
`kind` lets a caller count failures by cause. Standard library only (urllib), so it is cheap to
import and has no connection pool to leak.
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

USER_AGENT = "citadel-monitoring-promapi"


class PromAPIError(Exception):
    """A query failed. `kind`: connection, timeout, http, bad_response, query (the API's own error)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Series:
    """One series of a result: its labels (with `__name__` if any), timestamps (s) and values."""

    labels: dict[str, str]
    timestamps: np.ndarray
    values: np.ndarray


class PromClient:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        ca_file: str | Path | None = None,
        insecure_skip_verify: bool = False,
        username: str | None = None,
        password: str | None = None,
        password_file: str | Path | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"Prometheus URL must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._context: ssl.SSLContext | None = None
        if self.url.startswith("https://"):
            ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            if insecure_skip_verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._context = ctx
        self._auth: str | None = None
        if username is not None:
            if password is None and password_file is not None:
                password = Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode("ascii")
            self._auth = f"Basic {token}"

    def _post(self, path: str, params: dict[str, str]) -> Any:
        body = urllib.parse.urlencode(params).encode()
        req = urllib.request.Request(self.url + path, data=body, method="POST")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        req.add_header("Accept", "application/json")
        req.add_header("User-Agent", USER_AGENT)
        if self._auth:
            req.add_header("Authorization", self._auth)
        where = f"{self.url}{path}"
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._context) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = ""
            with contextlib.suppress(ValueError, AttributeError, OSError):
                detail = json.loads(exc.read().decode("utf-8", "replace")).get("error", "")
            raise PromAPIError(
                "http", f"{where}: HTTP {exc.code} {exc.reason}{': ' + detail if detail else ''}"
            ) from None
        except TimeoutError:
            raise PromAPIError("timeout", f"{where}: no answer within {self.timeout:g}s") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise PromAPIError("timeout", f"{where}: no answer within {self.timeout:g}s") from None
            raise PromAPIError("connection", f"{where}: {reason}") from None
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            raise PromAPIError("connection", f"{where}: {exc}") from None
        try:
            doc = json.loads(raw)
        except ValueError:
            raise PromAPIError("bad_response", f"{where}: the answer is not JSON ({raw[:80]!r})") from None
        if not isinstance(doc, dict) or "status" not in doc:
            raise PromAPIError("bad_response", f"{where}: the answer is not a Prometheus API response")
        if doc["status"] != "success":
            raise PromAPIError("query", f"{where}: {doc.get('errorType', 'error')}: {doc.get('error', '')}")
        data = doc.get("data")
        if not isinstance(data, dict) or "resultType" not in data or "result" not in data:
            raise PromAPIError("bad_response", f"{where}: no data.resultType/data.result in the answer")
        return data

    def query_range(self, query: str, start: float, end: float, step: float) -> list[Series]:
        """A range query; one `Series` per result series (points in time order, NaN kept)."""
        if not (step > 0 and end >= start):
            raise ValueError(f"need step > 0 and end >= start (start={start}, end={end}, step={step})")
        data = self._post(
            "/api/v1/query_range",
            {"query": query, "start": _fmt(start), "end": _fmt(end), "step": _fmt(step)},
        )
        if data["resultType"] != "matrix":
            raise PromAPIError("bad_response", f"query_range answered a {data['resultType']}, not a matrix")
        return [_series(item, "values") for item in data["result"]]

    def query(self, query: str, time: float | None = None) -> list[Series]:
        """An instant query; a vector result gives one one-point `Series` per element, a scalar one."""
        params = {"query": query}
        if time is not None:
            params["time"] = _fmt(time)
        data = self._post("/api/v1/query", params)
        kind, result = data["resultType"], data["result"]
        if kind == "vector":
            return [_series({"metric": r.get("metric", {}), "values": [r["value"]]}, "values") for r in result]
        if kind == "scalar":
            return [_series({"metric": {}, "values": [result]}, "values")]
        if kind == "matrix":
            return [_series(item, "values") for item in result]
        raise PromAPIError("bad_response", f"query answered a {kind}")


def _fmt(t: float) -> str:
    return repr(round(float(t), 3))


def _series(item: Any, key: str) -> Series:
    try:
        labels = {str(k): str(v) for k, v in item["metric"].items()}
        points = item.get(key) or []
        ts = np.fromiter((float(p[0]) for p in points), float, len(points))
        xs = np.fromiter((float(p[1]) for p in points), float, len(points))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise PromAPIError("bad_response", f"malformed series in the answer: {exc!r}") from None
    if len(ts) > 1 and not np.all(np.diff(ts) > 0):
        raise PromAPIError("bad_response", "series points are not in time order")
    return Series(labels, ts, xs)


def format_labels(labels: dict[str, str]) -> str:
    """A canonical selector-like string of a series' labels, `__name__` first: `up{job="x"}`."""
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}" if inner or not name else name


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
