#!/usr/bin/env bash
# VM test of the appliance in authoritative mode: `pxeforge serve` runs in a test bridge
# (deploy/test-bridge.sh: a private network namespace, a bridge, a tap) with DHCP handing
# out addresses, its tftpd serving shim, GRUB, kernel and the bootstrap initramfs, and
# its httpd serving image.iso. A UEFI VM boots from it over the network to the marker the
# image's service prints; the appliance's log must show each step. Then SIGTERM must stop
# the whole appliance (server and dnsmasq), leaving no process behind.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/tests/lib/vm.sh"
bridge=$PXF_SOURCE_DIR/deploy/test-bridge.sh
art=${PXF_TEST_BOOTSTRAP_ARTIFACTS:-$PXF_BUILD_DIR/test-artifacts/bootstrap}
[ "$(id -u)" -eq 0 ] || fail "must run as root (network namespaces, ports 67 and 69)"
[ -f "$art/image.iso" ] || fail "no bootstrap artifacts at $art (the artifacts fixture builds them)"
command -v dnsmasq >/dev/null || fail "dnsmasq not found: install dnsmasq-base (tests/deps.sh)"

pxf_tmpdir
export PXF_BRIDGE_STATE_DIR=$PXF_TMP/bridge
name=auth$$
cleanup() {
        local rc=$?
        "$bridge" down --name "$name" >&2 || true
        rm -rf "$PXF_TMP"
        return $rc
}
trap cleanup EXIT

"$bridge" up --name "$name" --subnet 192.168.77.0/24 --vms 1
# The bootstrap config's URL is http://192.168.77.1:8089/image.iso: the bridge's address.
"$bridge" appliance --name "$name" -- "$PXF_BIN" serve --artifacts "$art" --interface br0 \
        --dhcp authoritative --dhcp-range 192.168.77.100,192.168.77.200 --http-port 8089 \
        --runtime-dir "$PXF_TMP/run"
"$bridge" wait --name "$name" --appliance --for 'serving .* DHCP authoritative' --timeout 30 \
        || fail "the appliance did not start"
start=$SECONDS
"$bridge" boot --name "$name" --vm 0
line=$("$bridge" wait --name "$name" --vm 0 --for 'PXF-BOOT-OK' --timeout 1200) \
        || { "$bridge" console --name "$name" --appliance | tail -n 40 >&2; fail "no marker"; }
echo "network boot to the marker took $((SECONDS - start)) s"
line=$(tr -d '\r' <<<"$line")
echo "$line"
grep -q 'root=overlay ' <<<"$line" || fail "the root is not the live overlay"
grep -q 'root=live:http://192.168.77.1:8089/image.iso' <<<"$line" || fail "not booted from the ISO URL"

log=$("$bridge" console --name "$name" --appliance)
check_log() {
        grep -Eq -- "$1" <<<"$log" || fail "the appliance log lacks: $2"
        echo "log: $(grep -E -m1 -- "$1" <<<"$log")"
}
check_log 'dnsmasq: .*DHCPACK\(br0\) 192\.168\.77\.1[0-9][0-9] ' "a DHCP lease from the range"
check_log "tftp: .* 'bootx64.efi' .*: ok" "shim over TFTP"
check_log "tftp: .* 'grubx64.efi' .*: ok" "GRUB over TFTP"
check_log "tftp: .* '/?vmlinuz' .*: ok" "the kernel over TFTP"
check_log "tftp: .* '/?initrd.img' .*: ok" "the initramfs over TFTP"
check_log 'http: .* "GET" "/image.iso" 20[06] ' "image.iso over HTTP"
check_log 'serving as user nobody' "the server dropped its privileges"

"$bridge" stop-vm --name "$name" --vm 0
"$bridge" stop-appliance --name "$name" || fail "the appliance did not stop cleanly on SIGTERM"
pass "a VM booted the bootstrap artifacts from pxeforge's DHCP, TFTP and HTTP in a test bridge"
