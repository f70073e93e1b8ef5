#!/usr/bin/env bash
# VM test of the appliance in authoritative mode: `pxeforge serve` runs in a test bridge
# (deploy/test-bridge.sh: a private network namespace, a bridge, taps) with DHCP handing
# out addresses, its tftpd serving shim, GRUB, kernel and the bootstrap initramfs, and
# its httpd serving image.iso. Two UEFI VMs boot from it at the same time over the
# network to the marker the image's service prints; the appliance's log must show each
# step for both, and the server must have served them confined. Then SIGTERM must stop
# the whole appliance (server and dnsmasq), leaving no process behind.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
source "$PXF_SOURCE_DIR/tests/lib/bridge.sh"
art=${PXF_TEST_BOOTSTRAP_ARTIFACTS:-$PXF_BUILD_DIR/test-artifacts/bootstrap}
[ -f "$art/image.iso" ] || fail "no bootstrap artifacts at $art (the artifacts fixture builds them)"

BRIDGE_VMS=2 bridge_setup auth$$
# The bootstrap config's URL is http://192.168.77.1:8089/image.iso: the bridge's address.
bridge_serve authoritative --artifacts "$art" --dhcp-range 192.168.77.100,192.168.77.200 \
        --http-port 8089
bridge_boot_to_marker 0 1
bridge_server_confined # what the VMs booted through
for vm in 0 1; do
        grep -q 'root=overlay ' <<<"${BRIDGE_MARKERS[$vm]}" || fail "VM $vm: not the live overlay"
        grep -q 'root=live:http://192.168.77.1:8089/image.iso' <<<"${BRIDGE_MARKERS[$vm]}" \
                || fail "VM $vm: not booted from the ISO URL"
done
[ "$(grep -Ec 'dnsmasq: .*DHCPACK\(br0\) 192\.168\.77\.1[0-9][0-9] ' <<<"$BRIDGE_LOG" \
        | head -1)" -ge 2 ] || fail "fewer than two DHCP leases"
[ "$(grep -c '"GET" "/image.iso" 20[06] ' <<<"$BRIDGE_LOG")" -ge 2 ] \
        || fail "image.iso was not fetched by both VMs"

bridge_log_has 'dnsmasq: .*DHCPACK\(br0\) 192\.168\.77\.1[0-9][0-9] ' "a DHCP lease from the range"
bridge_log_has "tftp: .* 'bootx64.efi' .*: ok" "shim over TFTP"
bridge_log_has "tftp: .* 'grubx64.efi' .*: ok" "GRUB over TFTP"
bridge_log_has "tftp: .* '/?vmlinuz' .*: ok" "the kernel over TFTP"
bridge_log_has "tftp: .* '/?initrd.img' .*: ok" "the initramfs over TFTP"
bridge_log_has 'http: .* "GET" "/image.iso" 20[06] ' "image.iso over HTTP"
bridge_log_has 'serving as user pxeforge' "the server dropped its privileges"
bridge_stop 0 1
pass "two VMs booted the bootstrap artifacts from pxeforge's DHCP, TFTP and HTTP in a test bridge"
