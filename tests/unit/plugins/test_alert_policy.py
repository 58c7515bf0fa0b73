"""plugins/filter/citadel_alert_policy.py: the escalation policy as Alertmanager configuration."""

from __future__ import annotations

import copy
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT, load_module

cap = load_module("plugins/filter/citadel_alert_policy.py", "citadel_alert_policy")

POLICY_FILE = ROOT / "alerting" / "policy.yml"
SECRET_NAMES = [
    "vault_pagerduty_inference_routing_key",
    "vault_slack_webhook_url",
    "vault_pagerduty_platform_routing_key",
    "vault_msteams_relay_url",
    "vault_incidents_password",
    "vault_deadmans_switch_url",
]
SECRETS = {name: f"https://secret.example/{name}/S3CR3T" for name in SECRET_NAMES}
TOPOLOGY = {"model1": {"models": ["llama-3.1-8b"]}, "model2": {"models": ["mistral-7b", "llama-3.1-8b"]}}

needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool is not installed")


@pytest.fixture
def policy():
    return yaml.safe_load(POLICY_FILE.read_text())


def render(doc, **kwargs):
    kwargs.setdefault("secrets", SECRETS)
    return cap.citadel_alertmanager_config(doc, **kwargs)


def write_config(config, path):
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def am_config(tmp_path_factory):
    config = render(yaml.safe_load(POLICY_FILE.read_text()), topology=TOPOLOGY)
    return write_config(config, tmp_path_factory.mktemp("am") / "alertmanager.yml")


# --- the example policy, checked and routed by amtool ---------------------------------------------


@needs_amtool
def test_example_policy_passes_amtool_check_config(am_config):
    result = subprocess.run(["amtool", "check-config", str(am_config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_amtool
@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"alertname": "Watchdog", "severity": "none"}, "deadmans-switch"),
        (
            {"alertname": "ModelServerRequestSuccessBudgetBurn", "severity": "page", "slo_service": "model-servers"},
            "incident-receiver,inference-page",
        ),
        (
            {"alertname": "GatewayAvailabilityBudgetBurn", "severity": "ticket", "slo_service": "llm-gateway"},
            "incident-receiver,inference-ticket",
        ),
        (
            {"alertname": "KvCacheSaturationForecast", "severity": "warning", "job": "vllm"},
            "incident-receiver,inference-warning",
        ),
        (
            {"alertname": "GpuXidErrors", "severity": "critical", "instance": "model1"},
            "incident-receiver,platform-critical",
        ),
        (
            {"alertname": "HostDown", "severity": "critical", "instance": "model2"},
            "incident-receiver,platform-critical",
        ),
        ({"alertname": "TargetDown", "severity": "warning", "job": "prometheus"}, "incident-receiver,platform-warning"),
        ({"alertname": "SomethingNobodyOwns", "severity": "warning"}, "incident-receiver,sre-email"),
        ({"alertname": "SomethingNobodyOwns"}, "incident-receiver,sre-email"),
        ({"alertname": "CapacityReport", "severity": "info", "team": "platform"}, "incident-receiver,platform-info"),
        # no `ticket` escalation in team platform: the team's default receivers
        ({"alertname": "X", "severity": "ticket", "team": "platform"}, "incident-receiver,platform-default"),
        # a `team` label wins over service matchers
        (
            {"alertname": "X", "severity": "page", "team": "platform", "slo_service": "model-servers"},
            "incident-receiver,platform-page",
        ),
        ({"alertname": "X", "severity": "debug", "job": "vllm"}, "incident-receiver,inference-default"),
    ],
)
def test_example_alerts_reach_the_expected_receivers(am_config, labels, expected):
    args = [f"{k}={v}" for k, v in labels.items()]
    result = subprocess.run(
        ["amtool", "config", "routes", "test", "--config.file", str(am_config), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


# --- the generated pieces -----------------------------------------------------------------------


def test_output_has_the_role_variables_pieces(policy):
    config = render(policy)
    assert set(config) == {"global", "route", "receivers", "inhibit_rules", "time_intervals"}
    assert config["global"]["smtp_smarthost"] == "localhost:25"
    assert [t["name"] for t in config["time_intervals"]] == ["business-hours", "model-rollouts", "gpu-host-maintenance"]


def test_routes_carry_per_severity_grouping_timings_and_intervals(policy):
    route = render(policy)["route"]
    assert route["receiver"] == "sre-email"
    assert route["routes"][0]["matchers"] == ['alertname="Watchdog"']
    assert route["routes"][0]["repeat_interval"] == "1m"
    assert route["routes"][1]["continue"] is True
    assert route["routes"][-1] == {"receiver": "sre-email"}
    models = next(r for r in route["routes"] if r.get("matchers") == ['slo_service="model-servers"'])
    page = next(r for r in models["routes"] if r.get("matchers") == ['severity="page"'])
    assert page["group_by"] == ["alertname", "slo_service", "slo_name", "model", "instance"]
    assert (page["group_wait"], page["group_interval"], page["repeat_interval"]) == ("30s", "5m", "1h")
    assert page["mute_time_intervals"] == ["model-rollouts"]
    assert "active_time_intervals" not in page
    ticket = next(r for r in models["routes"] if r.get("matchers") == ['severity="ticket"'])
    assert ticket["active_time_intervals"] == ["business-hours"]
    # maintenance of model-servers does not mute the gateway
    gateway = next(r for r in route["routes"] if r.get("matchers") == ['slo_service="llm-gateway"'])
    assert all("mute_time_intervals" not in r for r in gateway["routes"])


def test_receivers_are_merged_per_team_and_severity(policy):
    receivers = {r["name"]: r for r in render(policy)["receivers"]}
    page = receivers["inference-page"]
    assert page["pagerduty_configs"] == [{"routing_key": SECRETS["vault_pagerduty_inference_routing_key"]}]
    assert page["slack_configs"][0]["channel"] == "#llm-inference-alerts"
    # Teams through a relay: a webhook
    assert receivers["platform-warning"]["webhook_configs"] == [
        {"send_resolved": True, "url": SECRETS["vault_msteams_relay_url"]}
    ]
    incident = receivers["incident-receiver"]["webhook_configs"][0]
    assert incident["http_config"] == {
        "basic_auth": {"username": "alertmanager", "password": SECRETS["vault_incidents_password"]}
    }
    assert receivers["sre-email"]["email_configs"] == [{"send_resolved": True, "to": "sre@citadel.example"}]
    assert len(receivers) == len(render(policy)["receivers"])  # no duplicates


def test_secrets_dir_renders_file_variants_where_alertmanager_has_them(policy):
    only_urls = {k: SECRETS[k] for k in ("vault_msteams_relay_url", "vault_deadmans_switch_url")}
    receivers = {
        r["name"]: r for r in render(policy, secrets=only_urls, secrets_dir="/etc/alertmanager/secrets/")["receivers"]
    }
    assert receivers["inference-page"]["pagerduty_configs"] == [
        {"routing_key_file": "/etc/alertmanager/secrets/vault_pagerduty_inference_routing_key"}
    ]
    assert receivers["inference-page"]["slack_configs"][0]["api_url_file"] == (
        "/etc/alertmanager/secrets/vault_slack_webhook_url"
    )
    auth = receivers["incident-receiver"]["webhook_configs"][0]["http_config"]["basic_auth"]
    assert auth == {"username": "alertmanager", "password_file": "/etc/alertmanager/secrets/vault_incidents_password"}
    # webhook URLs have no *_file variant in 0.25: inlined
    assert receivers["deadmans-switch"]["webhook_configs"][0]["url"] == SECRETS["vault_deadmans_switch_url"]


@needs_amtool
def test_secrets_dir_config_passes_amtool(policy, tmp_path):
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    for name in SECRET_NAMES:
        (secrets_dir / name).write_text("x\n")
    config = render(policy, secrets_dir=str(secrets_dir))
    path = write_config(config, tmp_path / "am.yml")
    result = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_missing_secret_is_named_and_no_value_is_printed(policy):
    secrets = dict(SECRETS)
    del secrets["vault_slack_webhook_url"]
    with pytest.raises(cap.PolicyError) as info:
        render(policy, secrets=secrets)
    message = str(info.value)
    assert message == (
        "alerting/policy.yml: receivers.inference-slack.api_url: secret 'vault_slack_webhook_url' is not in the "
        "secrets given to the filter (a Vault variable?)"
    )
    assert "S3CR3T" not in message


def test_generic_inhibit_rules(policy):
    rules = render(policy)["inhibit_rules"]
    host_down, gpu, page_ticket, scrape = rules[:4]
    assert host_down == {
        "source_matchers": ['alertname=~"HostDown|HostUnreachable"', 'instance=~".+"'],
        "target_matchers": ['alertname!~"HostDown|HostUnreachable"'],
        "equal": ["instance"],
    }
    assert gpu["equal"] == ["instance"]
    assert gpu["target_matchers"] == ['alertname=~".*(Latency|TimeToFirstToken|InterToken|BudgetBurn|Slo).*"']
    assert page_ticket == {
        "source_matchers": ['severity="page"', 'slo_service=~".+"', 'slo_name=~".+"'],
        "target_matchers": ['severity="ticket"', 'slo_service=~".+"', 'slo_name=~".+"'],
        "equal": ["slo_service", "slo_name"],
    }
    assert scrape["target_matchers"] == ['alertname=~".*(Absent|NoData|Stale).*"']
    # the policy's own rule comes last
    assert rules[-1]["source_matchers"] == ['severity="critical"']


def test_topology_inhibit_rules_per_host():
    rules = cap.topology_inhibit_rules(cap.DEFAULT_CORRELATION, TOPOLOGY | {"cpu1": {"models": []}})
    assert len(rules) == 4  # two per host with models
    host_down, gpu = rules[2], rules[3]
    assert host_down["source_matchers"][-1] == 'instance="model2"'
    assert host_down["target_matchers"] == [
        'model=~"llama\\\\-3\\\\.1\\\\-8b|mistral\\\\-7b"',
        'alertname!~"HostDown|HostUnreachable"',
    ]
    assert gpu["source_matchers"][0].startswith('alertname=~"GpuXidErrors')
    assert gpu["target_matchers"][-1] == host_down["target_matchers"][0]


def test_alert_topology_from_hostvars():
    hostvars = {
        "model1": {"citadel_models": ["llama"]},
        "model2": {"citadel_models": [{"name": "mistral", "port": 8001}]},
        "metrics": {},
    }
    assert cap.alert_topology(["model1", "model2", "metrics", "model1"], hostvars) == {
        "model1": {"models": ["llama"]},
        "model2": {"models": ["mistral"]},
        "metrics": {"models": []},
    }
    with pytest.raises(cap.PolicyError, match="host nowhere: not in hostvars"):
        cap.alert_topology(["nowhere"], hostvars)
    with pytest.raises(cap.PolicyError, match=r"host model1: citadel_models\[0\]: a model needs a name"):
        cap.alert_topology(["model1"], {"model1": {"citadel_models": [{"port": 1}]}})
    with pytest.raises(cap.PolicyError, match="host model1: citadel_models must be a list"):
        cap.alert_topology(["model1"], {"model1": {"citadel_models": "llama"}})


# --- every validation error names the file and the field ------------------------------------------


def _set(doc, path, value):
    *parents, last = path
    for part in parents:
        doc = doc[part]
    if value is DELETE:
        del doc[last]
    else:
        doc[last] = value


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["version"], 2, "version: 1 was expected"),
        (["teams"], DELETE, "(document): 'teams' is a required property"),
        (["colour"], "red", "(document): unknown key ('colour' was unexpected)"),
        (["severities", "page", "group_wait"], "soon", "severities.page.group_wait: 'soon' is not a duration"),
        (["defaults", "repeat_interval"], "4 hours", "defaults.repeat_interval: '4 hours' is not a duration"),
        (
            ["severities", "page", "group_by"],
            ["alertname", "bad-label"],
            "severities.page.group_by: 'bad-label' is not a label name",
        ),
        (
            ["severities", "ticket", "active_time_intervals"],
            ["office"],
            "severities.ticket.active_time_intervals: time interval 'office' is not defined in time_intervals",
        ),
        (
            ["time_intervals", "business-hours", 0, "times", 0, "end_time"],
            "25:00",
            "time_intervals.business-hours[0].times[0].end_time: '25:00' is not a time HH:MM",
        ),
        (
            ["time_intervals", "business-hours", 0, "hours"],
            [1],
            "time_intervals.business-hours[0]: unknown key 'hours'",
        ),
        (["receivers", "Bad Name"], {"type": "email", "to": "a@b.c"}, "receivers: 'Bad Name' is not a valid name"),
        (["receivers", "sre-email", "type"], "pager", "receivers.sre-email.type: 'pager' is not one of"),
        (
            ["receivers", "inference-slack", "channel"],
            DELETE,
            "receivers.inference-slack: 'channel' is a required property",
        ),
        (["receivers", "sre-email", "channel"], "#x", "receivers.sre-email: unknown key ('channel' was unexpected)"),
        (
            ["receivers", "inference-slack", "api_url"],
            {"secret": "x", "value": "y"},
            "receivers.inference-slack.api_url: must be a non-empty string or {secret: NAME}",
        ),
        (
            ["teams", "inference", "escalation", "page"],
            ["nobody"],
            "teams.inference.escalation.page: receiver 'nobody' is not defined in receivers",
        ),
        (
            ["teams", "inference", "escalation", "urgent"],
            ["inference-slack"],
            "teams.inference.escalation.urgent: severity 'urgent' is not defined in severities",
        ),
        (
            ["teams", "inference", "services", 0, "matchers"],
            ["slo_service=model-servers"],
            "teams.inference.services[0].matchers: 'slo_service=model-servers' is not a matcher",
        ),
        (
            ["teams", "inference", "services", 1, "matchers"],
            ['job=~"vllm|("'],
            "teams.inference.services[1].matchers: 'job=~\"vllm|(\"': bad regular expression",
        ),
        (
            ["teams", "platform", "services", 0, "name"],
            "model-servers",
            "teams.platform.services[0].name: service 'model-servers' is owned by two teams",
        ),
        (
            ["maintenance", 0, "services"],
            ["gateway"],
            "maintenance[0].services: service 'gateway' is not owned by any team",
        ),
        (["maintenance", 0, "teams"], ["ops"], "maintenance[0].teams: team 'ops' is not defined in teams"),
        (
            ["maintenance", 0, "time_interval"],
            "never",
            "maintenance[0].time_interval: time interval 'never' is not defined in time_intervals",
        ),
        (["default_receiver"], "nobody", "default_receiver: receiver 'nobody' is not defined in receivers"),
        (["watchdog", "receiver"], "nobody", "watchdog.receiver: receiver 'nobody' is not defined in receivers"),
        (["watchdog", "repeat_interval"], "often", "watchdog.repeat_interval: 'often' is not a duration"),
        (["incidents", "receiver"], "nobody", "incidents.receiver: receiver 'nobody' is not defined in receivers"),
        (["correlation", "host_label"], "host-name", "correlation.host_label: 'host-name' is not a label name"),
        (["correlation", "slo_labels"], ["slo", "9"], "correlation.slo_labels[1]: '9' is not a label name"),
        (["correlation", "gpu_fault"], ["alertname=Gpu"], "correlation.gpu_fault: 'alertname=Gpu' is not a matcher"),
        (
            ["inhibit_rules", 0, "source_matchers"],
            ["severity critical"],
            "inhibit_rules[0].source_matchers: 'severity critical' is not a matcher",
        ),
        (
            ["receivers", "inference-page"],
            {"type": "email", "to": "a@b.c"},
            "receivers.inference-page: the name is taken by the generated receiver of team inference, severity page",
        ),
    ],
)
def test_validation_errors_name_the_file_and_field(policy, path, value, message):
    doc = copy.deepcopy(policy)
    _set(doc, path, value)
    with pytest.raises(cap.PolicyError) as info:
        cap.load_policy(doc, "inventory/lab/alerting/policy.yml")
    assert str(info.value).startswith(f"inventory/lab/alerting/policy.yml: {message}"), str(info.value)


def test_a_policy_must_be_a_mapping():
    with pytest.raises(cap.PolicyError, match=r"^alerting/policy.yml: a policy must be a mapping, not list$"):
        cap.load_policy([1])


def test_minimal_policy_renders():
    doc = {
        "version": 1,
        "severities": {"critical": {}},
        "receivers": {"ops": {"type": "webhook", "url": "http://127.0.0.1:1/"}},
        "teams": {"ops": {"escalation": {"critical": ["ops"]}}},
        "default_receiver": "ops",
        "watchdog": {"receiver": "ops"},
    }
    config = render(doc, secrets={})
    assert [r["name"] for r in config["receivers"]] == ["ops", "ops-critical"]
    assert config["route"]["group_by"] == ["alertname", "instance"]
    assert config["time_intervals"] == []


def test_a_maintenance_window_of_everything_mutes_all_but_the_watchdog(policy):
    policy["maintenance"].append({"time_interval": "gpu-host-maintenance"})
    routes = render(policy)["route"]["routes"]
    assert "mute_time_intervals" not in routes[0]  # the Watchdog
    assert routes[1]["mute_time_intervals"] == ["gpu-host-maintenance"]  # the incident receiver
    assert routes[-1]["mute_time_intervals"] == ["gpu-host-maintenance"]  # the catch-all
    leaves = [leaf for r in routes[2:-1] for leaf in r["routes"]]
    assert all("gpu-host-maintenance" in leaf["mute_time_intervals"] for leaf in leaves)
