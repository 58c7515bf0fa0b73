"""The analytics service's configuration: a typed model, validated once at load with jsonschema.

Every error names the key path of the offending value (``watch[2].capacity.limit: ...``), so
``citadel-analytics serve --config FILE --check-config`` can be Ansible's ``validate:`` command.
Durations are Prometheus-style strings (``90s``, ``15m``, ``7d``). Settings given under
``defaults`` apply to every entry of ``watch`` that does not set them itself.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from citadel_monitoring import web_schema
from citadel_monitoring.analytics.csvio import parse_duration
from citadel_monitoring.analytics.registry import DETECTORS
from citadel_monitoring.collector.config import ConfigError, TlsConfig, _schema_error

DEFAULT_PORT = 9841

_DURATION = {"type": "string", "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d|w|y))+$"}
_PATH = web_schema.PATH
_NAME = {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$"}
_MEMBERS = [n for n in DETECTORS if n not in ("ensemble", "forest")]

_DETECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"enum": [n for n in DETECTORS if n != "forest"]},
        "members": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": _MEMBERS}},
        "combine": {"enum": ["max", "mean"]},
        "softness": {"type": "number", "exclusiveMinimum": 0},
        "memory": _DURATION,
        "onset": _DURATION,
        "season_days": {"type": "integer", "minimum": 1, "maximum": 28},
        "history": _DURATION,
    },
}
_FORECAST = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "enabled": {"type": "boolean"},
        "step": _DURATION,
        "horizons": {"type": "array", "maxItems": 8, "uniqueItems": True, "items": _DURATION},
        "coverage": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    },
}
_CAPACITY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["limit"],
    "properties": {
        "limit": {"type": "number"},
        "direction": {"enum": ["up", "down"]},
        "window": _DURATION,
        "alert_within": _DURATION,
    },
}
_SERIES_SETTINGS = {
    "step": _DURATION,
    "history": _DURATION,
    "counter": {"type": "boolean"},
    "anomaly_threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    "detector": _DETECTOR,
    "forecast": _FORECAST,
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["prometheus", "state_dir", "watch"],
    "properties": {
        "instance": {"type": "string", "minLength": 1, "maxLength": 253},
        "vars": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-zA-Z_][a-zA-Z0-9_]{0,63}$"},
            "additionalProperties": {"type": "string"},
        },
        "prometheus": {
            "type": "object",
            "additionalProperties": False,
            "required": ["url"],
            "properties": {
                "url": {"type": "string", "pattern": "^https?://[^\\s/]+(/[^\\s]*)?$"},
                "ca_file": _PATH,
                "insecure_skip_verify": {"type": "boolean"},
                "timeout": _DURATION,
                "basic_auth": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["username", "password_file"],
                    "properties": {"username": {"type": "string", "minLength": 1}, "password_file": _PATH},
                },
            },
        },
        "listen": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "address": {"type": "string", "minLength": 1},
                "port": {"type": "integer", "minimum": 0, "maximum": 65535},
            },
        },
        "tls": web_schema.TLS,
        "basic_auth": web_schema.BASIC_AUTH,
        "log_level": {"enum": ["debug", "info", "warning", "error"]},
        "state_dir": _PATH,
        "cycle": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "interval": _DURATION,
                "lag": _DURATION,
                "max_backoff": _DURATION,
                "stale_after": _DURATION,
                "save_state_every": _DURATION,
                "forecast_refits_per_cycle": {"type": "integer", "minimum": 0, "maximum": 10000},
            },
        },
        "limits": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "max_series": {"type": "integer", "minimum": 1, "maximum": 100000},
                "max_points_per_query": {"type": "integer", "minimum": 100, "maximum": 11000},
                "backfill_chunk": _DURATION,
            },
        },
        "defaults": {"type": "object", "additionalProperties": False, "properties": _SERIES_SETTINGS},
        "watch": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "query"],
                "properties": {
                    "name": _NAME,
                    "query": {"type": "string", "minLength": 1},
                    "owner": {"type": "string", "minLength": 1},
                    "capacity": _CAPACITY,
                    **_SERIES_SETTINGS,
                },
            },
        },
    },
}


@dataclass(frozen=True)
class PrometheusConfig:
    url: str
    ca_file: Path | None = None
    insecure_skip_verify: bool = False
    timeout_seconds: float = 30.0
    username: str | None = None
    password_file: Path | None = None


@dataclass(frozen=True)
class DetectorConfig:
    name: str = "ensemble"
    members: tuple[str, ...] = ("novelty", "seasonal", "smoothing")
    combine: str = "max"
    softness: float = 0.05
    memory_seconds: float = 2 * 86_400.0
    onset_seconds: float | None = None  # None: the registry's default (250 minutes, at least 50 points)
    season_days: int = 3
    history_seconds: float = 86_400.0  # how much of the start-up backfill the detector learns from


@dataclass(frozen=True)
class ForecastConfig:
    enabled: bool = True
    step_seconds: float = 900.0
    horizons_seconds: tuple[float, ...] = (3600.0, 86_400.0)
    coverage: float = 0.8


@dataclass(frozen=True)
class CapacityConfig:
    limit: float
    direction: str | None = None  # None: inferred from which side of the limit the series is
    window_seconds: float = 86_400.0
    alert_within_seconds: float = 86_400.0


@dataclass(frozen=True)
class WatchConfig:
    name: str
    query: str  # placeholders already substituted
    owner: str | None = None
    step_seconds: float = 60.0
    history_seconds: float = 7 * 86_400.0
    counter: bool = False
    anomaly_threshold: float = 0.5
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    capacity: CapacityConfig | None = None


@dataclass(frozen=True)
class CycleConfig:
    interval_seconds: float = 60.0
    lag_seconds: float = 30.0
    max_backoff_seconds: float = 600.0
    stale_after_seconds: float = 300.0
    save_state_every_seconds: float = 1800.0
    forecast_refits_per_cycle: int = 2


@dataclass(frozen=True)
class LimitsConfig:
    max_series: int = 1000
    max_points_per_query: int = 11000
    backfill_chunk_seconds: float = 6 * 3600.0


@dataclass(frozen=True)
class AnalyticsConfig:
    prometheus: PrometheusConfig
    state_dir: Path
    watches: tuple[WatchConfig, ...]
    instance: str = ""
    address: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls: TlsConfig | None = None
    basic_auth_users: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "info"
    cycle: CycleConfig = field(default_factory=CycleConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)

    def owned_watches(self) -> tuple[WatchConfig, ...]:
        """The watches this instance analyses: its own, and the fleet-wide ones it owns."""
        return tuple(w for w in self.watches if w.owner is None or w.owner == self.instance)


def _seconds(value: str | None, default: float | None, key: str, zero_ok: bool = False) -> float | None:
    """A duration in seconds, `default` when not set; a ConfigError naming `key` when not positive."""
    if value is None:
        return default
    try:
        return parse_duration(value)
    except ValueError:
        if zero_ok and re.fullmatch(r"(0+(\.0+)?(ms|s|m|h|d|w|y))+", value):
            return 0.0
        raise ConfigError(f"{key}: {value!r} is not a positive duration (e.g. 90s, 15m, 1h30m, 7d)") from None


def _substitute(query: str, variables: Mapping[str, str], key: str) -> str:
    try:
        return string.Template(query).substitute(variables)
    except KeyError as exc:
        known = ", ".join(sorted(variables)) or "none"
        raise ConfigError(f"{key}: unknown placeholder ${{{exc.args[0]}}} (known: {known})") from None
    except ValueError as exc:
        raise ConfigError(f"{key}: bad placeholder ({exc}); write $$ for a literal $") from None


def _watch(i: int, w: Mapping[str, Any], defaults: Mapping[str, Any], variables: Mapping[str, str]) -> WatchConfig:
    key = f"watch[{i}]"

    def get(name: str) -> Any:
        return w.get(name, defaults.get(name))

    step = _seconds(get("step"), 60.0, f"{key}.step")
    history = _seconds(get("history"), 7 * 86_400.0, f"{key}.history")
    assert step is not None and history is not None
    if history < 3 * step:
        raise ConfigError(f"{key}.history: {get('history')} is less than 3 steps of {get('step')}")
    d = {**defaults.get("detector", {}), **w.get("detector", {})}
    det = DetectorConfig(
        name=d.get("name", "ensemble"),
        members=tuple(d.get("members", DetectorConfig.members)),
        combine=d.get("combine", "max"),
        softness=float(d.get("softness", 0.05)),
        memory_seconds=_seconds(d.get("memory"), DetectorConfig.memory_seconds, f"{key}.detector.memory") or 0.0,
        onset_seconds=_seconds(d.get("onset"), None, f"{key}.detector.onset", zero_ok=True),
        season_days=int(d.get("season_days", 3)),
        history_seconds=min(
            history, _seconds(d.get("history"), DetectorConfig.history_seconds, f"{key}.detector.history") or 0.0
        ),
    )
    if det.memory_seconds < 2 * step:
        raise ConfigError(f"{key}.detector.memory: {d.get('memory')} is less than 2 steps")
    f = {**defaults.get("forecast", {}), **w.get("forecast", {})}
    fstep = _seconds(f.get("step"), max(900.0, step), f"{key}.forecast.step")
    assert fstep is not None
    if fstep < step or abs(fstep / step - round(fstep / step)) > 1e-9:
        raise ConfigError(f"{key}.forecast.step: {f.get('step')} must be a whole multiple of the step {step:g}s")
    horizons = tuple(
        sorted(
            _seconds(h, 0.0, f"{key}.forecast.horizons[{j}]") or 0.0
            for j, h in enumerate(f.get("horizons", ["1h", "1d"]))
        )
    )
    fc = ForecastConfig(
        enabled=f.get("enabled", True),
        step_seconds=fstep,
        horizons_seconds=horizons,
        coverage=float(f.get("coverage", 0.8)),
    )
    cap = None
    if "capacity" in w:
        c = w["capacity"]
        cap = CapacityConfig(
            limit=float(c["limit"]),
            direction=c.get("direction"),
            window_seconds=_seconds(c.get("window"), 86_400.0, f"{key}.capacity.window") or 0.0,
            alert_within_seconds=_seconds(c.get("alert_within"), 86_400.0, f"{key}.capacity.alert_within") or 0.0,
        )
        if cap.window_seconds < 3 * fstep:
            raise ConfigError(f"{key}.capacity.window: {c.get('window')} is less than 3 forecast steps")
    return WatchConfig(
        name=w["name"],
        query=_substitute(w["query"], variables, f"{key}.query"),
        owner=w.get("owner"),
        step_seconds=step,
        history_seconds=history,
        counter=bool(get("counter") or False),
        anomaly_threshold=float(get("anomaly_threshold") or 0.5),
        detector=det,
        forecast=fc,
        capacity=cap,
    )


def parse_config(data: Any) -> AnalyticsConfig:
    """Validate a loaded YAML document and build the typed configuration."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        best = jsonschema.exceptions.best_match(errors) or errors[0]
        raise _schema_error(best)
    instance = data.get("instance", "")
    variables = {"instance": instance, **data.get("vars", {})}
    defaults = data.get("defaults", {})
    watches = tuple(_watch(i, w, defaults, variables) for i, w in enumerate(data["watch"]))
    seen: set[str] = set()
    for i, w in enumerate(watches):
        if w.name in seen:
            raise ConfigError(f"watch[{i}].name: duplicate name {w.name!r}")
        seen.add(w.name)
        if w.owner is not None and not instance:
            raise ConfigError(f"watch[{i}].owner: set, but `instance` (this instance's name) is not")
    p = data["prometheus"]
    auth = p.get("basic_auth", {})
    prom = PrometheusConfig(
        url=p["url"].rstrip("/"),
        ca_file=Path(p["ca_file"]) if "ca_file" in p else None,
        insecure_skip_verify=p.get("insecure_skip_verify", False),
        timeout_seconds=_seconds(p.get("timeout"), 30.0, "prometheus.timeout") or 30.0,
        username=auth.get("username"),
        password_file=Path(auth["password_file"]) if auth else None,
    )
    tls = None
    if "tls" in data:
        t = data["tls"]
        ca = t.get("client_ca_file")
        tls = TlsConfig(Path(t["cert_file"]), Path(t["key_file"]), Path(ca) if ca else None)
    c = data.get("cycle", {})
    cycle = CycleConfig(
        interval_seconds=_seconds(c.get("interval"), 60.0, "cycle.interval") or 60.0,
        lag_seconds=_seconds(c.get("lag"), 30.0, "cycle.lag", zero_ok=True) or 0.0,
        max_backoff_seconds=_seconds(c.get("max_backoff"), 600.0, "cycle.max_backoff") or 600.0,
        stale_after_seconds=_seconds(c.get("stale_after"), 300.0, "cycle.stale_after") or 300.0,
        save_state_every_seconds=_seconds(c.get("save_state_every"), 1800.0, "cycle.save_state_every") or 1800.0,
        forecast_refits_per_cycle=c.get("forecast_refits_per_cycle", 2),
    )
    lim = data.get("limits", {})
    limits = LimitsConfig(
        max_series=lim.get("max_series", 1000),
        max_points_per_query=lim.get("max_points_per_query", 11000),
        backfill_chunk_seconds=_seconds(lim.get("backfill_chunk"), 6 * 3600.0, "limits.backfill_chunk") or 6 * 3600.0,
    )
    listen = data.get("listen", {})
    return AnalyticsConfig(
        prometheus=prom,
        state_dir=Path(data["state_dir"]),
        watches=watches,
        instance=instance,
        address=listen.get("address", "127.0.0.1"),
        port=listen.get("port", DEFAULT_PORT),
        tls=tls,
        basic_auth_users=dict(data.get("basic_auth", {}).get("users", {})),
        log_level=data.get("log_level", "info"),
        cycle=cycle,
        limits=limits,
    )


def check_files(config: AnalyticsConfig) -> None:
    """The files the service must read at start: exist and readable (what --check-config adds to the schema)."""
    checks: list[tuple[str, Path | None]] = [
        ("prometheus.ca_file", config.prometheus.ca_file),
        ("prometheus.basic_auth.password_file", config.prometheus.password_file),
    ]
    if config.tls is not None:
        checks += [
            ("tls.cert_file", config.tls.cert_file),
            ("tls.key_file", config.tls.key_file),
            ("tls.client_ca_file", config.tls.client_ca_file),
        ]
    for key, path in checks:
        if path is None:
            continue
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise ConfigError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None


def load_config(path: str | Path) -> AnalyticsConfig:
    """Read, parse and validate a YAML configuration file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    return parse_config(data)
