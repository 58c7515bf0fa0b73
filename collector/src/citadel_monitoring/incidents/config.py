"""The incident receiver's configuration: a typed model, validated once at load with jsonschema.

Every error names the key path (`grouping.window_seconds: -1 is less than the minimum of 1`).
See docs/alerting.md#the-incident-receiver for the keys and an example.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from citadel_monitoring.incidents.remediation import RemediationConfig, parse_remediation

_URL = {"type": "string", "pattern": "^https?://"}
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["database", "notify", "basic_auth_users"],
    "properties": {
        "listen": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "address": {"type": "string", "minLength": 1},
                "port": {"type": "integer", "minimum": 0, "maximum": 65535},
            },
        },
        "tls": {
            "type": "object",
            "additionalProperties": False,
            "required": ["cert_file", "key_file"],
            "properties": {"cert_file": {"type": "string"}, "key_file": {"type": "string"}},
        },
        "basic_auth_users": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"type": "string", "pattern": r"^\$2[aby]\$[0-9]{2}\$.{53}$"},
        },
        "database": {"type": "string", "minLength": 1},
        "grouping": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "window_seconds": {"type": "number", "minimum": 1},
                "host_label": {"type": "string", "minLength": 1},
                "model_label": {"type": "string", "minLength": 1},
                "ignore_alertnames": {"type": "array", "items": {"type": "string"}},
                "topology": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"models": {"type": "array", "items": {"type": "string"}}},
                    },
                },
            },
        },
        "notify": {
            "type": "object",
            "additionalProperties": False,
            "required": ["url"],
            "properties": {
                "url": _URL,
                "timeout_seconds": _POSITIVE,
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "max_backoff_seconds": _POSITIVE,
            },
        },
        "remediation": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "dry_run": {"type": "boolean"},
                "hosts": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "max_actions_per_host": {"type": "integer", "minimum": 1},
                "rate_window_seconds": _POSITIVE,
                "cooldown_seconds": {"type": "number", "minimum": 0},
                "timeout_seconds": _POSITIVE,
                "audit_log": {"type": "string", "minLength": 1},
                "actions": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["command"],
                        "properties": {
                            "command": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                            "params": {
                                "type": "object",
                                "propertyNames": {"pattern": "^[a-z_][a-z0-9_]*$"},
                                "additionalProperties": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    },
                },
                "triggers": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "enrichment": {
            "type": "object",
            "additionalProperties": False,
            "required": ["prometheus_url"],
            "properties": {
                "prometheus_url": _URL,
                "threshold": {"type": "number", "minimum": 0},
                "lookback_seconds": {"type": "integer", "minimum": 60},
                "step_seconds": {"type": "integer", "minimum": 1},
                "timeout_seconds": _POSITIVE,
                "username": {"type": "string"},
                "password_file": {"type": "string"},
                "ca_file": {"type": "string"},
            },
        },
    },
}


class ConfigError(ValueError):
    """A bad configuration; the message names the key path."""


@dataclass(frozen=True)
class GroupingConfig:
    window_seconds: float = 900.0
    host_label: str = "instance"
    model_label: str = "model"
    ignore_alertnames: tuple[str, ...] = ("Watchdog",)
    topology: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class NotifyConfig:
    url: str
    timeout_seconds: float = 5.0
    headers: Mapping[str, str] = field(default_factory=dict)
    max_backoff_seconds: float = 300.0


@dataclass(frozen=True)
class EnrichmentConfig:
    prometheus_url: str
    threshold: float = 0.8
    lookback_seconds: int = 3600
    step_seconds: int = 60
    timeout_seconds: float = 5.0
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None


@dataclass(frozen=True)
class IncidentsConfig:
    database: Path
    notify: NotifyConfig
    basic_auth_users: Mapping[str, str]
    listen_address: str = "127.0.0.1"
    listen_port: int = 9097
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    grouping: GroupingConfig = field(default_factory=GroupingConfig)
    enrichment: EnrichmentConfig | None = None
    remediation: RemediationConfig | None = None


def _key_path(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def parse_config(data: Any) -> IncidentsConfig:
    """Validate a parsed YAML document into an `IncidentsConfig`."""
    if not isinstance(data, Mapping):
        raise ConfigError("(top level): the configuration must be a mapping")
    errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data))
    if errors:
        best = jsonschema.exceptions.best_match(errors) or errors[0]
        message = best.message
        if best.validator == "additionalProperties":
            message = message.replace("Additional properties are not allowed", "unknown key")
        if best.validator == "pattern" and "basic_auth_users" in best.absolute_path:
            message = "must be a bcrypt hash ($2b$...), not a password"
        raise ConfigError(f"{_key_path(best.absolute_path)}: {message}")
    listen = data.get("listen", {})
    tls = data.get("tls", {})
    g = data.get("grouping", {})
    grouping = GroupingConfig(
        window_seconds=float(g.get("window_seconds", 900)),
        host_label=g.get("host_label", "instance"),
        model_label=g.get("model_label", "model"),
        ignore_alertnames=tuple(g.get("ignore_alertnames", ["Watchdog"])),
        topology={h: tuple(v.get("models", [])) for h, v in g.get("topology", {}).items()},
    )
    n = data["notify"]
    notify = NotifyConfig(
        url=n["url"],
        timeout_seconds=float(n.get("timeout_seconds", 5)),
        headers=dict(n.get("headers", {})),
        max_backoff_seconds=float(n.get("max_backoff_seconds", 300)),
    )
    enrichment = None
    if "enrichment" in data:
        e = data["enrichment"]
        enrichment = EnrichmentConfig(
            prometheus_url=e["prometheus_url"],
            threshold=float(e.get("threshold", 0.8)),
            lookback_seconds=int(e.get("lookback_seconds", 3600)),
            step_seconds=int(e.get("step_seconds", 60)),
            timeout_seconds=float(e.get("timeout_seconds", 5)),
            username=e.get("username"),
            password_file=e.get("password_file"),
            ca_file=e.get("ca_file"),
        )
    remediation = None
    if "remediation" in data:
        try:
            remediation = parse_remediation(data["remediation"], grouping.host_label)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return IncidentsConfig(
        database=Path(data["database"]),
        notify=notify,
        basic_auth_users=dict(data["basic_auth_users"]),
        listen_address=listen.get("address", "127.0.0.1"),
        listen_port=int(listen.get("port", 9097)),
        tls_cert_file=tls.get("cert_file"),
        tls_key_file=tls.get("key_file"),
        grouping=grouping,
        enrichment=enrichment,
        remediation=remediation,
    )


def load_config(path: str | Path) -> IncidentsConfig:
    """Read and validate a YAML configuration file; errors start with the file name."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
