#!/bin/sh
# Build a signed APT repository laid out like Grafana's (dists/stable/main), holding only the
# STAND-IN package (not Grafana; see ../../default/files/build_standin_deb.sh), signed by a
# throwaway key made here. The scenario copies it to the lab host and points the role at it with
# a file: URL, as a site would point it at its local mirror of apt.grafana.com.
# Usage: build_mirror.sh DIR   (writes DIR/repo/, DIR/key.asc and DIR/fingerprint)
set -eu
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir/gnupg" "$dir/repo/pool/main" "$dir/repo/dists/stable/main/binary-amd64"
chmod 0700 "$dir/gnupg"
export GNUPGHOME="$dir/gnupg"
gpg --batch --quiet --passphrase '' --quick-gen-key 'Citadel test mirror (not Grafana) <tests@citadel.invalid>' ed25519 sign never
gpg --batch --with-colons --list-keys | awk -F: '/^fpr:/ {print $10; exit}' > "$dir/fingerprint"
gpg --batch --armor --export > "$dir/key.asc"
"$here/../../default/files/build_standin_deb.sh" "$dir/repo/pool/main/grafana_0.0.0~citadel-standin_all.deb"
cd "$dir/repo"
dpkg-scanpackages --multiversion pool /dev/null 2>/dev/null > dists/stable/main/binary-amd64/Packages
cd dists/stable
{
  echo "Origin: Citadel test mirror"
  echo "Label: Citadel test mirror (stand-in, not Grafana)"
  echo "Suite: stable"
  echo "Codename: stable"
  echo "Architectures: amd64 all"
  echo "Components: main"
  echo "Date: $(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
  echo "SHA256:"
  printf ' %s %s %s\n' "$(sha256sum main/binary-amd64/Packages | cut -d' ' -f1)" \
    "$(stat -c %s main/binary-amd64/Packages)" main/binary-amd64/Packages
} > Release
gpg --batch --yes --clearsign --output InRelease Release
