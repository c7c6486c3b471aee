#!/usr/bin/env bash
# make arm64 / make test-arm64: the aarch64 build on an x86_64 Debian machine, with Debian's
# packages alone (see docs/arm64.md).
#
#   scripts/arm64.sh build   the release binary and its .deb, in out/ (dewpoint-arm64, dewpoint_<v>_arm64.deb)
#   scripts/arm64.sh build-bookworm   the same for Debian 12 / Raspberry Pi OS bookworm (glibc 2.36):
#                            out/dewpoint-arm64-bookworm, dewpoint_<v>~deb12_arm64.deb
#   scripts/arm64.sh test    the test suites under emulation, and replay compared with x86_64's
#   scripts/arm64.sh replay  only the replay comparison (needs out/dewpoint-arm64 and make build)
#   scripts/arm64.sh shell   a shell in the build chroot (the mounts are undone when it exits)
#
# The compiler is Debian sid's arm64 swiftlang, run under qemu-user (binfmt) in a sid chroot; the
# binary is linked against a trixie tree (glibc 2.41's headers and libraries), so that it runs on
# Debian 13 and Raspberry Pi OS trixie. Both trees live in $DEWPOINT_ARM64_CACHE
# (/var/cache/dewpoint-arm64 by default), outside the work tree, and are made once: each step
# leaves a stamp, so that a second run (or one after a failure or Ctrl-C) goes on where the last
# stopped. Every mount it makes is undone on exit, failure and Ctrl-C included. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
CACHE=${DEWPOINT_ARM64_CACHE:-/var/cache/dewpoint-arm64}
MIRROR=${DEWPOINT_ARM64_MIRROR:-http://deb.debian.org/debian}
SID=$CACHE/sid
TRIXIE_IN_SID=/sysroot/trixie       # the trixie tree, as the chroot sees it
TRIXIE=$SID$TRIXIE_IN_SID
OUT=$SRC/out
cmd=${1:-build}

[ "$(id -u)" -eq 0 ] || { echo "arm64.sh needs root (debootstrap, chroot, mounts)" >&2; exit 1; }

t0=$(date +%s)
step() {  # step NAME: prints what is being done, and how long the last step took
  local now; now=$(date +%s)
  [ -n "${step_name:-}" ] && printf '   done in %ds\n' $((now - step_start))
  step_name=$1; step_start=$now
  printf '== %s\n' "$1"
}
mounts=()
cleanup() {
  local rc=$?
  for ((i=${#mounts[@]}-1; i>=0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
  [ $rc -eq 0 ] || echo "arm64.sh: failed (exit $rc) during: ${step_name:-start}; run it again to go on from there" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bind() {  # bind SRC DST: a bind mount undone on exit
  mkdir -p "$2"
  mountpoint -q "$2" || { mount --bind "$1" "$2"; mounts+=("$2"); }
}
in_sid() { chroot "$SID" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

step "host packages (qemu-user-static, binfmt-support, debootstrap) and the aarch64 binfmt handler"
need=""
for p in qemu-user-static binfmt-support debootstrap; do dpkg -s $p > /dev/null 2>&1 || need="$need $p"; done
[ -z "$need" ] || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need; }
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 2> /dev/null || true
grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || { echo "the qemu-aarch64 binfmt handler is not enabled" >&2; exit 1; }

mkdir -p "$CACHE"
# one run at a time: each run copies the source tree into the chroot afresh, which would pull it
# from under another run's build
exec 9> "$CACHE/.lock"
flock -n 9 || { echo "another arm64.sh run holds $CACHE/.lock; wait for it to finish" >&2; exit 1; }
if [ ! -e "$SID/.stamp-debootstrap" ]; then
  step "debootstrap arm64 sid into $SID (the compiler's system)"
  rm -rf "$SID"
  debootstrap --arch=arm64 --variant=minbase --include=ca-certificates sid "$SID" "$MIRROR"
  # sid's Release files expire within days: a cached tree must still take packages
  echo 'Acquire::Check-Valid-Until "false";' > "$SID/etc/apt/apt.conf.d/99no-check-valid-until"
  touch "$SID/.stamp-debootstrap"
fi
bind /proc "$SID/proc"
bind /dev "$SID/dev"
# ptys for the serial suites (a bind of /dev does not carry the devpts mount under it)
bind /dev/pts "$SID/dev/pts"
if [ ! -e "$SID/.stamp-packages" ]; then
  step "sid: swiftlang and the -dev libraries (under emulation)"
  in_sid apt-get update -q
  in_sid env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    swiftlang pkg-config libmosquitto-dev libsqlite3-dev libyaml-dev libpcap-dev libstdc++-16-dev git ca-certificates
  touch "$SID/.stamp-packages"
fi
# make_tree NAME PACKAGES: an arm64 tree of that Debian release to link against, unpacked only
# (nothing in it has to run for the link), with sid's Swift runtime linked in
make_tree() {
  local name=$1 pkgs=$2 tree=$SID/sysroot/$1
  if [ ! -e "$tree/.stamp-unpacked" ]; then
    step "the $name tree to link against (unpacked only)"
    rm -rf "$tree"
    mkdir -p "$tree"
    debootstrap --foreign --arch=arm64 --variant=minbase --include="$pkgs" "$name" "$tree" "$MIRROR"
    # the first stage unpacks only the essential packages and downloads the rest: unpack those too
    # (files are all a tree to link against needs; no maintainer script has to run)
    for deb in "$tree"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$tree"; done
    touch "$tree/.stamp-unpacked"
  fi
  if [ ! -e "$tree/.stamp" ]; then
    # the Swift runtime is sid's (the compiler's): Debian keeps it in /usr/libexec/swift/lib
    local runtime=/usr/libexec/swift/lib
    [ -d "$SID$runtime/swift_static" ] || runtime=/usr/lib
    # relative, so that the link resolves both in the chroot (/sysroot/NAME) and from this machine
    for d in swift swift_static; do rm -rf "$tree/usr/lib/$d"; ln -s "../../../..$runtime/$d" "$tree/usr/lib/$d"; done
    # quoted paths in libpcap.pc make SwiftPM add the host's -L, which pulls sid's glibc back in
    for pc in "$tree"/usr/lib/aarch64-linux-gnu/pkgconfig/libpcap.pc; do [ -e "$pc" ] && sed -i 's/"//g' "$pc"; done
    touch "$tree/.stamp"
  fi
}
make_tree trixie libc6-dev,libgcc-14-dev,libstdc++-14-dev,libmosquitto-dev,libsqlite3-dev,libyaml-dev,libpcap-dev,libdbus-1-dev
if [ "$cmd" = build-bookworm ]; then
  make_tree bookworm libc6-dev,libgcc-12-dev,libstdc++-12-dev,libmosquitto-dev,libsqlite3-dev,libyaml-dev,libpcap-dev,libdbus-1-dev
fi
version=$(in_sid swift --version 2>&1 | head -1)
echo "   compiler: $version"

step "the source tree into the chroot (git ls-files; packages from .build's checkouts)"
rm -rf "$SID/build/dewpoint"
mkdir -p "$SID/build/dewpoint"
git ls-files -z | tar --null -T - -cf - | tar -C "$SID/build/dewpoint" -xf -
# a clean clone has not resolved its packages yet: do it on this machine (the chroot cannot)
[ -d .build/checkouts ] || swift package resolve
[ -d .build/checkouts ] || { echo "swift package resolve left no .build/checkouts" >&2; exit 1; }
mkdir -p "$SID/build/dewpoint/.build"
mkdir -p "$SID/build/cache"
bind "$SID/build/cache" "$SID/build/dewpoint/.build"
# offline: the package checkouts this machine resolved (their remotes are not reachable in the chroot)
for dest in "$SID/build/cache" "$SID/build/tests"; do
  mkdir -p "$dest"
  # again on every run: a copy from before a dependency was added cannot resolve it offline
  for d in checkouts repositories; do rm -rf "${dest:?}/$d"; cp -a ".build/$d" "$dest/$d"; done
  # the state that goes with those checkouts (an older one makes SwiftPM fetch from the network)
  cp -f .build/workspace-state.json "$dest/workspace-state.json"
done
cp -f Package.resolved "$SID/build/dewpoint/" 2> /dev/null || true

# build_flags TREE: the release build's flags and pkg-config environment for a tree (as the chroot sees it)
build_flags() {
  # lld (swiftlang's own): with sid's default ld.bfd the Swift runtime's sections end in a single
  # read-write-execute segment, without RELRO
  # and the x86_64 build's memory settings (the Makefile says why): a function per section, the
  # idle/load/start-up ordering file, no exported symbols, packed relative relocations (glibc 2.36+),
  # and .rodata kept in a read-only segment (scripts/rodata.ld; without it the aarch64 binary had
  # all 1.9 MB of .rodata in a read-write segment, where the start-up release cannot drop it)
  swift_flags=(-c release --product dewpoint --static-swift-stdlib --disable-local-rpath
               --sdk "$1" -Xswiftc -sdk -Xswiftc "$1" -Xswiftc -use-ld=lld -Xlinker -z -Xlinker now -Xlinker -z -Xlinker relro
               -Xswiftc -Xfrontend -Xswiftc -function-sections -Xlinker --no-export-dynamic -Xlinker -z -Xlinker pack-relative-relocs
               -Xlinker --symbol-ordering-file=/build/dewpoint/scripts/idle-functions.order -Xlinker --no-warn-symbol-ordering
               -Xlinker -T -Xlinker /build/dewpoint/scripts/rodata.ld)
  pkgenv=(PKG_CONFIG_SYSROOT_DIR="$1" PKG_CONFIG_PATH="$1/usr/lib/aarch64-linux-gnu/pkgconfig:$1/usr/share/pkgconfig"
          PKG_CONFIG_LIBDIR="$1/usr/lib/aarch64-linux-gnu/pkgconfig")
}
# package BIN DEB-VERSION LIBPCAP: the .deb of an aarch64 binary, its libc6 dependency from the binary itself
package() {
  file "$1" | sed 's/^/   /'
  # W^X and full RELRO, as the x86_64 build
  if readelf -lW "$1" | grep -E '^ +LOAD' | grep -q 'RWE'; then echo "$1 has a writable and executable segment" >&2; exit 1; fi
  readelf -lW "$1" | grep -q GNU_RELRO || { echo "$1 has no RELRO segment" >&2; exit 1; }
  readelf -d "$1" | grep -q BIND_NOW || { echo "$1 is not linked with -z now" >&2; exit 1; }
  echo "   segments: no writable and executable one; RELRO and BIND_NOW (full RELRO)"
  ./scripts/check-rodata.sh "$1" | sed 's/^/   /'
  local glibc; glibc=$(objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
  echo "   needs $glibc"
  DEPENDS="libc6 (>= ${glibc#GLIBC_}), libmosquitto1, $3, libsqlite3-0, libyaml-0-2" \
    ./scripts/make-deb.sh "$1" "$2" arm64 "$OUT/dewpoint_$2_arm64.deb"
}
# compare_replay: the aarch64 release binary's replay against x86_64's, byte for byte
compare_replay() {
  step "replay: the aarch64 release binary against x86_64's, byte for byte"
  [ -x "$OUT/dewpoint-arm64" ] || { echo "no out/dewpoint-arm64: run 'make arm64' first" >&2; exit 1; }
  # the Swift runtime finds argv through /proc/self/maps: without /proc the binary sees no arguments
  bind /proc "$TRIXIE/proc"
  ./scripts/arm64-replay-compare.sh "$OUT/dewpoint-arm64" "$TRIXIE"
}
v=$(sed -n 's/.*static let string = "\(.*\)"/\1/p' Sources/DewpointCore/Version.swift)

case "$cmd" in
  shell)
    step "shell in $SID (/build/dewpoint)"
    chroot "$SID" /bin/bash -c "cd /build/dewpoint; exec bash -i" || true
    ;;
  build)
    build_flags "$TRIXIE_IN_SID"
    step "swift build -c release for aarch64, linked against trixie (under emulation; 10 to 25 minutes cold)"
    in_sid env "${pkgenv[@]}" bash -c "cd /build/dewpoint && swift build ${swift_flags[*]}"
    step "out/: the binary and the .deb"
    mkdir -p "$OUT"
    cp -f "$SID/build/cache/release/dewpoint" "$OUT/dewpoint-arm64"
    package "$OUT/dewpoint-arm64" "$v" libpcap0.8t64
    ;;
  build-bookworm)
    # Debian 12 and Raspberry Pi OS bookworm have glibc 2.36. The only newer functions the binary
    # needs are the four that Debian's prebuilt static Swift runtime calls: stand-ins for them
    # (scripts/arm64-glibc-compat.c, hidden, checked first) are linked in. Its own build folder.
    BOOKWORM_IN_SID=/sysroot/bookworm
    build_flags "$BOOKWORM_IN_SID"
    step "the glibc stand-ins: checked on this machine, then built for aarch64 against bookworm and checked under emulation"
    cc -std=gnu11 -Wall -Wextra -Werror -O2 -o "$SID/build/compat-test-host" scripts/arm64-glibc-compat-test.c scripts/arm64-glibc-compat.c
    "$SID/build/compat-test-host" | sed 's/^/   this machine: /'
    mkdir -p "$SID/build/compat"
    cp scripts/arm64-glibc-compat.c scripts/arm64-glibc-compat-test.c "$SID/build/compat/"
    clang=$(in_sid bash -c 'command -v clang || ls /usr/libexec/swift/bin/clang' | head -1)
    in_sid "$clang" --target=aarch64-linux-gnu --sysroot="$BOOKWORM_IN_SID" -std=gnu11 -Wall -Wextra -Werror -O2 -fPIC \
      -c /build/compat/arm64-glibc-compat.c -o /build/compat/arm64-glibc-compat.o
    in_sid "$clang" --target=aarch64-linux-gnu --sysroot="$BOOKWORM_IN_SID" -std=gnu11 -O2 -fuse-ld=lld \
      -o "$BOOKWORM_IN_SID/tmp/compat-test" /build/compat/arm64-glibc-compat-test.c /build/compat/arm64-glibc-compat.o
    bind /proc "$SID$BOOKWORM_IN_SID/proc"
    chroot "$SID$BOOKWORM_IN_SID" /tmp/compat-test | sed 's/^/   aarch64, bookworm: /'
    step "swift build -c release for aarch64, linked against bookworm (under emulation; 10 to 25 minutes cold)"
    mkdir -p "$SID/build/cache-bookworm"
    for d in checkouts repositories; do rm -rf "$SID/build/cache-bookworm/$d"; cp -a ".build/$d" "$SID/build/cache-bookworm/$d"; done
    cp -f .build/workspace-state.json "$SID/build/cache-bookworm/workspace-state.json"
    in_sid env "${pkgenv[@]}" bash -c "cd /build/dewpoint && swift build --scratch-path /build/cache-bookworm ${swift_flags[*]} -Xlinker /build/compat/arm64-glibc-compat.o"
    step "out/: the binary and the .deb"
    mkdir -p "$OUT"
    cp -f "$SID/build/cache-bookworm/release/dewpoint" "$OUT/dewpoint-arm64-bookworm"
    bad=$(objdump -T "$OUT/dewpoint-arm64-bookworm" | grep -oE 'GLIBC_2\.(3[7-9]|[4-9][0-9])' | sort -u || true)
    [ -z "$bad" ] || { echo "the bookworm binary still needs $bad" >&2; exit 1; }
    package "$OUT/dewpoint-arm64-bookworm" "${v}~deb12" libpcap0.8
    step "the bookworm binary in the bookworm tree, under emulation"
    cp "$OUT/dewpoint-arm64-bookworm" "$SID$BOOKWORM_IN_SID/tmp/dewpoint"
    chroot "$SID$BOOKWORM_IN_SID" /tmp/dewpoint version | sed 's/^/   /'
    ;;
  replay)
    compare_replay
    ;;
  test)
    # the tests run in the sid chroot itself, so they are built for it (its own glibc), in a
    # build folder of their own
    step "swift build --build-tests for aarch64 (under emulation)"
    # the MQTT suites start a private broker (the read buffer's aarch64 GOT patching runs there)
    if [ ! -e "$SID/.stamp-test-packages" ]; then
      in_sid env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mosquitto socat
      touch "$SID/.stamp-test-packages"
    fi
    # sid's swiftlang ships the Testing/Foundation cross-import overlay's module
    # (_Testing_Foundation.swiftmodule) without its library, so every test bundle that imports
    # both fails to link (-l_Testing_Foundation). The tests use none of its symbols: an empty
    # archive satisfies the autolink.
    overlay="$SID/usr/libexec/swift/lib/swift/linux"
    if [ -e "$overlay/_Testing_Foundation.swiftmodule" ] && [ ! -e "$overlay/lib_Testing_Foundation.so" ] && [ ! -e "$overlay/lib_Testing_Foundation.a" ]; then
      printf '!<arch>\n' > "$overlay/lib_Testing_Foundation.a"
      echo "   added an empty lib_Testing_Foundation.a (the package lacks the overlay's library)"
    fi
    in_sid bash -c "cd /build/dewpoint && swift build --scratch-path /build/tests --build-tests"
    # not the serial suites: qemu-user does not implement the termios ioctls on a pty (tcgetattr
    # fails with ENOSYS), so they cannot run under emulation; ARM64_TESTS overrides the list
    filter=${ARM64_TESTS:-DewpointSignalTests|DewpointDecodeTests|DewpointPipelineTests|DewpointConfigTests|DewpointSparkplugTests|DewpointMQTTTests}
    step "the tests under emulation (--filter '$filter')"
    # the toolchain's clang on PATH: a read-buffer test builds a small library with it
    in_sid bash -c "cd /build/dewpoint && PATH=/usr/libexec/swift/bin:\$PATH DEWPOINT_BIN=/build/tests/debug/dewpoint swift test --skip-build --scratch-path /build/tests --filter '$filter'"
    compare_replay
    ;;
  *) echo "usage: $0 build|build-bookworm|test|replay|shell" >&2; exit 2 ;;
esac
step "finished"
printf 'arm64.sh %s: %ds in all\n' "$cmd" $(( $(date +%s) - t0 ))
