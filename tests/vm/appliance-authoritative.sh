#!/usr/bin/env bash
# VM test of the appliance in authoritative mode: `pxeforge serve` runs in a test bridge
# (deploy/test-bridge.sh: a private network namespace, a bridge, taps) with DHCP handing
# out addresses and its tftpd and httpd serving the bootstrap artifacts (built from the
# Debian 13 boot-xfs image with server.ipxe: fallback) beside a second build of the same
# config with another kernel argument (build b, made here from the fixture's caches), each
# machine booting what its group in server.machines says (issue 17). Four UEFI VMs boot at
# once; the first two boot build a to the marker the image's service prints, each by
# another path:
#   VM 0, Secure Boot on (Microsoft's keys): OVMF's PXE, shim and GRUB over TFTP; GRUB
#     2.12 loads kernel and initramfs over HTTP; image.iso over HTTP;
#   VM 1, UEFI HTTP boot: shim, GRUB, grub.cfg, kernel, initramfs and image.iso over
#     HTTP, no TFTP at all (Debian 13's GRUB speaks HTTP, so no iPXE is needed); its
#     group is boot-once and it has a disk: once booted (its report), it boots again, and
#     this time GRUB's menu exits and the firmware boots the disk;
#   VM 3 boots build b (its marker shows b's kernel argument, and its image.iso, at the
#     same URL, comes from b: each machine sees its own build);
#   VM 4, a disk of the Debian 12 test image, is sent to local: GRUB exits at once and
#     the firmware boots the disk.
# No other machine is answered (default: ignore).
# The appliance's log must show which file went to which VM by which protocol, and the
# server must have served them confined. Its boot timeline must show each VM's stages up
# to the booted system's own report, and its status page, loaded in headless Chromium,
# each VM's row (a screenshot is left in the build's test-output/). Then SIGTERM must stop the whole appliance
# (server and dnsmasq), leaving no process behind. Then, served again with iPXE off:
#   VM 2, BIOS: the NIC's PXE ROM (QEMU's is iPXE, answered as the PXE client it also is)
#     loads GRUB for BIOS (made with the image's grub-pc-bin) and grub.cfg over TFTP;
#     GRUB loads kernel and initramfs over HTTP, dracut image.iso.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
source "$PXF_SOURCE_DIR/tests/lib/bridge.sh"
source "$PXF_SOURCE_DIR/tests/lib/page.sh"
art=${PXF_TEST_BOOTSTRAP_ARTIFACTS:-$PXF_BUILD_DIR/test-artifacts/bootstrap}
[ -f "$art/image.iso" ] || fail "no bootstrap artifacts at $art (the artifacts fixture builds them)"

BRIDGE_VMS=5 bridge_setup auth$$
# Build b: the fixture's config with another kernel argument; its customized tree,
# initramfs and squashfs come from the caches the fixture filled (seconds, not minutes,
# when the fixture was built by the same pxeforge).
vm_guestfs_env
mkdir "$PXF_TMP/config-b"
cp "$PXF_SOURCE_DIR"/tests/vm/pxe/* "$PXF_TMP/config-b/"
sed -i 's/^\( *- \)pxf\.pxe=.*/\1pxf.pxe=group-b/' "$PXF_TMP/config-b/bootstrap.yaml"
"$PXF_BIN" customize --config-file "$PXF_TMP/config-b/bootstrap.yaml" \
        --image-file "$(pxf_test_image boot-xfs trixie)" --output-path "$PXF_TMP/build-b" \
        --image-tree-cache-dir "$PXF_IMAGE_TREES" > "$PXF_TMP/build-b.log" 2>&1 \
        || { cat "$PXF_TMP/build-b.log" >&2; fail "build b failed"; }
grep -m1 'customized tree' "$PXF_TMP/build-b.log"
cat > "$PXF_TMP/groups.yaml" <<'EOF'
server:
  machines:
    default: ignore
    groups:
      - macs: ["52:54:00:77:00:00"]
        boot: a
      - macs: ["52:54:00:77:00:01"]
        boot: a
        bootOnce: true
      - macs: ["52:54:00:77:00:03"]
        boot: b
      - macs: ["52:54:00:77:00:04"]
        boot: local
EOF
bridge_disk_overlay "$PXF_TMP/vm1.qcow2"
bridge_disk_overlay "$PXF_TMP/vm4.qcow2"

# The bootstrap config's URL is http://192.168.77.1:8089/image.iso: the bridge's address.
bridge_serve authoritative --artifacts "a=$art" --build "b=$PXF_TMP/build-b" \
        --config-file "$PXF_TMP/groups.yaml" --dhcp-range 192.168.77.100,192.168.77.200 \
        --http-port 8089
# VM 4 first: it needs no marker, only its disk.
"$bridge" boot --name "$BRIDGE_NAME" --vm 4 --mem 1024 --disk "$PXF_TMP/vm4.qcow2"
# The Secure Boot VM has 512 MiB: the bootstrap path's small clients (issue 16).
bridge_boot_to_marker 0:secure-boot:512 "1:http:2048:$PXF_TMP/vm1.qcow2" 3:uefi:1024
"$bridge" wait --name "$BRIDGE_NAME" --vm 0 --for 'login:' --timeout 900 >/dev/null \
        || fail "VM 0 (Secure Boot, 512 MiB): no login prompt after the marker"
bridge_server_confined # what the VMs booted through
# The boot timeline saw each VM through DHCP (its MAC, address and architecture) and its
# transfers, stage by stage, up to the bootstrap's image.iso, then the booted system's
# own report (server.bootReport) (issue 17).
bridge_timeline_has 8089 0 "x86-64 UEFI" dhcp loader kernel initramfs image booted
bridge_timeline_has 8089 1 "x86-64 UEFI HTTP" dhcp loader kernel initramfs image booted
bridge_timeline_has 8089 3 "x86-64 UEFI" dhcp loader kernel initramfs image booted
# Each machine got what its group says: builds a and b by the kernel argument, VM 4 its
# disk; and the log says so.
for vm in 0 1; do
        grep -q 'pxf.pxe=bootstrap' <<<"${BRIDGE_MARKERS[$vm]}" || fail "VM $vm: not build a"
        bridge_log_has "routing: 52:54:00:77:00:0$vm \\([0-9.]+\\) boots build a" "VM $vm's choice"
done
grep -q 'pxf.pxe=group-b' <<<"${BRIDGE_MARKERS[3]}" || fail "VM 3: not build b"
bridge_log_has 'routing: 52:54:00:77:00:03 \([0-9.]+\) boots build b' "VM 3's choice"
bridge_wait_disk_boot 4
bridge_log_has 'routing: 52:54:00:77:00:04 \([0-9.]+\) boots from its disk' "VM 4's choice"
# Boot-once: VM 1 reported booted, so its next boot is its disk's.
"$bridge" stop-vm --name "$BRIDGE_NAME" --vm 1
"$bridge" boot --name "$BRIDGE_NAME" --vm 1 --mem 2048 --firmware http --disk "$PXF_TMP/vm1.qcow2"
bridge_wait_disk_boot 1
BRIDGE_LOG=$("$bridge" console --name "$BRIDGE_NAME" --appliance)
bridge_log_has 'routing: 52:54:00:77:00:01 \([0-9.]+\) boots from its disk' "VM 1's second boot"
pass "machine groups: two VMs booted build a, one build b, one its disk (local), and the boot-once VM its disk on its second boot"
bridge_log_has 'http: 192[.]168[.]77[.][0-9]+ reported that it booted' "the booted systems' reports"
# The status page in headless Chromium, from inside the bridge: a row for each VM, booted.
# A machine of the bridge's own address reports a host name with markup: shown as text.
ns=(ip netns exec "pxf-$BRIDGE_NAME")
"${ns[@]}" curl -fsS -o /dev/null http://192.168.77.1:8089/vmlinuz || fail "vmlinuz from the bridge"
"${ns[@]}" curl -fsS -o /dev/null --data-binary $'mac=02:00:00:00:00:01\nhostname=<b>markup</b>\n' \
        http://192.168.77.1:8089/.pxeforge/api/report || fail "a report from the bridge's address"
rows=$(page_rows "$PXF_BUILD_DIR/test-output/appliance-authoritative/status-page" \
        http://192.168.77.1:8089/.pxeforge/ "${ns[@]}")
echo "$rows"
# VM 1 booted its disk last (its host name from that system's DHCP request, its state
# local); VM 4 only ever booted its disk.
grep -Eq "^52:54:00:77:00:01\|$(bridge_vm_addrs 1)\|debian-test\|booted\|local$" <<<"$rows" \
        || fail "the status page has no row of VM 1 booted once, then local: $rows"
grep -Eq "^52:54:00:77:00:04\|$(bridge_vm_addrs 4)\|debian-test\|loader\|local$" <<<"$rows" \
        || fail "the status page has no local row for VM 4: $rows"
for vm in 0 3; do
        grep -Eq "^52:54:00:77:00:0$vm\|$(bridge_vm_addrs "$vm")\|pxf-bootstrap\|booted\|booted$" <<<"$rows" \
                || fail "the status page has no booted row for VM $vm: $rows"
done
grep -qxF '02:00:00:00:00:01|192.168.77.1|<b>markup</b>|booted|booted' <<<"$rows" \
        || fail "the status page does not show the host name's markup as text: $rows"
pass "the status page, rendered by Chromium in the bridge, shows each VM booted and a host name's markup as text"
for vm in 0 1; do
        grep -q 'root=overlay ' <<<"${BRIDGE_MARKERS[$vm]}" || fail "VM $vm: not the live overlay"
        grep -q 'root=live:http://192.168.77.1:8089/image.iso' <<<"${BRIDGE_MARKERS[$vm]}" \
                || fail "VM $vm: not booted from the ISO URL"
done
bridge_log_has 'boot files: UEFI PXE bootx64.efi, UEFI HTTP boot bootx64.efi, BIOS grub/i386-pc/core.0, iPXE boot.ipxe \(iPXE fallback\)' \
        "the loaders chosen for each kind of client"
bridge_log_has 'Secure Boot: shim, GRUB and the kernel are signed' "the chain's signatures"
bridge_log_has 'serving as user pxeforge' "the server dropped its privileges"

# VM 0: Secure Boot, the signed chain over TFTP, then GRUB over HTTP.
bridge_secure_boot_on 0
bridge_grub_over_http 0 "$(bridge_vm_addrs 0)"

# VM 1: HTTP boot through shim and GRUB, nothing over TFTP.
bridge_shim_over_http 1 "$(bridge_vm_addrs 1)"
bridge_stop 0 1 3 4
pass "two VMs booted Debian 13 bootstrap artifacts from pxeforge in a test bridge: Secure Boot PXE in 512 MiB (shim and GRUB over TFTP, the rest over HTTP) and UEFI HTTP boot (shim and GRUB, HTTP only)"

bridge_serve authoritative --artifacts "$art" --dhcp-range 192.168.77.100,192.168.77.200 \
        --http-port 8089 --ipxe off
bridge_boot_to_marker 2:bios
bridge_log_has 'boot files: UEFI PXE bootx64.efi, UEFI HTTP boot bootx64.efi, BIOS grub/i386-pc/core.0, iPXE none \(iPXE off\)' \
        "GRUB for BIOS clients, iPXE ROMs answered as PXE clients"
grep -q 'root=live:http://192.168.77.1:8089/image.iso' <<<"${BRIDGE_MARKERS[2]}" \
        || fail "VM 2: not booted from the ISO URL"
grep -q 'BOOT_IMAGE=(http,192.168.77.1:8089)/vmlinuz' <<<"${BRIDGE_MARKERS[2]}" \
        || fail "VM 2: GRUB did not load the kernel over HTTP"
addrs=$(bridge_vm_addrs 2)
for f in grub/i386-pc/core.0 grub/grub.cfg; do
        bridge_sent 2 "$addrs" tftp "$f"
done
for f in vmlinuz initrd.img image.iso; do
        bridge_sent 2 "$addrs" http "$f"
done
# GRUB 2.12 first asks for per-machine configs beside its modules (grub.cfg-01-MAC, the
# address in hex, shorter and shorter, then grub.cfg); any other refusal is a file GRUB
# lacks.
lacking=$(grep -E "tftp: $addrs:[0-9]+ .* refused" <<<"$BRIDGE_LOG" |
        grep -Ev "'grub/i386-pc/grub[.]cfg(-[0-9A-Fa-f-]+)?' refused" || true)
[ -z "$lacking" ] || fail "VM 2 asked for files the folder lacks: $lacking"
bridge_stop 2
pass "a BIOS VM booted the bootstrap artifacts: GRUB for BIOS and grub.cfg over TFTP, kernel, initramfs and image.iso over HTTP"
