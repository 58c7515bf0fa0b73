#!/bin/sh
# Build a STAND-IN package named like Grafana's, for the role's Molecule tests only: it is NOT
# Grafana and contains no Grafana server (no package source that carries Grafana is reachable
# from the build machines). It makes what the real package makes and the role relies on (the
# grafana user and group, /etc/grafana, /var/lib/grafana, a grafana-server unit), and its
# version, 0.0.0~citadel-standin, tells the role not to start it.
# Usage: build_standin_deb.sh OUTPUT.deb
set -eu
out=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/DEBIAN" "$tmp/usr/share/grafana-standin" "$tmp/lib/systemd/system"
cat > "$tmp/DEBIAN/control" <<'CONTROL'
Package: grafana
Version: 0.0.0~citadel-standin
Architecture: all
Maintainer: Citadel monitoring tests <tests@citadel.invalid>
Depends: adduser
Section: misc
Priority: optional
Description: STAND-IN for Grafana, for tests only: this is NOT Grafana
 Built by the grafana role's Molecule scenario to test installation and configuration. It
 contains no Grafana server; its grafana-server unit only prints that and fails.
CONTROL
cat > "$tmp/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  getent group grafana >/dev/null || addgroup --system grafana
  getent passwd grafana >/dev/null || adduser --system --ingroup grafana --home /usr/share/grafana --no-create-home grafana
  mkdir -p /etc/grafana /var/lib/grafana /var/log/grafana
  chown grafana:grafana /var/lib/grafana /var/log/grafana
fi
POSTINST
chmod 0755 "$tmp/DEBIAN/postinst"
cat > "$tmp/usr/share/grafana-standin/grafana-server" <<'SERVER'
#!/bin/sh
echo "grafana-server: this is the citadel STAND-IN package, not Grafana; there is no server to run" >&2
exit 1
SERVER
chmod 0755 "$tmp/usr/share/grafana-standin/grafana-server"
cat > "$tmp/lib/systemd/system/grafana-server.service" <<'UNIT'
[Unit]
Description=STAND-IN for Grafana (tests only; not Grafana)

[Service]
ExecStart=/usr/share/grafana-standin/grafana-server
UNIT
dpkg-deb --root-owner-group --build "$tmp" "$out" >/dev/null
