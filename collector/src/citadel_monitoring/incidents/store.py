"""Incidents and their alerts in SQLite, so a restart loses none (and unsent summaries are retried).

One connection, serialised by a lock (the HTTP threads and the notifier share it); WAL journal.
`version` counts the changes of an incident; `notified_version` is the last version the channel
acknowledged: an incident with `notified_version < version` has a summary to send.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL,
    keys TEXT NOT NULL,
    opened_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    last_activity REAL NOT NULL,
    resolved_at REAL,
    version INTEGER NOT NULL DEFAULT 1,
    notified_version INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    anomalies TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status);
CREATE TABLE IF NOT EXISTS alerts (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    starts_at TEXT,
    ends_at TEXT,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    PRIMARY KEY (incident_id, fingerprint)
);
CREATE INDEX IF NOT EXISTS alerts_fingerprint ON alerts (fingerprint);
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    incident_id INTEGER NOT NULL,
    alertname TEXT NOT NULL,
    action TEXT,
    host TEXT,
    result TEXT NOT NULL,
    reason TEXT NOT NULL,
    argv TEXT NOT NULL,
    exit_code INTEGER,
    output TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_host ON actions (host, at);
"""


@dataclass
class AlertRow:
    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str | None
    ends_at: str | None
    first_seen: float
    last_seen: float


@dataclass
class IncidentRow:
    id: int
    status: str
    keys: frozenset[str]
    opened_at: float
    updated_at: float
    last_activity: float
    resolved_at: float | None
    version: int
    notified_version: int
    attempts: int
    next_attempt_at: float
    last_error: str | None
    anomalies: list[dict[str, Any]]
    alerts: list[AlertRow] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one SQLite transaction; committed on success, rolled back on error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- reads -----------------------------------------------------------------------------------

    def _incident(self, row: sqlite3.Row, with_alerts: bool) -> IncidentRow:
        inc = IncidentRow(
            id=row["id"],
            status=row["status"],
            keys=frozenset(json.loads(row["keys"])),
            opened_at=row["opened_at"],
            updated_at=row["updated_at"],
            last_activity=row["last_activity"],
            resolved_at=row["resolved_at"],
            version=row["version"],
            notified_version=row["notified_version"],
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            last_error=row["last_error"],
            anomalies=json.loads(row["anomalies"]),
        )
        if with_alerts:
            rows = self._db.execute(
                "SELECT * FROM alerts WHERE incident_id = ? ORDER BY first_seen, fingerprint", (inc.id,)
            ).fetchall()
            inc.alerts = [
                AlertRow(
                    r["fingerprint"],
                    r["status"],
                    json.loads(r["labels"]),
                    json.loads(r["annotations"]),
                    r["starts_at"],
                    r["ends_at"],
                    r["first_seen"],
                    r["last_seen"],
                )
                for r in rows
            ]
            inc.actions = [
                {**dict(r), "argv": json.loads(r["argv"])}
                for r in self._db.execute(
                    "SELECT at, alertname, action, host, result, reason, argv, exit_code FROM actions "
                    "WHERE incident_id = ? ORDER BY id",
                    (inc.id,),
                ).fetchall()
            ]
        return inc

    def get(self, incident_id: int) -> IncidentRow | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
            return self._incident(row, True) if row else None

    def list(self, status: str | None = None, limit: int = 100) -> list[IncidentRow]:
        with self._lock:
            if status:
                rows = self._db.execute(
                    "SELECT * FROM incidents WHERE status = ? ORDER BY id DESC LIMIT ?", (status, limit)
                ).fetchall()
            else:
                rows = self._db.execute("SELECT * FROM incidents ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
            return [self._incident(r, True) for r in rows]

    def open_incidents(self) -> list[IncidentRow]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM incidents WHERE status = 'firing'").fetchall()
            return [self._incident(r, False) for r in rows]

    def pending(self, now: float, limit: int = 50) -> list[int]:
        """Incidents with an unsent change whose retry time has come, oldest change first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM incidents WHERE notified_version < version AND next_attempt_at <= ? "
                "ORDER BY updated_at LIMIT ?",
                (now, limit),
            ).fetchall()
            return [r["id"] for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) AS n FROM incidents GROUP BY status").fetchall()
            counts = {r["status"]: r["n"] for r in rows}
            counts["unsent"] = self._db.execute(
                "SELECT COUNT(*) FROM incidents WHERE notified_version < version"
            ).fetchone()[0]
            return counts

    # -- writes (used by the engine inside `transaction`) ----------------------------------------

    def find_alert(self, db: sqlite3.Connection, fingerprint: str) -> tuple[int, str] | None:
        """(incident id, status) of the alert in an open incident, if any."""
        row = db.execute(
            "SELECT a.incident_id, a.status FROM alerts a JOIN incidents i ON i.id = a.incident_id "
            "WHERE a.fingerprint = ? AND i.status = 'firing' ORDER BY a.incident_id DESC LIMIT 1",
            (fingerprint,),
        ).fetchone()
        return (row["incident_id"], row["status"]) if row else None

    def mark_sent(self, incident_id: int, version: int) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE incidents SET notified_version = MAX(notified_version, ?), attempts = 0, "
                "next_attempt_at = 0, last_error = NULL WHERE id = ?",
                (version, incident_id),
            )

    def mark_failed(self, incident_id: int, error: str, retry_at: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE incidents SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
                (retry_at, error[:500], incident_id),
            )

    def set_anomalies(self, incident_id: int, anomalies: list[dict[str, Any]]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE incidents SET anomalies = ? WHERE id = ?", (json.dumps(anomalies, sort_keys=True), incident_id)
            )

    # -- remediation audit -------------------------------------------------------------------------

    def add_action(self, record: dict[str, Any]) -> None:
        """Record a remediation decision and mark its incident changed (its summary lists actions)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO actions (at, incident_id, alertname, action, host, result, reason, argv, exit_code, "
                "output) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record["at"],
                    record["incident_id"],
                    record["alertname"],
                    record["action"],
                    record["host"],
                    record["result"],
                    record["reason"],
                    json.dumps(record["argv"]),
                    record["exit_code"],
                    record["output"],
                ),
            )
            db.execute(
                "UPDATE incidents SET version = version + 1, updated_at = ? WHERE id = ?",
                (record["at"], record["incident_id"]),
            )

    def action_history(self, host: str, action: str | None, since: float) -> list[dict[str, Any]]:
        """Decisions for `host` (and `action` if given) at or after `since`, oldest first."""
        with self._lock:
            sql = "SELECT at, action, result FROM actions WHERE host = ? AND at >= ?"
            args: list[Any] = [host, since]
            if action is not None:
                sql += " AND action = ?"
                args.append(action)
            return [dict(r) for r in self._db.execute(sql + " ORDER BY at", args).fetchall()]
