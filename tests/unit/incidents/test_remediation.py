"""citadel_monitoring.incidents.remediation: allow-listed, dry-run-by-default actions, and hostile payloads."""

from __future__ import annotations

import json
import shutil

import pytest

from citadel_monitoring.incidents.remediation import Action, RemediationConfig, check_action, parse_remediation, plan

from .conftest import alert, make_config, payload, request

TOUCH = shutil.which("touch") or "/usr/bin/touch"
RESTART = Action(
    "restart",
    ("/usr/bin/systemctl", "restart", "citadel-model@{model}.service", "--host={host}"),
    {"model": ("llama", "mistral")},
)
CONFIG = RemediationConfig(
    actions={"restart": RESTART},
    triggers={"ModelServerDown": "restart"},
    hosts=("model1", "model2"),
    max_actions_per_host=2,
    rate_window_seconds=3600,
    cooldown_seconds=600,
)


def no_history(host, action, since):
    return []


def test_only_triggers_do_anything():
    assert plan({"alertname": "HostDown", "instance": "model1"}, CONFIG, no_history, 0) is None


def test_dry_run_is_the_default_and_fills_only_allow_listed_values():
    d = plan({"alertname": "ModelServerDown", "instance": "model1:8000", "model": "llama"}, CONFIG, no_history, 0)
    assert d.result == "dry-run"
    assert d.argv == ("/usr/bin/systemctl", "restart", "citadel-model@llama.service", "--host=model1")


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        ({"instance": "model1; reboot", "model": "llama"}, "host 'model1; reboot' is not in the allow-list"),
        ({"instance": "$(reboot)", "model": "llama"}, "host '$(reboot)' is not in the allow-list"),
        ({"instance": "evil.example", "model": "llama"}, "host 'evil.example' is not in the allow-list"),
        ({"model": "llama"}, "host '' is not in the allow-list"),
        ({"instance": "model1", "model": "llama; rm -rf /"}, "model 'llama; rm -rf /' is not in the allow-list"),
        ({"instance": "model1", "model": "{host}"}, "model '{host}' is not in the allow-list"),
        ({"instance": "model1"}, "model None is not in the allow-list"),
    ],
)
def test_hostile_labels_are_refused(labels, reason):
    d = plan({"alertname": "ModelServerDown", **labels}, CONFIG, no_history, 0)
    assert (d.result, d.reason, d.argv) == ("refused", reason, ())


def test_cooldown_and_rate_limit():
    labels = {"alertname": "ModelServerDown", "instance": "model1", "model": "llama"}

    def history(entries):
        return lambda host, action, since: [e for e in entries if e["at"] >= since]

    ran = [{"at": 1000.0, "action": "restart", "result": "run"}]
    assert plan(labels, CONFIG, history(ran), 1300).result == "cooldown"
    assert plan(labels, CONFIG, history(ran), 1700).result == "dry-run"
    two = [{"at": 100.0, "action": "other", "result": "run"}, {"at": 200.0, "action": "other", "result": "dry-run"}]
    assert plan(labels, CONFIG, history(two), 1000).result == "rate-limited"
    # refusals do not count, and old actions leave the window
    refused = [{"at": 900.0, "action": "restart", "result": "refused"}] * 5
    assert plan(labels, CONFIG, history(refused), 1000).result == "dry-run"
    assert plan(labels, CONFIG, history(two), 100 + 3601).result == "dry-run"


@pytest.mark.parametrize(
    ("command", "params", "message"),
    [
        (["systemctl", "restart"], {}, "the program must be an absolute path"),
        (["/usr/bin/{model}"], {"model": ["x"]}, "the program cannot have placeholders"),
        (["/usr/bin/ssh", "{target}"], {}, "{target} is neither host nor a param"),
    ],
)
def test_bad_actions_are_configuration_errors(command, params, message):
    with pytest.raises(ValueError, match=message):
        check_action("a", Action("a", tuple(command), {k: tuple(v) for k, v in params.items()}))
    with pytest.raises(ValueError, match="action 'nope' is not defined"):
        parse_remediation({"actions": {}, "triggers": {"X": "nope"}}, "instance")


def remediation(tmp_path, dry_run=None):
    spec = {
        "hosts": ["model1", "model2"],
        "audit_log": str(tmp_path / "audit.jsonl"),
        "actions": {"mark": {"command": [TOUCH, f"{tmp_path}/ran-{{host}}-{{model}}"], "params": {"model": ["llama"]}}},
        "triggers": {"ModelServerDown": "mark"},
        "cooldown_seconds": 600,
    }
    if dry_run is not None:
        spec["dry_run"] = dry_run
    return spec


def test_hostile_payloads_over_http_run_only_the_allow_listed_command(sink, start_app, tmp_path):
    app = start_app(make_config(tmp_path, sink.url, remediation=remediation(tmp_path, dry_run=False)))
    hostile = payload(
        alert("ModelServerDown", instance="model1;touch /tmp/pwned", model="llama"),
        alert("ModelServerDown", instance="model2", model="$(touch /tmp/pwned)"),
        alert("ModelServerDown", instance="model2", model="../../etc"),
        alert("Evil", instance="model1", command=f"{TOUCH} {tmp_path}/evil", action="mark", model="llama"),
    )
    assert request(app, "POST", "/alerts", hostile)[0] == 200
    assert (
        request(app, "POST", "/alerts", payload(alert("ModelServerDown", instance="model1:8000", model="llama")))[0]
        == 200
    )
    # the same alert firing again after resolving is in cooldown
    request(
        app, "POST", "/alerts", payload(alert("ModelServerDown", "resolved", instance="model1:8000", model="llama"))
    )
    request(app, "POST", "/alerts", payload(alert("ModelServerDown", instance="model1:8000", model="llama")))
    assert app.remediator.wait_idle()
    created = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("ran-", "evil")))
    assert created == ["ran-model1-llama"]
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(a["result"], a["host"]) for a in audit] == [
        ("refused", None),
        ("refused", "model2"),
        ("refused", "model2"),
        ("run", "model1"),
        ("cooldown", "model1"),
    ]
    assert audit[3]["exit_code"] == 0 and audit[3]["argv"] == [TOUCH, f"{tmp_path}/ran-model1-llama"]
    # the actions are in the incident's summary
    sink.wait_for(1)
    _, listing = request(app, "GET", "/incidents")
    actions = [a for inc in listing["incidents"] for a in inc["actions"]]
    assert sorted(a["result"] for a in actions) == ["cooldown", "refused", "refused", "refused", "run"]


def test_dry_run_by_default_over_http(sink, start_app, tmp_path):
    app = start_app(make_config(tmp_path, sink.url, remediation=remediation(tmp_path)))
    request(app, "POST", "/alerts", payload(alert("ModelServerDown", instance="model1", model="llama")))
    assert app.remediator.wait_idle()
    assert not (tmp_path / "ran-model1-llama").exists()
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [a["result"] for a in audit] == ["dry-run"]
    assert audit[0]["argv"] == [TOUCH, f"{tmp_path}/ran-model1-llama"]
