"""Every role has a README that documents each of its variables and gives an example."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import ROOT

ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())


@pytest.mark.parametrize("role", ROLES)
def test_readme_lists_every_variable_and_an_example(role):
    readme = (ROOT / "roles" / role / "README.md").read_text()
    spec = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    missing = [name for name in spec["argument_specs"]["main"]["options"] if f"`{name}`" not in readme]
    assert missing == [], f"roles/{role}/README.md does not document {missing}"
    assert "## Example" in readme
