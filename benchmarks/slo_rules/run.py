"""Benchmark: rule evaluation cost of the `slo_rule_groups` rules against a Sloth-style rule set.

50 SLOs on 10 services: 35 availability SLOs on request counters by status code and 15 latency
SLOs on classic histograms (6 buckets), 2 instances each, so 4 and 14 raw series per SLO. A few
days of those series, up to "now", are backfilled into a TSDB with
`promtool tsdb create-blocks-from openmetrics`; from then on a small exporter on 127.0.0.1
continues the same counters and Prometheus scrapes it, so every window, the 5m one included,
reads full data when the rules are evaluated at the current time. The series the two rule sets
record for themselves (our 5m...3d rates that the tiles read with `offset`, Sloth's 5m ratios
that its period rule averages) are backfilled too, at 5m resolution, so that their lookups read
stored data as in steady state (Sloth's 30d average then reads 3 days of 5m samples instead of
30 days of 10s samples: an underestimate of Sloth's cost).

A real `prometheus` (listening on 127.0.0.1 only) then loads one rule set at a time over a copy
of the TSDB, evaluating every 10s; after a warm-up, the sum over groups of
`prometheus_rule_group_last_duration_seconds` is read once per evaluation interval, a bounded
number of times, and the median is reported, with the alerts each rule set fires.

    .venv/bin/python benchmarks/slo_rules/run.py                        # 3 days at 30s: about 7 minutes
    .venv/bin/python benchmarks/slo_rules/run.py --scrape-interval 10s  # 3 days at 10s: about 10 minutes
    .venv/bin/python benchmarks/slo_rules/run.py --days 0.25 --samples 3  # a quick check
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from sloth_style import sloth_groups  # noqa: E402


def _load_filter() -> Any:
    spec = importlib.util.spec_from_file_location("slo_rule_groups", ROOT / "plugins/filter/slo_rule_groups.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["slo_rule_groups"] = module
    spec.loader.exec_module(module)
    return module


slo_filter = _load_filter()

N_AVAILABILITY, N_LATENCY, INSTANCES = 35, 15, ("a", "b")
BUCKETS = ("0.1", "0.25", "0.5", "1", "2.5", "+Inf")
OUR_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")  # the recorded windows our rules read with offset


def workload() -> list[dict[str, Any]]:
    """The 50 SLOs: name, kind, requests per second per instance, and the failing share.

    A few SLOs burn their budget (2% and 0.2% errors) so that both rule sets have alerts to agree on.
    """
    rng = random.Random(42)
    out = []
    for i in range(N_AVAILABILITY + N_LATENCY):
        kind = "availability" if i < N_AVAILABILITY else "latency"
        bad = 0.02 if i % 10 == 3 else 0.002 if i % 10 == 7 else 0.0002
        if kind == "latency":
            bad *= 10  # against a 99% objective
        out.append(
            {
                "service": f"svc{i // 5}",  # 10 services of 5 SLOs each, one route per SLO
                "route": f"r{i:02d}",
                "name": f"{kind}-r{i:02d}",
                "kind": kind,
                "rps": rng.choice((2, 5, 20, 50)),
                "bad": bad,
            }
        )
    return out


def definitions(load: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One document per service."""
    docs: dict[str, dict[str, Any]] = {}
    for w in load:
        sel = f'service="{w["service"]}", route="{w["route"]}"'
        if w["kind"] == "availability":
            sli = {
                "events": {
                    "error_query": f'sum(rate(bench_requests_total{{{sel}, code=~"5.."}}[{{{{.window}}}}]))',
                    "total_query": f"sum(rate(bench_requests_total{{{sel}}}[{{{{.window}}}}]))",
                }
            }
            objective = 99.9
        else:
            sli = {"latency": {"histogram": "bench_request_duration_seconds", "selector": f"{{{sel}}}", "threshold": 1}}
            objective = 99
        alert = f"Bench{w['kind'].capitalize()}{w['route'].capitalize()}BudgetBurn"
        slo = {"name": w["name"], "objective": objective, "sli": sli, "alerting": {"name": alert}}
        doc = docs.setdefault(w["service"], {"version": "prometheus/v1", "service": w["service"], "slos": []})
        doc["slos"].append(slo)
    return list(docs.values())


def sloth_definition(slo: dict[str, Any]) -> dict[str, Any]:
    """The same SLO with a latency SLI written as Sloth events queries."""
    slo = dict(slo)
    lat = slo["sli"].get("latency")
    if lat:
        h, sel = lat["histogram"], lat["selector"][1:-1]
        total = f"sum(rate({h}_count{{{sel}}}[{{{{.window}}}}]))"
        good = f'sum(rate({h}_bucket{{{sel}, le="1"}}[{{{{.window}}}}]))'
        slo["sli"] = {"events": {"error_query": f"{total} - {good}", "total_query": total}}
    return slo


def raw_series(load: list[dict[str, Any]]) -> list[tuple[str, str, float]]:
    """(family, series, events per second) of every raw counter: availability counters by status
    code, latency histograms' buckets and counts. Counters grow linearly from the backfill's start,
    so the backfill and the live exporter write one continuous series."""
    out: list[tuple[str, str, float]] = []
    for w in load:
        if w["kind"] != "availability":
            continue
        for inst in INSTANCES:
            for code, share in (("200", 1 - w["bad"]), ("500", w["bad"])):
                labels = f'job="bench",service="{w["service"]}",route="{w["route"]}",instance="{inst}",code="{code}"'
                out.append(("bench_requests_total", f"bench_requests_total{{{labels}}}", w["rps"] * share))
    for family in ("bucket", "count"):  # one metric family after the other
        for w in load:
            if w["kind"] != "latency":
                continue
            shares = {"0.1": 0.5, "0.25": 0.8, "0.5": 0.95, "1": 1 - w["bad"], "2.5": 1 - w["bad"] / 4, "+Inf": 1.0}
            for inst in INSTANCES:
                base = f'job="bench",service="{w["service"]}",route="{w["route"]}",instance="{inst}"'
                if family == "count":
                    out.append((family, f"bench_request_duration_seconds_count{{{base}}}", w["rps"]))
                    continue
                for le in BUCKETS:
                    name = f'bench_request_duration_seconds_bucket{{{base},le="{le}"}}'
                    out.append((family, name, w["rps"] * shares[le]))
    return out


def write_openmetrics(path: Path, load: list[dict[str, Any]], start: int, end: int, step: int) -> int:
    """Raw counters every `step` seconds, and both rule sets' own recorded series every 5 minutes."""
    times = range(start, end + 1, step)
    lines = 0
    with path.open("w") as out:
        for _, name, rate in raw_series(load):
            out.writelines(f"{name} {rate * (t - start):.2f} {t}\n" for t in times)
            lines += len(times)
        rec_times = range(start - start % 300, end + 1, 300)
        for window in OUR_WINDOWS:  # our recorded rates
            for w in load:
                for events in ("errors", "total"):
                    rate = 2 * w["rps"] * (w["bad"] if events == "errors" else 1)
                    name = (
                        f'slo:sli_events:rate{window}{{slo_service="{w["service"]}",slo_name="{w["name"]}",'
                        f'slo_events="{events}"}}'
                    )
                    for t in rec_times:
                        out.write(f"{name} {rate:.6g} {t}\n")
                    lines += len(rec_times)
        for w in load:  # Sloth's recorded 5m ratio, read by its period rule
            sid = f"{w['service']}-{w['name']}"
            name = (
                f'slo:sli_error:ratio_rate5m{{sloth_id="{sid}",sloth_service="{w["service"]}",'
                f'sloth_slo="{w["name"]}",sloth_window="5m"}}'
            )
            for t in rec_times:
                out.write(f"{name} {w['bad']:.6g} {t}\n")
            lines += len(rec_times)
        out.write("# EOF\n")
    return lines


class Exporter:
    """The raw counters, continued live on 127.0.0.1 so that the short windows hold fresh data."""

    def __init__(self, load: list[dict[str, Any]], start: int) -> None:
        series = raw_series(load)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                now = time.time()
                body = "".join(f"{name} {rate * (now - start):.2f}\n" for _, name, rate in series).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 10) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def _metric_sum(text: str, name: str) -> tuple[float, int]:
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{")]
    return sum(values), len(values)


def settle(blocks: Path, work: Path) -> int:
    """Let Prometheus compact the backfilled 2h blocks once, before any measurement, so that its
    compactions do not compete with rule evaluation for the CPUs. Returns the blocks left."""
    config = work / "settle.prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"evaluation_interval": "1m"}}))
    port = _free_port()
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={blocks}",
            "--storage.tsdb.retention.time=30d",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    loaded, stable = -1, 0
    try:
        for tick in range(36):  # compaction runs a minute after start; at most 3 minutes
            time.sleep(5)
            try:
                text = _get(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                continue
            blocks_now = int(_metric_value(text, "prometheus_tsdb_blocks_loaded"))
            stable = stable + 1 if blocks_now == loaded else 0
            loaded = blocks_now
            if tick >= 15 and stable >= 3:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return loaded


def _metric_value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def measure(
    blocks: Path, rules: dict[str, Any], label: str, work: Path, samples: int, interval: int, scrape: tuple[str, int]
) -> dict[str, Any]:
    data = work / f"data-{label}"
    shutil.copytree(blocks, data)
    rule_file = work / f"{label}.rules.yml"
    rule_file.write_text(yaml.safe_dump(rules, sort_keys=False))
    check = subprocess.run(["promtool", "check", "rules", str(rule_file)], capture_output=True, text=True, check=False)
    if check.returncode:
        raise SystemExit(f"{label}: promtool check rules failed:\n{check.stdout}{check.stderr}")
    config = work / f"{label}.prometheus.yml"
    target, step = scrape
    job = {
        "job_name": "bench",
        "scrape_interval": f"{step}s",
        "honor_labels": True,
        "static_configs": [{"targets": [target]}],
    }
    settings = {"evaluation_interval": f"{interval}s"}
    config.write_text(yaml.safe_dump({"global": settings, "rule_files": [str(rule_file)], "scrape_configs": [job]}))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (work / f"{label}.log").open("w")
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=30d",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        n_groups = len(rules["groups"])
        for _ in range(180):  # ready and every group evaluated once: at most 3 minutes
            time.sleep(1)
            try:
                text = _get(f"{base}/metrics")
            except OSError:
                continue
            stamps = [
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("prometheus_rule_group_last_evaluation_timestamp_seconds{")
            ]
            if len(stamps) == n_groups and min(stamps) > 0:
                break
        else:
            raise SystemExit(f"{label}: prometheus did not evaluate every group in time (see {log.name})")
        time.sleep(2 * interval)  # warm-up: two more evaluations
        totals, evaluated = [], []
        for _ in range(samples):
            text = _get(f"{base}/metrics")
            totals.append(_metric_sum(text, "prometheus_rule_group_last_duration_seconds")[0])
            evaluated.append(_metric_sum(text, "prometheus_rule_group_last_evaluation_samples")[0])
            time.sleep(interval)
        failures = _metric_sum(text, "prometheus_rule_evaluation_failures_total")[0]
        query = urllib.parse.quote('count by (severity, sloth_severity) (ALERTS{alertstate="firing"})')
        alerts = json.loads(_get(f"{base}/api/v1/query?query={query}"))["data"]["result"]
        query = urllib.parse.quote('ALERTS{alertstate="firing"}')
        firing = json.loads(_get(f"{base}/api/v1/query?query={query}"))["data"]["result"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return {
        "rule_set": label,
        "groups": n_groups,
        "rules": sum(len(g["rules"]) for g in rules["groups"]),
        "median_seconds": statistics.median(totals),
        "min_seconds": min(totals),
        "max_seconds": max(totals),
        "samples_out": statistics.median(evaluated),
        "evaluation_failures": failures,
        "alerts": sorted(
            (a["metric"].get("alertname", ""), a["metric"].get("severity") or a["metric"].get("sloth_severity", ""))
            for a in firing
        ),
        "alert_counts": alerts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=3, help="days of backfilled history (default 3)")
    parser.add_argument("--scrape-interval", default="30s", help="raw sample spacing, e.g. 10s or 30s (default 30s)")
    parser.add_argument("--evaluation-interval", type=int, default=10, help="seconds (default 10)")
    parser.add_argument("--samples", type=int, default=10, help="readings of the durations per rule set (default 10)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    step = int(args.scrape_interval.rstrip("s"))

    load = workload()
    docs = definitions(load)
    ours = slo_filter.slo_rule_groups(docs, source="benchmark")
    sloth = {"groups": [g for d in docs for s in d["slos"] for g in sloth_groups(sloth_definition(s), d["service"])]}

    with tempfile.TemporaryDirectory(prefix="slo-bench-") as tmp:
        work = Path(tmp)
        now = int(time.time())
        start, end = now - int(args.days * 86400), now
        t0 = time.monotonic()
        lines = write_openmetrics(work / "data.om", load, start, end, step)
        t1 = time.monotonic()
        subprocess.run(
            [
                "promtool",
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "-q",
                str(work / "data.om"),
                str(work / "blocks"),
            ],
            check=True,
        )
        (work / "data.om").unlink()
        t2 = time.monotonic()
        print(f"backfill: {lines:,} samples ({args.days:g} days, raw every {step}s) in {t1 - t0:.0f}s + {t2 - t1:.0f}s")
        print(f"compacted by Prometheus into {settle(work / 'blocks', work)} blocks in {time.monotonic() - t2:.0f}s")
        exporter = Exporter(load, start)
        try:
            scrape = (exporter.address, step)
            results = [
                measure(work / "blocks", ours, "slo_rule_groups", work, args.samples, args.evaluation_interval, scrape),
                measure(work / "blocks", sloth, "sloth-style", work, args.samples, args.evaluation_interval, scrape),
            ]
        finally:
            exporter.close()

    results.reverse()  # Sloth first in the table
    base = results[0]["median_seconds"]
    print()
    best = results[0]["min_seconds"]
    print(
        f"{'rule set':<16} {'groups':>6} {'rules':>6} {'median s':>9} {'min s':>8} {'max s':>8}"
        f" {'median vs sloth':>16} {'min vs sloth':>13}"
    )
    for r in results:
        print(
            f"{r['rule_set']:<16} {r['groups']:>6} {r['rules']:>6} {r['median_seconds']:>9.4f} "
            f"{r['min_seconds']:>8.4f} {r['max_seconds']:>8.4f} {base / r['median_seconds']:>15.1f}x"
            f" {best / r['min_seconds']:>12.1f}x"
        )
    print("(seconds: the sum over groups of prometheus_rule_group_last_duration_seconds, per evaluation)")
    same = results[0]["alerts"] == results[1]["alerts"]
    print(f"\nfiring alerts: sloth-style {len(results[0]['alerts'])}, ours {len(results[1]['alerts'])}; same: {same}")
    print(f"rule evaluation failures: {[r['evaluation_failures'] for r in results]}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "results": results}, indent=2))


if __name__ == "__main__":
    main()
