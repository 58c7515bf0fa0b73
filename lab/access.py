"""How tools on the controller reach the lab's services: the site CA, the vault's secrets, and
authenticated HTTPS requests to Prometheus's API. Used by lab/summary.py and the e2e tests."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
import urllib.parse
import urllib.request
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = ROOT / "inventory/lab"
VAULT = INVENTORY / "group_vars/all/vault.yml"
VAULT_PASSWORD = INVENTORY / "vault-password.txt"
PKI_DIR = Path("/var/lib/citadel-lab/pki")
CA_FILE = PKI_DIR / "ca.crt"


@cache
def secrets() -> dict[str, str]:
    """The lab vault's secrets (decrypted with the lab-only password file)."""
    vault_bin = str(Path(sys.executable).parent / "ansible-vault")
    out = subprocess.run(
        [vault_bin, "view", "--vault-password-file", str(VAULT_PASSWORD), str(VAULT)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return yaml.safe_load(out)


def tls_context() -> ssl.SSLContext:
    """Verifies servers against the lab's site CA, TLS 1.2 at least."""
    ctx = ssl.create_default_context(cafile=str(CA_FILE))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def get(url: str, user: str | None = None, password: str | None = None, timeout: float = 10) -> tuple[int, bytes]:
    """GET over HTTPS with the site CA; returns (status, body) also for HTTP errors."""
    req = urllib.request.Request(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=tls_context()) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def prometheus_api(address: str, path: str, **params: str) -> dict:
    """`data` of a Prometheus API call, as the lab's admin user."""
    url = f"https://{address}:9090/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    status, body = get(url, "admin", secrets()["vault_prometheus_admin_password"])
    if status != 200:
        raise OSError(f"{url}: HTTP {status}: {body[:200]!r}")
    data = json.loads(body)
    if data.get("status") != "success":
        raise OSError(f"{url}: {data}")
    return data["data"]
