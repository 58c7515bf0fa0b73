"""The generated configuration in a real Alertmanager (0.25, on 127.0.0.1): the inhibition rules
suppress what they should, a maintenance window mutes its service, and the rest notifies the
right receivers (one page per root cause).

Every receiver of the example policy is pointed at a local webhook sink; timings are shortened.
"""

from __future__ import annotations

import copy
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from tests.conftest import ROOT, load_module

cap = load_module("plugins/filter/citadel_alert_policy.py", "citadel_alert_policy")

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(BINARY is None, reason="alertmanager is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    def __init__(self) -> None:
        self.hits: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                doc = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with sink.lock:
                    sink.hits.append((self.path.strip("/"), [a["labels"]["alertname"] for a in doc["alerts"]]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def notified(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        with self.lock:
            for receiver, names in self.hits:
                out.setdefault(receiver, set()).update(names)
        return out


def _test_policy(sink_port: int) -> dict:
    doc = yaml.safe_load((ROOT / "alerting" / "policy.yml").read_text())
    doc = copy.deepcopy(doc)
    doc["receivers"] = {
        name: {"type": "webhook", "url": f"http://127.0.0.1:{sink_port}/{name}"} for name in doc["receivers"]
    }
    for spec in doc["severities"].values():
        spec.update(group_wait="1s", group_interval="2s")
        spec.pop("active_time_intervals", None)  # business hours would make the test depend on the clock
    # model-servers are always in maintenance in this test
    doc["time_intervals"]["model-rollouts"] = [{"times": [{"start_time": "00:00", "end_time": "24:00"}]}]
    doc.pop("incidents")
    return doc


def _start(tmp, config: dict):
    (tmp / "am.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = _free_port()
    proc = subprocess.Popen(
        [
            BINARY,
            f"--config.file={tmp / 'am.yml'}",
            f"--storage.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/-/ready", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(proc.stderr.read().decode() if proc.stderr else "alertmanager exited")
            time.sleep(0.1)
    return proc, url


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("am-real")
    sink = Sink()
    topology = {"model1": {"models": ["llama"]}, "model2": {"models": ["mistral"]}}
    config = cap.citadel_alertmanager_config(_test_policy(sink.port), secrets={}, topology=topology)
    config["route"]["group_wait"] = "1s"
    proc, url = _start(tmp, config)
    yield url, sink
    proc.terminate()
    proc.wait(10)
    sink.server.shutdown()
    sink.server.server_close()


@pytest.fixture(scope="module")
def naive_alertmanager(tmp_path_factory):
    """The baseline: one route to one (paging) receiver, no inhibition, no time intervals."""
    tmp = tmp_path_factory.mktemp("am-naive")
    sink = Sink()
    config = {
        "route": {"receiver": "pager", "group_by": ["alertname"], "group_wait": "1s", "group_interval": "2s"},
        "receivers": [{"name": "pager", "webhook_configs": [{"url": f"http://127.0.0.1:{sink.port}/pager"}]}],
    }
    proc, url = _start(tmp, config)
    yield url, sink
    proc.terminate()
    proc.wait(10)
    sink.server.shutdown()
    sink.server.server_close()


def _fire(url: str) -> None:
    body = json.dumps([{"labels": labels, "annotations": {"summary": "test"}} for labels in ALERTS]).encode()
    req = urllib.request.Request(f"{url}/api/v2/alerts", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    urllib.request.urlopen(req, timeout=5).read()


ALERTS = [
    # a host down, and what it causes on that host and its model
    {"alertname": "HostDown", "instance": "model1", "severity": "critical"},
    {"alertname": "TargetDown", "instance": "model1", "job": "vllm", "severity": "warning"},
    {"alertname": "LlamaTimeToFirstTokenHigh", "model": "llama", "severity": "warning", "team": "inference"},
    # a GPU fault on model2 and the latency SLO of the model it serves
    {"alertname": "GpuXidErrors", "instance": "model2", "severity": "critical"},
    {
        "alertname": "GatewayLatencyBudgetBurn",
        "model": "mistral",
        "severity": "page",
        "slo_service": "llm-gateway",
        "slo_name": "latency",
    },
    # a page and the ticket of the same SLO
    {"alertname": "GatewayAvailabilityBudgetBurn", "severity": "page", "slo_service": "llm-gateway", "slo_name": "av"},
    {
        "alertname": "GatewayAvailabilityBudgetBurn",
        "severity": "ticket",
        "slo_service": "llm-gateway",
        "slo_name": "av",
    },
    # a scrape failure and the absent-data alert it causes
    {"alertname": "TargetDown", "instance": "metrics", "job": "citadel-collector", "severity": "warning"},
    {"alertname": "CollectorGpuDataAbsent", "instance": "metrics", "severity": "warning", "team": "platform"},
    # model-servers are in maintenance: muted, not inhibited
    {"alertname": "ModelServerRequestSuccessBudgetBurn", "severity": "page", "slo_service": "model-servers"},
]

INHIBITED = {
    ("TargetDown", "model1"),
    ("LlamaTimeToFirstTokenHigh", None),
    ("GatewayLatencyBudgetBurn", None),
    ("GatewayAvailabilityBudgetBurn/ticket", None),
    ("CollectorGpuDataAbsent", "metrics"),
}


def _key(labels: dict) -> tuple[str, str | None]:
    name = labels["alertname"]
    if name == "GatewayAvailabilityBudgetBurn":
        name += "/" + labels["severity"]
    return name, labels.get("instance") if name in ("TargetDown", "CollectorGpuDataAbsent") else None


def test_inhibition_and_maintenance_in_a_real_alertmanager(alertmanager):
    url, sink = alertmanager
    _fire(url)

    deadline = time.monotonic() + 20
    inhibited: set = set()
    while time.monotonic() < deadline:
        alerts = json.loads(urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5).read())
        inhibited = {_key(a["labels"]) for a in alerts if a["status"]["inhibitedBy"]}
        if inhibited >= INHIBITED and {"platform-pagerduty", "inference-pagerduty"} <= set(sink.notified()):
            break
        time.sleep(0.2)
    assert inhibited == INHIBITED
    time.sleep(2.5)  # one more group_interval: anything muted would have been sent by now
    notified = sink.notified()
    everything = set().union(*notified.values())
    # one page per root cause: the host, the GPU, the gateway SLO (paths are the policy's receivers)
    assert notified["platform-pagerduty"] == {"HostDown", "GpuXidErrors"}
    assert notified["inference-pagerduty"] == {"GatewayAvailabilityBudgetBurn"}
    assert notified["inference-slack"] == {"GatewayAvailabilityBudgetBurn"}
    # the collector's scrape failure is a warning to the platform team's Teams channel
    assert notified["platform-teams"] == {"HostDown", "GpuXidErrors", "TargetDown"}
    assert "ModelServerRequestSuccessBudgetBurn" not in everything  # muted by the maintenance window
    assert not everything & {"LlamaTimeToFirstTokenHigh", "GatewayLatencyBudgetBurn", "CollectorGpuDataAbsent"}
    assert set(notified) == {"platform-pagerduty", "inference-pagerduty", "inference-slack", "platform-teams"}


def test_the_naive_configuration_pages_for_everything(naive_alertmanager):
    """The comparison of docs/alerting.md: 10 alerts of 4 root causes (+1 in maintenance)."""
    url, sink = naive_alertmanager
    _fire(url)
    names = {labels["alertname"] for labels in ALERTS}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sink.notified().get("pager", set()) != names:
        time.sleep(0.2)
    assert sink.notified() == {"pager": names}  # all 10 alerts (8 names) page, vs 3 with the generated config
