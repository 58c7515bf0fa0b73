"""JSON Schema pieces every HTTP endpoint's configuration shares (collector, analytics,
incident receiver): TLS files and basic-auth users stored as bcrypt hashes."""

from __future__ import annotations

from typing import Any

PATH: dict[str, Any] = {"type": "string", "minLength": 1}

TLS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["cert_file", "key_file"],
    "properties": {"cert_file": PATH, "key_file": PATH, "client_ca_file": PATH},
}

BASIC_AUTH: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["users"],
    "properties": {
        "users": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": "^[^:\\s]{1,64}$"},
            "additionalProperties": {"type": "string", "pattern": "^\\$2[aby]\\$[0-9]{2}\\$.{53}$"},
        }
    },
}
