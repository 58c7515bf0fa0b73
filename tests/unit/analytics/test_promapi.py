"""The Prometheus API client against a real Prometheus (2.42, backfilled) and a fake one for faults."""

from __future__ import annotations

import base64
import math
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from citadel_monitoring.promapi import PromAPIError, PromClient, format_labels
from tests.unit.analytics.test_service_support import (
    GAP,
    STEP,
    T_END,
    T_START,
    FakePrometheus,
    RealPrometheus,
    closed_port_url,
    fake_prometheus_fixture,
    load,
    real_prometheus_fixture,
)


@pytest.fixture(scope="module")
def real_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealPrometheus]:
    yield from real_prometheus_fixture(tmp_path_factory)


@pytest.fixture
def fake_prometheus() -> Iterator[FakePrometheus]:
    yield from fake_prometheus_fixture()


def test_query_range_returns_the_backfilled_points(real_prometheus):
    client = PromClient(real_prometheus.url, timeout=10)
    start, end = T_START + 3600, T_START + 7200
    res = client.query_range('demo_load{host="a"}', start, end, STEP)
    assert len(res) == 1
    s = res[0]
    assert s.labels == {"__name__": "demo_load", "host": "a"}
    assert s.timestamps[0] == start and s.timestamps[-1] == end
    assert np.all(np.diff(s.timestamps) == STEP)
    assert s.values[10] == pytest.approx(load("a", int(s.timestamps[10])))


def test_query_range_many_series_and_a_gap(real_prometheus):
    client = PromClient(real_prometheus.url, timeout=10)
    res = client.query_range("demo_load", T_START, T_START + 600, STEP)
    assert sorted(s.labels["host"] for s in res) == ["a", "b"]
    gap = client.query_range("demo_gap", GAP[0] - 600, GAP[1] + 600, STEP)[0]
    # the lookback (5 minutes) carries the last sample into the gap, then nothing until it ends
    missing = set(range(GAP[0] - 600, GAP[1] + 601, STEP)) - set(gap.timestamps.astype(int).tolist())
    assert missing and min(missing) >= GAP[0] + 300 and max(missing) < GAP[1]


def test_instant_query_vector_and_scalar(real_prometheus):
    client = PromClient(real_prometheus.url, timeout=10)
    vec = client.query("demo_load", T_END)
    assert len(vec) == 2 and all(len(s.values) == 1 for s in vec)
    scalar = client.query("1 + 1", T_END)
    assert scalar[0].values[0] == 2.0


def test_bad_promql_is_a_query_error_with_the_servers_message(real_prometheus):
    client = PromClient(real_prometheus.url, timeout=10)
    with pytest.raises(PromAPIError) as err:
        client.query_range("demo_load{", T_START, T_START + 60, STEP)
    assert err.value.kind == "http" and "400" in str(err.value) and "parse error" in str(err.value)


def test_connection_refused():
    client = PromClient(closed_port_url(), timeout=2)
    with pytest.raises(PromAPIError) as err:
        client.query("up")
    assert err.value.kind == "connection"


def test_timeout_is_bounded(fake_prometheus: FakePrometheus):
    fake_prometheus.mode, fake_prometheus.delay = "slow", 2.0
    client = PromClient(fake_prometheus.url, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(PromAPIError) as err:
        client.query_range("up", 0, 60, 60)
    assert err.value.kind == "timeout" and time.monotonic() - started < 1.5


@pytest.mark.parametrize(("mode", "kind"), [("garbage", "bad_response"), ("notapi", "bad_response")])
def test_garbage_answers(fake_prometheus: FakePrometheus, mode, kind):
    fake_prometheus.mode = mode
    with pytest.raises(PromAPIError) as err:
        PromClient(fake_prometheus.url, timeout=2).query("up")
    assert err.value.kind == kind


def test_malformed_series_and_wrong_result_type(fake_prometheus: FakePrometheus):
    client = PromClient(fake_prometheus.url, timeout=2)
    fake_prometheus.answer = {"status": "success", "data": {"resultType": "vector", "result": []}}
    with pytest.raises(PromAPIError, match="not a matrix"):
        client.query_range("up", 0, 60, 60)
    fake_prometheus.answer = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "x"]]}]},
    }
    with pytest.raises(PromAPIError) as err:
        client.query_range("up", 0, 60, 60)
    assert err.value.kind == "bad_response"


def test_special_values_and_api_error_status(fake_prometheus: FakePrometheus):
    client = PromClient(fake_prometheus.url, timeout=2)
    fake_prometheus.answer = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {"a": "1"}, "values": [[1, "NaN"], [2, "+Inf"]]}]},
    }
    s = client.query_range("up", 0, 60, 60)[0]
    assert math.isnan(s.values[0]) and s.values[1] == math.inf
    fake_prometheus.answer = {"status": "error", "errorType": "timeout", "error": "query timed out"}
    with pytest.raises(PromAPIError) as err:
        client.query("up")
    assert err.value.kind == "query" and "query timed out" in str(err.value)


def test_basic_auth_from_a_password_file_and_form_body(fake_prometheus: FakePrometheus, tmp_path: Path):
    pw = tmp_path / "password"
    pw.write_text("s3cret\n")
    client = PromClient(fake_prometheus.url, timeout=2, username="analytics", password_file=pw)
    client.query_range('up{job="x y"}', 10, 70, 60)
    path, headers, body = fake_prometheus.requests[-1]
    assert path == "/api/v1/query_range"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"analytics:s3cret").decode()
    form = urllib.parse.parse_qs(body)
    assert form == {"query": ['up{job="x y"}'], "start": ["10.0"], "end": ["70.0"], "step": ["60.0"]}


def test_https_with_a_ca_file(tmp_path: Path):
    """A TLS server with a self-signed certificate: trusted with its CA file, refused without."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)),
            *("-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b'{"status":"success","data":{"resultType":"scalar","result":[1,"5"]}}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        assert PromClient(url, timeout=5, ca_file=cert).query("5")[0].values[0] == 5.0
        with pytest.raises(PromAPIError) as err:
            PromClient(url, timeout=5).query("5")
        assert err.value.kind == "connection" and "CERTIFICATE" in str(err.value).upper()
    finally:
        server.shutdown()
        server.server_close()


def test_format_labels_is_canonical():
    assert format_labels({"b": "2", "__name__": "m", "a": 'x"y'}) == 'm{a="x\\"y",b="2"}'
    assert format_labels({}) == "{}"
    assert format_labels({"__name__": "up"}) == "up"
