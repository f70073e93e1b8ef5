#!/usr/bin/env bash
# VM test of iPXE for every client (`pxeforge serve --ipxe always`), in authoritative mode
# in a test bridge, on the full-OS artifacts (built with server.ipxe: fallback, so they
# carry iPXE):
#   VM 0, UEFI: OVMF's PXE loads iPXE (ipxe/snponly.efi) over TFTP; iPXE asks DHCP again,
#     is known by its option 175 and handed boot.ipxe, which loads kernel and initramfs
#     over HTTP;
#   VM 1, BIOS: SeaBIOS and the NIC's PXE ROM, which is iPXE itself: it gets boot.ipxe at
#     once and loads everything over HTTP.
# Both must boot to the marker, and the appliance's log must show who fetched what.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
source "$PXF_SOURCE_DIR/tests/lib/bridge.sh"
art=${PXF_TEST_FULLOS_ARTIFACTS:-$PXF_BUILD_DIR/test-artifacts/full-os}
[ -f "$art/ipxe/snponly.efi" ] || fail "no full-os artifacts with iPXE at $art (the artifacts fixture builds them)"

BRIDGE_VMS=2 bridge_setup ipxe$$
bridge_serve authoritative --artifacts "$art" --dhcp-range 192.168.77.100,192.168.77.200 \
        --ipxe always
bridge_boot_to_marker 0:uefi 1:bios
for vm in 0 1; do
        grep -q 'root=rootfs ' <<<"${BRIDGE_MARKERS[$vm]}" || fail "VM $vm: the root is not the full-OS initramfs"
        grep -Eq '[= ]initrd=initrd[.]img ' <<<"${BRIDGE_MARKERS[$vm]}" || fail "VM $vm: not booted by iPXE's script"
        ! grep -q 'BOOT_IMAGE=' <<<"${BRIDGE_MARKERS[$vm]}" || fail "VM $vm: booted by GRUB"
done
bridge_log_has 'boot files: UEFI PXE ipxe/snponly.efi, UEFI HTTP boot ipxe/snponly.efi, BIOS ipxe/undionly.kpxe, iPXE boot.ipxe \(iPXE always\)' \
        "iPXE for every client"
bridge_log_has 'Secure Boot: UEFI PXE clients get iPXE, which Secure Boot refuses' \
        "the warning that Secure Boot machines cannot boot this way"

addrs=$(bridge_vm_addrs 0)
bridge_sent 0 "$addrs" tftp ipxe/snponly.efi
for f in boot.ipxe vmlinuz initrd.img; do
        bridge_sent 0 "$addrs" http "$f"
done
! grep -Eq "tftp: $addrs:[0-9]+ '(bootx64|grubx64)\.efi'" <<<"$BRIDGE_LOG" || fail "VM 0 got shim or GRUB"
addrs=$(bridge_vm_addrs 1)
for f in boot.ipxe vmlinuz initrd.img; do
        bridge_sent 1 "$addrs" http "$f"
done
bridge_no_tftp 1 "$addrs"
bridge_stop 0 1
pass "iPXE for every client: a UEFI VM (iPXE over TFTP, then HTTP) and a BIOS VM (the NIC's iPXE, HTTP only) booted the full-OS artifacts"
