#!/usr/bin/env bash
# VM test of the `iso` output with the whole OS as the initramfs: customize the Debian test
# image into a live ISO, check its file tree without mounting it (xorriso reads it), then
# boot it from a virtual CD drive of a UEFI VM and read the marker the config's service
# prints on the serial console.
# Usage: iso-full-os.sh [LAYOUT RELEASE] (tests/images/build-debian-image.sh; by default
# the standard Debian 12 image).
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
pxf_tmpdir
vm_guestfs_env

image=$(pxf_test_image "$@") || fail "cannot build the test image ${*:-standard bookworm}"
echo "image: $(basename "$image")"
iso=$PXF_TMP/live.iso
start=$SECONDS
"$PXF_BIN" customize --config-file "$PXF_SOURCE_DIR/tests/vm/iso/full-os.yaml" \
        --image-file "$image" --output-path "$iso" --build-dir "$PXF_TMP/build" \
        --image-tree-cache-dir "$PXF_IMAGE_TREES" \
        || fail "pxeforge customize to iso failed"
echo "build took $((SECONDS - start)) s; live.iso: $(stat -c %s "$iso") bytes"
[ -z "$(pxf_build_leftovers "$PXF_TMP/build")" ] || fail "build dir not clean: $(pxf_build_leftovers "$PXF_TMP/build")"
[ -z "$(find "$PXF_TMP" -maxdepth 1 -name '.*partial*' | head -n 1)" ] || fail "partial output left"

listing=$(xorriso -indev "$iso" -find / -type f 2>/dev/null | tr -d "'")
echo "$listing"
for f in /vmlinuz /initrd.img /boot/grub/grub.cfg /EFI/BOOT/BOOTX64.EFI /extra/readme.txt; do
        grep -qx "$f" <<<"$listing" || fail "the ISO lacks $f"
done
! grep -q '^/LiveOS/' <<<"$listing" || fail "a full-os ISO needs no squashfs root"
xorriso -osirrox on -indev "$iso" -extract /boot/grub/grub.cfg "$PXF_TMP/grub.cfg" \
        -extract /extra/readme.txt "$PXF_TMP/readme.txt" >/dev/null 2>&1 \
        || fail "cannot read files back from the ISO"
cat "$PXF_TMP/grub.cfg"
# server.bios: a BIOS El Torito entry (GRUB for BIOS) before the UEFI one, GRUB's MBR code.
eltorito=$(xorriso -indev "$iso" -report_el_torito plain 2>/dev/null)
grep -q 'El Torito img path :   1  /boot/grub/bios.img' <<<"$eltorito" || fail "no BIOS El Torito entry: $eltorito"
grep -q 'El Torito boot img :   2  UEFI' <<<"$eltorito" || fail "no UEFI El Torito entry after the BIOS one"
grep -q 'pxf.iso=full-os' "$PXF_TMP/grub.cfg" || fail "grub.cfg lacks iso.kernelCommandLine"
! grep -q 'root=' "$PXF_TMP/grub.cfg" || fail "full-os must not pass root="
[ "$(cat "$PXF_TMP/readme.txt")" = "carried on the ISO" ] || fail "iso.additionalFiles differs"

console=$PXF_TMP/console.log
start=$SECONDS
vm_boot_cdrom "$iso" "$console"
vm_wait_for "$console" 'PXF-BOOT-OK' 1200 || fail "no boot marker on the console"
echo "CD boot to the marker took $((SECONDS - start)) s"
line=$(grep -a -m1 'PXF-BOOT-OK' "$console" | tr -d '\r')
echo "$line"
grep -q 'host=pxf-isofull ' <<<"$line" || fail "wrong host name"
grep -q 'root=rootfs ' <<<"$line" || fail "the root is not the initramfs"
grep -q 'pxf.iso=full-os' <<<"$line" || fail "the extra kernel argument is missing"
pass "the full-os live ISO boots from a CD drive"
