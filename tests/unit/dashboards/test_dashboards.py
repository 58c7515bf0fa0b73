"""The generated dashboards: fresh, well formed, valid PromQL over series the project produces."""

from __future__ import annotations

import json
import re
import shutil

import promql_parser
import pytest
import yaml

from tests.conftest import ROOT, load_module

build = load_module("dashboards/build.py", "citadel_dashboards_build")
from citadel_dashboards import catalogue  # noqa: E402
from citadel_dashboards.grafana import DATASOURCE_UID  # noqa: E402
from citadel_dashboards.registry import DASHBOARDS  # noqa: E402

SLO_MODULE = load_module("plugins/filter/slo_rule_groups.py", "slo_rule_groups_for_dashboards")
GENERATED = {name: json.loads((ROOT / "dashboards/json" / name).read_text()) for name in DASHBOARDS}
# Grafana's own variables, replaced by values of the same type before parsing.
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d"}


def panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def all_targets() -> list[tuple[str, str, dict]]:
    return [(name, p["title"], t) for name, d in GENERATED.items() for p in panels(d) for t in p["targets"]]


def promql(expr: str) -> str:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    return expr


def test_committed_json_is_what_the_sources_build():
    stale = build.stale(build.render())
    assert stale == [], f"stale dashboards {stale}: run `python dashboards/build.py` and commit dashboards/json/"


def test_the_check_names_a_hand_edited_file(tmp_path, monkeypatch, capsys):
    for path in (ROOT / "dashboards/json").glob("*.json"):
        shutil.copy(path, tmp_path)
    edited = tmp_path / "gpu-fleet.json"
    edited.write_text(edited.read_text().replace("Temperature", "Temp"))
    monkeypatch.setattr(build, "OUT", tmp_path)
    assert build.main(["--check"]) == 1
    assert "dashboards/json/gpu-fleet.json is stale" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_dashboard_structure(name):
    d = GENERATED[name]
    assert d["uid"].startswith("citadel-") and len(d["uid"]) <= 40
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
    for p in d["panels"]:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, f"{name}: {p['title']} is outside the grid"
    for p in panels(d):
        where = f"{name}: panel {p['title']!r}"
        assert p["description"], f"{where} has no description"
        assert p["fieldConfig"]["defaults"].get("unit"), f"{where} has no unit"
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, f"{where}: hard-coded datasource"
        assert p["targets"], f"{where} has no query"
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), f"{where}: duplicate refIds"
        for t in p["targets"]:
            assert t["expr"].strip(), f"{where}: a target without an expression"
            assert t["datasource"]["uid"] == "${datasource}", f"{where}: hard-coded datasource in a target"


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_datasource_variable_defaults_to_the_provisioned_datasource(name):
    defaults = yaml.safe_load((ROOT / "roles/grafana/defaults/main.yml").read_text())
    variables = {v["name"]: v for v in GENERATED[name]["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["current"]["value"] == DATASOURCE_UID == defaults["grafana_datasource_uid"]


def test_template_variables_for_host_model_and_tenant():
    names = {n: {v["name"] for v in d["templating"]["list"]} for n, d in GENERATED.items()}
    assert {"model", "host"} <= names["model-serving.json"]
    assert {"host", "gpu"} <= names["gpu-fleet.json"]
    assert {"tenant", "model"} <= names["executive-overview.json"]


def test_every_panel_query_parses_with_promql_parser():
    errors = []
    for name, title, t in all_targets():
        try:
            promql_parser.parse(promql(t["expr"]))
        except Exception as exc:
            errors.append(f"{name}: {title}: {t['expr']}: {exc}")
    assert errors == []


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_every_panel_query_parses_with_promtool():
    targets = all_targets()
    errors = SLO_MODULE.promtool_check([promql(t["expr"]) for _, _, t in targets])
    bad = [f"{n}: {title}: {err}" for (n, title, _), err in zip(targets, errors, strict=True) if err]
    assert bad == []


def metric_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: object) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            for m in node.matchers.matchers:
                # {__name__=~"$series"}: the analysed series, chosen in the dashboard.
                if m.name == "__name__" and "$" not in m.value:
                    names.add(m.value)
        return True

    promql_parser.walk(promql_parser.parse(promql(expr)), visit)
    return names


def test_every_metric_is_one_the_project_produces_or_scrapes():
    known = catalogue.known_metrics()
    unknown = {
        f"{name}: {title}: {metric}"
        for name, title, t in all_targets()
        for metric in metric_names(t["expr"])
        if metric not in known
    }
    assert unknown == set()


def test_variable_queries_use_known_metrics():
    known = catalogue.known_metrics()
    for name, d in GENERATED.items():
        for v in d["templating"]["list"]:
            if v["type"] == "query":
                match = re.match(r"label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)", v["definition"])
                assert match and match.group(1) in known, f"{name}: variable {v['name']}"


def test_the_slo_dashboard_has_a_row_per_slo_definition():
    rows = [p["title"] for p in GENERATED["slos.json"]["panels"] if p["type"] == "row"]
    slos = catalogue.slos()
    assert len(slos) >= 1
    for slo in slos:
        assert any(r.startswith(f"{slo.service} / {slo.name}: ") for r in rows), f"no row for {slo.service}/{slo.name}"
        exprs = " ".join(t["expr"] for _, _, t in all_targets())
        assert f'slo_name="{slo.name}"' in exprs
        if slo.alert_name:
            assert f'alertname="{slo.alert_name}"' in exprs


def test_catalogue_reads_the_engine_rules_and_the_collector():
    known = catalogue.known_metrics()
    assert "model:llm_requests:rate5m" in known
    assert "citadel_gpu_utilization_ratio" in known
    assert "slo:error_budget_remaining:ratio" in known
