"""Filter `citadel_file_sd`: Prometheus file_sd target groups from inventory hosts.

The pure function `file_sd_targets` does the work and is unit-tested without Ansible; the
filter only adapts its errors to AnsibleFilterError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DOCUMENTATION = r"""
name: citadel_file_sd
short_description: Prometheus file_sd target groups from inventory hosts
description:
  - Turns a list of inventory host names into file_sd target groups, one group per host, with the
    target C(address:port) and the label C(instance) set to the inventory name.
  - The address is the host's O(address_var) (default C(citadel_scrape_address)), else its
    C(ansible_host), else its inventory name; the port is the host's O(port_var), else O(port).
options:
  _input:
    description: Inventory host names.
    type: list
    elements: str
    required: true
  hostvars:
    description: The play's C(hostvars).
    type: dict
    required: true
  port:
    description: The port when a host does not set O(port_var).
    type: int
    required: true
  port_var:
    description: A host variable that overrides the port.
    type: str
  address_var:
    description: A host variable that overrides the address.
    type: str
    default: citadel_scrape_address
  labels:
    description: Labels added to every group.
    type: dict
    default: {}
"""

EXAMPLES = r"""
prometheus_file_sd_targets:
  node: "{{ groups['all'] | citadel_file_sd(hostvars, port=9100, port_var='node_exporter_port') }}"
"""

RETURN = r"""
_value:
  description: "file_sd target groups: C([{targets: [host:port], labels: {instance: name}}])."
  type: list
  elements: dict
"""

LABEL_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class TargetError(ValueError):
    """Bad input; the message names the host and the variable."""


def _port(host: str, value: Any, source: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise TargetError(f"host {host}: {source} {value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise TargetError(f"host {host}: {source} {port} is not in 1..65535")
    return port


def _join(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def host_address(
    host: str, hostvars: Mapping[str, Mapping[str, Any]], address_var: str = "citadel_scrape_address"
) -> str:
    """The address other hosts reach `host` at: address_var, else ansible_host, else its name."""
    hvars = hostvars.get(host)
    if hvars is None:
        raise TargetError(f"host {host}: not in hostvars")
    return str(hvars.get(address_var) or hvars.get("ansible_host") or host)


def host_addresses(hosts: Sequence[str], hostvars: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The addresses of hosts, in order, without duplicates (for firewall source lists)."""
    return list(dict.fromkeys(host_address(h, hostvars) for h in hosts))


def file_sd_targets(
    hosts: Sequence[str],
    hostvars: Mapping[str, Mapping[str, Any]],
    port: int,
    port_var: str | None = None,
    address_var: str = "citadel_scrape_address",
    labels: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One file_sd group per host, in the order given, without duplicates."""
    labels = dict(labels or {})
    for name in labels:
        if not name or name[0].isdigit() or set(name) - LABEL_NAME_CHARS:
            raise TargetError(f"labels: {name!r} is not a valid Prometheus label name")
    default_port = _port("(default)", port, "port")
    groups: list[dict[str, Any]] = []
    seen: set[str] = set()
    for host in hosts:
        if host in seen:
            continue
        seen.add(host)
        address = host_address(host, hostvars, address_var)
        hvars = hostvars[host]
        host_port = _port(host, hvars[port_var], port_var) if port_var and port_var in hvars else default_port
        groups.append({"targets": [_join(str(address), host_port)], "labels": {"instance": host, **labels}})
    return groups


class FilterModule:
    """Ansible adapter."""

    def filters(self) -> dict[str, Any]:
        return {"citadel_file_sd": self._file_sd, "citadel_addresses": self._addresses}

    @staticmethod
    def _file_sd(
        hosts: Sequence[str],
        hostvars: Mapping[str, Mapping[str, Any]],
        port: int,
        port_var: str | None = None,
        address_var: str = "citadel_scrape_address",
        labels: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        from ansible.errors import AnsibleFilterError

        try:
            return file_sd_targets(list(hosts), hostvars, port, port_var, address_var, labels)
        except TargetError as exc:
            raise AnsibleFilterError(f"citadel_file_sd: {exc}") from None

    @staticmethod
    def _addresses(hosts: Sequence[str], hostvars: Mapping[str, Mapping[str, Any]]) -> list[str]:
        from ansible.errors import AnsibleFilterError

        try:
            return host_addresses(list(hosts), hostvars)
        except TargetError as exc:
            raise AnsibleFilterError(f"citadel_addresses: {exc}") from None
