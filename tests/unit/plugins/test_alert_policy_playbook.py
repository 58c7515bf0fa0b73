"""The filters end to end through ansible-playbook and the repository's ansible.cfg: the example policy
with Vault-style secrets and a topology from inventory host variables, rendered into an Alertmanager
file validated by `amtool check-config`; a bad policy fails with the file and field; no warnings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool is not installed")

PLAYBOOK = """\
- name: Render the Alertmanager configuration from the escalation policy
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - vault.yml
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    citadel_alerting_secrets: "{{ plain_secrets | combine({'vault_slack_webhook_url': vault_slack_webhook_url}) }}"
    policy: "{{ lookup('file', policy_file) | from_yaml }}"
    am: >-
      {{ policy | citadel_alertmanager_config(secrets=citadel_alerting_secrets,
                                              topology=groups['model_hosts'] | citadel_alert_topology(hostvars),
                                              source='alerting/policy.yml') }}
  tasks:
    - name: Write the configuration as the alertmanager role would
      ansible.builtin.copy:
        content: >-
          {{ {'global': am.global, 'route': am.route, 'receivers': am.receivers,
              'inhibit_rules': am.inhibit_rules, 'time_intervals': am.time_intervals} | to_nice_yaml }}
        dest: "{{ dest }}"
        mode: "0600"
        validate: amtool check-config %s
      no_log: true

    - name: Render a bad policy
      ansible.builtin.set_fact:
        bad_result: "{{ policy | combine({'default_receiver': 'nobody'}) | citadel_alertmanager_config(secrets={}) }}"
      register: bad
      ignore_errors: true
"""

INVENTORY = """\
all:
  children:
    model_hosts:
      hosts:
        model1:
          citadel_models: [llama-3.1-8b]
        model2:
          citadel_models: [{name: mistral-7b, port: 8001}]
  hosts:
    localhost:
      ansible_connection: local
"""

SECRETS = {
    "vault_pagerduty_inference_routing_key": "k1",
    "vault_slack_webhook_url": "https://hooks.slack.example/T0/B0/XYZ",
    "vault_pagerduty_platform_routing_key": "k2",
    "vault_msteams_relay_url": "http://127.0.0.1:2000/alertmanager",
    "vault_incidents_password": "pw",
    "vault_deadmans_switch_url": "https://hc.example/ping/abc",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alert_policy_playbook")
    (tmp / "play.yml").write_text(PLAYBOOK)
    (tmp / "hosts.yml").write_text(INVENTORY)
    extra = {
        "policy_file": str(ROOT / "alerting" / "policy.yml"),
        "dest": str(tmp / "alertmanager.yml"),
        "plain_secrets": {k: v for k, v in SECRETS.items() if k != "vault_slack_webhook_url"},
    }
    (tmp / "vars.json").write_text(json.dumps(extra))
    env = os.environ | {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # the Slack URL as an inline Vault-encrypted variable, as in an inventory's vault file
    (tmp / "vault-pass").write_text("test-vault-password\n")
    vault = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-vault")),
            "encrypt_string",
            "--vault-password-file",
            str(tmp / "vault-pass"),
            "--name",
            "vault_slack_webhook_url",
            SECRETS["vault_slack_webhook_url"],
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    (tmp / "vault.yml").write_text(vault.stdout)
    playbook = Path(sys.executable).with_name("ansible-playbook")
    result = subprocess.run(
        [
            str(playbook),
            "-i",
            str(tmp / "hosts.yml"),
            str(tmp / "play.yml"),
            "-e",
            f"@{tmp / 'vars.json'}",
            "--vault-password-file",
            str(tmp / "vault-pass"),
        ],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    return tmp, result


def test_playbook_runs_without_warnings_and_hides_secrets(run):
    _, result = run
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "[WARNING]" not in output and "[DEPRECATION" not in output, output
    for value in SECRETS.values():
        if len(value) > 3:
            assert value not in output


def test_rendered_file_has_secrets_and_topology_rules(run):
    tmp, _ = run
    config = yaml.safe_load((tmp / "alertmanager.yml").read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["inference-page"]["slack_configs"][0]["api_url"] == SECRETS["vault_slack_webhook_url"]
    per_host = [r for r in config["inhibit_rules"] if 'instance="model2"' in r["source_matchers"]]
    assert per_host and per_host[0]["target_matchers"][0] == 'model=~"mistral\\\\-7b"'


def test_a_bad_policy_fails_naming_the_file_and_field(run):
    _, result = run
    message = " ".join((result.stdout + result.stderr).split())
    assert (
        "citadel_alertmanager_config: alerting/policy.yml: default_receiver: receiver 'nobody' is not defined"
        in message
    )


def test_ansible_doc_documents_the_filter():
    doc = Path(sys.executable).with_name("ansible-doc")
    env = os.environ | {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(
        [str(doc), "-t", "filter", "citadel_alertmanager_config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "escalation policy" in result.stdout
