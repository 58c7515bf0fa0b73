"""citadel_monitoring.incidents.config and the console script's --check-config."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from citadel_monitoring.incidents.cli import main
from citadel_monitoring.incidents.config import ConfigError, load_config, parse_config
from citadel_monitoring.incidents.enrich import anomalies_for, parse_series_text
from citadel_monitoring.promapi import Series
from tests.conftest import ROOT

from .conftest import HASH

EXAMPLE = ROOT / "alerting" / "incidents.example.yml"


def base():
    return {
        "basic_auth_users": {"alertmanager": HASH},
        "database": "/tmp/x.db",
        "notify": {"url": "http://127.0.0.1:1/"},
    }


def test_the_example_configuration_loads():
    config = load_config(EXAMPLE)
    assert config.listen_address == "127.0.0.1" and config.listen_port == 9097
    assert config.grouping.topology["model1"] == ("llama-3.1-8b",)
    assert config.enrichment and config.enrichment.threshold == 0.8


def test_defaults():
    config = parse_config(base())
    assert config.grouping.window_seconds == 900 and config.grouping.ignore_alertnames == ("Watchdog",)
    assert config.enrichment is None and config.tls_cert_file is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"basic_auth_users": {"alertmanager": "plaintext"}}, "basic_auth_users.alertmanager: must be a bcrypt hash"),
        ({"notify": {"url": "ftp://x"}}, "notify.url: 'ftp://x' does not match"),
        ({"grouping": {"window_seconds": 0}}, "grouping.window_seconds: 0 is less than the minimum of 1"),
        ({"listen": {"port": 70000}}, "listen.port: 70000 is greater than the maximum"),
        ({"tls": {"cert_file": "c"}}, "tls: 'key_file' is a required property"),
        ({"colour": 1}, "(top level): unknown key ('colour' was unexpected)"),
        ({"enrichment": {"threshold": 1}}, "enrichment: 'prometheus_url' is a required property"),
    ],
)
def test_errors_name_the_key_path(change, message):
    with pytest.raises(ConfigError) as info:
        parse_config(base() | change)
    assert str(info.value).startswith(message), str(info.value)


def test_cli_check_config(tmp_path, capsys):
    assert main(["--config", str(EXAMPLE), "--check-config"]) == 0
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(base() | {"database": ""}))
    assert main(["--config", str(bad), "--check-config"]) == 1
    assert f"{bad}: database: '' should be non-empty" in capsys.readouterr().err


def test_series_text_and_anomaly_selection():
    assert parse_series_text('{instance="m1:80",model="a\\"b"}') == {"instance": "m1:80", "model": 'a"b'}
    results = [
        Series({"watch": "w", "series": '{model="llama"}'}, np.array([60.0, 120.0]), np.array([0.9, 0.91])),
        Series({"watch": "w", "series": '{instance="m2"}'}, np.array([60.0]), np.array([0.99])),
        Series({"watch": "u", "series": 'up{instance="m3:9100"}'}, np.array([60.0]), np.array([0.99])),
        Series({"watch": "v", "series": '{instance="m1"}'}, np.array([0.0, 600.0]), np.array([0.9, 0.97])),
    ]
    found = anomalies_for(results, ["m1", "m3"], ["llama"], step=60)
    assert [(a["watch"], a["score"], a["since"]) for a in found] == [
        ("u", 0.99, "1970-01-01T00:01:00Z"),  # series text with the metric name: up{instance="m3:9100"}
        ("v", 0.97, "1970-01-01T00:10:00Z"),  # the gap breaks the run: since the last point
        ("w", 0.91, "1970-01-01T00:01:00Z"),
    ]
