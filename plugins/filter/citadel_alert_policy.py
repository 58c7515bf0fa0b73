"""Filters `citadel_alertmanager_config` and `citadel_alert_topology`: an escalation policy as data.

`citadel_alertmanager_config` turns a declarative escalation policy (alerting/policy.yml: teams,
the services they own, severities, receivers, business hours, maintenance windows, correlation
settings) into the pieces of an Alertmanager 0.25 configuration that the `alertmanager` role
takes: `{global, route, receivers, inhibit_rules, time_intervals}`. Inhibition rules are
generated from label conventions and, when a topology is given, from which models run on which
host. `citadel_alert_topology` builds that topology from inventory host variables.

Everything but the `FilterModule` adapter at the end is pure Python (jsonschema and the standard
library) and is unit-tested without Ansible: `load_policy` validates a policy into a `Policy`,
`alertmanager_config` renders it. One file on purpose: ansible-core scans the directories under
`plugins/filter/` for filter plugins, so helper modules there would be loaded (and warned about)
as plugins. The format and the generated configuration are described in docs/alerting.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOCUMENTATION = r"""
name: citadel_alertmanager_config
short_description: Alertmanager routing, receivers, inhibition and time intervals from an escalation policy
description:
  - Takes an escalation policy (as parsed from YAML, see C(alerting/policy.yml) and docs/alerting.md)
    and returns C({global, route, receivers, inhibit_rules, time_intervals}) for Alertmanager 0.25,
    ready for the C(alertmanager) role's C(alertmanager_global), C(alertmanager_route),
    C(alertmanager_receivers), C(alertmanager_inhibit_rules) and C(alertmanager_time_intervals).
  - "Routing: a watchdog route to the dead-man's-switch receiver first, then (optionally) every
    alert to the incident receiver (C(continue: true)), then per team one route for its C(team)
    label and one per service it owns, each with one child route per severity (grouping keys and
    timings of that severity, business-hours C(active_time_intervals), maintenance
    C(mute_time_intervals)); the root route is the catch-all."
  - Receivers are referenced by name in teams' escalation lists; the receivers of one team and
    severity are merged into one Alertmanager receiver named C(<team>-<severity>).
  - "Secrets are never in the policy: a field holds C({secret: NAME}) and the value comes from the
    O(secrets) dictionary (Vault variables), or, with O(secrets_dir), the field is rendered as its
    C(*_file) variant pointing at C(<secrets_dir>/NAME) where Alertmanager 0.25 has one. Error
    messages name the secret, never its value."
  - Every policy is validated first (JSON Schema, then references, durations and matchers); an error
    names the file, the item and the field.
  - "The same file provides C(citadel_alert_topology): C(hosts | citadel_alert_topology(hostvars,
    models_var='citadel_models')) maps each host to C({models: [...]}) from its O(models_var) (model
    names or mappings with a C(name)), the O(topology) this filter takes."
options:
  _input:
    description: The policy (a dict).
    type: dict
    required: true
  secrets:
    description: "Secret name -> value, typically C({'vault_slack_webhook_url': vault_slack_webhook_url})."
    type: dict
    default: {}
  secrets_dir:
    description:
      - When set, secret fields that have a C(*_file) variant in Alertmanager 0.25 (Slack C(api_url),
        PagerDuty C(routing_key), email C(auth_password), basic auth C(password)) are rendered as
        C(<secrets_dir>/NAME); give the values to the role's C(alertmanager_secrets). Webhook URLs
        have no C(*_file) variant in 0.25 and are always inlined from O(secrets).
    type: str
  topology:
    description: "Host -> C({models: [...]}) (see C(citadel_alert_topology)); adds per-host inhibit rules."
    type: dict
    default: {}
  source:
    description: The policy's file name, used in error messages.
    type: str
    default: alerting/policy.yml
"""

EXAMPLES = r"""
- name: Render the Alertmanager configuration from the escalation policy
  ansible.builtin.set_fact:
    __am: >-
      {{ lookup('file', 'alerting/policy.yml') | from_yaml
         | citadel_alertmanager_config(secrets=citadel_alerting_secrets,
                                       topology=groups['model_hosts'] | citadel_alert_topology(hostvars),
                                       source='alerting/policy.yml') }}
  no_log: true

- name: Build the topology alone
  ansible.builtin.debug:
    msg: "{{ groups['model_hosts'] | citadel_alert_topology(hostvars, models_var='citadel_models') }}"
"""

RETURN = r"""
_value:
  description: C({global, route, receivers, inhibit_rules, time_intervals}) for Alertmanager 0.25.
  type: dict
"""

SECRET_FIELDS_WITH_FILE = {
    ("slack", "api_url"): "api_url_file",
    ("pagerduty", "routing_key"): "routing_key_file",
    ("email", "auth_password"): "auth_password_file",
    ("basic_auth", "password"): "password_file",
}

DURATION = re.compile(r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')
NAME = r"^[a-z0-9][a-z0-9_.-]*$"
DEFAULT_SOURCE = "alerting/policy.yml"
NEGATED = {"=": "!=", "=~": "!~", "!=": "=", "!~": "=~"}

_SECRET = {
    "type": "object",
    "properties": {"secret": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}},
    "required": ["secret"],
    "additionalProperties": False,
}
_STR_OR_SECRET = {"oneOf": [{"type": "string", "minLength": 1}, _SECRET]}
_MATCHERS = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}
_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1}}
_TIMING = {
    "group_by": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "group_wait": {"type": "string"},
    "group_interval": {"type": "string"},
    "repeat_interval": {"type": "string"},
}
_COMMON_RECEIVER = {"type": {}, "send_resolved": {"type": "boolean"}, "options": {"type": "object"}}
_RECEIVER_TYPES: dict[str, dict[str, Any]] = {
    "email": {
        "properties": {
            "to": {"type": "string", "minLength": 3},
            "from": {"type": "string"},
            "smarthost": {"type": "string"},
            "auth_username": {"type": "string"},
            "auth_password": _STR_OR_SECRET,
        },
        "required": ["to"],
    },
    "slack": {
        "properties": {
            "api_url": _STR_OR_SECRET,
            "channel": {"type": "string", "minLength": 1},
            "title": {"type": "string"},
            "text": {"type": "string"},
        },
        "required": ["api_url", "channel"],
    },
    "pagerduty": {
        "properties": {"routing_key": _STR_OR_SECRET, "url": {"type": "string"}},
        "required": ["routing_key"],
    },
    "msteams": {"properties": {"url": _STR_OR_SECRET}, "required": ["url"]},
    "webhook": {
        "properties": {
            "url": _STR_OR_SECRET,
            "max_alerts": {"type": "integer", "minimum": 0},
            "basic_auth": {
                "type": "object",
                "properties": {"username": {"type": "string", "minLength": 1}, "password": _STR_OR_SECRET},
                "required": ["username", "password"],
                "additionalProperties": False,
            },
        },
        "required": ["url"],
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "severities", "receivers", "teams", "default_receiver", "watchdog"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": 1},
        "global": {"type": "object"},
        "defaults": {"type": "object", "properties": _TIMING, "additionalProperties": False},
        "severities": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": NAME},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {**_TIMING, "active_time_intervals": _NAMES, "mute_time_intervals": _NAMES},
            },
        },
        "time_intervals": {
            "type": "object",
            "propertyNames": {"pattern": NAME},
            "additionalProperties": {"type": "array", "minItems": 1, "items": {"type": "object"}},
        },
        "maintenance": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["time_interval"],
                "additionalProperties": False,
                "properties": {
                    "time_interval": {"type": "string"},
                    "services": _NAMES,
                    "teams": _NAMES,
                    "description": {"type": "string"},
                },
            },
        },
        "receivers": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": NAME},
            "additionalProperties": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"enum": sorted(_RECEIVER_TYPES)}},
                "allOf": [
                    {
                        "if": {"properties": {"type": {"const": kind}}},
                        "then": {
                            "properties": {**_COMMON_RECEIVER, **spec["properties"]},
                            "required": spec["required"],
                            "additionalProperties": False,
                        },
                    }
                    for kind, spec in sorted(_RECEIVER_TYPES.items())
                ],
            },
        },
        "teams": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": NAME},
            "additionalProperties": {
                "type": "object",
                "required": ["escalation"],
                "additionalProperties": False,
                "properties": {
                    "description": {"type": "string"},
                    "services": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "matchers"],
                            "additionalProperties": False,
                            "properties": {"name": {"type": "string", "pattern": NAME}, "matchers": _MATCHERS},
                        },
                    },
                    "escalation": {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    },
                },
            },
        },
        "default_receiver": {"type": "string"},
        "watchdog": {
            "type": "object",
            "required": ["receiver"],
            "additionalProperties": False,
            "properties": {
                "alertname": {"type": "string"},
                "receiver": {"type": "string"},
                "repeat_interval": {"type": "string"},
            },
        },
        "incidents": {
            "type": "object",
            "required": ["receiver"],
            "additionalProperties": False,
            "properties": {"receiver": {"type": "string"}, "group_by": {"type": "array", "items": {"type": "string"}}},
        },
        "correlation": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "host_label": {"type": "string"},
                "model_label": {"type": "string"},
                "slo_labels": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "page_severity": {"type": "string"},
                "ticket_severity": {"type": "string"},
                "host_down": _MATCHERS,
                "gpu_fault": _MATCHERS,
                "latency_and_slo": _MATCHERS,
                "scrape_failure": _MATCHERS,
                "absent_data": _MATCHERS,
            },
        },
        "inhibit_rules": {"type": "array", "items": {"type": "object"}},
    },
}

DEFAULT_TIMING = {
    "group_by": ["alertname", "instance"],
    "group_wait": "30s",
    "group_interval": "5m",
    "repeat_interval": "4h",
}
DEFAULT_CORRELATION: dict[str, Any] = {
    "host_label": "instance",
    "model_label": "model",
    "slo_labels": ["slo_service", "slo_name"],
    "page_severity": "page",
    "ticket_severity": "ticket",
    "host_down": ['alertname=~"HostDown|HostUnreachable"'],
    "gpu_fault": ['alertname=~"GpuXidErrors|GpuEccErrors|GpuThermalThrottling|GpuFault.*"'],
    "latency_and_slo": ['alertname=~".*(Latency|TimeToFirstToken|InterToken|BudgetBurn|Slo).*"'],
    "scrape_failure": ['alertname=~"TargetDown|CollectorSourceDown|PrometheusTargetScrapeFailed"'],
    "absent_data": ['alertname=~".*(Absent|NoData|Stale).*"'],
}


class PolicyError(ValueError):
    """A bad policy; the message names the file, the item and the field."""


@dataclass(frozen=True)
class Team:
    name: str
    services: tuple[tuple[str, tuple[str, ...]], ...]
    escalation: dict[str, tuple[str, ...]]


@dataclass
class Policy:
    """A validated policy (plain data; see SCHEMA and docs/alerting.md)."""

    source: str
    global_: dict[str, Any]
    defaults: dict[str, Any]
    severities: dict[str, dict[str, Any]]
    time_intervals: dict[str, list[dict[str, Any]]]
    maintenance: list[dict[str, Any]]
    receivers: dict[str, dict[str, Any]]
    teams: list[Team]
    default_receiver: str
    watchdog: dict[str, Any]
    incidents: dict[str, Any] | None
    correlation: dict[str, Any]
    inhibit_rules: list[dict[str, Any]] = field(default_factory=list)


def _plain(value: Any) -> Any:
    """Ansible's tagged str/dict/list subclasses (and Vault values) as plain Python values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _path(parts: Sequence[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def _err(source: str, where: str, message: str) -> PolicyError:
    return PolicyError(f"{source}: {where}: {message}")


def _check_schema(doc: Any, source: str) -> None:
    import jsonschema

    if not isinstance(doc, Mapping):
        raise PolicyError(f"{source}: a policy must be a mapping, not {type(doc).__name__}")
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(doc), key=lambda e: (-len(e.absolute_path), list(map(str, e.path))))
    if not errors:
        return
    err = errors[0]
    message = err.message
    if err.validator == "additionalProperties":
        message = message.replace("Additional properties are not allowed", "unknown key")
    if err.validator == "oneOf":
        message = "must be a non-empty string or {secret: NAME}"
    if "propertyNames" in err.schema_path:
        message = f"{err.instance!r} is not a valid name (lower case letters, digits, '_', '.', '-')"
    raise _err(source, _path(err.absolute_path), message)


def _duration(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str) or not value or not DURATION.match(value):
        raise _err(source, where, f"{value!r} is not a duration like 30s, 5m or 4h")
    return value


def check_matcher(text: str, source: str, where: str) -> str:
    """An Alertmanager matcher `label op "value"`; regular expressions must compile."""
    match = MATCHER.match(text)
    if not match:
        raise _err(source, where, f'{text!r} is not a matcher like alertname="X" or severity=~"page|ticket"')
    if match.group(2) in ("=~", "!~"):
        try:
            re.compile(match.group(3))
        except re.error as exc:
            raise _err(source, where, f"{text!r}: bad regular expression: {exc}") from None
    return text.strip()


def _timing(values: Mapping[str, Any], source: str, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("group_wait", "group_interval", "repeat_interval"):
        if key in values:
            out[key] = _duration(values[key], source, f"{where}.{key}")
    if "group_by" in values:
        for label in values["group_by"]:
            if label != "..." and not LABEL_NAME.match(label):
                raise _err(source, f"{where}.group_by", f"{label!r} is not a label name")
        out["group_by"] = list(values["group_by"])
    return out


def load_policy(doc: Any, source: str = DEFAULT_SOURCE) -> Policy:
    """Validate a policy document (schema, then references and syntax) into a `Policy`."""
    doc = _plain(doc)
    _check_schema(doc, source)
    intervals = doc.get("time_intervals", {})

    def interval_ref(name: str, where: str) -> str:
        if name not in intervals:
            raise _err(source, where, f"time interval {name!r} is not defined in time_intervals")
        return name

    defaults = {**DEFAULT_TIMING, **_timing(doc.get("defaults", {}), source, "defaults")}
    severities: dict[str, dict[str, Any]] = {}
    for sev, spec in doc["severities"].items():
        where = f"severities.{sev}"
        entry = _timing(spec, source, where)
        for key in ("active_time_intervals", "mute_time_intervals"):
            if key in spec:
                entry[key] = [interval_ref(n, f"{where}.{key}") for n in spec[key]]
        severities[sev] = entry

    for name, items in intervals.items():
        for i, item in enumerate(items):
            unknown = set(item) - {"times", "weekdays", "days_of_month", "months", "years", "location"}
            if unknown:
                raise _err(source, f"time_intervals.{name}[{i}]", f"unknown key {sorted(unknown)[0]!r}")
            for j, span in enumerate(item.get("times", [])):
                for key in ("start_time", "end_time"):
                    value = span.get(key) if isinstance(span, Mapping) else None
                    if not isinstance(value, str) or not re.match(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$", value):
                        raise _err(
                            source, f"time_intervals.{name}[{i}].times[{j}].{key}", f"{value!r} is not a time HH:MM"
                        )

    receivers = doc["receivers"]

    def receiver_ref(name: str, where: str) -> str:
        if name not in receivers:
            raise _err(source, where, f"receiver {name!r} is not defined in receivers")
        return name

    teams: list[Team] = []
    service_names: set[str] = set()
    for tname, spec in doc["teams"].items():
        services = []
        for i, svc in enumerate(spec.get("services", [])):
            where = f"teams.{tname}.services[{i}]"
            if svc["name"] in service_names:
                raise _err(source, f"{where}.name", f"service {svc['name']!r} is owned by two teams")
            service_names.add(svc["name"])
            matchers = tuple(check_matcher(m, source, f"{where}.matchers") for m in svc["matchers"])
            services.append((svc["name"], matchers))
        escalation: dict[str, tuple[str, ...]] = {}
        for sev, names in spec["escalation"].items():
            where = f"teams.{tname}.escalation.{sev}"
            if sev != "default" and sev not in severities:
                raise _err(source, where, f"severity {sev!r} is not defined in severities (or use 'default')")
            escalation[sev] = tuple(receiver_ref(n, where) for n in names)
        teams.append(Team(tname, tuple(services), escalation))

    for team in teams:
        for sev in team.escalation:
            if f"{team.name}-{sev}" in receivers:
                raise _err(
                    source,
                    f"receivers.{team.name}-{sev}",
                    f"the name is taken by the generated receiver of team {team.name}, severity {sev}",
                )
    maintenance = []
    team_names = {t.name for t in teams}
    for i, item in enumerate(doc.get("maintenance", [])):
        where = f"maintenance[{i}]"
        interval_ref(item["time_interval"], f"{where}.time_interval")
        for svc in item.get("services", []):
            if svc not in service_names:
                raise _err(source, f"{where}.services", f"service {svc!r} is not owned by any team")
        for team in item.get("teams", []):
            if team not in team_names:
                raise _err(source, f"{where}.teams", f"team {team!r} is not defined in teams")
        maintenance.append(item)

    default_receiver = receiver_ref(doc["default_receiver"], "default_receiver")
    watchdog = dict(doc["watchdog"])
    receiver_ref(watchdog["receiver"], "watchdog.receiver")
    watchdog.setdefault("alertname", "Watchdog")
    watchdog["repeat_interval"] = _duration(watchdog.get("repeat_interval", "1m"), source, "watchdog.repeat_interval")
    incidents = doc.get("incidents")
    if incidents:
        receiver_ref(incidents["receiver"], "incidents.receiver")
    correlation = {**DEFAULT_CORRELATION, **doc.get("correlation", {})}
    for key in ("host_down", "gpu_fault", "latency_and_slo", "scrape_failure", "absent_data"):
        correlation[key] = [check_matcher(m, source, f"correlation.{key}") for m in correlation[key]]
    labels = [("host_label", correlation["host_label"]), ("model_label", correlation["model_label"])]
    labels += [(f"slo_labels[{i}]", v) for i, v in enumerate(correlation["slo_labels"])]
    for key, value in labels:
        if not LABEL_NAME.match(value):
            raise _err(source, f"correlation.{key}", f"{value!r} is not a label name")
    for i, rule in enumerate(doc.get("inhibit_rules", [])):
        for key in ("source_matchers", "target_matchers"):
            for m in rule.get(key, []):
                check_matcher(m, source, f"inhibit_rules[{i}].{key}")
    return Policy(
        source=source,
        global_=doc.get("global", {}),
        defaults=defaults,
        severities=severities,
        time_intervals=intervals,
        maintenance=maintenance,
        receivers=receivers,
        teams=teams,
        default_receiver=default_receiver,
        watchdog=watchdog,
        incidents=incidents,
        correlation=correlation,
        inhibit_rules=list(doc.get("inhibit_rules", [])),
    )


# ---------------------------------------------------------------------------------------------
# Receivers


class _Secrets:
    def __init__(self, policy: Policy, secrets: Mapping[str, Any], secrets_dir: str | None) -> None:
        self.policy = policy
        self.secrets = secrets
        self.secrets_dir = secrets_dir.rstrip("/") if secrets_dir else None

    def put(self, out: dict[str, Any], key: str, value: Any, kind: str, where: str) -> None:
        """Set `key` (or its *_file variant) in `out` from a literal or a `{secret: NAME}`."""
        if not isinstance(value, Mapping):
            out[key] = value
            return
        name = value["secret"]
        file_key = SECRET_FIELDS_WITH_FILE.get((kind, key))
        if self.secrets_dir and file_key:
            out[file_key] = f"{self.secrets_dir}/{name}"
            return
        secret = self.secrets.get(name)
        if secret is None or secret == "":
            raise _err(
                self.policy.source,
                f"{where}.{key}",
                f"secret {name!r} is not in the secrets given to the filter (a Vault variable?)",
            )
        out[key] = str(secret)


def _receiver_configs(name: str, spec: Mapping[str, Any], secrets: _Secrets) -> tuple[str, dict[str, Any]]:
    """The Alertmanager `<kind>_configs` key and one config entry for a policy receiver."""
    kind = spec["type"]
    where = f"receivers.{name}"
    out: dict[str, Any] = {}
    if "send_resolved" in spec:
        out["send_resolved"] = spec["send_resolved"]
    if kind == "email":
        for key in ("to", "from", "smarthost", "auth_username"):
            if key in spec:
                out[key] = spec[key]
        if "auth_password" in spec:
            secrets.put(out, "auth_password", spec["auth_password"], "email", where)
        key = "email_configs"
    elif kind == "slack":
        secrets.put(out, "api_url", spec["api_url"], "slack", where)
        for key in ("channel", "title", "text"):
            if key in spec:
                out[key] = spec[key]
        key = "slack_configs"
    elif kind == "pagerduty":
        secrets.put(out, "routing_key", spec["routing_key"], "pagerduty", where)
        if "url" in spec:
            out["url"] = spec["url"]
        key = "pagerduty_configs"
    else:  # msteams (a webhook to a relay such as prometheus-msteams) and webhook
        secrets.put(out, "url", spec["url"], kind, where)
        if "max_alerts" in spec:
            out["max_alerts"] = spec["max_alerts"]
        if "basic_auth" in spec:
            auth: dict[str, Any] = {"username": spec["basic_auth"]["username"]}
            secrets.put(auth, "password", spec["basic_auth"]["password"], "basic_auth", f"{where}.basic_auth")
            out["http_config"] = {"basic_auth": auth}
        key = "webhook_configs"
    out.update(spec.get("options", {}))
    return key, out


def _merged_receiver(name: str, members: Sequence[str], policy: Policy, secrets: _Secrets) -> dict[str, Any]:
    receiver: dict[str, Any] = {"name": name}
    for member in members:
        key, config = _receiver_configs(member, policy.receivers[member], secrets)
        receiver.setdefault(key, []).append(config)
    return receiver


# ---------------------------------------------------------------------------------------------
# Routing


def _severity_route(policy: Policy, team: Team, severity: str, receiver: str, mutes: Sequence[str]) -> dict[str, Any]:
    spec = policy.severities[severity]
    route: dict[str, Any] = {"matchers": [f'severity="{severity}"'], "receiver": receiver}
    for key in ("group_by", "group_wait", "group_interval", "repeat_interval"):
        route[key] = spec.get(key, policy.defaults[key])
    muted = list(dict.fromkeys([*spec.get("mute_time_intervals", []), *mutes]))
    if muted:
        route["mute_time_intervals"] = muted
    if spec.get("active_time_intervals"):
        route["active_time_intervals"] = list(spec["active_time_intervals"])
    return route


def _team_routes(policy: Policy, team: Team) -> list[dict[str, Any]]:
    """One route per selector of the team (its `team` label, each service), severity children."""
    selectors: list[tuple[str | None, list[str]]] = [(None, [f'team="{team.name}"'])]
    selectors += [(svc, list(matchers)) for svc, matchers in team.services]
    routes = []
    for service, matchers in selectors:
        mutes = [
            m["time_interval"]
            for m in policy.maintenance
            if (not m.get("services") and not m.get("teams"))
            or (service is not None and service in m.get("services", []))
            or team.name in m.get("teams", [])
        ]
        children = [
            _severity_route(policy, team, sev, f"{team.name}-{sev}", mutes)
            for sev in policy.severities
            if sev in team.escalation
        ]
        fallback: dict[str, Any] = {"matchers": list(matchers)}
        if "default" in team.escalation:
            fallback["receiver"] = f"{team.name}-default"
        if mutes:
            # Alerts of no listed severity (default receiver) are muted by maintenance too.
            children.append(
                {
                    "receiver": fallback.get("receiver", policy.default_receiver),
                    "mute_time_intervals": list(dict.fromkeys(mutes)),
                }
            )
        fallback["routes"] = children
        routes.append(fallback)
    return routes


def topology_inhibit_rules(correlation: Mapping[str, Any], topology: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    """Per host: host down or a GPU fault there suppresses the alerts of the models it serves."""
    host_label, model_label = correlation["host_label"], correlation["model_label"]
    rules: list[dict[str, Any]] = []
    for host in sorted(topology):
        models = sorted({str(m) for m in topology[host].get("models", [])})
        if not models:
            continue
        host_m = f'{host_label}="{_escape(host)}"'
        models_m = f'{model_label}=~"{_escape("|".join(re.escape(m) for m in models))}"'
        rules.append(
            {
                "source_matchers": [*correlation["host_down"], host_m],
                "target_matchers": [models_m, *_negate(correlation["host_down"])],
            }
        )
        rules.append(
            {
                "source_matchers": [*correlation["gpu_fault"], host_m],
                "target_matchers": [*correlation["latency_and_slo"], models_m],
            }
        )
    return rules


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _negate(matchers: Sequence[str]) -> list[str]:
    """The negation of the first matcher (`a=~"x"` -> `a!~"x"`), to keep source alerts out of targets.

    Matchers are ANDed and Alertmanager has no OR, so only the first one (conventionally the
    `alertname` selection) is negated.
    """
    label, op, value = MATCHER.match(matchers[0]).groups()  # type: ignore[union-attr]
    return [f'{label}{NEGATED[op]}"{value}"']


def generic_inhibit_rules(correlation: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The label-convention rules that need no topology (see docs/alerting.md)."""
    host = correlation["host_label"]
    slo = correlation["slo_labels"]
    has_host = f'{host}=~".+"'
    return [
        {  # a host down (or unreachable) suppresses every other alert of that host
            "source_matchers": [*correlation["host_down"], has_host],
            "target_matchers": _negate(correlation["host_down"]),
            "equal": [host],
        },
        {  # a GPU fault suppresses latency and SLO alerts of the same host
            "source_matchers": [*correlation["gpu_fault"], has_host],
            "target_matchers": list(correlation["latency_and_slo"]),
            "equal": [host],
        },
        {  # a page suppresses the ticket of the same SLO
            "source_matchers": [f'severity="{correlation["page_severity"]}"', *(f'{s}=~".+"' for s in slo)],
            "target_matchers": [f'severity="{correlation["ticket_severity"]}"', *(f'{s}=~".+"' for s in slo)],
            "equal": list(slo),
        },
        {  # a scrape failure suppresses the absent-data alerts it causes
            "source_matchers": [*correlation["scrape_failure"], has_host],
            "target_matchers": list(correlation["absent_data"]),
            "equal": [host],
        },
    ]


def alertmanager_config(
    policy: Policy,
    secrets: Mapping[str, Any] | None = None,
    secrets_dir: str | None = None,
    topology: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """`{global, route, receivers, inhibit_rules, time_intervals}` for Alertmanager 0.25."""
    sec = _Secrets(policy, _plain(dict(secrets or {})), secrets_dir)
    receivers: list[dict[str, Any]] = []
    used: set[str] = set()

    def add(name: str, members: Sequence[str]) -> str:
        if name not in used:
            used.add(name)
            receivers.append(_merged_receiver(name, members, policy, sec))
        return name

    add(policy.default_receiver, [policy.default_receiver])
    watchdog_route = {
        "matchers": [f'alertname="{_escape(policy.watchdog["alertname"])}"'],
        "receiver": add(policy.watchdog["receiver"], [policy.watchdog["receiver"]]),
        "group_by": ["alertname"],
        "group_wait": "0s",
        "group_interval": "1m",
        "repeat_interval": policy.watchdog["repeat_interval"],
    }
    routes: list[dict[str, Any]] = [watchdog_route]
    # maintenance windows of no particular service or team mute everything but the Watchdog
    global_mutes = [m["time_interval"] for m in policy.maintenance if not m.get("services") and not m.get("teams")]
    if policy.incidents:
        name = policy.incidents["receiver"]
        routes.append(
            {
                "receiver": add(name, [name]),
                "group_by": policy.incidents.get("group_by", ["alertname", policy.correlation["host_label"]]),
                "group_wait": "10s",
                "group_interval": "1m",
                "repeat_interval": "1h",
                "continue": True,
                **({"mute_time_intervals": global_mutes} if global_mutes else {}),
            }
        )
    service_routes: list[dict[str, Any]] = []
    for team in policy.teams:
        for sev, members in team.escalation.items():
            add(f"{team.name}-{sev}", members)
        label_route, *rest = _team_routes(policy, team)
        routes.append(label_route)
        service_routes.extend(rest)
    # A `team` label wins over service matchers; then the explicit catch-all (needed because the
    # incident route matches everything, so the root's own receiver would never be used).
    catch_all: dict[str, Any] = {"receiver": policy.default_receiver}
    if global_mutes:
        catch_all["mute_time_intervals"] = global_mutes
    routes += [*service_routes, catch_all]
    route = {"receiver": policy.default_receiver, **{k: policy.defaults[k] for k in DEFAULT_TIMING}, "routes": routes}
    inhibit = [*generic_inhibit_rules(policy.correlation), *topology_inhibit_rules(policy.correlation, topology or {})]
    inhibit += [_plain(r) for r in policy.inhibit_rules]
    time_intervals = [{"name": n, "time_intervals": items} for n, items in policy.time_intervals.items()]
    return {
        "global": dict(policy.global_),
        "route": route,
        "receivers": receivers,
        "inhibit_rules": inhibit,
        "time_intervals": time_intervals,
    }


def citadel_alertmanager_config(
    doc: Any,
    secrets: Mapping[str, Any] | None = None,
    secrets_dir: str | None = None,
    topology: Mapping[str, Mapping[str, Any]] | None = None,
    source: str = DEFAULT_SOURCE,
) -> dict[str, Any]:
    """Validate and render in one step (what the filter does)."""
    return alertmanager_config(load_policy(doc, source), secrets, secrets_dir, topology)


def alert_topology(
    hosts: Sequence[str], hostvars: Mapping[str, Mapping[str, Any]], models_var: str = "citadel_models"
) -> dict[str, dict[str, Any]]:
    """Host -> {models: [...]} from a host variable listing model names or `{name: ...}` items."""
    topology: dict[str, dict[str, Any]] = {}
    for host in dict.fromkeys(hosts):
        hvars = hostvars.get(host)
        if hvars is None:
            raise PolicyError(f"host {host}: not in hostvars")
        items = hvars.get(models_var, [])
        if not isinstance(items, list | tuple):
            raise PolicyError(f"host {host}: {models_var} must be a list of model names or {{name: ...}} items")
        models = []
        for i, item in enumerate(items):
            name = item.get("name") if isinstance(item, Mapping) else item
            if not isinstance(name, str) or not name:
                raise PolicyError(f"host {host}: {models_var}[{i}]: a model needs a name")
            models.append(str(name))
        topology[str(host)] = {"models": models}
    return topology


# ---------------------------------------------------------------------------------------------
# Ansible adapter


class FilterModule:
    """Ansible adapter."""

    def filters(self) -> dict[str, Any]:
        return {"citadel_alertmanager_config": self._config, "citadel_alert_topology": self._topology}

    @staticmethod
    def _config(
        doc: Any,
        secrets: Mapping[str, Any] | None = None,
        secrets_dir: str | None = None,
        topology: Mapping[str, Mapping[str, Any]] | None = None,
        source: str = DEFAULT_SOURCE,
    ) -> dict[str, Any]:
        from ansible.errors import AnsibleFilterError

        try:
            return citadel_alertmanager_config(doc, secrets, secrets_dir, topology, str(Path(source)))
        except PolicyError as exc:
            raise AnsibleFilterError(f"citadel_alertmanager_config: {exc}") from None

    @staticmethod
    def _topology(hosts: Sequence[str], hostvars: Mapping[str, Any], models_var: str = "citadel_models") -> dict:
        from ansible.errors import AnsibleFilterError

        try:
            return alert_topology(list(hosts), hostvars, models_var)
        except PolicyError as exc:
            raise AnsibleFilterError(f"citadel_alert_topology: {exc}") from None
