"""Filter `slo_rule_groups`: Prometheus recording rules and burn-rate alerts from SLO definitions.

Everything but the `FilterModule` adapter at the end is pure Python (jsonschema and the standard
library) and is unit-tested without Ansible: `load_slos` validates the documents into `Slo`
objects, `rule_groups` renders them, `slo_rule_groups` does both. The adapter turns `SloError`
into AnsibleFilterError and reads the lines Ansible recorded for the documents. One file on purpose:
ansible-core scans every directory up to two levels under `plugins/filter/` for filter plugins,
so helper modules there would be loaded (and warned about) as plugins. The format, the generated
series and the alerts are described in docs/slos.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

DOCUMENTATION = r"""
name: slo_rule_groups
short_description: Prometheus recording rules and multi-window burn-rate alerts from SLO definitions
description:
  - "Takes SLO definition documents in Sloth's C(prometheus/v1) format (as parsed from YAML, for
    example with C(from_yaml_all)) and returns a Prometheus rule file, C({groups: [...]}), with one
    rule group for all the SLOs given."
  - "Extensions: C(period) (the SLO window in whole days or weeks, default C(30d)), C(sli.latency)
    (a classic histogram, a selector and a threshold that is one of its C(le) bounds) and
    C(low_traffic.min_errors) (an alert fires only when its long window holds at least that many
    failed events, default 3)."
  - Recording rules give events per second over 5m, 30m, 1h, 2h, 6h, 1d, 3d and the period, the
    error ratio and the burn rate at each window, the objective, the error budget and the budget
    remaining. Only 5m reads raw samples; longer windows are tiles of recorded windows read with
    C(offset), computed once for all the SLOs of the call.
  - Alerts follow the Google SRE Workbook's multi-window, multi-burn-rate recipe; label
    C(severity=page) for 2% of the budget in 1h (5m short window) or 5% in 6h (30m), C(severity=ticket)
    for 10% of the budget in 1d (2h) or 10% in 3d (6h).
  - Every definition is validated first; an error names the file, the service, the SLO and the field.
  - All the SLOs of a service must be rendered by one call. See docs/slos.md for the format, the
    generated series and examples.
options:
  _input:
    description: SLO definition documents (dicts); C(None) items (empty YAML documents) are skipped.
    type: list
    elements: dict
    required: true
  source:
    description:
      - The file the documents came from, used in error messages. When omitted, the file is taken
        from the data's origin if Ansible recorded it (C(lookup('file')) does), else errors say
        C(document N).
    type: str
"""

EXAMPLES = r"""
- name: Render the rules of one SLO file
  ansible.builtin.copy:
    dest: /etc/prometheus/rules/slo-gateway.yml
    content: "{{ lookup('file', 'slos/gateway.yml') | from_yaml_all | list | slo_rule_groups | to_nice_yaml }}"
    validate: promtool check rules %s

- name: Name the file in error messages explicitly
  ansible.builtin.set_fact:
    slo_rules: "{{ lookup('file', spec) | from_yaml_all | list | slo_rule_groups(source=spec) }}"
  vars:
    spec: slos/models.yml
"""

RETURN = r"""
_value:
  description: "A Prometheus rule file, C({groups: [{name, rules}]}), with one group (none without SLOs)."
  type: dict
"""

WINDOW_PLACEHOLDER = re.compile(r"\{\{\s*\.window\s*\}\}")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
PERIOD = re.compile(r"^([1-9][0-9]*)([dw])$")

# Labels the generated series carry; the names users may not set themselves.
SERVICE_LABEL = "slo_service"
SLO_LABEL = "slo_name"
EVENTS_LABEL = "slo_events"  # "errors" or "total" on slo:sli_events:rate<window>
WINDOW_LABEL = "slo_window"  # the window of slo:sli_error:ratio and slo:burn_rate:ratio
RESERVED_LABELS = frozenset({SERVICE_LABEL, SLO_LABEL, EVENTS_LABEL, WINDOW_LABEL})

DEFAULT_PERIOD = "30d"
DEFAULT_MIN_ERRORS = 3
DEFAULT_RUNBOOK = "docs/slos.md#responding-to-an-slo-alert"

SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

# How each window is built. Only 5m comes from the SLI's own queries (raw samples); every longer
# window is the mean of `count` consecutive tiles of a shorter recorded window, read with `offset`:
# a 3d window costs a few lookups of one recorded series instead of 25,920 raw samples per series
# at 10s scrapes. The period is tiled by 3d and 1d windows.
RAW_WINDOWS = ("5m",)
WINDOW_TILES: dict[str, tuple[str, int]] = {
    "30m": ("5m", 6),
    "1h": ("30m", 2),
    "2h": ("1h", 2),
    "6h": ("2h", 3),
    "1d": ("6h", 4),
    "3d": ("1d", 3),
}
ALERT_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
PERIOD_WINDOW = "period"  # the `slo_window` label value of the figures over the SLO's period


@dataclass(frozen=True)
class Tier:
    """One row of the Workbook's table: the share of the budget spent in `long` pages or tickets."""

    severity: str
    share: Fraction
    long: str
    short: str


TIERS = (
    Tier("page", Fraction(2, 100), "1h", "5m"),
    Tier("page", Fraction(5, 100), "6h", "30m"),
    Tier("ticket", Fraction(10, 100), "1d", "2h"),
    Tier("ticket", Fraction(10, 100), "3d", "6h"),
)

SEVERITY_PACE = {
    "page": "a page: 2% of the budget spent in 1h or 5% in 6h",
    "ticket": "a ticket: 10% of the budget spent in 1d or 3d",
}

_ALERT_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "additionalProperties": False,
    "properties": {
        "disable": {"type": "boolean"},
        "labels": {"$ref": "#/$defs/labels"},
        "annotations": {"$ref": "#/$defs/labels"},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "service", "slos"],
    "additionalProperties": False,
    "$defs": {
        "labels": {"type": ["object", "null"], "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "period": {"type": "string"},
        "low_traffic": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"min_errors": {"type": "integer", "minimum": 0}},
        },
        "query": {"type": "string", "minLength": 1},
    },
    "properties": {
        "version": {"const": "prometheus/v1"},
        "service": {"type": "string", "minLength": 1},
        "labels": {"$ref": "#/$defs/labels"},
        "period": {"$ref": "#/$defs/period"},
        "low_traffic": {"$ref": "#/$defs/low_traffic"},
        "slos": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "objective", "sli"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "objective": {"type": "number"},
                    "description": {"type": ["string", "null"]},
                    "labels": {"$ref": "#/$defs/labels"},
                    "period": {"$ref": "#/$defs/period"},
                    "low_traffic": {"$ref": "#/$defs/low_traffic"},
                    "sli": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "events": {
                                "type": "object",
                                "required": ["error_query", "total_query"],
                                "additionalProperties": False,
                                "properties": {
                                    "error_query": {"$ref": "#/$defs/query"},
                                    "total_query": {"$ref": "#/$defs/query"},
                                },
                            },
                            "raw": {
                                "type": "object",
                                "required": ["error_ratio_query"],
                                "additionalProperties": False,
                                "properties": {"error_ratio_query": {"$ref": "#/$defs/query"}},
                            },
                            "latency": {
                                "type": "object",
                                "required": ["histogram"],
                                "additionalProperties": False,
                                "properties": {
                                    "histogram": {"type": "string", "minLength": 1},
                                    "selector": {"type": ["string", "null"]},
                                    "threshold": {"type": ["number", "string"]},
                                },
                            },
                            "plugin": {"type": "object"},
                        },
                    },
                    "alerting": {
                        "type": ["object", "null"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string"},
                            "labels": {"$ref": "#/$defs/labels"},
                            "annotations": {"$ref": "#/$defs/labels"},
                            "page_alert": _ALERT_SCHEMA,
                            "ticket_alert": _ALERT_SCHEMA,
                        },
                    },
                },
            },
        },
    },
}


class SloError(ValueError):
    """A bad SLO definition; the message names the file, the service, the SLO and the field."""


@dataclass(frozen=True)
class Alert:
    """The page or the ticket alert of one SLO."""

    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass(frozen=True)
class Slo:
    """One validated SLO, ready to render."""

    service: str
    name: str
    objective: Decimal  # a ratio, 0.999 for 99.9 %
    period_days: int
    kind: str  # "events", "raw" or "latency"
    queries: dict[str, str]  # events: error, total; raw: ratio; latency: count, good (window placeholder kept)
    labels: dict[str, str]
    alert_name: str | None
    alerts: tuple[Alert, ...]
    min_errors: int
    description: str = ""
    source: str = ""

    @property
    def budget(self) -> Decimal:
        return 1 - self.objective

    @property
    def identity(self) -> dict[str, str]:
        return {SERVICE_LABEL: self.service, SLO_LABEL: self.name}


# ---------------------------------------------------------------------------------------------
# Small helpers


def _quote(value: str) -> str:
    """A PromQL string literal."""
    return json.dumps(value, ensure_ascii=False)


def _decimal(value: Decimal | Fraction) -> str:
    """An exact decimal for PromQL: `0.0144`, never `0.014400000000000001`; `(14 / 15000)` when
    the value has no finite decimal expansion."""
    frac = Fraction(value) if isinstance(value, Decimal) else value
    den = frac.denominator
    while den % 2 == 0:
        den //= 2
    while den % 5 == 0:
        den //= 5
    if den != 1:
        return f"({frac.numerator} / {frac.denominator})"
    text = format(Decimal(frac.numerator) / Decimal(frac.denominator), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def duration(seconds: int) -> str:
    """A Prometheus duration in the largest unit that divides it: 300 -> 5m, 604800 -> 1w."""
    for unit in ("w", "d", "h", "m", "s"):
        if seconds % SECONDS[unit] == 0:
            return f"{seconds // SECONDS[unit]}{unit}"
    raise AssertionError(seconds)  # pragma: no cover - every whole number of seconds divides by 1


def window_seconds(window: str) -> int:
    return int(window[:-1]) * SECONDS[window[-1]]


def le_spellings(threshold: Decimal) -> list[str]:
    """The ways exporters write a histogram bound: Go ("1", "0.5", "1e-05"), Python and Java
    ("1.0", "0.5", "1e-05"), Prometheus 3 normalisation ("1.0"), and plain decimals."""
    plain = format(threshold.normalize(), "f")
    if "." in plain:
        plain = plain.rstrip("0").rstrip(".")
    spellings = [plain]
    if "." not in plain:
        spellings.append(plain + ".0")
    as_float = float(threshold)
    spellings.append(repr(as_float))  # Python: 1.0, 1e-05, 1e+16
    spellings.append(_go_float(as_float))
    seen: list[str] = []
    for text in spellings:
        if text not in seen:
            seen.append(text)
    return seen


def _go_float(value: float) -> str:
    """Go's strconv.FormatFloat(v, 'g', -1, 64), which client_golang uses for `le`: the shortest
    digits, in exponent form below 1e-4 and from 1e6 on (as the text exposition writes them)."""
    digits = Decimal(repr(value)).normalize()
    exponent = digits.adjusted()
    if -4 <= exponent < 6:
        return format(digits, "f")
    body = "".join(str(d) for d in digits.as_tuple().digits)
    mantissa = body[0] + ("." + body[1:] if len(body) > 1 else "")
    return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _regex_escape(text: str) -> str:
    """Escape RE2's metacharacters (Python's re.escape also escapes `-`, which reads badly)."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


def le_regex(threshold: Decimal) -> str:
    return "|".join(_regex_escape(s) for s in le_spellings(threshold))


# ---------------------------------------------------------------------------------------------
# PromQL syntax checking: promtool when it is installed (the checker of the Prometheus that runs
# the rules), else the promql-parser package.

PromqlChecker = Callable[[Sequence[str]], list[str | None]]


def promtool_check(exprs: Sequence[str]) -> list[str | None]:
    """Parse errors (None where the expression is fine), by `promtool check rules` on a scratch file."""
    promtool = shutil.which("promtool")
    if promtool is None:
        raise SloError("promtool is not installed")
    doc = {"groups": [{"name": f"q{i}", "rules": [{"record": "q", "expr": e}]} for i, e in enumerate(exprs)]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "queries.yml"
        path.write_text(json.dumps(doc))
        proc = subprocess.run(
            [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False, timeout=60
        )
    errors: list[str | None] = [None] * len(exprs)
    if proc.returncode == 0:
        return errors
    found = False
    for line in (proc.stdout + proc.stderr).splitlines():
        match = re.search(r'group "q(\d+)", rule \d+, "q": (.*)$', line)
        if match:
            errors[int(match.group(1))] = match.group(2).replace("could not parse expression: ", "")
            found = True
    if not found:
        raise SloError(f"promtool check rules failed: {(proc.stdout + proc.stderr).strip()}")
    return errors


def promql_parser_check(exprs: Sequence[str]) -> list[str | None]:
    import promql_parser

    errors: list[str | None] = []
    for expr in exprs:
        try:
            promql_parser.parse(expr)
            errors.append(None)
        except Exception as exc:
            errors.append(str(exc))
    return errors


def default_promql_checker(exprs: Sequence[str]) -> list[str | None]:
    if shutil.which("promtool"):
        return promtool_check(exprs)
    try:
        return promql_parser_check(exprs)
    except ImportError:
        raise SloError("cannot check PromQL: install promtool or the promql-parser package") from None


# ---------------------------------------------------------------------------------------------
# Validation


class _Where:
    """Builds error messages: `FILE: service S, SLO N: FIELD: problem`."""

    def __init__(self, source: str, service: str | None = None, slo: str | None = None) -> None:
        self.source, self.service, self.slo = source, service, slo

    def error(self, fieldname: str, problem: str) -> SloError:
        parts = [self.source]
        if self.service is not None:
            parts.append(f"service {self.service}")
        if self.slo is not None:
            parts.append(f"SLO {self.slo}")
        where = ", ".join(parts[1:])
        prefix = f"{parts[0]}: {where}: " if where else f"{parts[0]}: "
        return SloError(f"{prefix}{fieldname}: {problem}" if fieldname else f"{prefix}{problem}")


def _json_path(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _check_schema(doc: Any, where: _Where) -> None:
    import jsonschema

    if not isinstance(doc, Mapping):
        raise where.error("", f"a definition must be a mapping, not {type(doc).__name__}")
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(_plain(doc)), key=lambda e: (len(e.absolute_path), list(map(str, e.path))))
    if not errors:
        return
    err = errors[0]
    path = list(err.absolute_path)
    slos = doc.get("slos") if isinstance(doc.get("slos"), list) else []
    if len(path) >= 2 and path[0] == "slos" and isinstance(path[1], int) and path[1] < len(slos):
        item = slos[path[1]]
        name = item.get("name") if isinstance(item, Mapping) else None
        where = _Where(where.source, where.service, str(name) if name else f"#{path[1] + 1}")
        path = path[2:]
    message = err.message
    if err.validator == "additionalProperties":
        message = message.replace("Additional properties are not allowed", "unknown key")
    raise where.error(_json_path(path) or "(document)", message)


def _plain(value: Any) -> Any:
    """Ansible's tagged str/dict/list subclasses as plain Python values, for jsonschema."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def _labels(value: Mapping[str, Any] | None, where: _Where, fieldname: str, reserved: bool = True) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, val in (value or {}).items():
        key = str(key)
        if not LABEL_NAME.match(key) or key.startswith("__"):
            raise where.error(fieldname, f"{key!r} is not a valid Prometheus label name")
        if reserved and key in RESERVED_LABELS:
            raise where.error(fieldname, f"{key!r} is set by the generator and cannot be given")
        out[key] = str(val).lower() if isinstance(val, bool) else str(val)
    return out


def _annotations(value: Mapping[str, Any] | None, where: _Where, fieldname: str) -> dict[str, str]:
    return _labels(value, where, fieldname, reserved=False)


def parse_period(value: Any, where: _Where, fieldname: str = "period") -> int:
    """A period such as `30d` or `4w`, in days."""
    match = PERIOD.match(str(value).strip()) if isinstance(value, str) else None
    if not match:
        raise where.error(fieldname, f"{value!r} is not a whole number of days or weeks (such as 30d or 4w)")
    return int(match.group(1)) * (7 if match.group(2) == "w" else 1)


def _objective(value: Any, where: _Where) -> Decimal:
    try:
        percent = Decimal(str(value))
    except InvalidOperation:  # pragma: no cover - the schema only lets numbers through
        raise where.error("objective", f"{value!r} is not a number") from None
    if not percent.is_finite() or not 0 < percent < 100:
        raise where.error("objective", f"{value} is not in (0, 100)")
    return percent / 100


def _threshold(value: Any, where: _Where) -> Decimal:
    if value is None:
        raise where.error("sli.latency.threshold", "the latency threshold (seconds, one of the le bounds) is missing")
    try:
        threshold = Decimal(str(value).strip())
    except InvalidOperation:
        raise where.error("sli.latency.threshold", f"{value!r} is not a number of seconds") from None
    if not threshold.is_finite() or threshold <= 0:
        raise where.error("sli.latency.threshold", f"{value!r} is not a positive, finite number of seconds")
    return threshold


def _window_query(query: str, where: _Where, fieldname: str) -> str:
    if not WINDOW_PLACEHOLDER.search(query):
        raise where.error(fieldname, "the query has no {{.window}} placeholder")
    return query


def substitute(query: str, window: str) -> str:
    return WINDOW_PLACEHOLDER.sub(window, query)


def _sli(sli: Mapping[str, Any], where: _Where) -> tuple[str, dict[str, str]]:
    kinds = [k for k in ("events", "raw", "latency", "plugin") if sli.get(k) is not None]
    if "plugin" in kinds:
        raise where.error("sli.plugin", "Sloth SLI plugins are not supported; use events, raw or latency")
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        raise where.error("sli", f"exactly one of events, raw or latency is required (found {found})")
    kind = kinds[0]
    if kind == "events":
        events = sli["events"]
        error = _window_query(events["error_query"], where, "sli.events.error_query")
        total = _window_query(events["total_query"], where, "sli.events.total_query")
        if " ".join(substitute(error, "W").split()) == " ".join(substitute(total, "W").split()):
            raise where.error("sli.events", "error_query and total_query are the same query")
        return kind, {"error": error, "total": total}
    if kind == "raw":
        return kind, {"ratio": _window_query(sli["raw"]["error_ratio_query"], where, "sli.raw.error_ratio_query")}
    latency = sli["latency"]
    histogram = latency["histogram"].strip()
    if not METRIC_NAME.match(histogram):
        raise where.error("sli.latency.histogram", f"{histogram!r} is not a valid metric name")
    if histogram.endswith(("_bucket", "_count", "_sum")):
        raise where.error("sli.latency.histogram", f"{histogram!r}: give the histogram's base name, without _bucket")
    selector = (latency.get("selector") or "").strip()
    if selector and not (selector.startswith("{") and selector.endswith("}")):
        raise where.error("sli.latency.selector", f'{selector!r} is not label matchers in braces, like {{job="x"}}')
    inner = selector[1:-1].strip().rstrip(",").strip() if selector else ""
    threshold = _threshold(latency.get("threshold"), where)
    le_matcher = f"le=~{_quote(le_regex(threshold))}"
    count_sel = "{" + inner + "}" if inner else ""
    bucket_sel = "{" + (inner + ", " if inner else "") + le_matcher + "}"
    return kind, {
        "count": f"sum(rate({histogram}_count{count_sel}[{{{{.window}}}}]))",
        "good": f"sum(rate({histogram}_bucket{bucket_sel}[{{{{.window}}}}]))",
        "threshold": _decimal(threshold),
        "histogram": histogram,
    }


def _alerts(
    slo: Mapping[str, Any], service: str, name: str, objective: Decimal, period: int, where: _Where
) -> tuple[str | None, tuple[Alert, ...]]:
    alerting = slo.get("alerting") or {}
    common_labels = _labels(alerting.get("labels"), where, "alerting.labels", reserved=False)
    common_ann = _annotations(alerting.get("annotations"), where, "alerting.annotations")
    alerts: list[Alert] = []
    for severity in ("page", "ticket"):
        spec = alerting.get(f"{severity}_alert") or {}
        if spec.get("disable"):
            continue
        labels = common_labels | _labels(spec.get("labels"), where, f"alerting.{severity}_alert.labels", reserved=False)
        labels["severity"] = severity
        budget = _decimal((1 - objective) * 100)
        pace = SEVERITY_PACE[severity]
        defaults = {
            "summary": f"{service} {name}: the error budget burns too fast ({severity})",
            "description": (
                f"{service} SLO {name} spends its error budget {{{{ $value | humanize }}}} times as fast as "
                f"the objective allows ({budget}% of the events may fail over {period}d): {pace}."
            ),
            "runbook_url": DEFAULT_RUNBOOK,
        }
        annotations = defaults | common_ann
        annotations |= _annotations(spec.get("annotations"), where, f"alerting.{severity}_alert.annotations")
        alerts.append(Alert(severity, labels, annotations))
    alert_name = alerting.get("name") or default_alert_name(service, name)
    if alerts and (not METRIC_NAME.match(alert_name) or ":" in alert_name):
        raise where.error("alerting.name", f"{alert_name!r} is not a valid alert name")
    return alert_name, tuple(alerts)


def default_alert_name(service: str, name: str) -> str:
    """CamelCase of the service and the SLO, then `BudgetBurn`: llm-gateway, chat-availability ->
    LlmGatewayChatAvailabilityBudgetBurn (for definitions without `alerting.name`)."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", f"{service} {name}") if w]
    camel = "".join(w[0].upper() + w[1:] for w in words) + "BudgetBurn"
    return camel if camel[0].isalpha() else f"Slo{camel}"


def _min_errors(slo: Mapping[str, Any], doc: Mapping[str, Any]) -> int:
    for scope in (slo, doc):
        guard = scope.get("low_traffic")
        if guard and guard.get("min_errors") is not None:
            return int(guard["min_errors"])
    return DEFAULT_MIN_ERRORS


Locator = Callable[[Any], tuple[str | None, int | None]]


def _no_locator(value: Any) -> tuple[str | None, int | None]:
    return None, None


def load_slos(
    docs: Iterable[Any],
    source: str | None = None,
    locate: Locator | None = None,
    promql_checker: PromqlChecker | None = None,
) -> list[Slo]:
    """Validate SLO definition documents into `Slo` objects; raise SloError on the first problem.

    `source` names the file of the documents; `locate(value)` may give the (file, line) a parsed
    value came from (the Ansible adapter reads them from Ansible's origin tags). Errors name the
    file (else `document N`), the line where known, the service, the SLO and the field.
    """
    locate = locate or _no_locator
    slos: list[Slo] = []
    seen: dict[tuple[str, str], str] = {}
    checks: list[tuple[_Where, str, str]] = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        path, _ = locate(doc)
        file = source or path
        label = f"{file} (document {index + 1})" if file else f"document {index + 1}"
        service = doc.get("service") if isinstance(doc, Mapping) and isinstance(doc.get("service"), str) else None
        where = _Where(label, service)
        _check_schema(doc, where)
        service = str(doc["service"])
        doc_labels = _labels(doc.get("labels"), where, "labels")
        doc_period = doc.get("period")
        for item in doc["slos"]:
            name = str(item["name"])
            _, line = locate(item)
            slabel = f"{label[:-1]}, line {line})" if line and label.endswith(")") else label
            slabel = f"{label} (line {line})" if line and not label.endswith(")") else slabel
            swhere = _Where(slabel, service, name)
            if (service, name) in seen:
                raise swhere.error("name", f"SLO name already used for this service in {seen[(service, name)]}")
            seen[(service, name)] = label
            objective = _objective(item["objective"], swhere)
            if item.get("period") is not None:
                period = parse_period(item["period"], swhere)
            elif doc_period is not None:
                period = parse_period(doc_period, _Where(label, service), "period")
            else:
                period = parse_period(DEFAULT_PERIOD, swhere)
            kind, queries = _sli(item["sli"], swhere)
            labels = doc_labels | _labels(item.get("labels"), swhere, "labels")
            alert_name, alerts = _alerts(item, service, name, objective, period, swhere)
            if kind == "events":
                checks.append((swhere, "sli.events.error_query", queries["error"]))
                checks.append((swhere, "sli.events.total_query", queries["total"]))
            elif kind == "raw":
                checks.append((swhere, "sli.raw.error_ratio_query", queries["ratio"]))
            else:
                checks.append((swhere, "sli.latency", queries["good"]))
            slos.append(
                Slo(
                    service=service,
                    name=name,
                    objective=objective,
                    period_days=period,
                    kind=kind,
                    queries=queries,
                    labels=labels,
                    alert_name=alert_name,
                    alerts=alerts,
                    min_errors=_min_errors(item, doc),
                    description=str(item.get("description") or ""),
                    source=slabel,
                )
            )
    if checks:
        results = (promql_checker or default_promql_checker)([substitute(q, RAW_WINDOWS[0]) for _, _, q in checks])
        for (where, fieldname, query), problem in zip(checks, results, strict=True):
            if problem:
                raise where.error(fieldname, f"not valid PromQL ({problem}): {query}")
    return slos


# ---------------------------------------------------------------------------------------------
# Rendering


def group_name(slos: Sequence[Slo]) -> str:
    """`slo-` and the services, in order of appearance."""
    return "slo-" + "-".join(dict.fromkeys(slo.service for slo in slos))


def burn_factor(tier: Tier, period_days: int) -> Fraction:
    """The Workbook's burn-rate factor: budget share x period / long window (30d: 14.4, 6, 3, 1)."""
    return tier.share * period_days * SECONDS["d"] / window_seconds(tier.long)


def period_tiles(period_days: int) -> list[tuple[str, int]]:
    """(recorded window, offset in seconds) tiles that cover the period: 3-day tiles, then days."""
    threes, days = divmod(period_days, 3)
    tiles = [("3d", k * 3 * SECONDS["d"]) for k in range(threes)]
    tiles += [("1d", (threes * 3 + k) * SECONDS["d"]) for k in range(days)]
    return tiles


def _matchers(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={_quote(v)}" for k, v in labels.items())


class _Scope:
    """The series of one call: `slo_service` is one of its services. Shared rules compute every
    window, ratio and condition for all the SLOs of the call at once, so each costs a few selectors
    per call instead of per SLO; the scope keeps two rule files (two calls) apart, as long as each
    service's SLOs are all rendered by one call."""

    def __init__(self, slos: Sequence[Slo]) -> None:
        services = list(dict.fromkeys(slo.service for slo in slos))
        if len(services) == 1:
            self.matcher = f"{SERVICE_LABEL}={_quote(services[0])}"
        else:
            self.matcher = f"{SERVICE_LABEL}=~{_quote('|'.join(_regex_escape(s) for s in services))}"

    def __call__(self, metric: str, **extra: str) -> str:
        more = f", {_matchers(extra)}" if extra else ""
        return f"{metric}{{{self.matcher}{more}}}"


def _label(expr: str, name: str, value: str) -> str:
    return f'label_replace({expr}, "{name}", {_quote(value)}, "", "")'


def _constant(slos: Sequence[Slo], value: Callable[[Slo], str]) -> str:
    """One series per SLO, labelled with its service and name."""
    terms = []
    for slo in slos:
        expr = _label(_label(f"vector({value(slo)})", SERVICE_LABEL, slo.service), SLO_LABEL, slo.name)
        terms.append(expr)
    return " or ".join(terms)


def _raw_rate(slo: Slo, window: str) -> str:
    """Errors and total of a raw window, straight from the SLI's queries."""
    q = {k: substitute(v, window) for k, v in slo.queries.items()}
    if slo.kind == "events":
        # No error series at all (no failure yet, or none since a restart) reads as zero errors.
        total, errors = q["total"], f"({q['error']}) or (0 * ({q['total']}))"
    elif slo.kind == "latency":
        # No `le` series matching the threshold leaves the errors (and the ratio) absent, not 0.
        total, errors = q["count"], f"clamp_min({q['count']} - {q['good']}, 0)"
    else:
        # raw: the ratio itself, NaN dropped; "total" is 1 wherever a ratio exists, so that the
        # tiles average the ratio over time.
        errors = f"({q['ratio']}) >= 0"
        total = f"(({q['ratio']}) >= 0) * 0 + 1"
    return f"{_label(errors, EVENTS_LABEL, 'errors')} or {_label(total, EVENTS_LABEL, 'total')}"


def _tiled_rate(scope: _Scope, tiles: Sequence[tuple[str, int]]) -> str:
    """The mean rate over the tiles, each weighted by its length (errors and total at once)."""

    def tile(window: str, offset: int) -> str:
        current = scope(f"slo:sli_events:rate{window}")
        if offset == 0:
            return current
        # A tile from before the series existed counts as zero events (the `or` keeps the labels).
        return f"({current} offset {duration(offset)} or {current} * 0)"

    total = sum(window_seconds(w) for w, _ in tiles)
    unit = min(window_seconds(w) for w, _ in tiles)
    terms: list[str] = []
    for window in dict.fromkeys(w for w, _ in tiles):
        parts = " + ".join(tile(w, off) for w, off in tiles if w == window)
        weight = window_seconds(window) // unit
        terms.append(f"{weight} * ({parts})" if weight != 1 else parts)
    if len(tiles) == 1:
        return terms[0]
    return f"({' + '.join(terms)}) / {total // unit}"


def _period_filter(scope: _Scope, days: int) -> str:
    return f"on({SERVICE_LABEL}, {SLO_LABEL}) {scope('slo:time_period:days')} == {days}"


def _ratio(scope: _Scope, window: str) -> str:
    """Errors / total over the window; 0 without any event (never NaN), absent without error data."""
    series = f"slo:sli_events:rate{'_period' if window == PERIOD_WINDOW else window}"
    errors = f"sum without ({EVENTS_LABEL}) ({scope(series, **{EVENTS_LABEL: 'errors'})})"
    total = f"sum without ({EVENTS_LABEL}) ({scope(series, **{EVENTS_LABEL: 'total'})})"
    return _label(f"({errors} / ({total} > 0) or {total} == 0)", WINDOW_LABEL, window)


def _condition(scope: _Scope, severity: str, periods: Sequence[int]) -> str:
    """The long-window burn rate of the SLOs whose `severity` alert should fire: for each tier,
    long > factor and short > factor and (events SLIs) enough failures in the long window."""
    on = f"on({SERVICE_LABEL}, {SLO_LABEL})"
    clauses: list[str] = []
    for days in periods:
        for tier in TIERS:
            if tier.severity != severity:
                continue
            factor = _decimal(burn_factor(tier, days))
            long, short = (scope("slo:burn_rate:ratio", **{WINDOW_LABEL: w}) for w in (tier.long, tier.short))
            long_errors = scope(f"slo:sli_events:rate{tier.long}", **{EVENTS_LABEL: "errors"})
            errors = f"sum without ({EVENTS_LABEL}) ({long_errors})"
            clause = (
                f"sum without ({WINDOW_LABEL}) ({long} > {factor}"
                f" and ignoring({WINDOW_LABEL}) {short} > {factor}"
                f" and ignoring({WINDOW_LABEL}) round({errors} * {window_seconds(tier.long)})"
                f" >= {on} group_left() {scope('slo:alert_min_errors:count')}"
            )
            if len(periods) > 1:
                clause += f" and {_period_filter(scope, days)}"
            clauses.append(clause + ")")
    return " or ".join(clauses)


def rule_groups(slos: Sequence[Slo]) -> dict[str, Any]:
    """A Prometheus rule file with one group: per-SLO rates from the SLIs' own queries, shared rules
    for the longer windows, ratios, burn rates and alert conditions, then one alert per SLO and
    severity. Rules run in this order within the group, so each sees the others' current values."""
    if not slos:
        return {"groups": []}
    scope = _Scope(slos)
    rules: list[dict[str, Any]] = []

    def record(name: str, expr: str, labels: Mapping[str, str] | None = None) -> None:
        rule: dict[str, Any] = {"record": name, "expr": expr}
        if labels:
            rule["labels"] = dict(labels)
        rules.append(rule)

    for slo in slos:
        for window in RAW_WINDOWS:
            record(f"slo:sli_events:rate{window}", _raw_rate(slo, window), slo.identity | slo.labels)
    record("slo:objective:ratio", _constant(slos, lambda s: _decimal(s.objective)))
    record("slo:error_budget:ratio", _constant(slos, lambda s: _decimal(s.budget)))
    record("slo:time_period:days", _constant(slos, lambda s: str(s.period_days)))
    record(
        "slo:alert_min_errors:count",
        _constant(slos, lambda s: str(s.min_errors if s.kind != "raw" else 0)),
    )
    for window, (source, count) in WINDOW_TILES.items():
        step = window_seconds(source)
        record(f"slo:sli_events:rate{window}", _tiled_rate(scope, [(source, k * step) for k in range(count)]))
    periods = sorted({slo.period_days for slo in slos})
    if len(periods) == 1:
        period_expr = _tiled_rate(scope, period_tiles(periods[0]))
    else:
        period_expr = " or ".join(
            f"({_tiled_rate(scope, period_tiles(days))} and {_period_filter(scope, days)})" for days in periods
        )
    record("slo:sli_events:rate_period", period_expr)
    record("slo:sli_error:ratio", " or ".join(_ratio(scope, w) for w in (*ALERT_WINDOWS, PERIOD_WINDOW)))
    on = f"on({SERVICE_LABEL}, {SLO_LABEL})"
    budget = scope("slo:error_budget:ratio")
    record("slo:burn_rate:ratio", f"{scope('slo:sli_error:ratio')} / {on} group_left() {budget}")
    period_burn = scope("slo:burn_rate:ratio", **{WINDOW_LABEL: PERIOD_WINDOW})
    record("slo:error_budget_remaining:ratio", f"1 - sum without ({WINDOW_LABEL}) ({period_burn})")
    for severity in ("page", "ticket"):
        if any(alert.severity == severity for slo in slos for alert in slo.alerts):
            record(f"slo:alert_burn_rate:{severity}", _condition(scope, severity, periods))

    for slo in slos:
        labels = slo.identity | slo.labels
        for alert in slo.alerts:
            rules.append(
                {
                    "alert": slo.alert_name,
                    "expr": f"slo:alert_burn_rate:{alert.severity}{{{_matchers(slo.identity)}}}",
                    # The series carry the SLO's labels already; as rule labels they also keep SLOs
                    # that share an alert name apart for `promtool check rules`' duplicate-rule lint.
                    "labels": labels | dict(alert.labels),
                    "annotations": dict(alert.annotations),
                }
            )
    return {"groups": [{"name": group_name(slos), "rules": rules}]}


def slo_rule_groups(
    docs: Iterable[Any] | Mapping[str, Any],
    source: str | None = None,
    locate: Locator | None = None,
    promql_checker: PromqlChecker | None = None,
) -> dict[str, Any]:
    """Validate the documents, then render them; nothing is returned unless all of them are valid."""
    if isinstance(docs, Mapping):
        docs = [docs]
    if isinstance(docs, str | bytes):
        raise SloError(f"{source or 'input'}: expected a list of SLO documents, got a string (use from_yaml_all)")
    return rule_groups(load_slos(list(docs), source, locate, promql_checker))


# ---------------------------------------------------------------------------------------------
# Ansible adapter


def ansible_origin(value: Any) -> tuple[str | None, int | None]:
    """The file and line a value was parsed from, when Ansible (2.19+) tagged it with its origin.

    `from_yaml_all` records lines; `lookup('file')` does not record its file, hence `source`.
    """
    try:
        from ansible._internal._datatag._tags import Origin
    except ImportError:  # pragma: no cover - older or absent ansible-core
        return None, None
    try:
        tag = Origin.get_tag(value)
    except Exception:
        return None, None
    if not tag:
        return None, None
    path = None
    if tag.path:
        try:
            path = str(Path(tag.path).relative_to(Path.cwd()))
        except ValueError:
            path = tag.path
    return path, tag.line_num


class FilterModule:
    """Ansible adapter."""

    def filters(self) -> dict[str, Any]:
        return {"slo_rule_groups": self._slo_rule_groups}

    @staticmethod
    def _slo_rule_groups(docs: Any, source: str | None = None) -> dict[str, Any]:
        from ansible.errors import AnsibleFilterError

        if isinstance(docs, Mapping):
            docs = [docs]
        if isinstance(docs, str | bytes):
            raise AnsibleFilterError(
                "slo_rule_groups: expected a list of SLO documents, got a string (use from_yaml_all)"
            )
        try:
            return slo_rule_groups(list(docs), source=source, locate=ansible_origin)
        except SloError as exc:
            raise AnsibleFilterError(f"slo_rule_groups: {exc}") from None
