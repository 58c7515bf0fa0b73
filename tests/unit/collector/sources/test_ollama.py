"""The Ollama source against a stand-in Ollama API on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from citadel_monitoring.collector.config import OllamaConfig
from citadel_monitoring.collector.sources.ollama import OllamaSource, parse_time

PS = {
    "models": [
        {
            "name": "llama3:8b",
            "model": "llama3:8b",
            "size": 6_000_000_000,
            "size_vram": 4_500_000_000,
            "expires_at": "2026-11-27T23:59:00.123456789Z",
        }
    ]
}
TAGS = {"models": [{"name": "llama3:8b", "size": 4_700_000_000}, {"name": "qwen:0.5b", "size": 400_000_000}]}


def ollama(docs):
    def handle(req):
        doc = docs.get(req.path)
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        req.send_response(200 if doc is not None else 404)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    return handle


def test_loaded_and_installed_models(http_server):
    url = http_server(ollama({"/api/ps": PS, "/api/tags": TAGS, "/api/version": {"version": "0.12.3"}}))
    fams = {f.sample_name: f for f in OllamaSource(OllamaConfig(name="o", base_url=url)).collect()}
    assert fams["citadel_ollama_info"].samples == [("", {"ollama": "o", "version": "0.12.3"}, 1)]
    labels = {"ollama": "o", "model": "llama3:8b"}
    assert fams["citadel_ollama_model_vram_ratio"].samples == [("", labels, 0.75)]
    assert fams["citadel_ollama_model_vram_bytes"].samples == [("", labels, 4.5e9)]
    expiry = fams["citadel_ollama_model_expiry_timestamp_seconds"].samples[0][2]
    assert expiry == pytest.approx(datetime(2026, 11, 27, 23, 59, 0, 123456, tzinfo=UTC).timestamp())
    assert fams["citadel_ollama_models_installed"].samples[0][2] == 2


def test_garbage_fails_the_source(http_server):
    url = http_server(ollama({"/api/ps": b"<html>", "/api/tags": TAGS, "/api/version": {}}))
    with pytest.raises(Exception, match="not JSON"):
        OllamaSource(OllamaConfig(name="o", base_url=url)).collect()


def test_a_wrong_shape_fails_the_source(http_server):
    url = http_server(ollama({"/api/ps": {"models": "many"}, "/api/tags": TAGS, "/api/version": {}}))
    with pytest.raises(ValueError, match="models list"):
        OllamaSource(OllamaConfig(name="o", base_url=url)).collect()


@pytest.mark.parametrize("text", ["2024-06-04T14:38:31.83753-07:00", "2026-01-01T00:00:00Z"])
def test_parse_time(text):
    assert parse_time(text) is not None


def test_parse_time_rejects_junk():
    assert parse_time("soon") is None and parse_time(None) is None
