#!/usr/bin/env python3
"""Print the lab's health: each host, each component Prometheus scrapes there, the URLs, and
where the lab's credentials are. Exits 1 when a host or a target is down.

Usage: summary.py --inventory inventory/lab/hosts.yml [--lab default]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import access
import labctl


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--lab", default="default")
    args = parser.parse_args()
    hosts = labctl.hosts_from_inventory(Path(args.inventory))
    record = labctl.LabRecord.load(args.lab)
    ok = True

    by_instance: dict[str, list[dict]] = {}
    servers = [h for h in hosts.values() if "metrics_servers" in h.groups]
    for server in servers:
        # Targets just added by the play are "unknown" until their first scrape: wait for it.
        deadline = time.monotonic() + 60
        while True:
            try:
                targets = access.prometheus_api(server.address, "targets", state="active")["activeTargets"]
            except OSError as exc:
                print(f"!! Prometheus on {server.name} ({server.address}:9090) does not answer: {exc}")
                ok = False
                break
            if all(t["health"] != "unknown" for t in targets) or time.monotonic() > deadline:
                for t in targets:
                    by_instance.setdefault(t["labels"].get("instance", "?"), []).append(t)
                break
            time.sleep(2)

    print(f"\nCitadel lab '{args.lab}': {len(hosts)} hosts on {labctl.SUBNET}\n")
    for h in hosts.values():
        rec = record.hosts.get(h.name)
        up = rec is not None and labctl.healthy(rec)
        ok &= up
        print(f"  {h.name:10} {h.address:13} {'up' if up else 'DOWN':5} groups: {', '.join(h.groups)}")
        for t in sorted(by_instance.get(h.name, []), key=lambda t: t["labels"]["job"]):
            health = t["health"]
            ok &= health == "up"
            err = f"  ({t['lastError']})" if t.get("lastError") else ""
            print(f"      {t['labels']['job']:12} {health:7} {t['scrapeUrl']}{err}")
    print("\n  URLs")
    for s in servers:
        print(f"      Prometheus   https://{s.address}:9090/   (targets: /targets, alerts: /alerts; user admin)")
        print(f"      Alertmanager https://{s.address}:9093/   (user admin)")
        print(f"      Grafana      https://{s.address}:3000/   (deployed only from a .deb: make lab GRAFANA_DEB=...)")
    print("\n  Access")
    print(f"      SSH as root with {labctl.KEY_FILE}; host keys pinned in")
    print(f"      {labctl.lab_dir(args.lab) / 'known_hosts'}; or: .venv/bin/python lab/labctl.py exec HOST -- CMD")
    print(f"      Web endpoints: HTTPS with the lab's site CA {access.CA_FILE} and basic auth;")
    print("      passwords in the lab vault: .venv/bin/ansible-vault view --vault-password-file \\")
    print(f"        {access.VAULT_PASSWORD.relative_to(access.ROOT)} {access.VAULT.relative_to(access.ROOT)}")
    print(f"\n  {'healthy' if ok else 'NOT healthy'}\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
