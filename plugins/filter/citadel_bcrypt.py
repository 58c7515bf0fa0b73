"""Filter `citadel_bcrypt`: a bcrypt hash that stays the same across runs (idempotent configs).

bcrypt hashes normally get a random salt, so every run would rewrite the web config and restart
the service. Here the salt is derived from the password and a seed (the host and user name, say):
the same inputs give the same hash, a new password gives a new hash and a new salt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

DOCUMENTATION = r"""
name: citadel_bcrypt
short_description: Deterministic bcrypt hash for exporter-toolkit web configs
description:
  - Hashes a password with bcrypt, using a salt derived from HMAC-SHA256 of O(seed) keyed with
    the password, so that re-running a play gives the same hash.
options:
  _input:
    description: The password (take it from Ansible Vault).
    type: str
    required: true
  seed:
    description: Distinguishes hashes of the same password, e.g. C(inventory_hostname ~ user).
    type: str
    required: true
  rounds:
    description: The bcrypt cost (4..31). Every authenticated request pays it on the server.
    type: int
    default: 10
"""

EXAMPLES = r"""
node_exporter_web_users:
  prometheus: "{{ vault_scrape_password | citadel_bcrypt(inventory_hostname ~ '/prometheus') }}"
"""

RETURN = r"""
_value:
  description: The hash, C($2b$<rounds>$<salt><digest>).
  type: str
"""

_STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def bcrypt_salt(password: str, seed: str) -> str:
    """22 characters of bcrypt's base64 encoding 16 bytes derived from password and seed."""
    raw = hmac.new(password.encode(), seed.encode(), hashlib.sha256).digest()[:16]
    return base64.b64encode(raw).decode().rstrip("=").translate(str.maketrans(_STD, _BCRYPT))


def bcrypt_users(users: dict[str, str], seed: str, rounds: int = 10) -> dict[str, str]:
    """User name -> hash, each salted with the seed and the user name."""
    out = {}
    for user, password in users.items():
        try:
            out[str(user)] = bcrypt_hash(str(password or ""), f"{seed}/{user}", rounds)
        except ValueError as exc:
            raise ValueError(f"user {user}: {exc}") from None
    return out


def bcrypt_hash(password: str, seed: str, rounds: int = 10) -> str:
    import bcrypt

    if not password:
        raise ValueError("the password is empty")
    if not 4 <= int(rounds) <= 31:
        raise ValueError(f"rounds {rounds} is not in 4..31")
    salt = f"$2b${int(rounds):02d}${bcrypt_salt(password, seed)}".encode()
    return bcrypt.hashpw(password.encode(), salt).decode()


class FilterModule:
    """Ansible adapter."""

    def filters(self) -> dict:
        return {"citadel_bcrypt": self._bcrypt, "citadel_bcrypt_users": self._users}

    @staticmethod
    def _bcrypt(password: str, seed: str, rounds: int = 10) -> str:
        from ansible.errors import AnsibleFilterError

        try:
            return bcrypt_hash(str(password), str(seed), rounds)
        except ValueError as exc:
            raise AnsibleFilterError(f"citadel_bcrypt: {exc}") from None

    @staticmethod
    def _users(users: dict, seed: str, rounds: int = 10) -> dict:
        from ansible.errors import AnsibleFilterError

        try:
            return bcrypt_users(dict(users), str(seed), rounds)
        except ValueError as exc:
            raise AnsibleFilterError(f"citadel_bcrypt_users: {exc}") from None
