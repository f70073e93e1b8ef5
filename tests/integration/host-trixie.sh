#!/usr/bin/env bash
# pxeforge built and unit-tested on a Debian 13 "trixie" host: mmdebstrap makes a clean
# trixie root with the build dependencies and the tools the unit tests run, this source
# tree is copied in, and inside that root cmake configures it, the compiler of Debian 13
# (GCC 14) builds it with -Wall -Wextra -Werror, and ctest runs the unit label. Nothing is
# installed on the host; the root lives in mmdebstrap's scratch directory and goes with it.
source "$(dirname "$0")/../lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "must run as root (mmdebstrap --mode=root, chroot)"
command -v mmdebstrap >/dev/null || fail "mmdebstrap not found (tests/deps.sh installs it)"
pxf_tmpdir

# tests/deps.sh's build packages, and what the unit tests run: compressors, the ISO and
# FAT tools, GRUB for BIOS and iPXE (their writers are unit-tested with the real files),
# curl (the HTTP server's interop), python3 (the README's help blocks; with python3-yaml,
# the judge of Image Customizer's test configurations), man's groff (the manual pages
# target).
packages=(
        build-essential cmake pkg-config
        libguestfs-dev libarchive-dev libyaml-dev libevent-dev libcmocka-dev libcrypt-dev
        libseccomp-dev libssl-dev
        pigz zstd xz-utils cpio xorriso squashfs-tools mtools dosfstools
        grub-pc-bin ipxe curl python3 python3-yaml groff-base util-linux
)
include=$(
        IFS=,
        echo "${packages[*]}"
)
mirror=http://deb.debian.org/debian
jobs=$(nproc)
log=${PXF_BUILD_DIR:-$PXF_TMP}/host-trixie.log
# What runs in the root, copied in as /build-in-root.sh.
printf '%s\n' '#!/bin/sh' 'set -eu' 'cd /src' 'cc --version | head -n 1' \
        'cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null' \
        "cmake --build /build -j$jobs" \
        "ctest --test-dir /build -L unit --output-on-failure -j$jobs" > "$PXF_TMP/build-in-root.sh"
start=$SECONDS
# The hooks run with mmdebstrap's mounts (/proc, /sys, /dev) in the root. The root is
# bound onto itself in a mount namespace of the hook's own: the container the unit tests
# start makes the mounts of its root private, which needs / to be a mount point.
# shellcheck disable=SC2016 # $0 and $1 are expanded by the hook's shells
TMPDIR=$PXF_TMP mmdebstrap --mode=root --variant=apt --architectures=amd64 \
        --include="$include" --aptopt='Acquire::Retries "3"' --dpkgopt=force-unsafe-io \
        --customize-hook="copy-in $PXF_TMP/build-in-root.sh /" \
        --customize-hook="mkdir \"\$1/src\" && tar -C '$PXF_SOURCE_DIR' --exclude=./build --exclude=./.git -c . | tar -C \"\$1/src\" -x" \
        --customize-hook='unshare --mount --propagation private sh -c "mount --rbind \"\$0\" \"\$0\" && chroot \"\$0\" /bin/sh /build-in-root.sh" "$1"' \
        trixie /dev/null "deb $mirror trixie main" "deb $mirror trixie-updates main" \
        "deb http://deb.debian.org/debian-security trixie-security main" \
        > "$log" 2>&1 || {
        grep -E 'error|warning:|FAILED|Failed' "$log" | head -n 40 >&2
        tail -n 40 "$log" >&2
        fail "pxeforge did not build or pass its unit tests on Debian 13 (log: $log)"
}
grep -m1 -E '^(cc|gcc)' "$log" || true
summary=$(grep -E '^[0-9]+% tests passed' "$log") || fail "no ctest summary in the log"
echo "$summary; $((SECONDS - start)) s in all"
grep -q '^100% tests passed, 0 tests failed' <<<"$summary" || fail "unit tests failed on Debian 13"
pass "pxeforge builds with Debian 13's compiler and passes its unit tests there"
