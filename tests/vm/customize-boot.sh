#!/usr/bin/env bash
# VM test: customize the Debian test image with tests/vm/customize/config.yaml (on two
# levels of base configs), write it as qcow2, boot it under QEMU/OVMF, and read from the
# serial console the report that the config's own service prints: every customization
# must show up there. The boot files (output.artifacts) and the SELinux policy
# (--output-selinux-policy-path) copied out beside the output are checked on the host. A
# package of the install list comes from a folder of .deb files (--rpm-source), beside
# the image's own apt sources, and nothing of that source may be left in the image.
# Usage: customize-boot.sh [LAYOUT RELEASE] (tests/images/build-debian-image.sh; by default
# the standard Debian 12 image).
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
pxf_tmpdir

image=$(pxf_test_image "$@") || fail "cannot build the test image ${*:-standard bookworm}"
echo "image: $(basename "$image")"
out=$PXF_TMP/custom.qcow2
build=$PXF_TMP/build
vm_guestfs_env

# A copy of the configs: output.artifacts.path is relative to the config.
cp -r "$PXF_SOURCE_DIR/tests/vm/customize" "$PXF_TMP/customize"
pxf_make_deb "$PXF_TMP/debs" pxf-local-probe
start=$SECONDS
"$PXF_BIN" customize --config-file "$PXF_TMP/customize/config.yaml" \
        --image-file "$image" --output-path "$out" --build-dir "$build" \
        --output-selinux-policy-path "$PXF_TMP/policy" --rpm-source "$PXF_TMP/debs" \
        || fail "pxeforge customize failed"
echo "customize took $((SECONDS - start)) s"

for f in shim/bootx64.efi bootloader/grubx64.efi; do
        [ "$(head -c 2 "$PXF_TMP/customize/artifacts/$f" 2>/dev/null)" = MZ ] \
                || fail "output.artifacts: $f is missing or not an EFI program"
done
[ -s "$PXF_TMP/policy/default/contexts/files/file_contexts" ] \
        || fail "--output-selinux-policy-path: no policy in $PXF_TMP/policy/default"
ls "$PXF_TMP/policy/default/policy/"policy.* > /dev/null 2>&1 \
        || fail "--output-selinux-policy-path: no compiled policy in $PXF_TMP/policy/default"

[ "$(qemu-img info --output=json "$out" | grep -o '"format": "[a-z0-9]*"')" = '"format": "qcow2"' ] \
        || fail "output is not qcow2"
leftovers=$(pxf_build_leftovers "$build")
[ -z "$leftovers" ] || fail "build dir not clean: $leftovers"
[ -z "$(find "$PXF_TMP" -maxdepth 1 -name '*partial*')" ] || fail "partial output left behind"

console=$PXF_TMP/console.log
start=$SECONDS
vm_boot_disk "$out" "$console"
vm_wait_for "$console" 'PXF-REPORT-END' 900 || fail "no report on the console"
vm_wait_for "$console" 'pxf-custom login:' 300 || fail "no login prompt"
echo "boot to report took $((SECONDS - start)) s"
grep -a '^PXF ' "$console" | tr -d '\r' || true
assert_lines "$PXF_SOURCE_DIR/tests/vm/customize/expected-report.txt" "$console" \
        || fail "the booted image does not show every customization"
pass "customized image boots and shows every customization"
