"""The service's configuration model: defaults, inheritance, and errors that name the key path."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from citadel_monitoring.analytics.cli import main
from citadel_monitoring.analytics.config import check_files, load_config, parse_config
from citadel_monitoring.collector.config import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "collector" / "examples" / "analytics.yml"
HASH = "$2b$12$TN6N4L7PvtHLLJV4dnhJ/ewj6IdPtPQgNkPybMjDLqPLJEoGouP72"

MINIMAL = {
    "prometheus": {"url": "http://127.0.0.1:9090"},
    "state_dir": "/tmp/x",
    "watch": [{"name": "load", "query": "node_load1"}],
}


def with_(**changes) -> dict:
    data = copy.deepcopy(MINIMAL)
    data.update(changes)
    return data


def test_minimal_config_has_the_documented_defaults():
    c = parse_config(copy.deepcopy(MINIMAL))
    assert (c.address, c.port, c.tls, c.basic_auth_users) == ("127.0.0.1", 9841, None, {})
    w = c.watches[0]
    assert (w.step_seconds, w.history_seconds, w.anomaly_threshold, w.counter) == (60, 7 * 86400, 0.5, False)
    assert w.detector.name == "ensemble" and w.detector.memory_seconds == 2 * 86400
    assert w.detector.history_seconds == 86400 and w.detector.season_days == 3
    assert w.forecast.step_seconds == 900 and w.forecast.horizons_seconds == (3600, 86400)
    assert c.limits.max_series == 1000 and c.cycle.interval_seconds == 60


def test_the_example_parses():
    c = load_config(EXAMPLE)
    assert c.instance == "model1" and c.prometheus.username == "analytics"
    assert c.prometheus.url.startswith("https://") and c.tls is not None
    names = [w.name for w in c.watches]
    assert "fleet_request_rate" in names
    gpu = next(w for w in c.watches if w.name == "gpu_utilization")
    assert gpu.query == 'citadel_gpu_utilization_ratio{instance=~"model1(:[0-9]+)?"}'
    disk = next(w for w in c.watches if w.name == "disk_free")
    assert disk.capacity is not None and disk.capacity.direction == "down"
    assert disk.forecast.horizons_seconds == (86400,) and disk.forecast.coverage == 0.8  # defaults merged


def test_defaults_are_inherited_and_overridden():
    data = with_(
        defaults={"step": "30s", "detector": {"memory": "1d", "season_days": 5}, "forecast": {"horizons": ["2h"]}},
        watch=[
            {"name": "a", "query": "x"},
            {"name": "b", "query": "y", "step": "1m", "detector": {"memory": "3d"}, "forecast": {"step": "30m"}},
        ],
    )
    a, b = parse_config(data).watches
    assert a.step_seconds == 30 and a.detector.memory_seconds == 86400 and a.detector.season_days == 5
    assert b.step_seconds == 60 and b.detector.memory_seconds == 3 * 86400 and b.detector.season_days == 5
    assert b.forecast.step_seconds == 1800 and b.forecast.horizons_seconds == (7200,)


def test_owned_watches_shard_fleet_wide_series():
    data = with_(
        instance="model2",
        watch=[
            {"name": "own", "query": "x"},
            {"name": "fleet", "query": "sum(x)", "owner": "model1"},
            {"name": "fleet2", "query": "sum(y)", "owner": "model2"},
        ],
    )
    assert [w.name for w in parse_config(data).owned_watches()] == ["own", "fleet2"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"prometheus": {"url": "x"}}, "state_dir: is required"),
        (with_(prometheus={}), "prometheus.url: is required"),
        (with_(prometheus={"url": "ftp://p"}), "prometheus.url: "),
        (with_(prometheus={"url": "http://p", "basic_auth": {"username": "u"}}), "prometheus.basic_auth.password_file"),
        (with_(listen={"port": 70000}), "listen.port: "),
        (with_(bogus=1), "bogus: unknown key"),
        (with_(basic_auth={"users": {"p": "plain"}}), "basic_auth.users.p: must be a bcrypt hash"),
        (with_(tls={"cert_file": "c"}), "tls.key_file: is required"),
        (with_(watch=[]), "watch: "),
        (with_(watch=[{"name": "a"}]), "watch[0].query: is required"),
        (with_(watch=[{"name": "a", "query": "x", "step": "fast"}]), "watch[0].step: "),
        (with_(watch=[{"name": "a", "query": "x", "step": "0s"}]), "watch[0].step: '0s' is not a positive duration"),
        (with_(watch=[{"name": "a", "query": "x", "detector": {"name": "magic"}}]), "watch[0].detector.name: "),
        (with_(watch=[{"name": "a", "query": "x", "anomaly_threshold": 2}]), "watch[0].anomaly_threshold: "),
        (with_(watch=[{"name": "a", "query": "x", "capacity": {}}]), "watch[0].capacity.limit: is required"),
        (with_(watch=[{"name": "a", "query": "x", "forecast": {"step": "90s"}}]), "watch[0].forecast.step: "),
        (with_(watch=[{"name": "a", "query": "x", "history": "2m"}]), "watch[0].history: "),
        (with_(watch=[{"name": "a", "query": "up{i='${nope}'}"}]), "watch[0].query: unknown placeholder ${nope}"),
        (with_(watch=[{"name": "a", "query": "x"}, {"name": "a", "query": "y"}]), "watch[1].name: duplicate"),
        (with_(watch=[{"name": "a", "query": "x", "owner": "m1"}]), "watch[0].owner: set, but `instance`"),
        (with_(limits={"max_series": 0}), "limits.max_series: "),
        (with_(cycle={"lag": "soon"}), "cycle.lag: "),
    ],
)
def test_errors_name_the_key_path(data, message):
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert str(err.value).startswith(message), str(err.value)


def test_lag_may_be_zero_and_placeholders_escape():
    c = parse_config(with_(cycle={"lag": "0s"}, watch=[{"name": "a", "query": "x{a=~'$$x'}"}]))
    assert c.cycle.lag_seconds == 0 and c.watches[0].query == "x{a=~'$x'}"


def test_check_files_names_the_unreadable_file(tmp_path: Path):
    pw = tmp_path / "pw"
    pw.write_text("x")
    data = with_(prometheus={"url": "http://p", "basic_auth": {"username": "u", "password_file": str(pw)}})
    check_files(parse_config(data))
    data["tls"] = {"cert_file": str(pw), "key_file": str(tmp_path / "missing.key")}
    with pytest.raises(ConfigError, match=r"^tls.key_file: cannot read .*missing.key"):
        check_files(parse_config(data))


def test_check_config_command(tmp_path: Path, capsys):
    good = tmp_path / "good.yml"
    good.write_text(yaml.safe_dump(with_(basic_auth={"users": {"prometheus": HASH}})))
    assert main(["serve", "--config", str(good), "--check-config"]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(with_(watch=[{"name": "a", "query": "x", "forecast": {"horizons": ["never"]}}])))
    assert main(["serve", "--config", str(bad), "--check-config"]) == 1
    assert "watch[0].forecast.horizons[0]: " in capsys.readouterr().err
    assert main(["serve", "--config", str(tmp_path / "none.yml"), "--check-config"]) == 1
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "broken.yml").write_text("watch: [\n")
    assert main(["serve", "--config", str(tmp_path / "broken.yml"), "--check-config"]) == 1
    assert "not valid YAML" in capsys.readouterr().err
