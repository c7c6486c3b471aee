#!/usr/bin/env bash
# The package test (part of `make test`): builds the .deb from the release build, checks its
# contents, installs it into a scratch root with dpkg, and runs the installed `dewpoint check` on
# the installed default agent file.
set -euo pipefail
DEB=$1
cd "$(dirname "$0")/.."
fail() { echo "package test: $*" >&2; exit 1; }
contents=$(dpkg-deb -c "$DEB")
for f in ./usr/bin/dewpoint ./lib/systemd/system/dewpoint.service ./etc/dewpoint/dewpoint.yaml \
         ./usr/share/doc/dewpoint/README.md ./usr/share/doc/dewpoint/docs/configuration.md \
         ./usr/share/doc/dewpoint/docs/records.md ./usr/share/doc/dewpoint/docs/recordings.md \
         ./usr/share/doc/dewpoint/docs/detectors.md ./usr/share/doc/dewpoint/docs/metrics.md ./usr/share/doc/dewpoint/docs/img/dashboard.png ./usr/share/doc/dewpoint/examples/devices/boiler-room-env.yaml \
         ./usr/share/doc/dewpoint/copyright; do
  grep -q " $f\$" <<< "$contents" || fail "$f is not in the package"
done
# no example binding goes live: /etc/dewpoint/devices is empty
if grep -q " ./etc/dewpoint/devices/." <<< "$contents"; then fail "bindings installed into /etc/dewpoint/devices"; fi
[ "$(dpkg-deb -f "$DEB" Architecture)" = "$(dpkg --print-architecture)" ] || fail "wrong architecture"
depends=$(dpkg-deb -f "$DEB" Depends)
case "$depends" in *-dev*) fail "depends on a -dev package: $depends";; esac
[ "$(dpkg-deb -f "$DEB" Package)" = dewpoint ] || fail "wrong package name"
dpkg-deb --ctrl-tarfile "$DEB" | tar -t | grep -qE '(post|pre)(inst|rm)$' && fail "maintainer scripts: the package must enable nothing by itself"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dewpoint"
touch "$root/var/lib/dpkg/status"
dpkg --root="$root" --force-depends --force-not-root -i "$DEB" > "$root/dpkg.log" 2>&1 || { cat "$root/dpkg.log"; fail "dpkg -i failed"; }
[ -x "$root/usr/bin/dewpoint" ] || fail "the binary was not installed"
readelf -d "$root/usr/bin/dewpoint" | grep -q BIND_NOW || fail "the binary is not linked with -z now"
if readelf -d "$root/usr/bin/dewpoint" | grep -qE 'RPATH|RUNPATH'; then fail "the binary has a run path"; fi
# the installed default config is valid (an agent with no devices); its spool is made in the root
sed -i "s|/var/lib/dewpoint|$root/var/lib/dewpoint|" "$root/etc/dewpoint/dewpoint.yaml"
"$root/usr/bin/dewpoint" check --config "$root/etc/dewpoint/dewpoint.yaml" > "$root/check.out" 2> "$root/check.err" \
  || { cat "$root/check.err"; fail "dewpoint check refused the installed config"; }
grep -q "agent gateway: 0 devices" "$root/check.out" || fail "unexpected check output: $(cat "$root/check.out")"
echo "package test: $DEB installs, and its default config checks ($(wc -c < "$DEB") bytes)"
