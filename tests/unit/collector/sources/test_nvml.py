"""The NVML source against the FAKE NVML test double (no GPU here)."""

from __future__ import annotations

import re
import threading
import time

import pytest

from citadel_monitoring.collector.config import NvmlConfig, ProcessRule
from citadel_monitoring.collector.sources.nvml import NvmlSession, NvmlSlowSource, NvmlSource, attribute
from citadel_monitoring.simulator.fake_nvml import FakeNvml, GiB, NVMLError


def samples(fams):
    out = {}
    for f in fams:
        for suffix, labels, value in f.samples:
            out[(f.sample_name + suffix, tuple(sorted(labels.items())))] = value
    return out


def get(s, name, **labels):
    return s[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def stop():
    event = threading.Event()
    yield event
    event.set()


def make(nvml, stop, **kw):
    config = NvmlConfig(xid_events=kw.pop("xid_events", False), **kw)
    session = NvmlSession(nvml)
    return NvmlSource(config, session, stop, cmdline_reader=kw.get("reader", lambda pid: "")), session, config


def test_reads_every_gpu_in_base_units(stop):
    nvml = FakeNvml(2)
    nvml.gpus[1].memory_used = 10 * GiB
    nvml.gpus[1].power_mw = 123_456
    nvml.gpus[1].sm_clock_mhz = 1410
    nvml.gpus[1].utilization = 87
    source, _, _ = make(nvml, stop)
    s = samples(source.collect())
    assert get(s, "citadel_gpus") == 2
    assert get(s, "citadel_gpu_memory_used_bytes", gpu="1") == 10 * GiB
    assert get(s, "citadel_gpu_power_watts", gpu="1") == pytest.approx(123.456)
    assert get(s, "citadel_gpu_sm_clock_hertz", gpu="1") == 1410e6
    assert get(s, "citadel_gpu_utilization_ratio", gpu="1") == pytest.approx(0.87)
    info = [k for k in s if k[0] == "citadel_gpu_info"]
    assert len(info) == 2 and ("name", "FAKE NVIDIA H200") in info[0][1]


def test_throttle_reasons_ecc_and_remapped_rows(stop):
    nvml = FakeNvml(1)
    g = nvml.gpus[0]
    g.throttle_reasons = 0x4 | 0x40
    g.ecc_corrected, g.ecc_uncorrected = 7, 1
    g.remapped_rows = (2, 1, True, False)
    s = samples(make(nvml, stop)[0].collect())
    assert get(s, "citadel_gpu_clock_throttle_active", gpu="0", reason="sw_power_cap") == 1
    assert get(s, "citadel_gpu_clock_throttle_active", gpu="0", reason="hw_thermal_slowdown") == 1
    assert get(s, "citadel_gpu_clock_throttle_active", gpu="0", reason="gpu_idle") == 0
    assert get(s, "citadel_gpu_ecc_errors_total", gpu="0", type="corrected") == 7
    assert get(s, "citadel_gpu_remapped_rows_total", gpu="0", type="uncorrectable") == 1
    assert get(s, "citadel_gpu_row_remap_pending", gpu="0") == 1


def test_unsupported_readings_are_left_out_not_errors(stop):
    nvml = FakeNvml(1)
    nvml.gpus[0].ecc_supported = False
    s = samples(make(nvml, stop)[0].collect())
    assert not [k for k in s if k[0].startswith(("citadel_gpu_ecc", "citadel_gpu_remapped"))]
    assert get(s, "citadel_gpu_read_failures") == 0


def test_gpu_memory_is_attributed_to_the_owning_model_server(stop):
    nvml = FakeNvml(1)
    nvml.gpus[0].processes = [(101, 40 * GiB), (102, 2 * GiB), (103, 1 * GiB), (104, None)]
    cmdlines = {
        101: "python -m vllm.entrypoints.openai.api_server --model llama",
        102: "ollama serve",
        103: "python train.py",
    }
    rules = (ProcessRule("vllm", re.compile(r"vllm\.entrypoints")), ProcessRule("ollama", re.compile(r"^ollama ")))
    config = NvmlConfig(xid_events=False, process_attribution=rules)
    source = NvmlSource(config, NvmlSession(nvml), stop, cmdline_reader=lambda pid: cmdlines.get(pid, ""))
    s = samples(source.collect())
    assert get(s, "citadel_gpu_process_memory_used_bytes", gpu="0", server="vllm") == 40 * GiB
    assert get(s, "citadel_gpu_process_memory_used_bytes", gpu="0", server="ollama") == 2 * GiB
    assert get(s, "citadel_gpu_process_memory_used_bytes", gpu="0", server="other") == 1 * GiB
    assert get(s, "citadel_gpu_processes", gpu="0", server="other") == 2


def test_attribute_defaults_to_other():
    assert attribute("", (ProcessRule("x", re.compile(".*")),)) == "other"


def test_one_broken_gpu_does_not_hide_the_others(stop):
    nvml = FakeNvml(3)
    nvml.gpus[1].broken = True
    s = samples(make(nvml, stop)[0].collect())
    assert get(s, "citadel_gpu_read_failures") == 1
    assert ("citadel_gpu_temperature_celsius", (("gpu", "2"),)) in s
    assert ("citadel_gpu_temperature_celsius", (("gpu", "1"),)) not in s


def test_no_driver_makes_the_source_fail(stop):
    nvml = FakeNvml(1)
    nvml.init_error = NVMLError(9)  # driver not loaded
    with pytest.raises(NVMLError):
        make(nvml, stop)[0].collect()
    nvml.init_error = None  # a later collection retries the initialisation
    assert get(samples(make(nvml, stop)[0].collect()), "citadel_gpus") == 1


def test_slow_readings_live_in_their_own_source(stop):
    nvml = FakeNvml(2)
    nvml.gpus[0].energy_mj = 5_000_000
    nvml.gpus[0].pcie_rx_kbs = 250
    source, session, config = make(nvml, stop)
    source.collect()
    assert "nvmlDeviceGetTotalEnergyConsumption" not in nvml.calls  # never in the fast loop
    assert "nvmlDeviceGetPcieThroughput" not in nvml.calls
    s = samples(NvmlSlowSource(config, session).collect())
    assert get(s, "citadel_gpu_energy_joules_total", gpu="0") == 5000
    assert get(s, "citadel_gpu_pcie_throughput_bytes_per_second", gpu="0", direction="rx") == 250_000


def test_xid_events_are_counted_from_the_event_wait(stop):
    nvml = FakeNvml(2)
    source, session, _ = make(nvml, stop, xid_events=True)
    source.start()
    nvml.inject_xid(1, 79)
    nvml.inject_xid(1, 79)
    nvml.inject_xid(0, 48)
    deadline = time.monotonic() + 3
    while sum(session.xid_snapshot().values()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    s = samples(source.collect())
    assert get(s, "citadel_gpu_xid_errors_total", gpu="1", xid="79") == 2
    assert get(s, "citadel_gpu_xid_errors_total", gpu="0", xid="48") == 1
    assert get(s, "citadel_gpu_xid_events_up") == 1


def test_a_mig_like_gpu_without_utilisation_or_processes_is_still_read(stop):
    nvml = FakeNvml(1)
    nvml.gpus[0].unsupported = {
        "nvmlDeviceGetUtilizationRates",
        "nvmlDeviceGetComputeRunningProcesses",
        "nvmlDeviceGetTemperature",
    }
    s = samples(make(nvml, stop)[0].collect())
    assert get(s, "citadel_gpu_read_failures") == 0
    assert get(s, "citadel_gpu_memory_used_bytes", gpu="0") == nvml.gpus[0].memory_used
    assert not [k for k in s if k[0] in ("citadel_gpu_utilization_ratio", "citadel_gpu_temperature_celsius")]
