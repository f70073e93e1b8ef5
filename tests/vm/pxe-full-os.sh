#!/usr/bin/env bash
# VM test: the Debian test image customized into `pxe-dir` artifacts with the whole OS as
# the initramfs (tests/vm/pxe/full-os.yaml, built by the artifacts fixture): check the
# folder, then PXE-boot a UEFI VM from it through QEMU's
# user-mode TFTP server (OVMF's own PXE client -> shim -> GRUB -> kernel + initrd over
# TFTP) and read the marker the config's service prints on the serial console.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
pxf_tmpdir

# Built once per test run by the artifacts fixture (tests/vm/build-artifacts.sh).
out=${PXF_TEST_FULLOS_ARTIFACTS:-$PXF_BUILD_DIR/test-artifacts/full-os}
[ -f "$out/initrd.img" ] || fail "no full-os artifacts at $out (the artifacts fixture builds them)"

for f in bootx64.efi grubx64.efi vmlinuz initrd.img grub/grub.cfg boot/grub2/grub.cfg \
        extra/readme.txt; do
        [ -f "$out/$f" ] || fail "missing artifact $f"
        # TFTP servers often run as nobody: everything must be world-readable.
        [ "$(( $(stat -c '%#a' "$out/$f") & 4 ))" -ne 0 ] || fail "$f is not world-readable"
done
cmp -s "$out/grub/grub.cfg" "$out/boot/grub2/grub.cfg" || fail "the two grub.cfg differ"
grep -q '^[[:space:]]*linux /vmlinuz .*pxf.pxe=full-os' "$out/grub/grub.cfg" \
        || fail "grub.cfg lacks the kernel line with the extra argument"
! grep -q 'root=' "$out/grub/grub.cfg" || fail "full-os must not pass root="
[ "$(cat "$out/extra/readme.txt")" = "served beside the artifacts" ] \
        || fail "pxe.additionalFiles content differs"
ls -la "$out" "$out/grub"
echo "initrd.img: $(stat -c %s "$out/initrd.img") bytes"

console=$PXF_TMP/console.log
start=$SECONDS
vm_boot_pxe_user "$out" bootx64.efi "$console"
vm_wait_for "$console" 'PXF-BOOT-OK' 1200 || fail "no boot marker on the console"
echo "PXE boot to the marker took $((SECONDS - start)) s"
# The getty comes once every unit of multi-user.target has started: the whole OS is up.
vm_wait_for "$console" 'login:' 900 || fail "no login prompt after the marker"
echo "PXE boot to the login prompt took $((SECONDS - start)) s"
line=$(grep -a -m1 'PXF-BOOT-OK' "$console" | tr -d '\r')
echo "$line"
grep -q 'host=pxf-fullos ' <<<"$line" || fail "wrong host name"
grep -q 'root=rootfs ' <<<"$line" || fail "the root is not the initramfs"
# No liveRoot.omit in this config: the documentation stays; apt's lists never come along.
grep -Eq ' doc=[1-9][0-9]* copyright=[1-9][0-9]* aptlists=0 ' <<<"$line" \
        || fail "the live root's documentation or apt lists are not as expected"
grep -q 'pxf.os=full-os .*pxf.pxe=full-os' <<<"$line" \
        || fail "os.kernelCommandLine's argument, then pxe.kernelCommandLine's, are not on the command line"
# The image carries an SELinux policy it never activates, and the config sets no mode.
grep -q ' selinux=off ' <<<"$line" || fail "SELinux is on in a full-os boot"
# The fixture rebuilt these artifacts through the cache with this argument in place of
# pxf.first-build=1 (tests/vm/build-artifacts.sh): the boot shows the rebuild's.
! grep -q 'pxf.first-build' <<<"$line" || fail "the VM booted with the first build's argument"
grep -q 'BOOT_IMAGE=/vmlinuz' <<<"$line" || fail "the kernel did not come from the TFTP root"
pass "full-os PXE artifacts boot over TFTP to a login prompt ($(cat "$out.source" 2>/dev/null || echo "image unknown"))"
