#!/usr/bin/env bash
# build-artifacts.sh NAME CONFIG: a CTest fixture. Customizes the Debian test image into
# pxe-dir artifacts once per test run, at $PXF_BUILD_DIR/test-artifacts/NAME, for the VM
# tests that boot them (through QEMU's own TFTP, and through pxeforge's appliance in a
# test bridge). Checks what every consumer relies on: the files, SHA256SUMS, nothing left
# in the build dir, and that the unprivileged server user can read everything.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
[ $# -eq 2 ] || fail "usage: $0 NAME CONFIG"
name=$1 config=$2
vm_guestfs_env

root=$PXF_BUILD_DIR/test-artifacts
out=$root/$name
build=$root/.build-$name
mkdir -p "$root"
chmod 755 "$root"
rm -rf "$out" "$build"
start=$SECONDS
"$PXF_BIN" customize --config-file "$config" --image-file "$(pxf_test_image)" \
        --output-path "$out" --build-dir "$build" || fail "pxeforge customize ($name) failed"
echo "build took $((SECONDS - start)) s"
[ -z "$(find "$build" -mindepth 1 | head -n 1)" ] || fail "build dir not clean"
rm -rf "$build"
for f in bootx64.efi grubx64.efi vmlinuz initrd.img grub/grub.cfg boot/grub2/grub.cfg \
        manifest SHA256SUMS; do
        [ -f "$out/$f" ] || fail "missing artifact $f"
done
(cd "$out" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match the files"
# TFTP and HTTP serve as nobody: every file world-readable, every folder searchable.
bad=$(find "$out" \( -type f ! -perm -004 \) -o \( -type d ! -perm -005 \) | head -n 3)
[ -z "$bad" ] || fail "not readable by other users: $bad"
ls -la "$out"
echo "initrd.img: $(stat -c %s "$out/initrd.img") bytes"
pass "$name artifacts in $out"
