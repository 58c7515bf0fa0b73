"""The running collector: `/metrics` from cached sources, failure isolation, auth and TLS."""

from __future__ import annotations

import base64
import http.client
import shutil
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

import bcrypt
import pytest

from citadel_monitoring.collector.config import parse_config
from citadel_monitoring.collector.exposition import Family
from citadel_monitoring.collector.server import BasicAuth
from citadel_monitoring.collector.service import Collector
from citadel_monitoring.collector.sources.base import Source, SourceRunner
from citadel_monitoring.simulator.fake_nvml import FakeNvml

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def wait_for(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def scrape(url, headers=None, context=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5, context=context) as resp:
        return resp.status, resp.read().decode()


@pytest.fixture
def collector(tmp_path, sim):
    started = []

    def start(extra=None, nvml=None):
        log = tmp_path / "access.log"
        log.write_text('{"tenant":"acme","model":"m","status":200,"duration_seconds":0.2}\nnot json\n')
        doc = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "sources": {
                "nvml": {"interval_seconds": 0.05, "slow_interval_seconds": 0.05, "xid_events": False},
                "probes": [
                    {
                        "name": "sim",
                        "base_url": f"http://127.0.0.1:{sim.port}",
                        "model": "sim-model",
                        "engine": "vllm",
                        "max_tokens": 4,
                        "interval_seconds": 30,
                    }
                ],
                "access_logs": [{"name": "gw", "path": str(log), "poll_interval_seconds": 0.05}],
                "cost": {"currency": "USD", "gpu_hourly_cost": 2.0},
            },
            **(extra or {}),
        }
        c = Collector(parse_config(doc), nvml_module=nvml or FakeNvml(2))
        c.start()
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()


def ready(c, n):
    return lambda: sum(1 for s in c.cache.snapshot() if s.last_success is not None) >= n


def test_metrics_are_clean_for_promtool(collector):
    c = collector()
    wait_for(ready(c, 5))
    status, body = scrape(f"http://127.0.0.1:{c.port}/metrics")
    assert status == 200
    for name in (
        "citadel_gpu_power_watts",
        "citadel_probe_time_to_first_token_seconds",
        "citadel_gateway_requests_total",
        "citadel_cost_info",
        "citadel_collector_scrape_duration_seconds",
    ):
        assert f"\n{name}" in body, name
    assert 'citadel_collector_log_lines_rejected_total{source="log:gw"} 1.0' in body
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_failing_source_is_reported_and_does_not_break_the_others(collector):
    nvml = FakeNvml(1)
    nvml.init_error = nvml.NVMLError(9)
    c = collector(nvml=nvml)
    wait_for(lambda: any(s.name == "nvml" and s.errors for s in c.cache.snapshot()))
    wait_for(ready(c, 3))
    _, body = scrape(f"http://127.0.0.1:{c.port}/metrics")
    assert 'citadel_collector_source_up{source="nvml"} 0.0' in body
    assert 'citadel_collector_source_up{source="cost"} 1.0' in body
    assert "citadel_gateway_requests_total{" in body


class Exploding(Source):
    name = "boom"
    interval = 0.01

    def collect(self) -> list[Family]:
        raise RuntimeError("kaput")


class Slow(Source):
    name = "slow"
    interval = 60.0

    def __init__(self) -> None:
        self.release = threading.Event()

    def collect(self) -> list[Family]:
        self.release.wait(5)
        return [Family("citadel_slow", "gauge", "h").add({}, 1)]


def test_a_slow_source_never_slows_the_scrape(collector):
    c = collector()
    slow = Slow()
    runner = SourceRunner(slow, c.cache, c.stop_event)
    runner.start()
    runner2 = SourceRunner(Exploding(), c.cache, c.stop_event)
    runner2.start()
    started = time.monotonic()
    _, body = scrape(f"http://127.0.0.1:{c.port}/metrics")
    assert time.monotonic() - started < 0.5
    assert 'citadel_collector_source_up{source="slow"} 0.0' in body  # no data yet
    wait_for(lambda: any(s.name == "boom" and s.errors > 2 for s in c.cache.snapshot()))
    slow.release.set()
    wait_for(lambda: any(s.name == "slow" and s.up for s in c.cache.snapshot()))
    _, body = scrape(f"http://127.0.0.1:{c.port}/metrics")
    assert "citadel_slow 1.0" in body
    assert 'citadel_collector_source_up{source="boom"} 0.0' in body


def test_basic_auth(collector):
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    c = collector({"basic_auth": {"users": {"prometheus": hashed}}})
    url = f"http://127.0.0.1:{c.port}/metrics"
    with pytest.raises(urllib.error.HTTPError) as denied:
        scrape(url)
    assert denied.value.code == 401
    for password in ("wrong", ""):
        token = base64.b64encode(f"prometheus:{password}".encode()).decode()
        with pytest.raises(urllib.error.HTTPError):
            scrape(url, {"Authorization": f"Basic {token}"})
    token = base64.b64encode(b"prometheus:s3cret").decode()
    for _ in range(2):  # the second check is served from the verified-credential cache
        assert scrape(url, {"Authorization": f"Basic {token}"})[0] == 200


def test_basic_auth_rejects_unknown_users_and_junk():
    auth = BasicAuth({"p": bcrypt.hashpw(b"x", bcrypt.gensalt(rounds=4)).decode()})
    assert not auth.check(None)
    assert not auth.check("Basic !!!")
    assert not auth.check("Basic " + base64.b64encode(b"q:x").decode())
    assert not auth.check("Basic " + base64.b64encode(b"p:" + b"y" * 100).decode())  # over bcrypt's 72 bytes
    assert not auth.check("Basic " + base64.b64encode(b"q:" + b"y" * 100).decode())
    assert auth.check("Basic " + base64.b64encode(b"p:x").decode())


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl to make a test certificate")
def test_tls(collector, tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            key,
            "-out",
            cert,
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    c = collector({"tls": {"cert_file": str(cert), "key_file": str(key)}})
    context = ssl.create_default_context(cafile=str(cert))
    status, body = scrape(f"https://127.0.0.1:{c.port}/metrics", context=context)
    assert status == 200 and "citadel_collector_source_up" in body
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):  # no plain HTTP
        scrape(f"http://127.0.0.1:{c.port}/metrics")
