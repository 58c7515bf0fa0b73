"""FAKE NVML: a test double of the `pynvml` module (nvidia-ml-py) for tests, CI, benchmarks and the lab.

It simulates GPUs, their compute processes and XID events with the same function names, return
shapes, units and error classes as `pynvml`, so the collector's NVML source runs unchanged against
it. It is never a source of real data: every device is named ``FAKE ...``.
"""

from __future__ import annotations

import math
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_AGGREGATE_ECC = 1
NVML_PCIE_UTIL_TX_BYTES = 0
NVML_PCIE_UTIL_RX_BYTES = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_UNKNOWN = 999
nvmlEventTypeXidCriticalError = 8
nvmlClocksThrottleReasonGpuIdle = 0x1
nvmlClocksThrottleReasonApplicationsClocksSetting = 0x2
nvmlClocksThrottleReasonSwPowerCap = 0x4
nvmlClocksThrottleReasonHwSlowdown = 0x8
nvmlClocksThrottleReasonSyncBoost = 0x10
nvmlClocksThrottleReasonSwThermalSlowdown = 0x20
nvmlClocksThrottleReasonHwThermalSlowdown = 0x40
nvmlClocksThrottleReasonHwPowerBrakeSlowdown = 0x80

GiB = 1024**3


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return {3: "Not Supported", 10: "Timeout"}.get(self.value, f"NVML error {self.value}")


class NVMLError_NotSupported(NVMLError):
    def __init__(self) -> None:
        super().__init__(NVML_ERROR_NOT_SUPPORTED)


class NVMLError_Timeout(NVMLError):
    def __init__(self) -> None:
        super().__init__(NVML_ERROR_TIMEOUT)


@dataclass
class FakeGpu:
    index: int
    name: str = "FAKE NVIDIA H200"
    memory_total: int = 141 * GiB
    memory_used: int = 60 * GiB
    utilization: int = 55
    memory_utilization: int = 30
    power_mw: int = 400_000
    power_limit_mw: int = 700_000
    temperature: int = 55
    sm_clock_mhz: int = 1980
    throttle_reasons: int = 0
    ecc_supported: bool = True
    ecc_corrected: int = 0
    ecc_uncorrected: int = 0
    remapped_rows: tuple[int, int, bool, bool] = (0, 0, False, False)
    energy_mj: int = 10_000_000
    pcie_tx_kbs: int = 1000
    pcie_rx_kbs: int = 4000
    processes: list[tuple[int, int]] = field(default_factory=list)  # (pid, used bytes)
    unsupported: set[str] = field(default_factory=set)  # pynvml function names that raise NotSupported
    broken: bool = False  # every call for this GPU raises NVMLError(UNKNOWN)

    @property
    def uuid(self) -> str:
        return f"GPU-fake0000-0000-0000-0000-{self.index:012d}"


class FakeNvml:
    """The fake `pynvml` module. Tests reach into `gpus` and `inject_xid` to drive it."""

    NVMLError = NVMLError
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_Timeout = NVMLError_Timeout

    def __init__(self, gpu_count: int = 2, *, animate: bool = False, driver: str = "580.0-FAKE") -> None:
        self.gpus = [FakeGpu(i) for i in range(gpu_count)]
        self.driver = driver
        self.animate = animate  # vary readings over time (lab and demo)
        self.initialized = False
        self.init_error: NVMLError | None = None
        self.calls: dict[str, int] = {}
        self._events: queue.Queue[tuple[int, int]] = queue.Queue()
        self._registered: set[int] = set()
        self._started = time.monotonic()
        self._lock = threading.Lock()
        # module constants, as pynvml has them
        for key, value in globals().items():
            if key.startswith(("NVML_", "nvml")) and isinstance(value, int):
                setattr(self, key, value)

    # --- test controls --------------------------------------------------------------------
    def inject_xid(self, gpu: int, xid: int) -> None:
        self._events.put((gpu, xid))

    # --- helpers --------------------------------------------------------------------------
    def _count(self, name: str) -> None:
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1

    def _gpu(self, handle: Any) -> FakeGpu:
        if not self.initialized:
            raise NVMLError(1)  # uninitialized
        gpu = self.gpus[handle.index]
        if gpu.broken:
            raise NVMLError(NVML_ERROR_UNKNOWN)
        if gpu.unsupported:
            caller = sys._getframe(1).f_code.co_name
            if caller in gpu.unsupported:
                raise NVMLError_NotSupported()
        return gpu

    def _wave(self, gpu: FakeGpu, amplitude: float, period: float = 120.0) -> float:
        if not self.animate:
            return 0.0
        return amplitude * math.sin((time.monotonic() - self._started) / period * 2 * math.pi + gpu.index)

    # --- the pynvml API -------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self._count("nvmlInit")
        if self.init_error is not None:
            raise self.init_error
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self.initialized = False

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlDeviceGetCount(self) -> int:
        if not self.initialized:
            raise NVMLError(1)
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> SimpleNamespace:
        if index >= len(self.gpus):
            raise NVMLError(2)
        return SimpleNamespace(index=index)

    def nvmlDeviceGetName(self, handle: Any) -> str:
        return self._gpu(handle).name

    def nvmlDeviceGetUUID(self, handle: Any) -> str:
        return self._gpu(handle).uuid

    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> SimpleNamespace:
        gpu = self._gpu(handle)
        util = max(0, min(100, round(gpu.utilization + self._wave(gpu, 30))))
        return SimpleNamespace(gpu=util, memory=gpu.memory_utilization)

    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> SimpleNamespace:
        gpu = self._gpu(handle)
        return SimpleNamespace(total=gpu.memory_total, used=gpu.memory_used, free=gpu.memory_total - gpu.memory_used)

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        gpu = self._gpu(handle)
        return max(0, round(gpu.power_mw + self._wave(gpu, 150_000)))

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: Any) -> int:
        return self._gpu(handle).power_limit_mw

    def nvmlDeviceGetTemperature(self, handle: Any, sensor: int) -> int:
        gpu = self._gpu(handle)
        return round(gpu.temperature + self._wave(gpu, 8))

    def nvmlDeviceGetClockInfo(self, handle: Any, clock: int) -> int:
        return self._gpu(handle).sm_clock_mhz

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: Any) -> int:
        return self._gpu(handle).throttle_reasons

    nvmlDeviceGetCurrentClocksThrottleReasons = nvmlDeviceGetCurrentClocksEventReasons

    def nvmlDeviceGetTotalEccErrors(self, handle: Any, error_type: int, counter_type: int) -> int:
        gpu = self._gpu(handle)
        if not gpu.ecc_supported:
            raise NVMLError_NotSupported()
        return gpu.ecc_corrected if error_type == NVML_MEMORY_ERROR_TYPE_CORRECTED else gpu.ecc_uncorrected

    def nvmlDeviceGetRemappedRows(self, handle: Any) -> tuple[int, int, bool, bool]:
        gpu = self._gpu(handle)
        if not gpu.ecc_supported:
            raise NVMLError_NotSupported()
        return gpu.remapped_rows

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[SimpleNamespace]:
        gpu = self._gpu(handle)
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in gpu.processes]

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> int:
        self._count("nvmlDeviceGetTotalEnergyConsumption")
        gpu = self._gpu(handle)
        if self.animate:
            gpu.energy_mj += round(gpu.power_mw * 1.0)  # a second's worth per call, roughly
        return gpu.energy_mj

    def nvmlDeviceGetPcieThroughput(self, handle: Any, counter: int) -> int:
        self._count("nvmlDeviceGetPcieThroughput")
        gpu = self._gpu(handle)
        return gpu.pcie_tx_kbs if counter == NVML_PCIE_UTIL_TX_BYTES else gpu.pcie_rx_kbs

    def nvmlEventSetCreate(self) -> object:
        return object()

    def nvmlDeviceRegisterEvents(self, handle: Any, event_types: int, event_set: object) -> None:
        self._gpu(handle)
        self._registered.add(handle.index)

    def nvmlEventSetWait_v2(self, event_set: object, timeout_ms: int) -> SimpleNamespace:
        try:
            gpu, xid = self._events.get(timeout=timeout_ms / 1000)
        except queue.Empty:
            raise NVMLError_Timeout() from None
        return SimpleNamespace(
            device=SimpleNamespace(index=gpu), eventType=nvmlEventTypeXidCriticalError, eventData=xid
        )

    nvmlEventSetWait = nvmlEventSetWait_v2

    def nvmlEventSetFree(self, event_set: object) -> None:
        return None
