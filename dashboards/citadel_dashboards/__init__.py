"""Citadel monitoring's Grafana dashboards as code, and the executive report.

`grafana` is a small builder of Grafana dashboard JSON (plain dicts, no third-party SDK);
`catalogue` reads the series the project produces from rules/, slos/ and docs/collector.md;
one module per dashboard; `report` renders the static executive report.
"""
