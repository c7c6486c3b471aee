#!/usr/bin/env bash
# Builds the Debian package of a release build: make-deb.sh BIN VERSION ARCH OUT.deb
# The package holds the stripped binary, the systemd unit (enabled by nothing: the user enables it),
# /etc/dewpoint/dewpoint.yaml as a conffile (an agent with no devices), the docs and the example
# bindings. It depends on the run-time libraries only; the Swift runtime is linked in. DEPENDS
# replaces the Depends line (the arm64 build for trixie names trixie's packages).
set -euo pipefail
BIN=$1 VERSION=$2 ARCH=$3 OUT=$4
cd "$(dirname "$0")/.."
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
make --no-print-directory install BIN="$BIN" DESTDIR="$root" PREFIX=/usr UNITDIR=/lib/systemd/system > /dev/null
install -m 644 packaging/copyright "$root/usr/share/doc/dewpoint/copyright"
printf 'dewpoint (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- Dewpoint maintainers <maintainers@dewpoint.invalid>  %s\n' \
  "$VERSION" "$VERSION" "$(date -R -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" \
  | gzip -9n > "$root/usr/share/doc/dewpoint/changelog.gz"
mkdir -p "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<EOC
Package: dewpoint
Version: $VERSION
Architecture: $ARCH
Maintainer: Dewpoint maintainers <maintainers@dewpoint.invalid>
Installed-Size: $size
Depends: ${DEPENDS:-libc6 (>= 2.36), libmosquitto1, libpcap0.8, libsqlite3-0, libyaml-0-2}
Section: net
Priority: optional
Homepage: https://dewpoint.invalid/
Description: edge agent that condenses sensor feeds into window summaries and alerts
 Dewpoint reads sensor feeds over MQTT, serial lines, packet capture and UDP/TCP
 sockets, decodes them through device bindings, condenses every channel into
 per-window summaries, raises alerts, and forwards both upstream over MQTT,
 spooled on disk so that nothing accepted is lost.
 .
 The systemd unit is installed but not enabled.
EOC
echo /etc/dewpoint/dewpoint.yaml > "$root/DEBIAN/conffiles"
mkdir -p "$(dirname "$OUT")"
dpkg-deb --root-owner-group -Zxz --build "$root" "$OUT" > /dev/null
echo "built $OUT"
if command -v lintian > /dev/null; then
  lintian --fail-on error --suppress-tags no-manual-page,initial-upload-closes-no-bugs "$OUT"
else
  echo "lintian is not installed (apt-get install lintian): the package was not checked"
fi
