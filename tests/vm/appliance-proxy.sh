#!/usr/bin/env bash
# VM test of the appliance in proxy mode: in a test bridge a plain dnsmasq plays the LAN's
# own DHCP server (addresses, and no boot file); `pxeforge serve --dhcp proxy` beside it
# supplies the boot file and serves the full-OS artifacts over TFTP. A UEFI VM must take
# its address from the LAN server, its boot file from pxeforge, and boot to the marker.
#
# One concession to Debian's GRUB, as on a real LAN: GRUB 2.06 takes its TFTP server from
# the LAN server's DHCP answer (next-server), not from the proxy's, so the LAN server
# names pxeforge as next-server (README: proxy mode and GRUB).
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/tests/lib/vm.sh"
bridge=$PXF_SOURCE_DIR/deploy/test-bridge.sh
art=${PXF_TEST_FULLOS_ARTIFACTS:-$PXF_BUILD_DIR/test-artifacts/full-os}
[ "$(id -u)" -eq 0 ] || fail "must run as root (network namespaces, ports 67 and 69)"
[ -f "$art/initrd.img" ] || fail "no full-os artifacts at $art (the artifacts fixture builds them)"
command -v dnsmasq >/dev/null || fail "dnsmasq not found: install dnsmasq-base (tests/deps.sh)"

pxf_tmpdir
export PXF_BRIDGE_STATE_DIR=$PXF_TMP/bridge
name=proxy$$
lan=pxf-$name-lan
lan_pid=
cleanup() {
        local rc=$?
        [ -n "$lan_pid" ] && kill "$lan_pid" 2>/dev/null && wait "$lan_pid" 2>/dev/null
        ip netns del "$lan" 2>/dev/null || true
        "$bridge" down --name "$name" >&2 || true
        rm -rf "$PXF_TMP"
        return $rc
}
trap cleanup EXIT

"$bridge" up --name "$name" --subnet 192.168.77.0/24 --vms 1
# The LAN's DHCP server is another machine on the same link: a namespace of its own,
# joined to the bridge by a veth pair, handing out addresses only.
ip netns add "$lan"
ip link add lan0 netns "pxf-$name" type veth peer name eth0 netns "$lan"
ip -n "pxf-$name" link set lan0 master br0 up
ip -n "$lan" addr add 192.168.77.2/24 dev eth0
ip -n "$lan" link set eth0 up
ip -n "$lan" link set lo up
ip netns exec "$lan" dnsmasq --keep-in-foreground --log-facility=- --log-dhcp --conf-file=/dev/null \
        --port=0 --interface=eth0 --bind-interfaces --dhcp-authoritative \
        --dhcp-range=192.168.77.100,192.168.77.200,255.255.255.0,1h --dhcp-boot=,,192.168.77.1 \
        --dhcp-leasefile="$PXF_TMP/lan.leases" --pid-file= --user=nobody \
        > "$PXF_TMP/lan.log" 2>&1 &
lan_pid=$!
sleep 1
kill -0 "$lan_pid" 2>/dev/null || { cat "$PXF_TMP/lan.log" >&2; fail "the LAN DHCP server did not start"; }

"$bridge" appliance --name "$name" -- "$PXF_BIN" serve --artifacts "$art" --interface br0 \
        --address 192.168.77.1 --dhcp proxy --runtime-dir "$PXF_TMP/run"
"$bridge" wait --name "$name" --appliance --for 'serving .* DHCP proxy' --timeout 30 \
        || fail "the appliance did not start"
start=$SECONDS
"$bridge" boot --name "$name" --vm 0
line=$("$bridge" wait --name "$name" --vm 0 --for 'PXF-BOOT-OK' --timeout 1200) \
        || { "$bridge" console --name "$name" --appliance | tail -n 40 >&2; fail "no marker"; }
echo "network boot to the marker took $((SECONDS - start)) s"
line=$(tr -d '\r' <<<"$line")
echo "$line"
grep -q 'root=rootfs ' <<<"$line" || fail "the root is not the full-OS initramfs"

log=$("$bridge" console --name "$name" --appliance)
grep -q 'DHCPACK(eth0) 192.168.77.1[0-9][0-9] ' "$PXF_TMP/lan.log" \
        || fail "the LAN server handed out no address"
echo "lan: $(grep -m1 'DHCPACK' "$PXF_TMP/lan.log")"
grep -Eq 'dnsmasq: .*PXE\(br0\) .* proxy' <<<"$log" || fail "pxeforge's proxy DHCP answered nothing"
grep -Eq 'dnsmasq: .*bootfile name: bootx64.efi' <<<"$log" || fail "pxeforge sent no boot file"
! grep -q 'bootfile name' "$PXF_TMP/lan.log" || fail "the LAN server sent a boot file"
! grep -Eq 'dnsmasq: .*DHCPACK\(br0\) 192\.168\.77\.1[0-9][0-9] ' <<<"$log" \
        || fail "pxeforge handed out an address in proxy mode"
grep -Eq "tftp: .* 'bootx64.efi' .*: ok" <<<"$log" || fail "shim was not served over TFTP"
grep -Eq "tftp: .* '/?initrd.img' .*: ok" <<<"$log" || fail "the initramfs was not served over TFTP"

"$bridge" stop-vm --name "$name" --vm 0
"$bridge" stop-appliance --name "$name" || fail "the appliance did not stop cleanly on SIGTERM"
pass "proxy DHCP beside the LAN's server: the VM booted the full-OS artifacts from pxeforge"
