"""NVIDIA GPUs through NVML (`nvidia-ml-py`, import name `pynvml`).

Two sources share one NVML session: `nvml` reads the cheap calls (microseconds each) and
`nvml_slow` the slow ones (the energy counter, ~3 ms; PCIe throughput, which samples for ~20 ms),
each at its own interval in the background. XID critical errors arrive through an NVML event set
waited on in a thread of its own, so they are counted, not polled.
GPU memory per process is attributed to the model server whose command line matches a rule.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from citadel_monitoring.collector.config import NvmlConfig, ProcessRule
from citadel_monitoring.collector.exposition import Family
from citadel_monitoring.collector.sources.base import Source

log = logging.getLogger("citadel_monitoring.collector.nvml")

#: Throttle ("clock event") reasons that matter for an inference host; each is a label value.
THROTTLE_REASONS = {
    "gpu_idle": 0x1,
    "applications_clocks_setting": 0x2,
    "sw_power_cap": 0x4,
    "hw_slowdown": 0x8,
    "sync_boost": 0x10,
    "sw_thermal_slowdown": 0x20,
    "hw_thermal_slowdown": 0x40,
    "hw_power_brake_slowdown": 0x80,
}


def read_cmdline(pid: int) -> str:
    """The command line of a process, or "" if it is gone or in another pid namespace."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def attribute(cmdline: str, rules: Sequence[ProcessRule]) -> str:
    for rule in rules:
        if cmdline and rule.cmdline_pattern.search(cmdline):
            return rule.server
    return "other"


class NvmlSession:
    """The shared NVML state: initialisation, device handles, and the XID event thread."""

    def __init__(self, nvml: ModuleType | Any) -> None:
        self.nvml = nvml
        self._lock = threading.Lock()
        self._initialized = False
        self.handles: list[Any] = []
        self.uuids: list[str] = []
        self.xid_counts: dict[tuple[str, str], int] = {}
        self.xid_thread: threading.Thread | None = None
        self.xid_up = False

    def ensure(self) -> None:
        """Initialise NVML once; retried on the next collection if it failed."""
        with self._lock:
            if self._initialized:
                return
            self.nvml.nvmlInit()
            count = self.nvml.nvmlDeviceGetCount()
            self.handles = [self.nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self.uuids = [self._uuid(i, h) for i, h in enumerate(self.handles)]
            self._initialized = True

    def gpu_count(self) -> int | None:
        """GPUs found, or None before NVML has been read."""
        return len(self.handles) if self._initialized else None

    def _uuid(self, index: int, handle: Any) -> str:
        try:
            return str(self.nvml.nvmlDeviceGetUUID(handle))
        except self.nvml.NVMLError as exc:  # a broken GPU must not hide the others
            log.warning("GPU %d: no UUID: %s", index, exc)
            return f"unknown-{index}"

    def start_xid(self, stop: threading.Event) -> None:
        if self.xid_thread is not None:
            return
        self.xid_thread = threading.Thread(target=self._xid_loop, args=(stop,), name="nvml-xid", daemon=True)
        self.xid_thread.start()

    def _xid_loop(self, stop: threading.Event) -> None:
        nvml = self.nvml
        while not stop.is_set():
            try:
                self.ensure()
                event_set = nvml.nvmlEventSetCreate()
                for handle in self.handles:
                    try:
                        nvml.nvmlDeviceRegisterEvents(handle, nvml.nvmlEventTypeXidCriticalError, event_set)
                    except nvml.NVMLError as exc:
                        log.info("XID events not supported on a GPU: %s", exc)
                break
            except Exception as exc:
                log.warning("XID event set: %s", exc)
                stop.wait(30)
        else:
            return
        self.xid_up = True
        index_of = {uuid: str(i) for i, uuid in enumerate(self.uuids)}
        while not stop.is_set():
            try:
                data = nvml.nvmlEventSetWait_v2(event_set, 500)
            except nvml.NVMLError as exc:
                if getattr(exc, "value", None) == nvml.NVML_ERROR_TIMEOUT:
                    continue
                log.warning("XID event wait failed: %s", exc)
                self.xid_up = False
                stop.wait(5)
                continue
            try:
                gpu = index_of.get(nvml.nvmlDeviceGetUUID(data.device), "unknown")
            except Exception:
                gpu = "unknown"
            key = (gpu, str(int(data.eventData)))
            with self._lock:
                self.xid_counts[key] = self.xid_counts.get(key, 0) + 1
        try:
            nvml.nvmlEventSetFree(event_set)
        except Exception as exc:
            log.debug("XID event set free: %s", exc)

    def xid_snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self.xid_counts)


def load_nvml(fake_gpus: int = 0) -> Any:
    """The real `pynvml` module, or the FAKE one from the simulator when `fake_gpus` > 0."""
    if fake_gpus:
        from citadel_monitoring.simulator.fake_nvml import FakeNvml

        return FakeNvml(fake_gpus, animate=True)
    import pynvml

    return pynvml


def _try(nvml: Any, call: Callable[[], Any]) -> Any:
    """Run one NVML call; None where the GPU does not support it."""
    try:
        return call()
    except nvml.NVMLError_NotSupported:
        return None


class NvmlSource(Source):
    """The cheap NVML readings, every `interval_seconds`."""

    def __init__(
        self,
        config: NvmlConfig,
        session: NvmlSession,
        stop: threading.Event,
        cmdline_reader: Callable[[int], str] = read_cmdline,
    ) -> None:
        self.name = "nvml"
        self.interval = config.interval_seconds
        self.config = config
        self.session = session
        self.stop = stop
        self.cmdline_reader = cmdline_reader

    def start(self) -> None:
        if self.config.xid_events:
            self.session.start_xid(self.stop)

    def collect(self) -> list[Family]:
        s = self.session
        s.ensure()
        nvml = s.nvml
        info = Family("citadel_gpu", "info", "GPU identity: model name, UUID and driver version.")
        util = Family("citadel_gpu_utilization_ratio", "gauge", "Fraction of time a kernel ran on the GPU.")
        mem_util = Family(
            "citadel_gpu_memory_bandwidth_utilization_ratio",
            "gauge",
            "Fraction of time device memory was read or written.",
        )
        used = Family("citadel_gpu_memory_used_bytes", "gauge", "GPU memory in use.")
        total = Family("citadel_gpu_memory_total_bytes", "gauge", "GPU memory installed.")
        power = Family("citadel_gpu_power_watts", "gauge", "GPU power draw.")
        limit = Family("citadel_gpu_power_limit_watts", "gauge", "Enforced GPU power limit.")
        temp = Family("citadel_gpu_temperature_celsius", "gauge", "GPU core temperature.")
        clock = Family("citadel_gpu_sm_clock_hertz", "gauge", "Streaming-multiprocessor clock.")
        throttle = Family(
            "citadel_gpu_clock_throttle_active", "gauge", "1 while the GPU clocks are held down for this reason."
        )
        ecc = Family("citadel_gpu_ecc_errors", "counter", "ECC memory errors since the driver loaded (aggregate).")
        remap = Family("citadel_gpu_remapped_rows", "counter", "Memory rows remapped by the GPU.")
        remap_pending = Family("citadel_gpu_row_remap_pending", "gauge", "1 if a row remap awaits a GPU reset.")
        proc = Family(
            "citadel_gpu_process_memory_used_bytes", "gauge", "GPU memory used by processes, per owning model server."
        )
        procs = Family("citadel_gpu_processes", "gauge", "Compute processes on the GPU, per owning model server.")
        driver = _try(nvml, nvml.nvmlSystemGetDriverVersion) or ""
        errors = 0
        for i, handle in enumerate(s.handles):
            g = {"gpu": str(i)}
            try:
                info.add(
                    {**g, "uuid": s.uuids[i], "name": str(nvml.nvmlDeviceGetName(handle)), "driver_version": driver}, 1
                )
                m = nvml.nvmlDeviceGetMemoryInfo(handle)  # every GPU supports this one
                used.add(g, m.used)
                total.add(g, m.total)
                # the rest may be unsupported (MIG, vGPU, consumer cards): left out, not an error
                u = _try(nvml, lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h))
                if u is not None:
                    util.add(g, u.gpu / 100)
                    mem_util.add(g, u.memory / 100)
                mw = _try(nvml, lambda h=handle: nvml.nvmlDeviceGetPowerUsage(h))
                if mw is not None:
                    power.add(g, mw / 1000)
                lim = _try(nvml, lambda h=handle: nvml.nvmlDeviceGetEnforcedPowerLimit(h))
                if lim is not None:
                    limit.add(g, lim / 1000)
                t = _try(nvml, lambda h=handle: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU))
                if t is not None:
                    temp.add(g, t)
                mhz = _try(nvml, lambda h=handle: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM))
                if mhz is not None:
                    clock.add(g, mhz * 1e6)
                reasons = _try(nvml, lambda h=handle: nvml.nvmlDeviceGetCurrentClocksThrottleReasons(h))
                if reasons is not None:
                    for reason, bit in THROTTLE_REASONS.items():
                        throttle.add({**g, "reason": reason}, 1 if reasons & bit else 0)
                for kind, etype in (
                    ("corrected", nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED),
                    ("uncorrected", nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
                ):
                    n = _try(
                        nvml, lambda h=handle, t=etype: nvml.nvmlDeviceGetTotalEccErrors(h, t, nvml.NVML_AGGREGATE_ECC)
                    )
                    if n is not None:
                        ecc.add({**g, "type": kind}, n)
                rows = _try(nvml, lambda h=handle: nvml.nvmlDeviceGetRemappedRows(h))
                if rows is not None:
                    remap.add({**g, "type": "correctable"}, rows[0])
                    remap.add({**g, "type": "uncorrectable"}, rows[1])
                    remap_pending.add(g, 1 if rows[2] else 0)
                per_server: dict[str, list[float]] = {}
                for p in _try(nvml, lambda h=handle: nvml.nvmlDeviceGetComputeRunningProcesses(h)) or []:
                    server = attribute(self.cmdline_reader(p.pid), self.config.process_attribution)
                    acc = per_server.setdefault(server, [0.0, 0.0])
                    acc[0] += p.usedGpuMemory or 0  # None where the driver hides it
                    acc[1] += 1
                for server, (nbytes, count) in sorted(per_server.items()):
                    proc.add({**g, "server": server}, nbytes)
                    procs.add({**g, "server": server}, count)
            except nvml.NVMLError as exc:
                errors += 1
                log.warning("GPU %d: %s", i, exc)
        if s.handles and errors == len(s.handles):
            raise RuntimeError(f"every GPU failed to read ({errors})")
        failed = Family("citadel_gpu_read_failures", "gauge", "GPUs whose last reading failed.")
        failed.add({}, errors)
        count = Family("citadel_gpus", "gauge", "GPUs NVML reports.")
        count.add({}, len(s.handles))
        xid = Family("citadel_gpu_xid_errors", "counter", "XID critical errors reported by NVML events, per code.")
        for (gpu, code), n in sorted(s.xid_snapshot().items()):
            xid.add({"gpu": gpu, "xid": code}, n)
        xid_up = Family("citadel_gpu_xid_events_up", "gauge", "1 while the XID event wait is running.")
        if self.config.xid_events:
            xid_up.add({}, 1 if s.xid_up else 0)
        return [
            info, count, failed, util, mem_util, used, total, power, limit, temp, clock, throttle,
            ecc, remap, remap_pending, proc, procs, xid, xid_up,
        ]  # fmt: skip


class NvmlSlowSource(Source):
    """The slow NVML readings (energy counter, PCIe throughput), every `slow_interval_seconds`."""

    def __init__(self, config: NvmlConfig, session: NvmlSession) -> None:
        self.name = "nvml_slow"
        self.interval = config.slow_interval_seconds
        self.session = session

    def collect(self) -> list[Family]:
        s = self.session
        s.ensure()
        nvml = s.nvml
        energy = Family("citadel_gpu_energy_joules", "counter", "Energy the GPU consumed since the driver loaded.")
        pcie = Family("citadel_gpu_pcie_throughput_bytes_per_second", "gauge", "PCIe throughput over a 20 ms sample.")
        ok = 0
        for i, handle in enumerate(s.handles):
            g = {"gpu": str(i)}
            try:
                mj = _try(nvml, lambda h=handle: nvml.nvmlDeviceGetTotalEnergyConsumption(h))
                if mj is not None:
                    energy.add(g, mj / 1000)
                for direction, counter in (("tx", nvml.NVML_PCIE_UTIL_TX_BYTES), ("rx", nvml.NVML_PCIE_UTIL_RX_BYTES)):
                    kbs = _try(nvml, lambda h=handle, c=counter: nvml.nvmlDeviceGetPcieThroughput(h, c))
                    if kbs is not None:
                        pcie.add({**g, "direction": direction}, kbs * 1000)
                ok += 1
            except nvml.NVMLError as exc:
                log.warning("GPU %d (slow readings): %s", i, exc)
        if s.handles and not ok:
            raise RuntimeError("every GPU failed to read")
        stamp = Family(
            "citadel_gpu_slow_readings_timestamp_seconds", "gauge", "When the slow NVML readings were taken."
        )
        stamp.add({}, time.time())
        return [energy, pcie, stamp]
