"""GPU fleet: utilisation, memory, power, temperature, throttling, ECC/XID errors, per-process memory.

The series are the collector's NVML source (docs/collector.md); each carries `gpu` (the index)
and the scrape target's `instance`.
"""

from __future__ import annotations

from .grafana import BYTES, CELSIUS, HERTZ, PERCENT_UNIT, SHORT, WATTS, Dashboard, Panel, Target, query_variable

SEL = 'instance=~"$host", gpu=~"$gpu"'
LEGEND = "{{instance}} GPU {{gpu}}"


def _gauge(title: str, description: str, unit: str, expr: str, **kw: object) -> Panel:
    return Panel(title, description, unit, [Target(expr, LEGEND)], width=8, **kw)  # type: ignore[arg-type]


def build() -> dict:
    d = Dashboard(
        "citadel-gpu-fleet",
        "Citadel / GPU fleet",
        "Every GPU of the inference hosts: how busy, how full, how hot, and whether it is failing.",
        ["gpu", "sre"],
        variables=[
            query_variable("host", "Host", "label_values(citadel_gpu_info, instance)"),
            query_variable("gpu", "GPU", 'label_values(citadel_gpu_info{instance=~"$host"}, gpu)'),
        ],
    )
    d.row("Fleet")
    d.add(
        Panel(
            "GPUs",
            "GPUs the collectors see (citadel_gpus).",
            SHORT,
            [Target('sum(citadel_gpus{instance=~"$host"})', "GPUs")],
            kind="stat",
            width=6,
            height=5,
        ),
        Panel(
            "Mean utilisation",
            "Mean share of time the GPUs' kernels ran (citadel_gpu_utilization_ratio).",
            PERCENT_UNIT,
            [Target(f"avg(citadel_gpu_utilization_ratio{{{SEL}}})", "utilisation")],
            kind="stat",
            width=6,
            height=5,
            min=0,
            max=1,
        ),
        Panel(
            "Power draw",
            "Power the GPUs draw together (citadel_gpu_power_watts).",
            WATTS,
            [Target(f"sum(citadel_gpu_power_watts{{{SEL}}})", "power")],
            kind="stat",
            width=6,
            height=5,
        ),
        Panel(
            "GPUs that could not be read",
            "GPUs NVML failed to read on the last collection (citadel_gpu_read_failures).",
            SHORT,
            [Target('sum(citadel_gpu_read_failures{instance=~"$host"})', "read failures")],
            kind="stat",
            width=6,
            height=5,
            thresholds=[(None, "green"), (1, "red")],
        ),
    )
    d.row("Load")
    d.add(
        _gauge(
            "Utilisation",
            "Share of time a kernel ran on the GPU.",
            PERCENT_UNIT,
            f"citadel_gpu_utilization_ratio{{{SEL}}}",
            min=0,
            max=1,
        ),
        _gauge(
            "Memory bandwidth utilisation",
            "Share of time the GPU memory was read or written.",
            PERCENT_UNIT,
            f"citadel_gpu_memory_bandwidth_utilization_ratio{{{SEL}}}",
            min=0,
            max=1,
        ),
        _gauge(
            "SM clock",
            "The streaming multiprocessors' clock; low under load means throttling.",
            HERTZ,
            f"citadel_gpu_sm_clock_hertz{{{SEL}}}",
        ),
    )
    d.row("Memory")
    d.add(
        _gauge(
            "Memory used",
            "Share of each GPU's memory in use (citadel_gpu_memory_used_bytes / citadel_gpu_memory_total_bytes).",
            PERCENT_UNIT,
            f"citadel_gpu_memory_used_bytes{{{SEL}}} / citadel_gpu_memory_total_bytes{{{SEL}}}",
            min=0,
            max=1,
            thresholds=[(None, "green"), (0.9, "orange"), (0.97, "red")],
        ),
        _gauge("Memory used (bytes)", "GPU memory in use.", BYTES, f"citadel_gpu_memory_used_bytes{{{SEL}}}"),
        Panel(
            "Memory per process",
            "GPU memory held per inference server process (citadel_gpu_process_memory_used_bytes; "
            "servers not configured by name are summed as `other`).",
            BYTES,
            [
                Target(
                    f"sum by (instance, gpu, server) (citadel_gpu_process_memory_used_bytes{{{SEL}}})",
                    "{{instance}} GPU {{gpu}} {{server}}",
                )
            ],
            width=8,
            stack=True,
        ),
    )
    d.row("Power and temperature")
    d.add(
        _gauge("Power", "Power drawn by each GPU.", WATTS, f"citadel_gpu_power_watts{{{SEL}}}"),
        _gauge(
            "Power against the limit",
            "Power drawn as a share of the GPU's power limit; at 1 the GPU is power-capped.",
            PERCENT_UNIT,
            f"citadel_gpu_power_watts{{{SEL}}} / citadel_gpu_power_limit_watts{{{SEL}}}",
            min=0,
            max=1,
        ),
        _gauge(
            "Temperature",
            "GPU die temperature.",
            CELSIUS,
            f"citadel_gpu_temperature_celsius{{{SEL}}}",
            thresholds=[(None, "green"), (80, "orange"), (87, "red")],
        ),
    )
    d.row("Throttling and errors")
    d.add(
        Panel(
            "Clock throttling by reason",
            "GPUs whose clocks are held down, per reason (citadel_gpu_clock_throttle_active); "
            "thermal and power reasons mean lost throughput.",
            SHORT,
            [Target(f"sum by (reason) (citadel_gpu_clock_throttle_active{{{SEL}}})", "{{reason}}")],
            width=8,
            stack=True,
        ),
        Panel(
            "ECC errors (1h)",
            "ECC errors in the last hour by type (citadel_gpu_ecc_errors_total); uncorrected errors kill the job.",
            SHORT,
            [
                Target(
                    f"sum by (instance, gpu, type) (increase(citadel_gpu_ecc_errors_total{{{SEL}}}[1h]))",
                    "{{instance}} GPU {{gpu}} {{type}}",
                )
            ],
            width=8,
        ),
        Panel(
            "XID errors (1h)",
            "Driver XID events in the last hour by code (citadel_gpu_xid_errors_total); 48, 63, 64, 74, 79 "
            "and 94/95 call for attention.",
            SHORT,
            [
                Target(
                    f"sum by (instance, gpu, xid) (increase(citadel_gpu_xid_errors_total{{{SEL}}}[1h]))",
                    "{{instance}} GPU {{gpu}} XID {{xid}}",
                )
            ],
            width=8,
        ),
        Panel(
            "Row remaps pending",
            "GPUs with a memory row remap pending (citadel_gpu_row_remap_pending): reset the GPU when it is idle.",
            SHORT,
            [Target(f"sum by (instance, gpu) (citadel_gpu_row_remap_pending{{{SEL}}})", LEGEND)],
            width=12,
        ),
        Panel(
            "Remapped rows",
            "Memory rows remapped so far, by type (citadel_gpu_remapped_rows_total).",
            SHORT,
            [
                Target(
                    f"sum by (instance, gpu, type) (citadel_gpu_remapped_rows_total{{{SEL}}})",
                    "{{instance}} GPU {{gpu}} {{type}}",
                )
            ],
            width=12,
        ),
    )
    return d.to_json()
