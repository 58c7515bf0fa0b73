"""Opt-in remediation: allow-listed commands attached to alert names, dry-run by default.

Guard rails, in the order they are checked (`plan`, pure):

1. Only alert names listed in `triggers` do anything; the payload never names a command.
2. The target host (the alert's host label, port cut off) must be in the `hosts` allow-list.
3. A command is an argv list from the configuration (absolute program path, no shell); its only
   placeholders are `{host}` and the action's `params`, each filled from the alert's label of that
   name only if the value is in that parameter's allow-list (and is a plain name).
4. A per-(action, host) cooldown, and a per-host rate limit over a sliding window, both counted
   from the audit table in SQLite (so a restart does not reset them).
5. `dry_run: true` (the default) records what would run and runs nothing.

Every decision, run or not, is recorded in the `actions` table, in the JSON-lines audit log when
one is configured, and in the incident's summary.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citadel_monitoring.incidents.grouping import host_of
from citadel_monitoring.incidents.store import Store

log = logging.getLogger("citadel_monitoring.incidents")
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
SAFE_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
OUTPUT_LIMIT = 2000


@dataclass(frozen=True)
class Action:
    name: str
    command: tuple[str, ...]
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class RemediationConfig:
    actions: Mapping[str, Action]
    triggers: Mapping[str, str]
    hosts: tuple[str, ...]
    dry_run: bool = True
    max_actions_per_host: int = 3
    rate_window_seconds: float = 3600.0
    cooldown_seconds: float = 900.0
    timeout_seconds: float = 60.0
    audit_log: Path | None = None
    host_label: str = "instance"


@dataclass(frozen=True)
class Decision:
    alertname: str
    action: str | None
    host: str | None
    result: str  # refused | rate-limited | cooldown | dry-run | run
    reason: str
    argv: tuple[str, ...] = ()


def check_action(name: str, action: Action) -> None:
    """Configuration check: an absolute program and only known placeholders."""
    if not action.command or not action.command[0].startswith("/"):
        raise ValueError(f"remediation.actions.{name}.command: the program must be an absolute path")
    if PLACEHOLDER.search(action.command[0]):
        raise ValueError(f"remediation.actions.{name}.command: the program cannot have placeholders")
    for arg in action.command:
        for ph in PLACEHOLDER.findall(arg):
            if ph != "host" and ph not in action.params:
                raise ValueError(f"remediation.actions.{name}.command: {{{ph}}} is neither host nor a param")


def plan(
    labels: Mapping[str, str],
    config: RemediationConfig,
    history: Callable[[str, str | None, float], list[dict[str, Any]]],
    now: float,
) -> Decision | None:
    """What to do for one newly firing alert; None when its name triggers nothing."""
    alertname = labels.get("alertname", "")
    action_name = config.triggers.get(alertname)
    if action_name is None:
        return None
    action = config.actions[action_name]
    raw_host = labels.get(config.host_label, "")
    host = host_of(raw_host) if raw_host else ""
    if host not in config.hosts:
        return Decision(alertname, action_name, None, "refused", f"host {raw_host!r} is not in the allow-list")
    values = {"host": host}
    for param, allowed in action.params.items():
        value = labels.get(param)
        if value is None or value not in allowed or not SAFE_VALUE.match(value):
            return Decision(alertname, action_name, host, "refused", f"{param} {value!r} is not in the allow-list")
        values[param] = value
    argv = tuple(PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in action.command)
    recent = [h for h in history(host, None, now - config.rate_window_seconds) if h["result"] in ("run", "dry-run")]
    same = [h for h in recent if h["action"] == action_name and h["at"] >= now - config.cooldown_seconds]
    if same:
        return Decision(alertname, action_name, host, "cooldown", f"ran on {host} {now - same[-1]['at']:.0f}s ago")
    if len(recent) >= config.max_actions_per_host:
        return Decision(
            alertname,
            action_name,
            host,
            "rate-limited",
            f"{len(recent)} actions on {host} in the last {config.rate_window_seconds:g}s",
        )
    if config.dry_run:
        return Decision(alertname, action_name, host, "dry-run", "dry_run is on: nothing was run", argv)
    return Decision(alertname, action_name, host, "run", "", argv)


class Remediator:
    """Runs decisions off the HTTP threads: a bounded queue and one worker."""

    def __init__(self, store: Store, config: RemediationConfig, on_change: Callable[[], None] | None = None) -> None:
        self.store = store
        self.config = config
        self.on_change = on_change or (lambda: None)
        self._queue: queue.Queue[tuple[int, dict[str, str]] | None] = queue.Queue(maxsize=1000)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="incident-remediation", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread:
            self._queue.put(None)
            self._thread.join(timeout)

    def submit(self, items: Sequence[tuple[int, dict[str, str]]]) -> None:
        for item in items:
            if item[1].get("alertname") not in self.config.triggers:
                continue
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                log.warning("remediation queue full: %s on incident %d dropped", item[1].get("alertname"), item[0])

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """For tests: wait until the queue is drained (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self.handle(*item)
            except Exception:
                log.exception("remediation failed")
            finally:
                self._queue.task_done()

    def handle(self, incident_id: int, labels: Mapping[str, str], now: float | None = None) -> Decision | None:
        now = time.time() if now is None else now
        decision = plan(labels, self.config, self.store.action_history, now)
        if decision is None:
            return None
        exit_code: int | None = None
        output = ""
        if decision.result == "run":
            try:
                proc = subprocess.run(
                    list(decision.argv),
                    shell=False,
                    capture_output=True,
                    text=True,
                    timeout=self.config.timeout_seconds,
                    check=False,
                    stdin=subprocess.DEVNULL,
                )
                exit_code, output = proc.returncode, (proc.stdout + proc.stderr)[-OUTPUT_LIMIT:]
            except (OSError, subprocess.TimeoutExpired) as exc:
                exit_code, output = -1, str(exc)[-OUTPUT_LIMIT:]
        record = {
            "at": now,
            "incident_id": incident_id,
            "alertname": decision.alertname,
            "action": decision.action,
            "host": decision.host,
            "result": decision.result,
            "reason": decision.reason,
            "argv": list(decision.argv),
            "exit_code": exit_code,
            "output": output,
        }
        self.store.add_action(record)
        if self.config.audit_log:
            with open(self.config.audit_log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
        log.info(
            "remediation %s for %s on %s: %s %s",
            decision.action,
            decision.alertname,
            decision.host,
            decision.result,
            decision.reason,
        )
        self.on_change()
        return decision


def parse_remediation(data: Mapping[str, Any], host_label: str) -> RemediationConfig:
    actions = {
        name: Action(name, tuple(spec["command"]), {p: tuple(v) for p, v in spec.get("params", {}).items()})
        for name, spec in data.get("actions", {}).items()
    }
    for name, action in actions.items():
        check_action(name, action)
    for alertname, action in data.get("triggers", {}).items():
        if action not in actions:
            raise ValueError(f"remediation.triggers.{alertname}: action {action!r} is not defined in actions")
    return RemediationConfig(
        actions=actions,
        triggers=dict(data.get("triggers", {})),
        hosts=tuple(data.get("hosts", [])),
        dry_run=bool(data.get("dry_run", True)),
        max_actions_per_host=int(data.get("max_actions_per_host", 3)),
        rate_window_seconds=float(data.get("rate_window_seconds", 3600)),
        cooldown_seconds=float(data.get("cooldown_seconds", 900)),
        timeout_seconds=float(data.get("timeout_seconds", 60)),
        audit_log=Path(data["audit_log"]) if data.get("audit_log") else None,
        host_label=host_label,
    )
