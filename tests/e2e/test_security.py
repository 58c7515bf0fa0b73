"""The deployed endpoints answer only over TLS (certificates from the site CA), only with
credentials, and only to whom the host firewall allows: node exporters to the metrics servers,
Prometheus to the admin network (the controller) and the metrics servers."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import access

# Runs on a lab host: GET the URL (certificate checked against the CA file there) and print
# {"status": N} or {"error": "..."}.
PROBE = r"""
import base64, json, os, ssl, sys, urllib.request
url, ca, user, password = sys.argv[1:5]
# Hosts without the CA file only probe whether anything answers at all.
verify = os.path.exists(ca)
req = urllib.request.Request(url)
if user:
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
ctx = None
if url.startswith("https"):
    ctx = ssl.create_default_context(cafile=ca) if verify else ssl._create_unverified_context()
try:
    with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
        print(json.dumps({"status": r.status}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code}))
except Exception as e:
    print(json.dumps({"error": repr(e)}))
"""
HOST_CA = "/etc/prometheus/tls/ca.crt"  # on the metrics servers


def from_host(host: str, url: str, user: str = "", password: str = "") -> dict:
    # The script goes through SSH on standard input; the arguments are plain words.
    cmd = [
        sys.executable,
        str(ROOT / "lab/labctl.py"),
        "exec",
        host,
        "--",
        "python3",
        "-",
        url,
        HOST_CA,
        user or "''",
        password or "''",
    ]
    res = subprocess.run(cmd, input=PROBE, capture_output=True, text=True, timeout=30)
    lines = res.stdout.strip().splitlines()
    assert lines, f"no answer from the probe on {host}: {res.stderr}"
    return json.loads(lines[-1])


def servers(lab_hosts):
    return {n: h for n, h in lab_hosts.items() if "metrics_servers" in h["groups"]}


def reachable(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except OSError:
        return False


def test_prometheus_needs_credentials_and_has_one_user_per_client(converged, lab_hosts):
    for h in servers(lab_hosts).values():
        url = f"https://{h['address']}:9090/api/v1/status/buildinfo"
        for user, secret in [
            ("admin", "vault_prometheus_admin_password"),
            ("grafana", "vault_grafana_datasource_password"),
            ("analytics", "vault_analytics_query_password"),
        ]:
            assert access.get(url, user, access.secrets()[secret])[0] == 200, (url, user)
        assert access.get(url)[0] == 401, f"{url} answered without credentials"
        assert access.get(url, "admin", "wrong-password")[0] == 401, f"{url} took a wrong password"


def test_node_exporters_answer_the_metrics_server_with_credentials_only(converged, lab_hosts):
    metrics = next(iter(servers(lab_hosts)))
    password = access.secrets()["vault_prometheus_scrape_password"]
    for h in lab_hosts.values():
        url = f"https://{h['address']}:9100/metrics"
        assert from_host(metrics, url, "prometheus", password) == {"status": 200}, url
        assert from_host(metrics, url) == {"status": 401}, url
        assert from_host(metrics, url, "prometheus", "wrong") == {"status": 401}, url
        assert from_host(metrics, url.replace("https", "http")) == {"status": 400}, url  # plain HTTP: no data


def test_the_firewall_drops_what_is_not_allowed(converged, lab_hosts):
    for h in lab_hosts.values():
        assert not reachable(h["address"], 9100), f"the controller reached node exporter on {h['address']}"
    for h in servers(lab_hosts).values():
        assert reachable(h["address"], 9090), "the admin network must reach Prometheus"
    models = [n for n, h in lab_hosts.items() if "model_hosts" in h["groups"]]
    if len(models) >= 2:
        other = lab_hosts[models[1]]["address"]
        probe = from_host(models[0], f"https://{other}:9100/metrics")
        assert "error" in probe and "timed out" in probe["error"], probe


def test_plain_http_to_prometheus_gets_no_data(converged, lab_hosts):
    for h in servers(lab_hosts).values():
        plain = f"http://{h['address']}:9090/api/v1/status/buildinfo"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(plain, timeout=5)
        assert err.value.code == 400  # Go's TLS server: "client sent an HTTP request to an HTTPS server"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_certificates_verify_against_the_site_ca_and_tls_below_1_2_is_refused(converged, lab_hosts):
    for h in servers(lab_hosts).values():
        host, port = h["address"], 9090
        with (
            socket.create_connection((host, port), timeout=5) as raw,
            access.tls_context().wrap_socket(raw, server_hostname=host) as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname = False
        old.verify_mode = ssl.CERT_NONE
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("ALL:@SECLEVEL=0")
        # The server's alert, not our client's refusal: TLS 1.1 is offered and turned down.
        with (
            socket.create_connection((host, port), timeout=5) as raw,
            pytest.raises(ssl.SSLError, match="ALERT_PROTOCOL_VERSION"),
        ):
            old.wrap_socket(raw, server_hostname=host)
