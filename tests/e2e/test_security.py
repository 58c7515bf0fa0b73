"""The deployed endpoints answer only over TLS (certificates from the site CA) and only with
credentials: no credentials or a wrong password get 401, plain HTTP gets no data."""

from __future__ import annotations

import socket
import ssl
import urllib.request

import pytest

from tests.e2e.conftest import access


def endpoints(lab_hosts):
    out = [
        (f"https://{h['address']}:9100/metrics", "prometheus", "vault_prometheus_scrape_password")
        for h in lab_hosts.values()
    ]
    out += [
        (f"https://{h['address']}:9090/api/v1/status/buildinfo", user, secret)
        for h in lab_hosts.values()
        if "metrics_servers" in h["groups"]
        for user, secret in [
            ("admin", "vault_prometheus_admin_password"),
            ("grafana", "vault_grafana_datasource_password"),
            ("analytics", "vault_analytics_query_password"),
        ]
    ]
    return out


def test_each_endpoint_needs_its_credentials(converged, lab_hosts):
    for url, user, secret in endpoints(lab_hosts):
        assert access.get(url, user, access.secrets()[secret])[0] == 200, url
        assert access.get(url)[0] == 401, f"{url} answered without credentials"
        assert access.get(url, user, "wrong-password")[0] == 401, f"{url} took a wrong password"


def test_plain_http_gets_no_data(converged, lab_hosts):
    for url, _, _ in endpoints(lab_hosts):
        plain = url.replace("https://", "http://")
        try:
            with urllib.request.urlopen(plain, timeout=5) as resp:
                pytest.fail(f"{plain} answered {resp.status} over plain HTTP")
        except urllib.error.HTTPError as exc:
            assert exc.code == 400, plain  # Go's TLS server: "client sent an HTTP request to an HTTPS server"
        except urllib.error.URLError:
            pass


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_certificates_verify_against_the_site_ca_and_tls_below_1_2_is_refused(converged, lab_hosts):
    for url, _, _ in endpoints(lab_hosts):
        host, port = url.split("/")[2].split(":")
        with (
            socket.create_connection((host, int(port)), timeout=5) as raw,
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
            socket.create_connection((host, int(port)), timeout=5) as raw,
            pytest.raises(ssl.SSLError, match="ALERT_PROTOCOL_VERSION"),
        ):
            old.wrap_socket(raw, server_hostname=host)
