"""Wiring: builds the sources from the configuration, runs them and the `/metrics` server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from citadel_monitoring.collector.config import CollectorConfig
from citadel_monitoring.collector.exposition import MetricsCache
from citadel_monitoring.collector.server import Exposition, MetricsServer
from citadel_monitoring.collector.sources.base import Source, SourceRunner
from citadel_monitoring.collector.sources.cost import CostSource
from citadel_monitoring.collector.sources.logs import AccessLogSource
from citadel_monitoring.collector.sources.nvml import NvmlSession, NvmlSlowSource, NvmlSource, load_nvml
from citadel_monitoring.collector.sources.ollama import OllamaSource
from citadel_monitoring.collector.sources.probe import ProbeSource

log = logging.getLogger("citadel_monitoring.collector")


def build_sources(config: CollectorConfig, stop: threading.Event, nvml_module: Any = None) -> list[Source]:
    """The configured sources; `nvml_module` replaces `pynvml` (tests pass a fake)."""
    sources: list[Source] = []
    gpu_count: Callable[[], int | None] | None = None
    if config.nvml is not None and config.nvml.enabled:
        module = nvml_module
        if module is None:
            try:
                module = load_nvml(config.nvml.fake_gpus)
            except ImportError as exc:  # reported as a down source, like any other failure
                module = _Unavailable(str(exc))
        session = NvmlSession(module)
        sources.append(NvmlSource(config.nvml, session, stop))
        sources.append(NvmlSlowSource(config.nvml, session))
        gpu_count = session.gpu_count  # known once NVML has been read
    sources.extend(ProbeSource(p) for p in config.probes)
    sources.extend(OllamaSource(o) for o in config.ollama)
    sources.extend(AccessLogSource(lg) for lg in config.access_logs)
    if config.cost is not None:
        sources.append(CostSource(config.cost, gpu_count))
    return sources


class _Unavailable:
    """Stands in for a `pynvml` that cannot be imported: every collection fails."""

    class NVMLError(Exception):
        pass

    NVMLError_NotSupported = NVMLError

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def nvmlInit(self) -> None:
        raise RuntimeError(f"pynvml unavailable: {self.reason}")


class Collector:
    """The running collector: source threads plus the HTTP server."""

    def __init__(self, config: CollectorConfig, nvml_module: Any = None) -> None:
        self.config = config
        self.stop_event = threading.Event()
        self.cache = MetricsCache()
        self.sources = build_sources(config, self.stop_event, nvml_module)
        self.runners = [SourceRunner(s, self.cache, self.stop_event) for s in self.sources]
        self.exposition = Exposition(self.cache)
        self.server = MetricsServer(config.address, config.port, self.exposition, config.basic_auth_users, config.tls)
        self._server_thread = threading.Thread(target=self.server.serve_forever, args=(0.1,), name="http", daemon=True)

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> None:
        for runner in self.runners:
            runner.start()
        self._server_thread.start()
        log.info(
            "citadel-collector listening on %s:%d (%s) with %d sources",
            self.config.address,
            self.port,
            "https" if self.config.tls else "http",
            len(self.sources),
        )

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()
        for runner in self.runners:
            runner.join(timeout)
