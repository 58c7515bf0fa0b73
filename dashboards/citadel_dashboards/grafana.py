"""A small builder of Grafana dashboard JSON (schema 39, Grafana 10/11) from plain Python.

Panels are laid out in rows of 24 grid columns by `Dashboard.row` and `Dashboard.add`; ids are
given in order, so the JSON is stable from one build to the next. Every panel queries the
`${datasource}` variable, whose default is the datasource the grafana role provisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The UID of the Prometheus datasource the grafana role provisions (grafana_datasource_uid).
DATASOURCE_UID = "citadel-prometheus"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39


@dataclass
class Target:
    expr: str
    legend: str = ""
    instant: bool = False
    fmt: str = "time_series"  # "table" for table panels

    def to_json(self, ref_id: str) -> dict[str, Any]:
        target: dict[str, Any] = {
            "datasource": DATASOURCE,
            "refId": ref_id,
            "expr": self.expr,
            "legendFormat": self.legend or "__auto",
            "range": not self.instant,
            "instant": self.instant,
        }
        if self.fmt != "time_series":
            target["format"] = self.fmt
        return target


@dataclass
class Panel:
    """One panel: a title, a description, a unit and its queries; `kind` is Grafana's panel type."""

    title: str
    description: str
    unit: str
    targets: list[Target]
    kind: str = "timeseries"
    width: int = 12
    height: int = 8
    min: float | None = None
    max: float | None = None
    decimals: int | None = None
    thresholds: list[tuple[float | None, str]] | None = None
    stack: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    overrides: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        defaults: dict[str, Any] = {"unit": self.unit}
        for key in ("min", "max", "decimals"):
            if getattr(self, key) is not None:
                defaults[key] = getattr(self, key)
        if self.thresholds:
            defaults["thresholds"] = {
                "mode": "absolute",
                "steps": [{"color": color, "value": value} for value, color in self.thresholds],
            }
        if self.kind == "timeseries":
            defaults["custom"] = {
                "drawStyle": "line",
                "lineWidth": 1,
                "fillOpacity": 10,
                "showPoints": "never",
                "spanNulls": False,
                "stacking": {"mode": "normal" if self.stack else "none", "group": "A"},
            }
        options = {**_OPTIONS.get(self.kind, {}), **self.options}
        return {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "fieldConfig": {"defaults": defaults, "overrides": self.overrides},
            "options": options,
            "targets": [t.to_json(chr(ord("A") + i)) for i, t in enumerate(self.targets)],
        }


_OPTIONS: dict[str, dict[str, Any]] = {
    "timeseries": {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    },
    "stat": {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "area",
        "textMode": "auto",
    },
    "gauge": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    "bargauge": {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "displayMode": "gradient",
        "orientation": "horizontal",
    },
    "table": {"showHeader": True, "cellHeight": "sm"},
}


def query_variable(name: str, label: str, query: str, multi: bool = True) -> dict[str, Any]:
    """A template variable from `label_values(...)`, "All" by default."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-variable"},
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }


def datasource_variable() -> dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "refresh": 1,
        "current": {"selected": True, "text": "Prometheus", "value": DATASOURCE_UID},
        "hide": 0,
    }


class Dashboard:
    """A dashboard being built: rows of panels, laid out left to right, top to bottom."""

    def __init__(
        self,
        uid: str,
        title: str,
        description: str,
        tags: list[str],
        variables: list[dict[str, Any]] | None = None,
        time_from: str = "now-6h",
    ) -> None:
        self.uid, self.title, self.description, self.tags = uid, title, description, tags
        self.variables = [datasource_variable(), *(variables or [])]
        self.time_from = time_from
        self.panels: list[dict[str, Any]] = []
        self._next_id = 1
        self._x = 0
        self._y = 0
        self._row_height = 0

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def row(self, title: str) -> Dashboard:
        self._newline()
        self.panels.append(
            {
                "id": self._id(),
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self._y},
                "panels": [],
            }
        )
        self._y += 1
        return self

    def _newline(self) -> None:
        self._y += self._row_height
        self._x, self._row_height = 0, 0

    def add(self, *panels: Panel) -> Dashboard:
        for panel in panels:
            if self._x + panel.width > 24:
                self._newline()
            self.panels.append(panel.to_json(self._id(), self._x, self._y))
            self._x += panel.width
            self._row_height = max(self._row_height, panel.height)
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["citadel", *self.tags],
            "timezone": "browser",
            "editable": False,
            "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "refresh": "1m",
            "time": {"from": self.time_from, "to": "now"},
            "templating": {"list": self.variables},
            "annotations": {
                "list": [
                    {
                        "builtIn": 1,
                        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                        "enable": True,
                        "hide": True,
                        "iconColor": "rgba(0, 211, 255, 1)",
                        "name": "Annotations & Alerts",
                        "type": "dashboard",
                    }
                ]
            },
            "links": [
                {
                    "type": "dashboards",
                    "tags": ["citadel"],
                    "asDropdown": True,
                    "title": "Citadel dashboards",
                    "includeVars": True,
                    "keepTime": True,
                }
            ],
            "panels": self.panels,
        }


# Units (Grafana's unit ids).
PERCENT_UNIT = "percentunit"
SECONDS = "s"
REQPS = "reqps"
BYTES = "bytes"
WATTS = "watt"
CELSIUS = "celsius"
SHORT = "short"
HERTZ = "hertz"
NONE = "none"
