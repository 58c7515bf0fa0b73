#!/usr/bin/env python3
"""Make the lab's Ansible Vault: random secrets, encrypted with a lab-only password file.

The lab uses the same secret names as production (inventory/production/group_vars/all/vault.yml,
the template with CHANGE_ME placeholders). This creates, when missing:

- inventory/lab/vault-password.txt: the lab-only vault password (random, mode 0600, not in Git);
- inventory/lab/group_vars/all/vault.yml: every secret, random, encrypted with that password
  (not in Git). Secrets added to the template later are added; existing ones are kept.

Read the lab's secrets with:
    .venv/bin/ansible-vault view --vault-password-file inventory/lab/vault-password.txt \
        inventory/lab/group_vars/all/vault.yml
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "inventory/production/group_vars/all/vault.yml"
PASSWORD_FILE = ROOT / "inventory/lab/vault-password.txt"
VAULT = ROOT / "inventory/lab/group_vars/all/vault.yml"
VAULT_BIN = str(Path(sys.executable).parent / "ansible-vault")


def vault(*args: str, data: str | None = None) -> str:
    cmd = [VAULT_BIN, *args, "--vault-password-file", str(PASSWORD_FILE)]
    return subprocess.run(cmd, input=data, capture_output=True, text=True, check=True).stdout


def main() -> int:
    names = list(yaml.safe_load(TEMPLATE.read_text()))
    if not PASSWORD_FILE.exists():
        PASSWORD_FILE.write_text(secrets.token_urlsafe(32) + "\n")
        PASSWORD_FILE.chmod(0o600)
    current: dict[str, str] = {}
    if VAULT.exists():
        current = yaml.safe_load(vault("view", str(VAULT))) or {}
    missing = [n for n in names if n not in current]
    if not missing:
        return 0
    current.update({n: secrets.token_urlsafe(24) for n in missing})
    body = "# The lab's secrets, made by lab/make_vault.py (lab only).\n" + yaml.safe_dump(current, sort_keys=True)
    encrypted = vault("encrypt", "--output", "-", "-", data=body)
    tmp = VAULT.with_suffix(".tmp")
    tmp.write_text(encrypted)
    tmp.chmod(0o600)
    tmp.replace(VAULT)
    print(f"lab/make_vault.py: {len(missing)} secret(s) added to {VAULT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
