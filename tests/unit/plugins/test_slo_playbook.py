"""The held-out path, end to end: a playbook renders SLO files with
`lookup('file', spec) | from_yaml_all | list | slo_rule_groups | to_nice_yaml` through the
repository's ansible.cfg, then promtool checks the file and runs a rule test suite against it."""

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

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")

PLAYBOOK = """\
- name: Render SLO rule files
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Render each good definition file
      ansible.builtin.copy:
        content: "{{ lookup('file', item.spec) | from_yaml_all | list | slo_rule_groups | to_nice_yaml }}"
        dest: "{{ item.dest }}"
        mode: "0644"
      loop: "{{ good }}"

    - name: Render every definition file of a directory in one call, as the prometheus role does
      ansible.builtin.copy:
        content: >-
          {{ query('ansible.builtin.file', *(query('ansible.builtin.fileglob', slo_dir ~ '/*.yml') | sort))
             | map('ansible.builtin.from_yaml_all') | map('list') | flatten(levels=1)
             | slo_rule_groups | to_nice_yaml }}
        dest: "{{ all_dest }}"
        mode: "0644"

    - name: Render a bad definition file
      ansible.builtin.copy:
        content: >-
          {{ lookup('file', bad_spec) | from_yaml_all | list | slo_rule_groups(source=bad_name) | to_nice_yaml }}
        dest: "{{ bad_dest }}"
        mode: "0644"
      register: bad
      ignore_errors: true

    - name: Show the error
      ansible.builtin.debug:
        msg: "BAD-RESULT {{ bad.msg | default('') }}"
"""

BAD = """\
version: prometheus/v1
service: llm-gateway
slos:
  - name: chat-availability
    objective: 120
    sli:
      raw:
        error_ratio_query: 'sum(rate(x[{{.window}}]))'
    alerting:
      name: ChatBudgetBurn
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slo_playbook")
    (tmp / "play.yml").write_text(PLAYBOOK)
    (tmp / "bad.yml").write_text(BAD)
    good = [
        {"spec": str(ROOT / "slos" / "llm-gateway.yml"), "dest": str(tmp / "gateway.rules.yml")},
        {"spec": str(ROOT / "slos" / "model-servers.yml"), "dest": str(tmp / "models.rules.yml")},
        {"spec": str(ROOT / "rules/tests/slo/availability.slo.yml"), "dest": str(tmp / "availability.rules.yml")},
    ]
    extra = {
        "good": good,
        "bad_spec": str(tmp / "bad.yml"),
        "bad_name": "slos/bad.yml",
        "bad_dest": str(tmp / "bad.rules.yml"),
        "slo_dir": str(ROOT / "slos"),
        "all_dest": str(tmp / "all.rules.yml"),
    }
    env = os.environ | {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    (tmp / "vars.json").write_text(json.dumps(extra))
    playbook = Path(sys.executable).with_name("ansible-playbook")
    result = subprocess.run(
        [str(playbook), "-i", "localhost,", str(tmp / "play.yml"), "-e", f"@{tmp / 'vars.json'}"],
        cwd=tmp,  # not the repository: ansible.cfg alone must find the filter
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return tmp, result


def test_playbook_runs_without_plugin_warnings(run):
    _, result = run
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "[WARNING]" not in output and "[DEPRECATION" not in output, output


def test_rendered_files_pass_promtool_check(run):
    tmp, _ = run
    files = [str(tmp / n) for n in ("gateway.rules.yml", "models.rules.yml", "availability.rules.yml", "all.rules.yml")]
    result = subprocess.run(["promtool", "check", "rules", *files], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = yaml.safe_load((tmp / "gateway.rules.yml").read_text())
    alerts = [r for g in rendered["groups"] for r in g["rules"] if "alert" in r]
    # Prometheus templates survive Ansible: they are data here, never templated.
    assert any("{{ $value | humanize }} times" in a["annotations"]["description"] for a in alerts)


def test_all_files_in_one_call_make_one_group_equal_to_the_committed_examples(run):
    tmp, _ = run
    rendered = yaml.safe_load((tmp / "all.rules.yml").read_text())
    assert [g["name"] for g in rendered["groups"]] == ["slo-llm-gateway-model-servers"]
    assert rendered == yaml.safe_load((ROOT / "rules/tests/slo/examples.rules.yml").read_text())


def test_rendered_file_passes_a_promtool_rule_test(run, tmp_path):
    tmp, _ = run
    suite = yaml.safe_load((ROOT / "rules/tests/slo_fast_outage.test.yml").read_text())
    suite["rule_files"] = [str(tmp / "availability.rules.yml")]
    (tmp_path / "suite.test.yml").write_text(yaml.safe_dump(suite))
    result = subprocess.run(
        ["promtool", "test", "rules", str(tmp_path / "suite.test.yml")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_bad_definition_fails_the_task_and_writes_nothing(run):
    tmp, result = run
    assert not (tmp / "bad.rules.yml").exists()
    line = next(line for line in result.stdout.splitlines() if "BAD-RESULT" in line)
    message = " ".join(result.stdout[result.stdout.index(line) :].split())
    assert "slos/bad.yml" in message
    assert "service llm-gateway, SLO chat-availability: objective: 120 is not in (0, 100)" in message
