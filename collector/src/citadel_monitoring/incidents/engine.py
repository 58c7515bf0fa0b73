"""Alertmanager webhook payloads in, incidents out: validation, grouping, resolution, summaries.

`IncidentEngine.ingest` is idempotent: Alertmanager re-sends a group every `group_interval` /
`repeat_interval`, and an unchanged alert changes nothing (no new version, no new notification).
An incident resolves when every one of its alerts has resolved; a resolved alert of no open
incident is ignored; a firing alert after its incident resolved opens a new incident.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from citadel_monitoring.incidents.config import GroupingConfig
from citadel_monitoring.incidents.grouping import (
    OpenIncident,
    alert_keys,
    choose_incident,
    severity_rank,
    split_keys,
    worst_severity,
)
from citadel_monitoring.incidents.store import IncidentRow, Store


class PayloadError(ValueError):
    """The request body is not an Alertmanager webhook payload; the message says where."""


def _str_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise PayloadError(f"{where}: must be a mapping of strings")
    return dict(value)


def parse_payload(doc: Any) -> list[dict[str, Any]]:
    """The alerts of a webhook payload (version 4), each with fingerprint, status, labels, annotations."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("alerts"), list):
        raise PayloadError("body: expected an Alertmanager webhook payload with an `alerts` list")
    alerts = []
    for i, item in enumerate(doc["alerts"]):
        where = f"alerts[{i}]"
        if not isinstance(item, Mapping):
            raise PayloadError(f"{where}: must be a mapping")
        status = item.get("status")
        if status not in ("firing", "resolved"):
            raise PayloadError(f"{where}.status: must be firing or resolved, not {status!r}")
        labels = _str_map(item.get("labels"), f"{where}.labels")
        if not labels.get("alertname"):
            raise PayloadError(f"{where}.labels: no alertname")
        fingerprint = item.get("fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint:
            fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
        alerts.append(
            {
                "fingerprint": fingerprint,
                "status": status,
                "labels": labels,
                "annotations": _str_map(item.get("annotations"), f"{where}.annotations"),
                "starts_at": item.get("startsAt") if isinstance(item.get("startsAt"), str) else None,
                "ends_at": item.get("endsAt") if isinstance(item.get("endsAt"), str) else None,
            }
        )
    return alerts


class IncidentEngine:
    def __init__(self, store: Store, grouping: GroupingConfig) -> None:
        self.store = store
        self.grouping = grouping

    def ingest(self, doc: Any, now: float | None = None) -> list[int]:
        """Apply a webhook payload; returns the ids of the incidents it changed."""
        return self.ingest_detailed(doc, now)[0]

    def ingest_detailed(self, doc: Any, now: float | None = None) -> tuple[list[int], list[tuple[int, dict[str, str]]]]:
        """Apply a webhook payload; returns the changed incident ids and the alerts that newly fired
        (new to an open incident, or firing again after resolving), each with its incident id."""
        alerts = parse_payload(doc)
        fired: list[tuple[int, dict[str, str]]] = []
        now = time.time() if now is None else now
        g = self.grouping
        changed: set[int] = set()
        with self.store.transaction() as db:
            open_incidents = {i.id: i for i in self.store.open_incidents()}
            for alert in alerts:
                if alert["labels"]["alertname"] in g.ignore_alertnames:
                    continue
                fp = alert["fingerprint"]
                found = self.store.find_alert(db, fp)
                labels_json = json.dumps(alert["labels"], sort_keys=True)
                annotations_json = json.dumps(alert["annotations"], sort_keys=True)
                if found:
                    incident_id, old_status = found
                    db.execute(
                        "UPDATE alerts SET status = ?, annotations = ?, ends_at = ?, last_seen = ? "
                        "WHERE incident_id = ? AND fingerprint = ?",
                        (alert["status"], annotations_json, alert["ends_at"], now, incident_id, fp),
                    )
                    if old_status != alert["status"]:
                        changed.add(incident_id)
                        if alert["status"] == "firing":
                            fired.append((incident_id, alert["labels"]))
                    if alert["status"] == "firing":
                        db.execute("UPDATE incidents SET last_activity = ? WHERE id = ?", (now, incident_id))
                    continue
                if alert["status"] == "resolved":
                    continue  # nothing open knows it: an old or already closed alert
                keys = alert_keys(alert["labels"], g.host_label, g.model_label, g.topology)
                candidates = [OpenIncident(i.id, i.keys, i.last_activity, i.opened_at) for i in open_incidents.values()]
                incident_id = choose_incident(keys, candidates, now, g.window_seconds)
                if incident_id is None:
                    cur = db.execute(
                        "INSERT INTO incidents (status, keys, opened_at, updated_at, last_activity, version) "
                        "VALUES ('firing', ?, ?, ?, ?, 0)",
                        (json.dumps(sorted(keys)), now, now, now),
                    )
                    incident_id = int(cur.lastrowid or 0)
                    open_incidents[incident_id] = IncidentRow(
                        incident_id, "firing", keys, now, now, now, None, 0, 0, 0, 0.0, None, []
                    )
                else:
                    inc = open_incidents[incident_id]
                    inc.keys = inc.keys | keys
                    inc.last_activity = now
                    db.execute(
                        "UPDATE incidents SET keys = ?, last_activity = ? WHERE id = ?",
                        (json.dumps(sorted(inc.keys)), now, incident_id),
                    )
                db.execute(
                    "INSERT INTO alerts (incident_id, fingerprint, status, labels, annotations, starts_at, ends_at, "
                    "first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        incident_id,
                        fp,
                        alert["status"],
                        labels_json,
                        annotations_json,
                        alert["starts_at"],
                        alert["ends_at"],
                        now,
                        now,
                    ),
                )
                changed.add(incident_id)
                fired.append((incident_id, alert["labels"]))
            for incident_id in sorted(changed):
                firing = db.execute(
                    "SELECT COUNT(*) FROM alerts WHERE incident_id = ? AND status = 'firing'", (incident_id,)
                ).fetchone()[0]
                if firing == 0:
                    db.execute(
                        "UPDATE incidents SET status = 'resolved', resolved_at = ? WHERE id = ?", (now, incident_id)
                    )
                db.execute(
                    "UPDATE incidents SET version = version + 1, updated_at = ? WHERE id = ?", (now, incident_id)
                )
        return sorted(changed), fired


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def incident_summary(inc: IncidentRow, event: str | None = None) -> dict[str, Any]:
    """The JSON document sent to the channel (and served by GET /incidents/<id>)."""
    hosts, models = split_keys(inc.keys)
    alerts = [
        {
            "fingerprint": a.fingerprint,
            "alertname": a.labels.get("alertname", ""),
            "status": a.status,
            "severity": a.labels.get("severity"),
            "labels": a.labels,
            "summary": a.annotations.get("summary", ""),
            "runbook_url": a.annotations.get("runbook_url", ""),
            "starts_at": a.starts_at,
            "ends_at": a.ends_at if a.status == "resolved" else None,
        }
        for a in inc.alerts
    ]
    firing = [a for a in alerts if a["status"] == "firing"]
    lead = min(firing or alerts, key=lambda a: (severity_rank(a["severity"]), a["starts_at"] or ""), default=None)
    where = ", ".join(hosts or models) or "(no host or model)"
    title = f"{lead['alertname']} on {where}" if lead else f"incident on {where}"
    if len(alerts) > 1:
        title += f" (+{len(alerts) - 1} related)"
    if event is None:
        event = "resolved" if inc.status == "resolved" else ("opened" if inc.notified_version == 0 else "updated")
    lines = [f"[{inc.status.upper()}] Incident #{inc.id}: {title}"]
    for a in alerts:
        sev = f" ({a['severity']})" if a["severity"] else ""
        lines.append(f"- [{a['status']}] {a['alertname']}{sev}: {a['summary']}".rstrip(": "))
    for an in inc.anomalies:
        what = f"{an.get('watch')} {an.get('series')} score {an.get('score')}"
        lines.append(f"- anomalous since {an.get('since')}: {what}")
    for a in inc.actions:
        lines.append(f"- remediation {a['action']} on {a['host']}: {a['result']} {a['reason']}".rstrip())
    return {
        "event": event,
        "incident": {
            "id": inc.id,
            "status": inc.status,
            "version": inc.version,
            "title": title,
            "severity": worst_severity(a["severity"] for a in alerts),
            "hosts": hosts,
            "models": models,
            "opened_at": _iso(inc.opened_at),
            "updated_at": _iso(inc.updated_at),
            "resolved_at": _iso(inc.resolved_at),
            "alerts": alerts,
            "firing": len(firing),
            "anomalies": inc.anomalies,
            "actions": [
                {
                    "at": _iso(a["at"]),
                    "alertname": a["alertname"],
                    "action": a["action"],
                    "host": a["host"],
                    "result": a["result"],
                    "reason": a["reason"],
                    "argv": a["argv"],
                    "exit_code": a["exit_code"],
                }
                for a in inc.actions
            ],
            "text": "\n".join(lines),
        },
    }
