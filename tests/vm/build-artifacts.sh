#!/usr/bin/env bash
# build-artifacts.sh NAME CONFIG [LAYOUT [RELEASE]]: a CTest fixture. Customizes a Debian
# test image (tests/images/build-debian-image.sh LAYOUT RELEASE; by default the standard
# Debian 12 one) into pxe-dir
# artifacts once per test run, at $PXF_BUILD_DIR/test-artifacts/NAME, for the VM tests
# that boot them (through QEMU's own TFTP, and through pxeforge's appliance in a test
# bridge); they also prove that layout's PXE output (tests/vm/layout.sh). Checks what
# every consumer relies on: the files, SHA256SUMS, nothing left in the build dir, and that
# the unprivileged server user can read everything. NAME.source beside the artifacts names
# the image they came from.
#
# It builds twice: first with the config's pxf.pxe=... kernel argument replaced, then with
# the config as it is. The second build must take the customized tree and the initramfs
# (and squashfs root) from the build cache, make no customization step, and put the new
# argument in grub.cfg; the VM tests then boot that rebuild and find the argument.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
[ $# -ge 2 ] && [ $# -le 4 ] || fail "usage: $0 NAME CONFIG [LAYOUT [RELEASE]]"
name=$1 config=$2 layout=${3:-standard} release=${4:-bookworm}
case $release in
bookworm) debian="Debian 12" grub_http=no ;;
trixie) debian="Debian 13" grub_http=yes ;;
*) fail "unknown release $release" ;;
esac
vm_guestfs_env
image=$("$PXF_SOURCE_DIR/tests/images/build-debian-image.sh" "$layout" "$release") \
        || fail "cannot build the $release $layout test image"

root=$PXF_BUILD_DIR/test-artifacts
out=$root/$name
build=$root/.build-$name
mkdir -p "$root"
chmod 755 "$root"
rm -rf "$out" "$build" "$root/$name.source"
# The first build's config: the same folder (its relative paths), another argument.
first=$root/.config-$name
rm -rf "$first"
cp -r "$(dirname "$config")" "$first"
sed 's/^\( *- \)pxf\.pxe=.*/\1pxf.first-build=1/' "$config" > "$first/first.yaml"
grep -q 'pxf.first-build=1' "$first/first.yaml" || fail "$config has no pxf.pxe= argument to change"
start=$SECONDS
"$PXF_BIN" customize --config-file "$first/first.yaml" --image-file "$image" \
        --output-path "$root/.first-$name" --build-dir "$build" \
        --image-tree-cache-dir "$PXF_IMAGE_TREES" \
        || fail "pxeforge customize ($name, first build) failed"
echo "first build took $((SECONDS - start)) s"
start=$SECONDS
"$PXF_BIN" customize --config-file "$config" --image-file "$image" \
        --output-path "$out" --build-dir "$build" 2> "$root/.rebuild-$name.log" \
        || { cat "$root/.rebuild-$name.log" >&2; fail "pxeforge customize ($name) failed"; }
cat "$root/.rebuild-$name.log"
echo "rebuild with another kernel argument took $((SECONDS - start)) s"
grep -q 'customized tree [0-9a-f]*: from the cache' "$root/.rebuild-$name.log" \
        || fail "the rebuild did not take the customized tree from the cache"
grep -Eq '(initramfs|squashfs root): .* from the cache' "$root/.rebuild-$name.log" \
        || fail "the rebuild made its initramfs or squashfs again"
! grep -Eq 'open image|packages|additional files' "$root/.rebuild-$name.log" \
        || fail "the rebuild opened the image or ran customization steps"
grep -q 'pxf.first-build=1' "$root/.first-$name/grub/grub.cfg" || fail "first build: argument missing"
! grep -q 'pxf.first-build' "$out/grub/grub.cfg" || fail "the rebuild kept the old argument"
rm -rf "$first" "$root/.first-$name"
[ -z "$(pxf_build_leftovers "$build")" ] || fail "build dir not clean"
rm -rf "$build"
for f in bootx64.efi grubx64.efi vmlinuz initrd.img grub/grub.cfg boot/grub2/grub.cfg \
        boot.ipxe ipxe/snponly.efi ipxe/undionly.kpxe grub/i386-pc/core.0 manifest SHA256SUMS; do
        [ -f "$out/$f" ] || fail "missing artifact $f"
done
(cd "$out" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match the files"
# What serve reads to hand out loaders: iPXE as the config asked, whether GRUB has an HTTP
# client (Debian 12's 2.06 has none, Debian 13's 2.12 has), and a boot chain signed
# throughout for Secure Boot.
grep -qx 'ipxe: fallback' "$out/manifest" || fail "the manifest lacks 'ipxe: fallback'"
grep -qx "grub-http: $grub_http" "$out/manifest" || fail "the manifest lacks 'grub-http: $grub_http' ($debian)"
grep -qx 'secure-boot: signed' "$out/manifest" || fail "the manifest lacks 'secure-boot: signed'"
# GRUB for BIOS: the bootstrap image installs grub-pc-bin, the full-OS one has none.
bios_from=$([ "$name" = bootstrap ] && echo "the image" || echo "this host")
grep -qx "bios: grub from $bios_from" "$out/manifest" || fail "the manifest lacks 'bios: grub from $bios_from'"
cmp -s "$out/ipxe/snponly.efi" /usr/lib/ipxe/snponly.efi || fail "ipxe/snponly.efi is not the host's"
# TFTP and HTTP serve as nobody: every file world-readable, every folder searchable.
bad=$(find "$out" \( -type f ! -perm -004 \) -o \( -type d ! -perm -005 \) | head -n 3)
[ -z "$bad" ] || fail "not readable by other users: $bad"
ls -la "$out"
echo "initrd.img: $(stat -c %s "$out/initrd.img") bytes"
echo "$debian, $layout layout ($(basename "$image"))" > "$root/$name.source"
pass "$name artifacts in $out, from the $debian $layout image"
