"""Put dashboards/ on the import path: its `citadel_dashboards` package and the build script."""

from __future__ import annotations

import sys

from tests.conftest import ROOT

if str(ROOT / "dashboards") not in sys.path:
    sys.path.insert(0, str(ROOT / "dashboards"))
