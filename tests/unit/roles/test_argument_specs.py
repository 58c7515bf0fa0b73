"""Every role's defaults and meta/argument_specs.yml agree: names, types and default values."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import ROOT

ROLES = sorted(p.parent.parent.name for p in ROOT.glob("roles/*/meta/argument_specs.yml"))
TYPES = {"str": str, "int": int, "bool": bool, "list": list, "dict": dict, "path": str, "raw": object}


def load(role: str) -> tuple[dict, dict]:
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text()) or {}
    spec = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    return defaults, spec["argument_specs"]["main"]["options"]


def test_every_role_has_an_argument_spec():
    roles = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())
    assert roles == ROLES


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_spec_name_the_same_variables(role):
    defaults, options = load(role)
    assert set(defaults) == set(options), (
        f"{role}: only in defaults: {set(defaults) - set(options)}; only in the spec: {set(options) - set(defaults)}"
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_option_is_typed_described_and_defaulted_as_in_defaults(role):
    defaults, options = load(role)
    for name, opt in options.items():
        assert name.startswith(role + "_"), f"{role}: {name} lacks the role prefix"
        assert opt.get("description"), f"{role}: {name} has no description"
        assert opt.get("type") in TYPES, f"{role}: {name} has no known type"
        assert "default" in opt, f"{role}: {name} has no default in the spec"
        assert opt["default"] == defaults[name], (
            f"{role}: {name}: spec default {opt['default']!r} != {defaults[name]!r}"
        )
        assert isinstance(defaults[name], TYPES[opt["type"]]), f"{role}: {name} is not a {opt['type']}"
        if "choices" in opt:
            assert defaults[name] in opt["choices"], f"{role}: {name}: default not among the choices"
