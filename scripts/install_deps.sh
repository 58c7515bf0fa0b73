#!/usr/bin/env bash
# Install the Debian packages the lab and the tests need, when they are missing.
# Run as root on Debian 12; does nothing when everything is there.
set -euo pipefail

packages=(
  debootstrap systemd-container nftables iproute2 openssh-client
  python3 python3-venv make git curl
  prometheus prometheus-alertmanager  # for promtool and amtool; their services are not used here
  chromium fonts-dejavu-core          # the executive report is checked in a real browser
  dpkg-dev gnupg                      # Grafana's mirror scenario builds and signs a local repository
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install_deps: run as root to install: ${missing[*]}" >&2
  exit 1
fi
echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d: the packages' own services (prometheus, alertmanager) must not start on the
# controller; the lab hosts run the real ones.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
