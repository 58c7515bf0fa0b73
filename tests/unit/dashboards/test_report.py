"""The executive report: rendered from the fixture, read back by headless Chromium as a person would
see it, and collected from a fake Prometheus on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
import threading
import urllib.parse
import zlib
from datetime import UTC, datetime
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import ROOT, load_module

report_cli = load_module("dashboards/report.py", "citadel_report_cli")
from citadel_dashboards import report  # noqa: E402

FIXTURE = ROOT / "dashboards/fixtures/report-snapshot.json"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HEADLESS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


class Elements(HTMLParser):
    """Counts of tags and classes, and the text of elements with a data-figure attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.classes: dict[str, int] = {}
        self.figures: dict[str, str] = {}
        self._figure: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        a = dict(attrs)
        for cls in (a.get("class") or "").split():
            self.classes[cls] = self.classes.get(cls, 0) + 1
        if a.get("data-figure"):
            self._figure = a["data-figure"]
            self.figures[self._figure] = ""

    def handle_data(self, data: str) -> None:
        if self._figure:
            self.figures[self._figure] += data

    def handle_endtag(self, tag: str) -> None:
        self._figure = None


def parse(text: str) -> Elements:
    found = Elements()
    found.feed(text)
    return found


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert report_cli.main(["--snapshot", str(FIXTURE), "--output", str(out)]) == 0
    return out


def chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, *HEADLESS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


def check_figures(found: Elements) -> None:
    # 5 SLOs, one of them (chat-time-to-first-token, 98.71% against 99%) missed.
    assert found.figures["slos-met"] == "4 of 5"
    assert found.figures["requests"] == "5.18M"
    assert found.figures["tokens"] == "2.64G"
    assert found.figures["cost"] == "12,824.75 EUR"
    assert found.tags["svg"] == 3
    assert found.classes["bar"] == 14  # two charts of seven days
    assert found.classes["met"] == 4 and found.classes["missed"] == 1
    assert found.tags["tr"] == 1 + 5 + 1 + 5 + 1 + 2 + 1 + 2  # headers and rows of the four tables


def test_the_page_is_self_contained(page):
    text = page.read_text()
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text and "<script" not in text and "<link" not in text
    assert "@media print" in text
    check_figures(parse(text))


@needs_chromium
def test_chromium_renders_the_key_figures(page, tmp_path):
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    found = parse(dom)
    check_figures(found)
    assert "LlmGatewayTimeToFirstTokenBudgetBurn" in dom
    assert "citadel_gpu_memory_used_bytes" in dom and "19.0 days" in dom


def png_pixels(path) -> tuple[int, int, bytes]:
    """Width, height and the raw (filtered) scanlines of an 8-bit PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


@needs_chromium
def test_chromium_screenshot_is_not_blank(page, tmp_path):
    shot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1000,1600", f"--screenshot={shot}", page.as_uri())
    width, height, raw = png_pixels(shot)
    assert (width, height) == (1000, 1600)
    # A blank page gives 2 distinct (filtered) scanlines and almost no non-zero byte; the report
    # gave 629 distinct rows and 3.4% non-zero bytes at 1000x1600.
    stride = len(raw) // height
    rows = {raw[i * stride : (i + 1) * stride] for i in range(height)}
    assert len(rows) > 300
    assert sum(1 for b in raw if b) / len(raw) > 0.01


class FakePrometheus(BaseHTTPRequestHandler):
    """Canned answers per query; records the queries and the Authorization header."""

    seen: list[tuple[str, str | None]] = []  # noqa: RUF012

    def do_GET(self) -> None:
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        expr = q["query"][0]
        self.seen.append((expr, self.headers.get("Authorization")))
        t = float(q.get("time", q.get("end", ["0"]))[0])
        result: list[dict] = []
        slo = {"slo_service": "svc", "slo_name": "avail"}
        if url.path.endswith("/query_range"):
            start = float(q["start"][0])
            if "ALERTS" in expr:
                stamps = [start + 600 + 300 * i for i in range(4)]
                result = [{"metric": {"alertname": "Burn"}, "values": [[s, "1"] for s in stamps]}]
            else:
                result = [{"metric": {}, "values": [[start + 86400 * i, "100"] for i in range(1, 4)]}]
        elif expr == "slo:objective:ratio":
            result = [{"metric": slo, "value": [t, "0.99"]}]
        elif "slo:sli_error:ratio" in expr:
            result = [{"metric": slo, "value": [t, "0.995"]}]
        elif "error_budget_remaining" in expr:
            result = [{"metric": slo, "value": [t, "0.5"]}]
        elif "tenant:llm_requests" in expr:
            result = [{"metric": {"tenant": "a", "model": "m"}, "value": [t, "1000"]}]
        elif "tenant:llm_tokens" in expr:
            result = [{"metric": {"tenant": "a", "model": "m"}, "value": [t, "50000"]}]
        elif "citadel_cost_gpu_per_second" in expr:
            result = [{"metric": {"currency": "USD"}, "value": [t, "0.001"]}]
        elif "citadel_gpus" in expr:
            result = [{"metric": {}, "value": [t, "2"]}]
        elif "time_to_exhaustion" in expr:
            result = [{"metric": {"series": "disk"}, "value": [t, "172800"]}]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_collect_reads_prometheus_with_basic_auth():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        prom = report.Prometheus(f"http://127.0.0.1:{server.server_port}", "grafana", "pw")
        snap = report.collect(prom, days=7, now=datetime(2026, 11, 23, tzinfo=UTC))
    finally:
        server.shutdown()
    assert {auth for _, auth in FakePrometheus.seen} == {"Basic " + base64.b64encode(b"grafana:pw").decode()}
    assert snap["slos"] == [
        {
            "service": "svc",
            "name": "avail",
            "objective": 0.99,
            "attainment": 0.995,
            "period_attainment": 0.995,
            "budget_remaining": 0.5,
            "period_days": 30,
        }
    ]
    assert snap["traffic"] == [
        {"tenant": "a", "model": "m", "requests": 1000, "tokens": 50000, "cost": pytest.approx(604.8)}
    ]
    assert snap["cost"] == {"total": pytest.approx(604.8), "gpu_hours": pytest.approx(336)}
    assert [d["requests"] for d in snap["daily"]] == [100, 100, 100]
    assert snap["incidents"] == [
        {"alertname": "Burn", "severity": "page", "started": "2026-11-16 00:10", "minutes": 20}
    ]
    assert snap["capacity"] == [{"series": "disk", "time_to_exhaustion_seconds": 172800}]
    html = report.render(snap)
    assert 'data-figure="slos-met">1 of 1<' in html


def test_the_cli_refuses_a_period_that_is_not_whole_days(capsys):
    with pytest.raises(SystemExit):
        report_cli.main(["--snapshot", str(FIXTURE), "--since", "3h", "-o", "/dev/null"])
    assert "expected whole days" in capsys.readouterr().err
