"""Ollama, which has no `/metrics`: loaded models (`/api/ps`), installed models (`/api/tags`), version."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from citadel_monitoring.collector.config import OllamaConfig
from citadel_monitoring.collector.exposition import Family
from citadel_monitoring.collector.sources.base import Source
from citadel_monitoring.collector.sources.http_util import get_json

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any) -> float | None:
    """RFC 3339 with up to nanoseconds, as Go writes it, to a Unix timestamp."""
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(r"\1", value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _models(doc: Any, what: str) -> list[dict]:
    if not isinstance(doc, dict) or not isinstance(doc.get("models", []), list):
        raise ValueError(f"{what}: not an object with a models list")
    return [m for m in doc.get("models") or [] if isinstance(m, dict) and isinstance(m.get("name"), str)]


class OllamaSource(Source):
    def __init__(self, config: OllamaConfig) -> None:
        self.name = f"ollama:{config.name}"
        self.interval = config.interval_seconds
        self.config = config

    def collect(self) -> list[Family]:
        c = self.config
        ps = _models(get_json(c.base_url, "/api/ps", c.timeout_seconds), "/api/ps")
        tags = _models(get_json(c.base_url, "/api/tags", c.timeout_seconds), "/api/tags")
        version_doc = get_json(c.base_url, "/api/version", c.timeout_seconds)
        version = str(version_doc.get("version", "")) if isinstance(version_doc, dict) else ""
        base = {"ollama": c.name}
        info = Family("citadel_ollama", "info", "Ollama server version.").add({**base, "version": version}, 1)
        loaded = Family("citadel_ollama_model_loaded", "gauge", "1 for each model loaded in memory (/api/ps).")
        size = Family("citadel_ollama_model_loaded_bytes", "gauge", "Memory a loaded model takes in total.")
        vram = Family("citadel_ollama_model_vram_bytes", "gauge", "GPU memory a loaded model takes.")
        share = Family("citadel_ollama_model_vram_ratio", "gauge", "Share of a loaded model held in GPU memory.")
        expiry = Family("citadel_ollama_model_expiry_timestamp_seconds", "gauge", "When a loaded model is unloaded.")
        for m in ps:
            labels = {**base, "model": m["name"]}
            loaded.add(labels, 1)
            total = float(m.get("size") or 0)
            in_vram = float(m.get("size_vram") or 0)
            size.add(labels, total)
            vram.add(labels, in_vram)
            share.add(labels, in_vram / total if total > 0 else 0)
            ts = parse_time(m.get("expires_at"))
            if ts is not None:
                expiry.add(labels, ts)
        installed = Family("citadel_ollama_models_installed", "gauge", "Models installed (/api/tags).")
        installed.add(base, len(tags))
        disk = Family("citadel_ollama_model_installed_bytes", "gauge", "Disk size of an installed model.")
        for m in tags:
            disk.add({**base, "model": m["name"]}, float(m.get("size") or 0))
        return [info, loaded, size, vram, share, expiry, installed, disk]
