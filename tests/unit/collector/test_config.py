"""Configuration: validated once at load; every error names the key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from citadel_monitoring.collector.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[3]
HASH = "$2b$12$" + "a" * 53


def test_an_empty_file_is_a_collector_with_no_sources():
    config = parse_config(None)
    assert (config.address, config.port, config.probes, config.nvml) == ("127.0.0.1", 9840, (), None)


def test_the_example_config_is_valid():
    config = load_config(ROOT / "collector/examples/collector.yml")
    assert config.tls is not None and config.basic_auth_users
    assert config.probes and config.access_logs and config.nvml and config.cost


def test_defaults_of_a_probe():
    config = parse_config({"sources": {"probes": [{"name": "a", "base_url": "http://127.0.0.1:8000/", "model": "m"}]}})
    probe = config.probes[0]
    assert (probe.interval_seconds, probe.timeout_seconds, probe.api, probe.health_path) == (
        30,
        10,
        "completions",
        "/health",
    )
    assert probe.base_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"listen": {"port": 70000}}, "listen.port"),
        ({"listen": {"prot": 1}}, "listen.prot"),
        ({"tls": {"cert_file": "/c"}}, "tls.key_file"),
        ({"basic_auth": {"users": {"prom": "plain-text"}}}, "basic_auth.users.prom"),
        (
            {
                "sources": {
                    "probes": [
                        {"name": "a", "base_url": "http://x", "model": "m"},
                        {"name": "b", "base_url": "ftp://x", "model": "m"},
                    ]
                }
            },
            "sources.probes[1].base_url",
        ),
        ({"sources": {"probes": [{"name": "a", "base_url": "http://x"}]}}, "sources.probes[0].model"),
        (
            {"sources": {"probes": [{"name": "a", "base_url": "http://x", "model": "m", "interval_seconds": 0}]}},
            "sources.probes[0].interval_seconds",
        ),
        (
            {"sources": {"access_logs": [{"name": "g", "path": "/l", "fields": {"tenant": ""}}]}},
            "sources.access_logs[0].fields.tenant",
        ),
        (
            {"sources": {"access_logs": [{"name": "g", "path": "/l", "latency_buckets": [1, 0.5]}]}},
            "sources.access_logs[0].latency_buckets",
        ),
        (
            {"sources": {"nvml": {"process_attribution": [{"server": "v", "cmdline_pattern": "("}]}}},
            "sources.nvml.process_attribution[0].cmdline_pattern",
        ),
        (
            {"sources": {"ollama": [{"name": "o", "base_url": "http://x"}, {"name": "o", "base_url": "http://y"}]}},
            "sources.ollama[1].name",
        ),
        ({"sources": {"cost": {"currency": "dollars"}}}, "sources.cost.currency"),
        ({"sources": []}, "sources"),
    ],
)
def test_errors_name_the_key_path(data, path):
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value).startswith(f"{path}: "), str(error.value)


def test_a_plain_password_is_not_echoed_in_the_error():
    with pytest.raises(ConfigError) as error:
        parse_config({"basic_auth": {"users": {"prom": "hunter2"}}})
    assert "hunter2" not in str(error.value) and "bcrypt" in str(error.value)


def test_a_bcrypt_hash_is_accepted():
    assert parse_config({"basic_auth": {"users": {"prom": HASH}}}).basic_auth_users == {"prom": HASH}


def test_bad_yaml_and_missing_files(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("listen: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yml")


def test_round_trip_through_yaml(tmp_path):
    doc = {"listen": {"address": "0.0.0.0", "port": 9841}, "sources": {"cost": {"currency": "USD", "gpus": 2}}}
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(doc))
    config = load_config(path)
    assert (config.address, config.port, config.cost.gpus) == ("0.0.0.0", 9841, 2)
