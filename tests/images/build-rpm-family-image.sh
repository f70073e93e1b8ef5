#!/bin/bash
# tests/images/build-rpm-family-image.sh - build (or reuse) the cached stand-in for a
# dnf-family image, for the tests of pxeforge's dnf path (--rpm-source on dnf images).
#
# Usage:  image=$(tests/images/build-rpm-family-image.sh)
#
# CI reaches Debian's mirror only, so no AlmaLinux, Fedora or Azure Linux image can be had.
# This is a Debian 12 root (mmdebstrap --variant=minbase) with Debian's own dnf 4 and rpm,
# whose /etc/os-release says ID=almalinux (and without /etc/debian_version). Debian 12's
# libguestfs (1.48) does not know AlmaLinux and names the distribution "unknown", so
# pxeforge reads the ID from os-release itself, as it must for Azure Linux on that host,
# and takes its dnf path; the real dnf and rpm then do the package work, against an rpm
# database of their own. It proves pxeforge's side (repositories made from folders, .repo
# files, reposdir, the image's repositories on or off, nothing left behind), not
# AlmaLinux's packages. It does not boot: no kernel, no boot loader.
#
# The image: qcow2, one ext4 file system (no partition table), label "root", made from the
# root with mke2fs -d (nothing is mounted); /etc/yum.repos.d/image.repo names a repository
# inside the image, file:///opt/image-repo, holding pxf-image-probe (made here with
# rpmbuild, indexed with createrepo_c): the image's own source, which
# --disable-base-image-rpm-repos must turn off.
#
# Cache: ${PXF_CACHE_DIR:-/var/cache/pxeforge}/rpm-family-<key>.qcow2, <key> the first 16
# hex digits of the SHA-256 of this script and tests/lib/common.sh (pxf_make_rpm).
# Prints the image's path on stdout and nothing else. Needs root, mmdebstrap, rpmbuild
# (rpm), createrepo_c (createrepo-c), mke2fs and qemu-img. About 30 s.
set -euo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
SOURCE_DIR=$(cd "$(dirname "$SCRIPT")/../.." && pwd)
# shellcheck source=tests/lib/common.sh
source "$SOURCE_DIR/tests/lib/common.sh"
CACHE_DIR=${PXF_CACHE_DIR:-/var/cache/pxeforge}
MIRROR=${PXF_DEBIAN_MIRROR:-http://deb.debian.org/debian}

key=$(cat "$SCRIPT" "$SOURCE_DIR/tests/lib/common.sh" | sha256sum | cut -c1-16)
image=$CACHE_DIR/rpm-family-$key.qcow2
mkdir -p "$CACHE_DIR"
exec 9> "$CACHE_DIR/rpm-family.lock"
flock 9
if [ -f "$image" ]; then
        echo "$image"
        exit 0
fi
for tool in mmdebstrap rpmbuild createrepo_c mke2fs qemu-img; do
        command -v "$tool" >/dev/null || fail "$tool not found: install it (tests/deps.sh)"
done
PXF_TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/pxf-rpm-image.XXXXXX")
trap 'rm -rf "$PXF_TMP"' EXIT
root=$PXF_TMP/root
log=$CACHE_DIR/rpm-family-$key.build.log

echo "build-rpm-family-image: mmdebstrap (Debian 12 minbase, dnf, rpm)" >&2
mmdebstrap --variant=minbase --include=dnf,rpm --mode=root bookworm "$root" "$MIRROR" \
        > "$log" 2>&1 || { tail -n 30 "$log" >&2; fail "mmdebstrap failed (log: $log)"; }

# What names the distribution (a file, not Debian's link to usr/lib).
rm -f "$root/etc/os-release" "$root/etc/debian_version"
printf '%s\n' 'NAME="pxeforge dnf-family test image"' 'ID="almalinux"' 'VERSION_ID="9.4"' \
        'PRETTY_NAME="Debian 12 with dnf, posing as AlmaLinux 9.4 for pxeforge'"'"'s tests"' \
        > "$root/etc/os-release"

# The image's own repository.
pxf_make_rpm "$root/opt/image-repo" pxf-image-probe
createrepo_c --quiet "$root/opt/image-repo" >> "$log" 2>&1 || fail "createrepo_c failed (log: $log)"
mkdir -p "$root/etc/yum.repos.d"
printf '%s\n' '[image-local]' 'name=the image'"'"'s own repository' \
        'baseurl=file:///opt/image-repo' 'enabled=1' 'gpgcheck=0' > "$root/etc/yum.repos.d/image.repo"
rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*_Packages

size=$(($(du -sm "$root" | cut -f1) + 256))
echo "build-rpm-family-image: mke2fs -d ($size MiB) and qemu-img" >&2
mke2fs -q -t ext4 -L root -d "$root" "$PXF_TMP/image.raw" "${size}M" >> "$log" 2>&1 \
        || fail "mke2fs failed (log: $log)"
qemu-img convert -O qcow2 "$PXF_TMP/image.raw" "$image.partial" && mv "$image.partial" "$image"
find "$CACHE_DIR" -maxdepth 1 -name 'rpm-family-*.qcow2' ! -name "rpm-family-$key.qcow2" -delete
echo "$image"
