#!/usr/bin/env bash
# Package sources of one build (customize --rpm-source, --disable-base-image-rpm-repos),
# on the live path (the package step runs in the build container on the exported tree;
# vm.customize-boot proves the appliance's path, with the image's own sources on):
#   - a folder holding one .deb, with the image's own sources off: a package only the
#     Debian mirror has is nowhere to be found, and the build fails saying so;
#   - the same folder and an apt source file naming the mirror: both packages are
#     installed, and the output holds nothing of the sources (no packages, index, source
#     file, or package lists of the build: apt kept those in a folder of its own).
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
[ "$(id -u)" -eq 0 ] || fail "must run as root (libguestfs, the build container)"
for tool in dpkg-deb zstd cpio; do
        command -v "$tool" >/dev/null || fail "$tool not found: install it (tests/deps.sh)"
done
pxf_tmpdir
vm_guestfs_env
cd "$PXF_TMP" || fail "cannot enter $PXF_TMP"
image=$(pxf_test_image)

pxf_make_deb debs pxf-local-probe
echo "deb http://deb.debian.org/debian bookworm main" > mirror.list
cat > config.yaml <<EOF
os:
  packages:
    install: [pxf-local-probe, hello]
pxe:
  initramfsType: full-os
EOF
build() { # NAME OPTION...: a pxe-dir build into out-NAME, its log in NAME.err
        local name=$1
        shift
        "$PXF_BIN" customize --config-file config.yaml --image-file "$image" \
                --output-path "out-$name" --output-image-format pxe-dir --build-dir build \
                --image-tree-cache-dir "$PXF_IMAGE_TREES" "$@" 2> "$name.err"
}

rc=0
build folder-only --rpm-source debs --disable-base-image-rpm-repos || rc=$?
sed 's/^/    [folder-only] /' folder-only.err | tail -n 8
[ "$rc" -eq 1 ] || fail "folder only: exit status $rc, expected 1"
grep -q "Unable to locate package hello" folder-only.err \
        || fail "folder only: the error does not say that hello is not in the sources"
[ ! -e out-folder-only ] || fail "folder only: an output was written"
pass "with the image's sources off, only the given ones are read (hello is not found)"

build both --rpm-source debs --rpm-source mirror.list --disable-base-image-rpm-repos \
        || { tail -n 30 both.err >&2; fail "the build with both sources failed"; }
grep -q "1 package(s)" both.err || fail "the log does not count the folder's packages"
zstd -dc out-both/initrd.img | cpio -it --quiet > listing.txt \
        || fail "cannot list the full-OS initramfs"
grep -qx 'usr/share/pxf-local-probe/marker' listing.txt || fail "pxf-local-probe is not installed"
grep -qx 'usr/bin/hello' listing.txt || fail "hello (from the apt source file) is not installed"
! grep -E 'pxeforge-package-sources|pxeforge-source-' listing.txt \
        || fail "the build's sources were left in the output"
! grep -E '^var/lib/apt/lists/.*_(Packages|Release|InRelease)$' listing.txt \
        || fail "the build's package lists were left in the image's /var/lib/apt/lists"
grep -qx 'etc/apt/sources.list' listing.txt || fail "the image's own sources.list is gone"
pass "a folder of .deb files and an apt source file: both packages in, nothing of the sources left"
