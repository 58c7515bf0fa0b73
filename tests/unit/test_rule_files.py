"""Every alert in rules/*.yml has a severity, a summary, a description, and a runbook_url whose
section exists in docs/runbooks.md; every record follows level:metric:operations."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import ROOT

RULES = sorted((ROOT / "rules").glob("*.yml"))
ANCHORS = {
    re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
    for line in (ROOT / "docs/runbooks.md").read_text().splitlines()
    if line.startswith("## ")
}


def rules_of(path):
    for group in yaml.safe_load(path.read_text())["groups"]:
        yield from group["rules"]


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.name)
def test_alerts_are_documented(path):
    for rule in rules_of(path):
        if "alert" not in rule:
            continue
        name = rule["alert"]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", name), f"{path.name}: {name} is not CamelCase"
        assert rule.get("labels", {}).get("severity"), f"{path.name}: {name} has no severity"
        ann = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert ann.get(key), f"{path.name}: {name} has no {key}"
        page, _, anchor = ann["runbook_url"].partition("#")
        assert page == "docs/runbooks.md" and anchor in ANCHORS, f"{path.name}: {name}: no section {ann['runbook_url']}"


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.name)
def test_recording_rules_are_named_level_metric_operations(path):
    for rule in rules_of(path):
        if "record" in rule:
            assert re.fullmatch(r"[a-zA-Z_]+:[a-zA-Z0-9_]+(:[a-zA-Z0-9_]+)?", rule["record"]), rule["record"]
