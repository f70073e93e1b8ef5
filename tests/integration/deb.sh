#!/usr/bin/env bash
# The Debian package: built from this tree with cpack, installed with apt into a clean
# Debian 12 chroot (mmdebstrap, nothing but the package and what it depends on), and used
# there from the installed files: --version, --help, validate-config of an installed
# example, the manual pages. Also lists what lintian says about it (for the record; a
# Debian-archive-grade package is not the goal of this test).
source "$(dirname "$0")/../lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "must run as root (mmdebstrap --mode=root, chroot)"
for tool in cpack mmdebstrap dpkg-shlibdeps; do
        command -v "$tool" >/dev/null || fail "$tool not found (tests/deps.sh installs it)"
done
pxf_tmpdir
(cd "$PXF_BUILD_DIR" && cpack -G DEB -B "$PXF_TMP/pkg") > "$PXF_TMP/cpack.log" 2>&1 \
        || { cat "$PXF_TMP/cpack.log" >&2; fail "cpack failed"; }
deb=$(ls "$PXF_TMP"/pkg/pxeforge_*_amd64.deb)
dpkg-deb -f "$deb" Depends | tee "$PXF_TMP/depends"
for dep in libguestfs0 libarchive13 libevent-core libyaml-0-2 dnsmasq-base xorriso squashfs-tools; do
        grep -q "$dep" "$PXF_TMP/depends" || fail "Depends lacks $dep"
done
pass "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

start=$SECONDS
root=$PXF_TMP/root
mirror=http://deb.debian.org/debian
# Installed by a hook with apt inside the chroot: mmdebstrap's --include=FILE.deb hands
# dpkg a path it cannot see in the chroot (mmdebstrap 1.3.5).
# The host's apt cache is offered to the chroot (hard links, no copy): what tests/deps.sh
# installed is not downloaded again.
mmdebstrap --quiet --mode=root --variant=apt --architectures=amd64 \
        --setup-hook='mkdir -p "$1/var/cache/apt/archives"; cp -al /var/cache/apt/archives/*.deb "$1/var/cache/apt/archives/" 2>/dev/null || true' \
        --customize-hook="copy-in $deb /tmp" \
        --customize-hook="chroot \"\$1\" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/$(basename "$deb")" \
        bookworm "$root" "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
        "deb http://deb.debian.org/debian-security bookworm-security main" \
        > "$PXF_TMP/mmdebstrap.log" 2>&1 \
        || { tail -n 30 "$PXF_TMP/mmdebstrap.log" >&2; fail "apt could not install the package"; }
echo "clean chroot with the package and its dependencies in $((SECONDS - start)) s"
# Nothing is mounted in the chroot: --version, --help and validate-config need no /proc,
# and the scratch dir is removed as plain files.
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
in_root pxeforge --version | grep -qx "pxeforge [0-9.]*" || fail "pxeforge --version"
in_root pxeforge up --help | grep -q -- '--watch' || fail "pxeforge up --help"
in_root pxeforge validate-config --config-file /usr/share/doc/pxeforge/examples/lab-proxy.yaml \
        || fail "validate-config of the installed example"
[ -x "$root/usr/libexec/pxeforge/pxeforge-server" ] || fail "pxeforge-server not installed"
[ -f "$root/usr/share/man/man5/pxeforge.yaml.5.gz" ] || fail "pxeforge.yaml(5) not installed"
[ -f "$root/usr/lib/systemd/system/pxeforge@.service" ] || fail "the unit is not installed"
grep -q '^ExecStart=/usr/bin/pxeforge up ' "$root/usr/lib/systemd/system/pxeforge@.service" \
        || fail "the unit does not start /usr/bin/pxeforge"
pass "installed with apt into a clean chroot; the installed pxeforge runs"

if command -v lintian >/dev/null; then
        echo "lintian (for the record):"
        lintian --tag-display-limit 0 "$deb" 2>&1 | sed 's/^/    /' || true
fi
