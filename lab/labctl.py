#!/usr/bin/env python3
"""Bring up, inspect and tear down the Citadel lab: real Debian 12 systemd hosts on this machine.

Each lab host is a `systemd-nspawn -b` container booted from an overlay of one cached Debian 12
root file system, living in a network namespace of its own with a veth on the bridge `citadel0`
(10.77.0.0/24). The controller reaches the hosts over SSH with a key made for the lab; host keys
are generated per host and pinned in the lab's known_hosts file.

Everything the lab creates is written down before it is created, in
/var/lib/citadel-lab/labs/<lab>/lab.json, so that a later run can remove what a killed run left
behind (processes, overlay mounts, namespaces, veths, the bridge and the nft table) from those
records alone: nothing is found by matching process names.

Usage:
    labctl.py up   [--lab NAME] (--inventory FILE | --host NAME=IP|auto[,group...] ...) [--fresh]
    labctl.py down [--lab NAME | --all]
    labctl.py status [--lab NAME] [--json]
    labctl.py exec --lab NAME HOST -- CMD...
    labctl.py rootfs [--rebuild]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

# --- fixed facts of the lab -------------------------------------------------------------------

SUITE = "bookworm"
MIRROR = os.environ.get("CITADEL_LAB_MIRROR", "http://deb.debian.org/debian")
SECURITY_MIRROR = os.environ.get("CITADEL_LAB_SECURITY_MIRROR", "http://deb.debian.org/debian-security")
PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-apt",
    "iproute2",
    "ca-certificates",
    "procps",
]
# The hosts whose addresses lab hosts may reach through NAT (besides DNS): the package registries.
EGRESS_HOSTS = ["deb.debian.org", "security.debian.org", "pypi.org", "files.pythonhosted.org"]

SUBNET = ipaddress.ip_network("10.77.0.0/24")
GATEWAY = ipaddress.ip_address("10.77.0.1")
BRIDGE = "citadel0"
NFT_TABLE = "citadel_lab"

CACHE_DIR = Path(os.environ.get("CITADEL_LAB_CACHE", "/var/cache/citadel-lab"))
STATE_DIR = Path(os.environ.get("CITADEL_LAB_STATE", "/var/lib/citadel-lab"))
KEY_FILE = STATE_DIR / "ssh" / "id_ed25519"
SHARED_RECORD = STATE_DIR / "shared.json"

BOOT_TIMEOUT = 60.0
# Changes whenever the way hosts are started changes: hosts started otherwise are re-created.
BOOT_SIGNATURE = "nspawn-v2-cap-net-admin"


def log(msg: str) -> None:
    print(f"labctl: {msg}", file=sys.stderr, flush=True)


class LabError(Exception):
    """A failure the operator can act on; printed without a traceback."""


# --- records ------------------------------------------------------------------------------------


@dataclass
class HostRecord:
    name: str
    address: str
    groups: list[str] = field(default_factory=list)
    netns: str = ""
    veth: str = ""
    root: str = ""  # host directory: upper/, work/, merged/, console.log
    boot: str = ""  # BOOT_SIGNATURE of the flags it was started with
    pid: int = 0  # systemd-nspawn's pid
    started: float = 0.0  # its start time in clock ticks since boot (guards against pid reuse)

    @property
    def merged(self) -> Path:
        return Path(self.root) / "merged"


@dataclass
class LabRecord:
    name: str
    base: str = ""
    hosts: dict[str, HostRecord] = field(default_factory=dict)

    @classmethod
    def load(cls, name: str) -> LabRecord:
        path = lab_dir(name) / "lab.json"
        if not path.exists():
            return cls(name=name)
        data = json.loads(path.read_text())
        hosts = {h["name"]: HostRecord(**h) for h in data.get("hosts", [])}
        return cls(name=data["name"], base=data.get("base", ""), hosts=hosts)

    def save(self) -> None:
        path = lab_dir(self.name) / "lab.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        data = {"name": self.name, "base": self.base, "hosts": [asdict(h) for h in self.hosts.values()]}
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(path)


def lab_dir(name: str) -> Path:
    return STATE_DIR / "labs" / name


def all_labs() -> list[str]:
    root = STATE_DIR / "labs"
    return sorted(p.name for p in root.iterdir() if (p / "lab.json").exists()) if root.exists() else []


def short_id(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:8]


# --- small process helpers ----------------------------------------------------------------------


def run(cmd: list[str], check: bool = True, quiet: bool = False, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, text=True, capture_output=True, **kw)
    if check and res.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}")
    if not quiet and res.returncode != 0:
        log(f"(ignored) {' '.join(cmd)}: {res.stderr.strip()}")
    return res


def proc_start_time(pid: int) -> float:
    """Field 22 of /proc/PID/stat (start time in ticks); 0 when the process is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return 0.0 if fields[0] in ("Z", "X") else float(fields[19])


def alive(host: HostRecord) -> bool:
    return host.pid > 0 and proc_start_time(host.pid) == host.started


def netns_exists(name: str) -> bool:
    return bool(name) and Path("/run/netns", name).exists()


def link_exists(name: str) -> bool:
    return bool(name) and Path("/sys/class/net", name).exists()


def is_mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1] == target for line in mounts)


def netns_pids(name: str) -> list[int]:
    if not netns_exists(name):
        return []
    res = run(["ip", "netns", "pids", name], check=False, quiet=True)
    return [int(p) for p in res.stdout.split()]


# --- root file system ---------------------------------------------------------------------------


def rootfs_key() -> str:
    return short_id(SUITE, MIRROR, SECURITY_MIRROR, *PACKAGES, "v3")


def rootfs_tarball() -> Path:
    return CACHE_DIR / f"debian-{SUITE}-minbase-{rootfs_key()}.tar.gz"


def build_rootfs() -> Path:
    """debootstrap a minbase Debian with systemd and sshd, prepared for per-host overlays."""
    tarball = rootfs_tarball()
    work = CACHE_DIR / f"build-{rootfs_key()}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    log(f"debootstrap {SUITE} from {MIRROR} into {work} (about a minute)")
    t0 = time.monotonic()
    run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(work), MIRROR])
    etc = work / "etc"
    (etc / "apt" / "sources.list").write_text(
        f"deb {MIRROR} {SUITE} main\ndeb {MIRROR} {SUITE}-updates main\ndeb {SECURITY_MIRROR} {SUITE}-security main\n"
    )
    # Per-host identity is made at host creation: no shared host keys or machine-id in the image.
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()
    (etc / "machine-id").write_text("")
    with contextlib.suppress(FileNotFoundError):
        (work / "var" / "lib" / "dbus" / "machine-id").unlink()
    # Units that cannot work in a container, or that only slow the boot down.
    for unit in (
        "systemd-timesyncd.service",
        "apt-daily.timer",
        "apt-daily-upgrade.timer",
        "e2scrub_reap.service",
        "systemd-networkd-wait-online.service",
    ):
        mask = etc / "systemd" / "system" / unit
        if not mask.exists():
            mask.symlink_to("/dev/null")
    (etc / "dpkg" / "dpkg.cfg.d" / "citadel-lab-nodoc").write_text(
        "path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\n"
        "path-exclude=/usr/share/man/*\npath-exclude=/usr/share/locale/*\n"
    )
    run(["chroot", str(work), "apt-get", "clean"])
    tmp = tarball.with_suffix(".partial")
    run(["tar", "-C", str(work), "--numeric-owner", "--xattrs", "-czf", str(tmp), "."])
    tmp.replace(tarball)
    shutil.rmtree(work)
    log(f"root file system cached as {tarball} in {time.monotonic() - t0:.0f} s")
    return tarball


def ensure_base() -> Path:
    """The extracted root file system that every host's overlay uses as its lower layer."""
    base = STATE_DIR / "base" / rootfs_key()
    if (base / ".complete").exists():
        return base
    tarball = rootfs_tarball()
    if not tarball.exists():
        log(f"no cached root file system at {tarball}: building it")
        build_rootfs()
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    run(["tar", "-C", str(base), "--numeric-owner", "--xattrs", "-xzf", str(tarball)])
    (base / ".complete").write_text(str(tarball) + "\n")
    return base


# --- shared network pieces: bridge and nft table --------------------------------------------------


def resolvers() -> list[str]:
    out = []
    for line in Path("/etc/resolv.conf").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            with contextlib.suppress(ValueError):
                if ipaddress.ip_address(parts[1]).version == 4:
                    out.append(parts[1])
    return out


def egress_addresses() -> list[str]:
    found: set[str] = set()
    for name in EGRESS_HOSTS:
        with contextlib.suppress(OSError):
            for info in socket.getaddrinfo(name, 443, socket.AF_INET, socket.SOCK_STREAM):
                found.add(info[4][0])
    return sorted(found)


def nft_ruleset() -> str:
    dns = resolvers()
    mirrors = egress_addresses()
    lines = [
        f"table inet {NFT_TABLE} {{",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        f'    iifname "{BRIDGE}" oifname "{BRIDGE}" accept',
        f'    oifname "{BRIDGE}" ct state established,related accept',
    ]
    if dns:
        lines.append(
            f'    iifname "{BRIDGE}" ip daddr {{ {", ".join(dns)} }} meta l4proto {{ tcp, udp }} th dport 53 accept'
        )
    if mirrors:
        lines.append(f'    iifname "{BRIDGE}" ip daddr {{ {", ".join(mirrors)} }} tcp dport {{ 80, 443 }} accept')
    lines += [
        f'    iifname "{BRIDGE}" counter drop',
        f'    oifname "{BRIDGE}" counter drop',
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        f"    ip saddr {SUBNET} ip daddr != {SUBNET} masquerade",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def ensure_shared() -> None:
    if not SHARED_RECORD.exists():
        forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
        SHARED_RECORD.parent.mkdir(parents=True, exist_ok=True)
        SHARED_RECORD.write_text(json.dumps({"ip_forward": forward, "bridge": BRIDGE, "nft_table": NFT_TABLE}) + "\n")
    if not link_exists(BRIDGE):
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        run(["ip", "addr", "add", f"{GATEWAY}/{SUBNET.prefixlen}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])
    # Replace the table atomically in one nft transaction: egress addresses may have changed.
    ruleset = nft_ruleset()
    exists = run(["nft", "list", "table", "inet", NFT_TABLE], check=False, quiet=True).returncode == 0
    script = (f"delete table inet {NFT_TABLE}\n" if exists else "") + ruleset
    run(["nft", "-f", "-"], input=script)
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")


def remove_shared() -> None:
    if run(["nft", "list", "table", "inet", NFT_TABLE], check=False, quiet=True).returncode == 0:
        run(["nft", "delete", "table", "inet", NFT_TABLE])
    if link_exists(BRIDGE):
        run(["ip", "link", "del", BRIDGE])
    if SHARED_RECORD.exists():
        forward = json.loads(SHARED_RECORD.read_text()).get("ip_forward", "0")
        Path("/proc/sys/net/ipv4/ip_forward").write_text(f"{forward}\n")
        SHARED_RECORD.unlink()


# --- one host -----------------------------------------------------------------------------------


def ensure_key() -> str:
    if not KEY_FILE.exists():
        KEY_FILE.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "citadel-lab", "-f", str(KEY_FILE)])
    return KEY_FILE.with_suffix(".pub").read_text()


def write_identity(host: HostRecord, lab: LabRecord, pubkey: str) -> tuple[str, str]:
    """Give the host its own name, machine-id, SSH host key, hosts file, resolver and CA bundle."""
    root = host.merged
    etc = root / "etc"
    (etc / "hostname").write_text(host.name + "\n")
    (etc / "machine-id").write_text(uuid.uuid4().hex + "\n")
    hosts = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{host.name}", "::1\tlocalhost ip6-localhost ip6-loopback"]
    hosts += [f"{h.address}\t{h.name}" for h in lab.hosts.values()]
    (etc / "hosts").write_text("\n".join(hosts) + "\n")
    resolv = etc / "resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    resolv.write_text("".join(f"nameserver {ns}\n" for ns in resolvers()))
    # The registries are reached through this machine's TLS-inspecting proxy: trust what it trusts.
    host_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if host_bundle.exists():
        local = root / "usr/local/share/ca-certificates"
        local.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(host_bundle, local / "citadel-lab-controller-bundle.crt")
        shutil.copyfile(host_bundle, etc / "ssl/certs/ca-certificates.crt")
    ssh = root / "root" / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "authorized_keys").write_text(pubkey)
    (ssh / "authorized_keys").chmod(0o600)
    key = etc / "ssh" / "ssh_host_ed25519_key"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host.name}", "-f", str(key)])
    keytype, keydata = key.with_suffix(".pub").read_text().split()[0:2]
    return keytype, keydata


def create_host(lab: LabRecord, host: HostRecord, base: Path, pubkey: str) -> str:
    hdir = Path(host.root)
    for sub in ("upper", "work", "merged"):
        (hdir / sub).mkdir(parents=True, exist_ok=True)
    run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={base},upperdir={hdir / 'upper'},workdir={hdir / 'work'}",
            str(host.merged),
        ]
    )
    keytype, keydata = write_identity(host, lab, pubkey)

    run(["ip", "netns", "add", host.netns])
    # A MAC derived from the address: a re-created host keeps it, so no neighbour cache (the
    # controller's or another host's) holds a stale entry that would stall traffic for a minute.
    mac = "02:77:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(host.address).packed)
    run(["ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns, "address", mac])
    run(["ip", "link", "set", host.veth, "master", BRIDGE, "up"])
    run(["ip", "-n", host.netns, "link", "set", "lo", "up"])
    run(["ip", "-n", host.netns, "addr", "add", f"{host.address}/{SUBNET.prefixlen}", "dev", "eth0"])
    run(["ip", "-n", host.netns, "link", "set", "eth0", "up"])
    run(["ip", "-n", host.netns, "route", "add", "default", "via", str(GATEWAY)])

    console = open(hdir / "console.log", "ab")  # noqa: SIM115 - handed to the long-lived child
    proc = subprocess.Popen(
        [
            "systemd-nspawn",
            "--quiet",
            "-b",
            "-D",
            str(host.merged),
            f"--machine={host.name}",
            "--register=no",
            "--keep-unit",
            f"--network-namespace-path=/run/netns/{host.netns}",
            "--resolv-conf=off",
            "--timezone=off",
            "--link-journal=no",
            "--console=read-only",
            # The host's own firewall (nftables) needs it; it acts only in the host's namespace.
            "--capability=CAP_NET_ADMIN",
        ],
        stdin=subprocess.DEVNULL,
        stdout=console,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    console.close()  # the child keeps its own descriptor
    host.pid = proc.pid
    host.boot = BOOT_SIGNATURE
    host.started = proc_start_time(proc.pid)
    lab.save()
    return f"{host.address} {keytype} {keydata}\n{host.name} {keytype} {keydata}\n"


def stop_host(host: HostRecord, graceful: bool) -> None:
    """Stop the host: its recorded systemd-nspawn and anything else inside its network namespace."""
    if graceful and alive(host):
        # systemd-nspawn turns SIGTERM into an orderly shutdown of the container's systemd.
        with contextlib.suppress(ProcessLookupError):
            os.kill(host.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while alive(host) and time.monotonic() < deadline:
            time.sleep(0.1)
    # The container's processes first: systemd-nspawn then reaps its child and exits by itself.
    for _ in range(50):
        pids = netns_pids(host.netns)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    deadline = time.monotonic() + 5
    while alive(host) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(host):
        with contextlib.suppress(ProcessLookupError):
            os.kill(host.pid, signal.SIGKILL)


def remove_host(host: HostRecord, graceful: bool = False) -> None:
    stop_host(host, graceful)
    if link_exists(host.veth):
        run(["ip", "link", "del", host.veth], check=False)
    if netns_exists(host.netns):
        run(["ip", "netns", "del", host.netns], check=False)
    if host.root:
        merged = Path(host.root) / "merged"
        for _ in range(20):
            if not is_mounted(merged):
                break
            if run(["umount", str(merged)], check=False, quiet=True).returncode != 0:
                time.sleep(0.2)
        if is_mounted(merged):
            run(["umount", "-l", str(merged)], check=False)
        shutil.rmtree(host.root, ignore_errors=True)


def ssh_args(lab: str) -> list[str]:
    return [
        "ssh",
        "-i",
        str(KEY_FILE),
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=2",
        "-o",
        f"UserKnownHostsFile={lab_dir(lab) / 'known_hosts'}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "LogLevel=ERROR",
    ]


def wait_booted(lab: LabRecord, host: HostRecord, deadline: float) -> str:
    """Wait until sshd answers and systemd has finished booting; return the system state."""
    last = ""
    while time.monotonic() < deadline:
        if not alive(host):
            tail = (Path(host.root) / "console.log").read_text(errors="replace")[-2000:]
            raise LabError(f"host {host.name}: systemd-nspawn exited during boot; console:\n{tail}")
        res = run(
            [*ssh_args(lab.name), f"root@{host.address}", "systemctl", "is-system-running", "--wait"],
            check=False,
            quiet=True,
            timeout=60,
        )
        state = res.stdout.strip()
        if state == "degraded":
            # Under load, a unit can lose a race for its cgroup at boot (exit 219/CGROUP on this
            # kernel's hybrid cgroup setup): start the failed units once more.
            retry = (
                "if systemctl -q is-failed systemd-tmpfiles-setup.service; then"  # refuses a manual start
                " systemd-tmpfiles --create --remove --boot --exclude-prefix=/dev"
                " && systemctl reset-failed systemd-tmpfiles-setup.service; fi;"
                " systemctl --failed --plain --no-legend | cut -d' ' -f1 | xargs -r systemctl restart"
            )
            run([*ssh_args(lab.name), f"root@{host.address}", retry], check=False, quiet=True, timeout=60)
            res = run(
                [*ssh_args(lab.name), f"root@{host.address}", "systemctl", "is-system-running"],
                check=False,
                quiet=True,
                timeout=30,
            )
            state = res.stdout.strip() or state
        if state in ("running", "degraded"):
            return state
        last = res.stderr.strip() or state
        time.sleep(0.3)
    raise LabError(f"host {host.name} ({host.address}) did not boot within {BOOT_TIMEOUT:.0f} s: {last}")


# --- lab specs ----------------------------------------------------------------------------------


def hosts_from_inventory(path: Path) -> dict[str, HostRecord]:
    import yaml  # the repo's .venv has it; only this input format needs it

    data = yaml.safe_load(path.read_text()) or {}
    hosts: dict[str, HostRecord] = {}

    def walk(group: str, node: dict) -> None:
        node = node or {}
        for name, hvars in (node.get("hosts") or {}).items():
            hvars = hvars or {}
            rec = hosts.setdefault(name, HostRecord(name=name, address=""))
            if "ansible_host" in hvars:
                rec.address = str(hvars["ansible_host"])
            if group != "all" and group not in rec.groups:
                rec.groups.append(group)
        for child, cnode in (node.get("children") or {}).items():
            walk(child, cnode)

    for group, node in data.items():
        walk(group, node)
    for rec in hosts.values():
        if not rec.address:
            raise LabError(f"{path}: host {rec.name}: ansible_host is missing")
    return hosts


def hosts_from_args(specs: list[str]) -> dict[str, HostRecord]:
    hosts = {}
    for spec in specs:
        name, _, rest = spec.partition("=")
        address, *groups = rest.split(",")
        hosts[name] = HostRecord(name=name, address=address, groups=groups)
    return hosts


AUTO_FIRST = 100  # "auto" addresses are taken from 10.77.0.100 up, below them for fixed labs


def allocate(lab: str, wanted: dict[str, HostRecord]) -> None:
    """Give each host whose address is "auto" the lowest address no lab uses."""
    used = {h.address for h in wanted.values()}
    used |= {h.address for o in all_labs() if o != lab for h in LabRecord.load(o).hosts.values()}
    current = LabRecord.load(lab).hosts
    for h in wanted.values():
        if h.address != "auto":
            continue
        if h.name in current and current[h.name].address not in used:
            h.address = current[h.name].address  # keep a host's address across runs
        else:
            free = (str(a) for a in list(SUBNET.hosts())[AUTO_FIRST - 1 :] if str(a) not in used)
            h.address = next(free, "")
            if not h.address:
                raise LabError(f"host {h.name}: no free address left in {SUBNET}")
        used.add(h.address)


def validate(lab: str, wanted: dict[str, HostRecord]) -> None:
    if not wanted:
        raise LabError("no hosts given")
    seen: dict[str, str] = {}
    for h in wanted.values():
        if not h.name.replace("-", "").isalnum() or len(h.name) > 40:
            raise LabError(f"host {h.name!r}: name must be letters, digits and '-', 40 at most")
        try:
            addr = ipaddress.ip_address(h.address)
        except ValueError as exc:
            raise LabError(f"host {h.name}: address {h.address!r}: {exc}") from None
        if addr not in SUBNET or addr in (GATEWAY, SUBNET.network_address, SUBNET.broadcast_address):
            raise LabError(f"host {h.name}: address {addr} is not a host address in {SUBNET} other than {GATEWAY}")
        if h.address in seen:
            raise LabError(f"hosts {seen[h.address]} and {h.name} share the address {h.address}")
        seen[h.address] = h.name
    for other in all_labs():
        if other == lab:
            continue
        for h in LabRecord.load(other).hosts.values():
            if h.address in seen:
                raise LabError(f"host {seen[h.address]}: address {h.address} is used by host {h.name} of lab {other}")


# --- commands -------------------------------------------------------------------------------------


@contextlib.contextmanager
def locked() -> Iterator[None]:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def healthy(host: HostRecord) -> bool:
    return (
        host.boot == BOOT_SIGNATURE
        and alive(host)
        and netns_exists(host.netns)
        and link_exists(host.veth)
        and is_mounted(host.merged)
    )


def cmd_up(args: argparse.Namespace) -> int:
    wanted = hosts_from_inventory(Path(args.inventory)) if args.inventory else hosts_from_args(args.host)
    t0 = time.monotonic()
    with locked():
        allocate(args.lab, wanted)
        validate(args.lab, wanted)
        lab = LabRecord.load(args.lab)
        base = ensure_base()
        ensure_shared()
        # Keep hosts that are up and unchanged; remove everything else the records know of.
        keep = set()
        for name, rec in list(lab.hosts.items()):
            want = wanted.get(name)
            if not args.fresh and want and want.address == rec.address and lab.base == str(base) and healthy(rec):
                rec.groups = want.groups
                keep.add(name)
                continue
            log(f"removing {'stale ' if not healthy(rec) else ''}host {name}")
            remove_host(rec)
            del lab.hosts[name]
            lab.save()
        lab.base = str(base)
        new = [h for n, h in wanted.items() if n not in keep]
        for h in new:
            h.netns = f"citadel-{short_id(args.lab, h.name)}"
            h.veth = f"cv{short_id(args.lab, h.name)}"
            h.root = str(lab_dir(args.lab) / "hosts" / h.name)
            # Leftovers under the same deterministic names (a run killed before it saved its record).
            remove_host(h)
            lab.hosts[h.name] = h
        lab.save()  # intent first: the names are on disk before anything is created
        pubkey = ensure_key()
        known = {}
        kh = lab_dir(args.lab) / "known_hosts"
        if kh.exists() and keep:
            for line in kh.read_text().splitlines():
                if line.split(" ", 1)[0] in {lab.hosts[k].address for k in keep} | keep:
                    known[line] = True
        for h in new:
            for line in create_host(lab, h, base, pubkey).splitlines():
                known[line] = True
        kh.write_text("".join(f"{line}\n" for line in known))
        if new:
            # /etc/hosts of kept hosts must list the new ones too: rewrite through SSH below.
            deadline = time.monotonic() + BOOT_TIMEOUT
            for h in new:
                state = wait_booted(lab, h, deadline)
                log(f"host {h.name} ({h.address}) booted: {state}")
            for name in keep:
                h = lab.hosts[name]
                lines = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{h.name}", "::1\tlocalhost ip6-localhost ip6-loopback"]
                lines += [f"{o.address}\t{o.name}" for o in lab.hosts.values()]
                (h.merged / "etc" / "hosts").write_text("\n".join(lines) + "\n")
        for name in keep:
            log(f"host {name} ({lab.hosts[name].address}) already up")
        write_inventory_hint(lab)
    log(f"lab {args.lab}: {len(lab.hosts)} host(s) up in {time.monotonic() - t0:.1f} s")
    return 0


def write_inventory_hint(lab: LabRecord) -> None:
    """A JSON summary other tools read (Molecule's create playbook, the health summary)."""
    out = {
        "lab": lab.name,
        "ssh_key": str(KEY_FILE),
        "known_hosts": str(lab_dir(lab.name) / "known_hosts"),
        "hosts": {h.name: {"address": h.address, "groups": h.groups} for h in lab.hosts.values()},
    }
    (lab_dir(lab.name) / "hosts.json").write_text(json.dumps(out, indent=2) + "\n")


def cmd_down(args: argparse.Namespace) -> int:
    with locked():
        labs = all_labs() if args.all else [args.lab]
        for name in labs:
            lab = LabRecord.load(name)
            for host in lab.hosts.values():
                log(f"lab {name}: removing host {host.name}")
                remove_host(host, graceful=args.graceful)
            shutil.rmtree(lab_dir(name), ignore_errors=True)
        if not all_labs():
            remove_shared()
            base_root = STATE_DIR / "base"
            if args.all and base_root.exists():
                shutil.rmtree(base_root)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    labs = all_labs() if args.all else [args.lab]
    report = {}
    ok = True
    for name in labs:
        lab = LabRecord.load(name)
        hosts = {}
        for h in lab.hosts.values():
            hosts[h.name] = {"address": h.address, "groups": h.groups, "up": healthy(h)}
            ok &= healthy(h)
        ok &= bool(hosts)  # a lab without hosts is not up
        report[name] = hosts
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, hosts in report.items():
            print(f"lab {name}:" + ("" if hosts else " (no hosts)"))
            for hname, h in hosts.items():
                print(f"  {hname:12} {h['address']:15} {'up' if h['up'] else 'DOWN':5} {','.join(h['groups'])}")
    return 0 if ok else 1


def cmd_exec(args: argparse.Namespace) -> int:
    lab = LabRecord.load(args.lab)
    host = lab.hosts.get(args.target)
    if host is None:
        raise LabError(f"lab {args.lab} has no host {args.target}")
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    return subprocess.call([*ssh_args(args.lab), f"root@{host.address}", *cmd])


def cmd_rootfs(args: argparse.Namespace) -> int:
    if args.rebuild or not rootfs_tarball().exists():
        build_rootfs()
    print(rootfs_tarball())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labctl", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="bring a lab up (idempotent; removes leftovers of killed runs)")
    up.add_argument("--lab", default="default")
    src = up.add_mutually_exclusive_group(required=True)
    src.add_argument("--inventory", help="an Ansible YAML inventory: every host with its ansible_host")
    src.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME=IP|auto[,GROUP...]",
        help="a host, its address (auto: the first free one from 10.77.0.100) and groups",
    )
    up.add_argument("--fresh", action="store_true", help="recreate hosts that are already up")
    down = sub.add_parser("down", help="remove a lab and, with the last one, the bridge and nft table")
    down.add_argument("--lab", default="default")
    down.add_argument("--all", action="store_true", help="every lab, and the extracted root file system")
    down.add_argument("--graceful", action="store_true", help="let systemd shut the hosts down first")
    st = sub.add_parser("status", help="list the hosts of a lab; exit 1 when one is down or there is none")
    st.add_argument("--lab", default="default")
    st.add_argument("--all", action="store_true")
    st.add_argument("--json", action="store_true")
    ex = sub.add_parser("exec", help="run a command on a lab host over SSH")
    ex.add_argument("--lab", default="default")
    ex.add_argument("target")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    rf = sub.add_parser("rootfs", help="build (or reuse) the cached root file system tarball")
    rf.add_argument("--rebuild", action="store_true")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        log("must run as root")
        return 2
    try:
        return {"up": cmd_up, "down": cmd_down, "status": cmd_status, "exec": cmd_exec, "rootfs": cmd_rootfs}[args.cmd](
            args
        )
    except LabError as exc:
        log(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
