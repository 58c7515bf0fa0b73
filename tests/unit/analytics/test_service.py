"""The analytics service: backfill and scoring against a real Prometheus, restarts, faults, limits."""

from __future__ import annotations

import base64
import json
import logging
import math
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from citadel_monitoring.analytics.config import parse_config
from citadel_monitoring.analytics.service import AnalyticsService, SeriesModel, state_file, write_atomic
from citadel_monitoring.collector.server import MetricsServer
from citadel_monitoring.promapi import PromClient
from tests.unit.analytics.test_service_support import (
    SPIKE_AT,
    T_END,
    FakePrometheus,
    RealPrometheus,
    closed_port_url,
    fake_prometheus_fixture,
    free_port,
    real_prometheus_fixture,
)


@pytest.fixture(scope="module")
def real_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealPrometheus]:
    yield from real_prometheus_fixture(tmp_path_factory)


@pytest.fixture
def fake_prometheus() -> Iterator[FakePrometheus]:
    yield from fake_prometheus_fixture()


HASH_CHANGE_ME = "$2b$04$cL5PCTuatH91h0ZGuU.N/eUMbUcNFQ8zrQueTqDvi5M3iYD3MDknG"  # "change-me", cost 4


def cfg(url: str, state_dir: Path, **extra) -> dict:
    data = {
        "prometheus": {"url": url, "timeout": "5s"},
        "state_dir": str(state_dir),
        "cycle": {"interval": "1m", "lag": "0s", "stale_after": "5m", "forecast_refits_per_cycle": 10},
        "defaults": {
            "step": "1m",
            "history": "2d",
            "detector": {"memory": "1d", "history": "1d", "season_days": 1},
            "forecast": {"step": "15m", "horizons": ["1h", "6h"]},
        },
        "watch": [
            {"name": "load", "query": "demo_load"},
            {"name": "gap", "query": "demo_gap"},
            {"name": "requests", "query": "demo_requests_total", "counter": True},
            {"name": "capacity", "query": 'demo_load{host="a"}', "capacity": {"limit": 100, "window": "6h"}},
        ],
    }
    data.update(extra)
    return data


def metric(body: str, name: str, **labels: str) -> list[float]:
    """Values of the samples of `name` whose labels include `labels`."""
    out = []
    for line in body.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, value = line.rsplit(" ", 1)
        if all(f'{k}="{v.replace(chr(34), chr(92) + chr(34))}"' in head for k, v in labels.items()):
            out.append(float(value))
    return out


def service(url: str, state_dir: Path, **extra) -> AnalyticsService:
    return AnalyticsService(parse_config(cfg(url, state_dir, **extra)))


def test_backfill_scores_an_injected_spike_and_exports_everything(real_prometheus, tmp_path: Path):
    svc = service(real_prometheus.url, tmp_path)
    assert svc.run_cycle(now=SPIKE_AT + 300) is True
    body = svc.render().decode()
    score_b = metric(body, "citadel_analytics_anomaly_score", watch="load", series='demo_load{host="b"}')
    score_a = metric(body, "citadel_analytics_anomaly_score", watch="load", series='demo_load{host="a"}')
    assert score_b[0] > 0.5 > score_a[0]
    onset_b = metric(body, "citadel_analytics_anomaly_onset_score", watch="load", series='demo_load{host="b"}')
    assert onset_b[0] > 0.5
    # expected value and band around host a's newest point
    a = 'demo_load{host="a"}'
    exp = metric(body, "citadel_analytics_expected", watch="load", series=a)[0]
    lo = metric(body, "citadel_analytics_lower", watch="load", series=a)[0]
    hi = metric(body, "citadel_analytics_upper", watch="load", series=a)[0]
    assert lo < exp < hi and 6 < exp < 14
    assert len(metric(body, "citadel_analytics_forecast", watch="load", horizon="6h")) == 2
    assert metric(body, "citadel_analytics_time_to_exhaustion_seconds", watch="capacity") != []
    assert metric(body, "citadel_analytics_capacity_limit", watch="capacity") == [100.0]
    assert metric(body, "citadel_analytics_series_stale") == [0.0] * 5
    assert metric(body, "citadel_analytics_series_analysed") == [5.0]
    assert metric(body, "citadel_analytics_anomaly_threshold", watch="load") == [0.5, 0.5]
    assert "citadel_analytics_last_success_timestamp_seconds" in body
    # the next cycles: the spike is over; only the new minutes are fetched
    assert svc.run_cycle(now=T_END + 60) is True
    body = svc.render().decode()
    assert metric(body, "citadel_analytics_anomaly_score", watch="load", series='demo_load{host="b"}')[0] < 0.5


def test_counter_resets_and_gaps(real_prometheus, tmp_path: Path):
    svc = service(real_prometheus.url, tmp_path)
    svc.run_cycle(now=T_END)
    req = next(m for m in svc.models.values() if m.watch.name == "requests")
    # the counter grows 120 a minute and restarts from 0 once: the rate fed is 2/s, never negative
    assert req.last_value == pytest.approx(2.0)
    assert req.forecasts[3600][0] == pytest.approx(2.0, abs=0.2)
    gap = next(m for m in svc.models.values() if m.watch.name == "gap")
    load = next(m for m in svc.models.values() if m.series == 'demo_load{host="a"}')
    # the gap is filled: both series have the same number of points in their forecast history
    assert len(gap.f_x) == len(load.f_x)
    assert gap.detector.to_state()["members"][0]["novelty"]["window"][-1] == pytest.approx(load.last_value)


def test_series_model_gap_fill_counter_reset_and_nan():
    w = parse_config(cfg("http://x", Path("/tmp")))
    counter = next(x for x in w.watches if x.name == "requests")
    m = SeriesModel(counter, {"__name__": "c"})
    ts = [0, 60, 120, 180, 240, 420, 480]  # a 3-minute gap between 240 and 420
    raw = [0, 60, 120, 30, 90, 270, 330]  # a reset at 180 (120 -> 30)
    assert m.feed(ts, raw) == 6  # the first point of a counter gives no rate
    assert m.last_value == pytest.approx(1.0)
    window = m.detector.to_state()["members"][0]["novelty"]["window"]
    assert window == pytest.approx([1, 1, 0.5, 1, 1, 1, 1, 1])  # reset: 30 over 60 s; gap filled (2 points)
    gauge = next(x for x in w.watches if x.name == "load")
    g = SeriesModel(gauge, {})
    assert g.feed([0, 60, 120], [1.0, float("nan"), 3.0]) == 2
    assert g.detector.to_state()["members"][0]["novelty"]["window"] == [1.0, 2.0, 3.0]
    assert g.feed([60, 120], [5.0, 5.0]) == 0  # nothing new


def test_restart_resumes_exactly_and_fetches_only_what_is_new(real_prometheus, tmp_path: Path):
    t1, t2 = T_END - 3 * 3600, T_END + 60
    continuous = service(real_prometheus.url, tmp_path / "a")
    continuous.run_cycle(now=t1)
    continuous.run_cycle(now=t2)

    first = service(real_prometheus.url, tmp_path / "b")
    first.run_cycle(now=t1)
    assert first.save_state() > 0
    assert not list((tmp_path / "b" / "series").glob(".*tmp"))
    resumed = service(real_prometheus.url, tmp_path / "b")
    assert resumed.load_state() == len(first.models) == 5
    calls: list[tuple[float, float]] = []
    real_query_range = resumed.client.query_range

    def recording(query: str, start: float, end: float, step: float):
        calls.append((start, end))
        return real_query_range(query, start, end, step)

    resumed.client.query_range = recording  # type: ignore[method-assign]
    resumed.run_cycle(now=t2)
    assert min(start for start, _ in calls) >= t1 - 120  # catch-up only, no 2-day history
    for key, m in continuous.models.items():
        r = resumed.models[key]
        assert json.dumps(r.detector.to_state()) == json.dumps(m.detector.to_state()), key
        assert r.last_t == m.last_t


def test_changed_settings_or_corrupt_state_relearn(real_prometheus, tmp_path: Path, caplog):
    svc = service(real_prometheus.url, tmp_path)
    svc.run_cycle(now=T_END)
    svc.save_state()
    key = next(iter(svc.models))
    state_file(tmp_path, key).write_text("{not json")
    other = cfg(real_prometheus.url, tmp_path)
    other["watch"][1]["step"] = "5m"  # the gap watch's settings changed
    resumed = AnalyticsService(parse_config(other))
    with caplog.at_level(logging.WARNING):
        n = resumed.load_state()
    assert n == 3
    assert "unreadable" in caplog.text and "saved with other settings of watch gap" in caplog.text


def test_prometheus_down_marks_results_stale_and_does_not_crash(real_prometheus, tmp_path: Path):
    svc = service(real_prometheus.url, tmp_path)
    assert svc.run_cycle(now=T_END) is True
    svc.client = PromClient(closed_port_url(), timeout=1)
    assert svc.run_cycle(now=T_END + 60) is False
    body = svc.render().decode()
    assert metric(body, "citadel_analytics_series_stale") == [1.0] * 5
    assert metric(body, "citadel_analytics_anomaly_score") == []  # not silently reused
    assert metric(body, "citadel_analytics_expected") == [] and metric(body, "citadel_analytics_forecast") == []
    assert metric(body, "citadel_analytics_query_errors_total", watch="load", kind="connection") == [1.0]
    assert metric(body, "citadel_analytics_watch_up", watch="load") == [0.0]
    assert metric(body, "citadel_analytics_last_success_timestamp_seconds") == [T_END]
    # Prometheus back: fresh again, and the missed minute is fetched
    svc.client = PromClient(real_prometheus.url, timeout=5)
    assert svc.run_cycle(now=T_END + 120) is True
    assert metric(svc.render().decode(), "citadel_analytics_series_stale") == [0.0] * 5


def test_a_series_without_new_points_goes_stale(real_prometheus, tmp_path: Path):
    svc = service(real_prometheus.url, tmp_path)
    svc.run_cycle(now=T_END)
    svc.run_cycle(now=T_END + 3600)  # the data ends at T_END: no new points for an hour
    body = svc.render().decode()
    assert metric(body, "citadel_analytics_series_stale") == [1.0] * 5
    assert metric(body, "citadel_analytics_watch_up", watch="load") == [1.0]


@pytest.mark.parametrize(("mode", "kind"), [("garbage", "bad_response"), ("error", "http"), ("slow", "timeout")])
def test_bad_answers_are_counted_by_cause(fake_prometheus: FakePrometheus, tmp_path: Path, mode, kind):
    fake_prometheus.mode, fake_prometheus.delay = mode, 1.0
    data = cfg(fake_prometheus.url, tmp_path)
    data["prometheus"]["timeout"] = "200ms"
    svc = AnalyticsService(parse_config(data))
    started = time.monotonic()
    assert svc.run_cycle(now=T_END) is False
    assert time.monotonic() - started < 4
    body = svc.render().decode()
    assert metric(body, "citadel_analytics_query_errors_total", watch="load", kind=kind) == [1.0]


def test_backoff_is_exponential_and_bounded(tmp_path: Path):
    data = cfg(closed_port_url(), tmp_path)
    data["cycle"].update({"interval": "10s", "max_backoff": "1m"})
    svc = AnalyticsService(parse_config(data))

    class Stop:
        def __init__(self) -> None:
            self.waits: list[float] = []

        def is_set(self) -> bool:
            return False

        def wait(self, seconds: float) -> bool:
            self.waits.append(seconds)
            return False

    stop = Stop()
    svc.run(stop, max_cycles=4)  # type: ignore[arg-type]
    assert stop.waits == [20, 40, 60, 60]
    assert "citadel_analytics_backoff_seconds 60.0" in svc.render().decode()


def test_series_cap_is_logged_and_bounded(fake_prometheus: FakePrometheus, tmp_path: Path, caplog):
    result = [
        {"metric": {"__name__": "m", "i": str(i)}, "values": [[T_END - 120 + 60 * k, str(i + k)] for k in range(3)]}
        for i in range(5)
    ]
    fake_prometheus.answer = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    data = cfg(fake_prometheus.url, tmp_path, limits={"max_series": 3})
    data["watch"] = [{"name": "m", "query": "m"}]
    svc = AnalyticsService(parse_config(data))
    with caplog.at_level(logging.WARNING):
        assert svc.run_cycle(now=T_END + 60) is True
    assert len(svc.models) == 3
    assert "series cap reached (limits.max_series=3): 2 series of watch m are not analysed" in caplog.text
    body = svc.render().decode()
    assert metric(body, "citadel_analytics_series_dropped", watch="m") == [2.0]
    assert metric(body, "citadel_analytics_series_tracked") == [3.0]


def test_write_atomic_replaces_whole_files(tmp_path: Path):
    path = tmp_path / "s.json"
    write_atomic(path, b"one")
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two" and [x.name for x in tmp_path.iterdir()] == ["s.json"]


def test_metrics_endpoint_with_basic_auth(real_prometheus, tmp_path: Path):
    svc = service(real_prometheus.url, tmp_path)
    svc.run_cycle(now=T_END)
    server = MetricsServer("127.0.0.1", 0, svc, {"prometheus": HASH_CHANGE_ME})  # type: ignore[arg-type]
    import threading

    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url, timeout=5)
        assert err.value.code == 401
        req = urllib.request.Request(url)
        req.add_header("Authorization", "Basic " + base64.b64encode(b"prometheus:change-me").decode())
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = resp.read().decode()
        assert "citadel_analytics_anomaly_score{" in body and "# TYPE citadel_analytics_series_stale gauge" in body
    finally:
        server.shutdown()
        server.server_close()


def test_serve_command_runs_saves_state_and_stops_on_sigterm(real_prometheus, tmp_path: Path):
    port = free_port()
    data = cfg(real_prometheus.url, tmp_path / "state", listen={"address": "127.0.0.1", "port": port})
    data["cycle"]["interval"] = "1s"
    data["watch"] = [{"name": "up", "query": "vector(1)"}]  # now-relative: the backfilled data is in the past
    conf = tmp_path / "analytics.yml"
    conf.write_text(yaml.safe_dump(data))
    proc = subprocess.Popen(
        [sys.executable, "-m", "citadel_monitoring.analytics.cli", "serve", "--config", str(conf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        body = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                    body = resp.read().decode()
                if 'citadel_analytics_anomaly_score{watch="up",series="{}"}' in body:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert 'citadel_analytics_watch_up{watch="up"} 1.0' in body, body[-2000:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    assert len(list((tmp_path / "state" / "series").glob("*.json"))) == 1
    out = proc.stdout.read().decode() if proc.stdout else ""
    assert "listening on 127.0.0.1" in out and math.isfinite(float(len(out)))


def test_forecast_matches_the_forecaster():
    """The service's few-horizon forecast equals the forecaster's own at those horizons."""
    from citadel_monitoring.analytics.forecast import make_forecaster
    from citadel_monitoring.analytics.service import forecast_at

    rng = np.random.default_rng(1)
    for n in (672, 150, 40):
        t = np.arange(n) * 900.0
        x = 10 + 3 * np.sin(2 * np.pi * np.arange(n) / 96) + rng.normal(0, 0.3, n) + 0.01 * np.arange(n)
        f = make_forecaster(900)
        f.fit(t, x, horizon=96)
        fc = f.forecast(96)
        got = forecast_at(f, [1, 4, 96])
        want = [(fc.yhat[s - 1], fc.lower[s - 1], fc.upper[s - 1]) for s in (1, 4, 96)]
        assert np.allclose(got, want)


def test_metrics_endpoint_over_tls_from_the_config(tmp_path: Path):
    """tls.cert_file/key_file of the service's config serve /metrics over HTTPS (the collector's server)."""
    import ssl
    import threading

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
    conf = parse_config(cfg(closed_port_url(), tmp_path, tls={"cert_file": str(cert), "key_file": str(key)}))
    svc = AnalyticsService(conf)
    svc.run_cycle(now=T_END)  # Prometheus unreachable: the endpoint still answers, with the errors
    assert conf.tls is not None
    server = MetricsServer("127.0.0.1", 0, svc, None, conf.tls)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(f"https://127.0.0.1:{server.port}/metrics", timeout=5, context=ctx) as resp:
            body = resp.read().decode()
        assert metric(body, "citadel_analytics_query_errors_total", watch="load", kind="connection") == [1.0]
    finally:
        server.shutdown()
        server.server_close()
