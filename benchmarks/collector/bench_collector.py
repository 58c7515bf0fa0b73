"""Benchmark of citadel-collector: /metrics latency, RSS, CPU, and access-log ingest rate.

Loopback only and bounded: three simulated model servers (citadel-model-sim, no load generator),
the collector with 8 FAKE GPUs, 3 probes every 10 s, an access log with 500 tenant x model series,
TLS and basic auth (the production setup); then a 100 MB access log ingested in-process.

    python benchmarks/collector/bench_collector.py            # about 2 minutes
    python benchmarks/collector/bench_collector.py --quick    # about 30 s, fewer samples

Targets (issue 5): /metrics p99 < 20 ms; RSS < 60 MB; CPU < 1 % of a core at 10 s scrapes plus
probes; access log >= 50,000 lines/s.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bcrypt

BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, path: str, deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"127.0.0.1:{port}{path} did not come up")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def log_line(rng: random.Random, tenant: str, model: str) -> str:
    return (
        json.dumps(
            {
                "ts": "2026-11-27T23:00:00.000+00:00",
                "request_id": f"{rng.getrandbits(64):016x}",
                "tenant": tenant,
                "model": model,
                "path": "/v1/chat/completions",
                "stream": True,
                "status": 200 if rng.random() > 0.02 else 500,
                "prompt_tokens": rng.randint(10, 4000),
                "completion_tokens": rng.randint(1, 1000),
                "ttft_seconds": round(rng.lognormvariate(-2, 0.5), 4),
                "duration_seconds": round(rng.lognormvariate(1, 0.8), 4),
            },
            separators=(",", ":"),
        )
        + "\n"
    )


def bench_endpoint(work: Path, scrapes: int, cpu_window: float) -> dict[str, object]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        sim_ports = [free_port() for _ in range(3)]
        for i, port in enumerate(sim_ports):
            procs.append(
                subprocess.Popen(
                    [
                        BIN / "citadel-model-sim",
                        "--port",
                        str(port),
                        "--model",
                        f"model-{i}",
                        "--seed",
                        str(i),
                        "--log-level",
                        "warning",
                    ],
                    stdout=subprocess.DEVNULL,
                )
            )
        for port in sim_ports:
            wait_http(port, "/health")
        rng = random.Random(1)
        tenants, models = [f"tenant-{i:02d}" for i in range(25)], [f"model-{i:02d}" for i in range(20)]
        with open(work / "access.log", "w") as fh:
            for t in tenants:
                for m in models:
                    fh.write(log_line(rng, t, m))
        cert, key = work / "tls.crt", work / "tls.key"
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
            timeout=60,
        )
        password = "bench-password"
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode()
        port = free_port()
        config = {
            "listen": {"address": "127.0.0.1", "port": port},
            "tls": {"cert_file": str(cert), "key_file": str(key)},
            "basic_auth": {"users": {"prometheus": hashed}},
            "log_level": "warning",
            "sources": {
                "nvml": {"fake_gpus": 8, "interval_seconds": 5, "slow_interval_seconds": 30},
                "probes": [
                    {
                        "name": f"sim{i}",
                        "base_url": f"http://127.0.0.1:{p}",
                        "model": f"model-{i}",
                        "engine": "vllm",
                        "interval_seconds": 10,
                        "timeout_seconds": 10,
                    }
                    for i, p in enumerate(sim_ports)
                ],
                "access_logs": [
                    {
                        "name": "gw",
                        "path": str(work / "access.log"),
                        "state_file": str(work / "off"),
                        "max_tenants": 50,
                        "max_models": 20,
                    }
                ],
                "cost": {"currency": "USD", "gpu_hourly_cost": 2.49},
            },
        }
        (work / "collector.yml").write_text(json.dumps(config))  # JSON is YAML
        collector = subprocess.Popen([BIN / "citadel-collector", "--config", work / "collector.yml"])
        procs.append(collector)
        context = ssl.create_default_context(cafile=str(cert))
        auth = {"Authorization": "Basic " + base64.b64encode(f"prometheus:{password}".encode()).decode()}

        def connect() -> http.client.HTTPSConnection:
            return http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)

        deadline = time.monotonic() + 30
        body = b""
        while time.monotonic() < deadline:  # ready: every probe has run once
            try:
                conn = connect()
                conn.request("GET", "/metrics", headers=auth)
                body = conn.getresponse().read()
                conn.close()
                if body.count(b"citadel_probe_success{") == 3 and b"citadel_gpu_energy_joules_total{" in body:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        check = subprocess.run(
            [shutil.which("promtool") or "/usr/bin/promtool", "check", "metrics"],
            input=body,
            capture_output=True,
            timeout=60,
        )

        conn = connect()  # Prometheus keeps its connection alive between scrapes
        warm: list[float] = []
        for _ in range(scrapes):
            started = time.perf_counter()
            conn.request("GET", "/metrics", headers=auth)
            resp = conn.getresponse()
            resp.read()
            warm.append(time.perf_counter() - started)
            assert resp.status == 200
        conn.close()
        cold: list[float] = []
        for _ in range(max(20, scrapes // 10)):
            started = time.perf_counter()
            c = connect()
            c.request("GET", "/metrics", headers=auth)
            c.getresponse().read()
            c.close()
            cold.append(time.perf_counter() - started)

        cpu_before, t_before = cpu_seconds(collector.pid), time.monotonic()
        conn = connect()
        next_scrape = t_before
        while time.monotonic() - t_before < cpu_window:  # a scrape every 10 s, like Prometheus
            if time.monotonic() >= next_scrape:
                conn.request("GET", "/metrics", headers=auth)
                conn.getresponse().read()
                next_scrape += 10
            time.sleep(0.2)
        conn.close()
        cpu = (cpu_seconds(collector.pid) - cpu_before) / (time.monotonic() - t_before)
        memory = rss_kib(collector.pid)
        return {
            "series": series,
            "body_bytes": len(body),
            "promtool_check_metrics_rc": check.returncode,
            "scrape_keepalive_ms": {
                "p50": percentile(warm, 0.5) * 1e3,
                "p99": percentile(warm, 0.99) * 1e3,
                "max": max(warm) * 1e3,
                "n": len(warm),
            },
            "scrape_new_tls_connection_ms": {
                "p50": percentile(cold, 0.5) * 1e3,
                "p99": percentile(cold, 0.99) * 1e3,
                "n": len(cold),
            },
            "cpu_core_percent": cpu * 100,
            "cpu_window_seconds": cpu_window,
            "rss_mib": memory["VmRSS"] / 1024,
            "peak_rss_mib": memory["VmHWM"] / 1024,
        }
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def bench_ingest(work: Path, megabytes: int) -> dict[str, object]:
    from citadel_monitoring.collector.config import AccessLogConfig
    from citadel_monitoring.collector.sources.logs import AccessLogSource

    rng = random.Random(2)
    tenants, models = [f"tenant-{i:02d}" for i in range(60)], [f"model-{i:02d}" for i in range(25)]
    path = work / "big.log"
    lines = 0
    with open(path, "w") as fh:
        size = 0
        block = [log_line(rng, rng.choice(tenants), rng.choice(models)) for _ in range(20000)]
        while size < megabytes * 1024 * 1024:
            for line in block:
                fh.write(line)
            size += sum(map(len, block))
            lines += len(block)
    source = AccessLogSource(AccessLogConfig(name="big", path=path, max_tenants=50, max_models=20))
    rss_before = rss_kib(os.getpid())["VmRSS"]
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu_started = time.perf_counter(), time.process_time()
    read = 0
    while True:
        n = source.poll()
        if not n:
            break
        read += n
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert read == lines, (read, lines)
    render_started = time.perf_counter()
    fams = source.collect()
    render = time.perf_counter() - render_started
    return {
        "megabytes": path.stat().st_size / 1024 / 1024,
        "lines": lines,
        "seconds": elapsed,
        "lines_per_second": lines / elapsed,
        # CPU-bound throughput, independent of what else the machine runs
        "lines_per_cpu_second": lines / cpu,
        "series_after_caps": len(fams[0].samples),
        "render_seconds": render,
        # how much the ingest raised this process's peak RSS (0 if it stayed under the earlier peak)
        "peak_rss_growth_mib": max(0, peak_after - max(peak_before, rss_before)) / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer scrapes, a 20 s CPU window, a 20 MB log")
    args = parser.parse_args()
    scrapes, window, megabytes = (200, 20.0, 20) if args.quick else (1000, 60.0, 100)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results = {"endpoint": bench_endpoint(work, scrapes, window), "ingest": bench_ingest(work, megabytes)}
    results["host"] = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "loadavg_1m_at_end": os.getloadavg()[0],  # other work on the machine skews wall-clock figures
    }
    e, i = results["endpoint"], results["ingest"]
    results["targets_met"] = {
        "scrape_p99_under_20ms": e["scrape_keepalive_ms"]["p99"] < 20,
        "rss_under_60mb": e["peak_rss_mib"] < 60,
        "cpu_under_1_percent": e["cpu_core_percent"] < 1,
        "ingest_at_least_50k_lines_per_s": i["lines_per_second"] >= 50_000,
        "promtool_clean": e["promtool_check_metrics_rc"] == 0,
    }
    print(json.dumps(results, indent=2))
    return 0 if all(results["targets_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
