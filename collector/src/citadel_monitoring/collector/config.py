"""The collector's configuration: a typed model, validated once at load with jsonschema.

Every error names the key path of the offending value (``sources.probes[1].base_url: ...``) so
that ``citadel-collector --check-config`` can be used as Ansible's ``validate:`` command.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from citadel_monitoring import web_schema

DEFAULT_PORT = 9840

#: Histogram buckets (seconds) for gateway request latency: LLM requests run from tens of
#: milliseconds (cached, short) to minutes (long generations).
DEFAULT_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)

_NAME = {"type": "string", "pattern": "^[a-zA-Z0-9_.-]{1,64}$"}
_URL = {"type": "string", "pattern": "^https?://[^\\s/]+(/[^\\s]*)?$"}
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_PATH = web_schema.PATH

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
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
        "sources": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "nvml": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "interval_seconds": _POSITIVE,
                        "slow_interval_seconds": _POSITIVE,
                        "xid_events": {"type": "boolean"},
                        "fake_gpus": {"type": "integer", "minimum": 0, "maximum": 64},
                        "process_attribution": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["server", "cmdline_pattern"],
                                "properties": {"server": _NAME, "cmdline_pattern": {"type": "string"}},
                            },
                        },
                    },
                },
                "probes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "base_url", "model"],
                        "properties": {
                            "name": _NAME,
                            "base_url": _URL,
                            "model": {"type": "string", "minLength": 1, "maxLength": 200},
                            "engine": {"enum": ["vllm", "tgi", "llamacpp", "ollama", "triton", "openai", "other"]},
                            "api": {"enum": ["completions", "chat"]},
                            "health_path": {"type": ["string", "null"]},
                            "interval_seconds": _POSITIVE,
                            "timeout_seconds": _POSITIVE,
                            "max_tokens": {"type": "integer", "minimum": 1, "maximum": 512},
                            "prompt": {"type": "string", "minLength": 1},
                            "api_key_file": _PATH,
                        },
                    },
                },
                "ollama": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "base_url"],
                        "properties": {
                            "name": _NAME,
                            "base_url": _URL,
                            "interval_seconds": _POSITIVE,
                            "timeout_seconds": _POSITIVE,
                        },
                    },
                },
                "access_logs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "path"],
                        "properties": {
                            "name": _NAME,
                            "path": _PATH,
                            "state_file": _PATH,
                            "poll_interval_seconds": _POSITIVE,
                            "max_tenants": {"type": "integer", "minimum": 1, "maximum": 10000},
                            "max_models": {"type": "integer", "minimum": 1, "maximum": 1000},
                            "error_status_min": {"type": "integer", "minimum": 100, "maximum": 599},
                            "latency_buckets": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 40,
                                "items": _POSITIVE,
                            },
                            "fields": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    key: {"type": "string", "minLength": 1}
                                    for key in (
                                        "tenant",
                                        "model",
                                        "status",
                                        "prompt_tokens",
                                        "completion_tokens",
                                        "duration_seconds",
                                    )
                                },
                            },
                        },
                    },
                },
                "cost": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["currency"],
                    "properties": {
                        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                        "gpu_hourly_cost": {"type": "number", "minimum": 0},
                        "gpus": {"type": "integer", "minimum": 0},
                        "figures": {
                            "type": "object",
                            "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,63}$"},
                            "additionalProperties": {"type": "number"},
                        },
                    },
                },
            },
        },
    },
}


class ConfigError(ValueError):
    """A configuration that cannot be used; the message starts with the key path."""


@dataclass(frozen=True)
class TlsConfig:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None


@dataclass(frozen=True)
class ProcessRule:
    server: str
    cmdline_pattern: re.Pattern[str]


@dataclass(frozen=True)
class NvmlConfig:
    enabled: bool = True
    interval_seconds: float = 5.0
    slow_interval_seconds: float = 30.0
    xid_events: bool = True
    fake_gpus: int = 0
    process_attribution: tuple[ProcessRule, ...] = ()


@dataclass(frozen=True)
class ProbeConfig:
    name: str
    base_url: str
    model: str
    engine: str = "openai"
    api: str = "completions"
    health_path: str | None = "/health"
    interval_seconds: float = 30.0
    timeout_seconds: float = 10.0
    max_tokens: int = 16
    prompt: str = "Say hello in five words."
    api_key_file: Path | None = None


@dataclass(frozen=True)
class OllamaConfig:
    name: str
    base_url: str
    interval_seconds: float = 30.0
    timeout_seconds: float = 5.0


@dataclass(frozen=True)
class LogFields:
    tenant: str = "tenant"
    model: str = "model"
    status: str = "status"
    prompt_tokens: str = "prompt_tokens"
    completion_tokens: str = "completion_tokens"
    duration_seconds: str = "duration_seconds"


@dataclass(frozen=True)
class AccessLogConfig:
    name: str
    path: Path
    state_file: Path | None = None
    poll_interval_seconds: float = 1.0
    max_tenants: int = 50
    max_models: int = 20
    error_status_min: int = 500
    latency_buckets: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS
    fields: LogFields = field(default_factory=LogFields)


@dataclass(frozen=True)
class CostConfig:
    currency: str
    gpu_hourly_cost: float | None = None
    gpus: int | None = None
    figures: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CollectorConfig:
    address: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls: TlsConfig | None = None
    basic_auth_users: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "info"
    nvml: NvmlConfig | None = None
    probes: tuple[ProbeConfig, ...] = ()
    ollama: tuple[OllamaConfig, ...] = ()
    access_logs: tuple[AccessLogConfig, ...] = ()
    cost: CostConfig | None = None


def _key_path(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _schema_error(error: jsonschema.ValidationError) -> ConfigError:
    path = list(error.absolute_path)
    message = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed)
        if unknown:
            path.append(unknown[0])
            message = f"unknown key (allowed: {', '.join(sorted(allowed))})"
    elif error.validator == "required":
        missing = re.search(r"'([^']+)' is a required property", message)
        if missing:
            path.append(missing.group(1))
            message = "is required"
    elif error.validator == "pattern" and len(path) >= 2 and path[-2] == "users":
        message = "must be a bcrypt hash ($2b$...)"  # never echo what may be a plain password
    elif error.validator == "propertyNames":
        message = f"invalid key name: {message}"
    return ConfigError(f"{_key_path(path)}: {message}")


def parse_config(data: Any) -> CollectorConfig:
    """Validate a loaded YAML document and build the typed configuration."""
    if data is None:
        data = {}
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        # The deepest, first error in document order is the most useful one.
        best = jsonschema.exceptions.best_match(errors) or errors[0]
        raise _schema_error(best)
    return _build(data)


def _build(data: Mapping[str, Any]) -> CollectorConfig:
    listen = data.get("listen", {})
    tls = None
    if "tls" in data:
        t = data["tls"]
        ca = t.get("client_ca_file")
        tls = TlsConfig(Path(t["cert_file"]), Path(t["key_file"]), Path(ca) if ca else None)
    sources = data.get("sources", {})
    nvml = None
    if "nvml" in sources:
        n = sources["nvml"]
        rules = []
        for i, rule in enumerate(n.get("process_attribution", [])):
            try:
                pattern = re.compile(rule["cmdline_pattern"])
            except re.error as exc:
                raise ConfigError(
                    f"sources.nvml.process_attribution[{i}].cmdline_pattern: not a regular expression: {exc}"
                ) from None
            rules.append(ProcessRule(rule["server"], pattern))
        nvml = NvmlConfig(
            enabled=n.get("enabled", True),
            interval_seconds=float(n.get("interval_seconds", 5.0)),
            slow_interval_seconds=float(n.get("slow_interval_seconds", 30.0)),
            xid_events=n.get("xid_events", True),
            fake_gpus=n.get("fake_gpus", 0),
            process_attribution=tuple(rules),
        )
    probes = []
    for p in sources.get("probes", []):
        key_file = p.get("api_key_file")
        probes.append(
            ProbeConfig(
                name=p["name"],
                base_url=p["base_url"].rstrip("/"),
                model=p["model"],
                engine=p.get("engine", "openai"),
                api=p.get("api", "completions"),
                health_path=p.get("health_path", "/health"),
                interval_seconds=float(p.get("interval_seconds", 30.0)),
                timeout_seconds=float(p.get("timeout_seconds", 10.0)),
                max_tokens=p.get("max_tokens", 16),
                prompt=p.get("prompt", ProbeConfig.prompt),
                api_key_file=Path(key_file) if key_file else None,
            )
        )
    ollama = [
        OllamaConfig(
            name=o["name"],
            base_url=o["base_url"].rstrip("/"),
            interval_seconds=float(o.get("interval_seconds", 30.0)),
            timeout_seconds=float(o.get("timeout_seconds", 5.0)),
        )
        for o in sources.get("ollama", [])
    ]
    logs = []
    for i, lg in enumerate(sources.get("access_logs", [])):
        buckets = tuple(float(b) for b in lg.get("latency_buckets", DEFAULT_LATENCY_BUCKETS))
        if list(buckets) != sorted(set(buckets)):
            raise ConfigError(f"sources.access_logs[{i}].latency_buckets: must be strictly increasing")
        state = lg.get("state_file")
        logs.append(
            AccessLogConfig(
                name=lg["name"],
                path=Path(lg["path"]),
                state_file=Path(state) if state else None,
                poll_interval_seconds=float(lg.get("poll_interval_seconds", 1.0)),
                max_tenants=lg.get("max_tenants", 50),
                max_models=lg.get("max_models", 20),
                error_status_min=lg.get("error_status_min", 500),
                latency_buckets=buckets,
                fields=LogFields(**lg.get("fields", {})),
            )
        )
    cost = None
    if "cost" in sources:
        c = sources["cost"]
        cost = CostConfig(
            currency=c["currency"],
            gpu_hourly_cost=c.get("gpu_hourly_cost"),
            gpus=c.get("gpus"),
            figures=dict(c.get("figures", {})),
        )
    _check_unique("sources.probes", [p.name for p in probes])
    _check_unique("sources.ollama", [o.name for o in ollama])
    _check_unique("sources.access_logs", [lg.name for lg in logs])
    return CollectorConfig(
        address=listen.get("address", "127.0.0.1"),
        port=listen.get("port", DEFAULT_PORT),
        tls=tls,
        basic_auth_users=dict(data.get("basic_auth", {}).get("users", {})),
        log_level=data.get("log_level", "info"),
        nvml=nvml,
        probes=tuple(probes),
        ollama=tuple(ollama),
        access_logs=tuple(logs),
        cost=cost,
    )


def _check_unique(key: str, names: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise ConfigError(f"{key}[{i}].name: duplicate name {name!r}")
        seen.add(name)


def load_config(path: str | Path) -> CollectorConfig:
    """Read, parse and validate a YAML configuration file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data)
