# shellcheck shell=bash
# Shared steps of the VM tests that run pxeforge's appliance in a test bridge
# (deploy/test-bridge.sh). Source after common.sh and vm.sh; needs root.

bridge=$PXF_SOURCE_DIR/deploy/test-bridge.sh

# bridge_setup NAME: a scratch dir, the bridge's state in it, BRIDGE_VMS taps (default
# 1), and `down` at exit (after the caller's own cleanup in BRIDGE_CLEANUP, a function
# name, if set).
bridge_setup() {
        BRIDGE_NAME=$1
        [ "$(id -u)" -eq 0 ] || fail "must run as root (network namespaces, ports 67 and 69)"
        command -v dnsmasq >/dev/null || fail "dnsmasq not found: install dnsmasq-base (tests/deps.sh)"
        pxf_tmpdir
        export PXF_BRIDGE_STATE_DIR=$PXF_TMP/bridge
        trap _bridge_cleanup EXIT
        "$bridge" up --name "$BRIDGE_NAME" --subnet 192.168.77.0/24 --vms "${BRIDGE_VMS:-1}"
}

_bridge_cleanup() {
        local rc=$?
        if [ "$rc" -ne 0 ]; then
                echo "the appliance's log (last 80 lines):" >&2
                "$bridge" console --name "$BRIDGE_NAME" --appliance 2>/dev/null | tail -n 80 >&2
        fi
        [ -n "${BRIDGE_CLEANUP:-}" ] && "$BRIDGE_CLEANUP"
        "$bridge" down --name "$BRIDGE_NAME" >&2 || true
        rm -rf "$PXF_TMP"
        return $rc
}

# bridge_serve MODE ARGS...: `pxeforge serve` on br0 with DHCP MODE, waits until it serves.
# A later appliance in the same bridge starts a log of its own (the last one's is kept
# beside it), so that the wait and the checks read only its lines.
bridge_serve() {
        local mode=$1 log=$PXF_BRIDGE_STATE_DIR/$BRIDGE_NAME/appliance.log
        shift
        [ ! -e "$log" ] || mv "$log" "$log.$SECONDS"
        "$bridge" appliance --name "$BRIDGE_NAME" -- "$PXF_BIN" serve --interface br0 \
                --dhcp "$mode" --runtime-dir "$PXF_TMP/run" "$@"
        "$bridge" wait --name "$BRIDGE_NAME" --appliance --for "serving .* DHCP $mode" \
                --timeout 120 || fail "the appliance did not start"
}

# bridge_boot_to_marker VM[:FIRMWARE[:MEM[:DISK]]]...: boots the VMs at once (FIRMWARE as
# `deploy/test-bridge.sh boot --firmware`, default uefi; MEM MiB, default 2048; DISK a
# qcow2 file second in the boot order) and waits for each one's marker; sets
# BRIDGE_MARKERS[vm] to its line and BRIDGE_LOG to the appliance's log.
bridge_boot_to_marker() {
        local start=$SECONDS spec vm line fw mem disk
        BRIDGE_MARKERS=()
        for spec in "$@"; do
                IFS=: read -r vm fw mem disk <<<"$spec"
                "$bridge" boot --name "$BRIDGE_NAME" --vm "$vm" --mem "${mem:-2048}" \
                        --firmware "${fw:-uefi}" ${disk:+--disk "$disk"}
        done
        for spec in "$@"; do
                vm=${spec%%:*}
                line=$("$bridge" wait --name "$BRIDGE_NAME" --vm "$vm" --for 'PXF-BOOT-OK' \
                        --timeout 1500) || {
                        "$bridge" console --name "$BRIDGE_NAME" --appliance | tail -n 40 >&2
                        fail "VM $vm: no marker"
                }
                BRIDGE_MARKERS[$vm]=$(tr -d '\r' <<<"$line")
                echo "VM $spec: marker after $((SECONDS - start)) s: ${BRIDGE_MARKERS[$vm]}"
        done
        BRIDGE_LOG=$("$bridge" console --name "$BRIDGE_NAME" --appliance)
}

# bridge_disk_overlay FILE: a qcow2 file that writes over the Debian 12 test image (whose
# host name is debian-test), for a VM that boots from its disk.
bridge_disk_overlay() {
        local base
        base=$(pxf_test_image) || fail "cannot build the Debian test image"
        qemu-img create -q -f qcow2 -F qcow2 -b "$base" "$1" || fail "cannot make the overlay $1"
}

# bridge_wait_disk_boot VM: the VM, sent to `local` by the appliance's machine groups,
# booted its disk: its console shows GRUB's word that it boots from its disk and starts
# the disk's shim (the test image's ESP, \EFI\BOOT\BOOTX64.EFI), then the test image's
# login prompt (its host name, debian-test), with no live root.
bridge_wait_disk_boot() {
        local vm=$1 mac console
        mac=$(printf '52:54:00:77:%02x:%02x' $((vm >> 8)) $((vm & 255)))
        "$bridge" wait --name "$BRIDGE_NAME" --vm "$vm" --for 'debian-test login:' --timeout 900 \
                >/dev/null || fail "VM $vm: no login prompt of its disk's system"
        console=$("$bridge" console --name "$BRIDGE_NAME" --vm "$vm")
        grep -aq "pxeforge: $mac boots from its disk" <<<"$console" \
                || fail "VM $vm: GRUB did not get the menu that exits to the disk"
        ! grep -aq 'root=live:' <<<"$console" || fail "VM $vm: booted a live root, not its disk"
        grep -aq "pxeforge: starting (hd0,gpt1)/EFI/BOOT/BOOTX64.EFI" <<<"$console" \
                || fail "VM $vm: GRUB did not start the disk's own boot loader"
        echo "VM $vm: its GRUB menu started its disk's boot loader: $(grep -a -m1 'debian-test login:' <<<"$console" | tr -d '\r')"
}

# bridge_vm_addrs VM [LOG]: the addresses the VM's MAC was given (DHCPACK lines of LOG, by
# default the appliance's), as an extended regex; the firmware and a chained iPXE may ask
# for an address each.
bridge_vm_addrs() {
        local mac ips
        mac=$(printf '52:54:00:77:%02x:%02x' $(($1 >> 8)) $(($1 & 255)))
        ips=$(grep -Eo "DHCPACK\([a-z0-9]+\) [0-9.]+ $mac" <<<"${2:-$BRIDGE_LOG}" |
                awk '{print $2}' | sort -u | sed 's/\./\\./g' | paste -sd '|')
        [ -n "$ips" ] || fail "VM $1 ($mac): no DHCP lease in the log"
        echo "($ips)"
}

# bridge_timeline_has PORT VM ARCH STAGE...: the appliance's boot timeline (`pxeforge
# status --json` on its HTTP PORT, asked from inside the bridge) knows the VM by its MAC,
# with an address the log shows it was given, the architecture DHCP saw and each STAGE
# in that order; `pxeforge status`'s table has its row. With the stage booted (the
# image's pxeforge-boot-report unit, once the system is up), the machine is in state
# booted with the kernel and boot time it reported; that report may take a while after
# the marker, so the timeline is asked again for up to 240 s. The addresses come from the
# file BRIDGE_DHCP_LOG_FILE when set (proxy mode: the LAN's server hands them out), else
# from the appliance's log, read again each time (the booted system may take a new lease).
bridge_timeline_has() {
        local port=$1 vm=$2 arch=$3 mac json table addrs deadline=$((SECONDS + 240))
        shift 3
        mac=$(printf '52:54:00:77:%02x:%02x' $((vm >> 8)) $((vm & 255)))
        json=$PXF_TMP/timeline.json
        while :; do
                ip netns exec "pxf-$BRIDGE_NAME" "$PXF_BIN" status --address 192.168.77.1 \
                        --http-port "$port" --json > "$json" || fail "pxeforge status --json failed"
                BRIDGE_LOG=$("$bridge" console --name "$BRIDGE_NAME" --appliance)
                if [ -n "${BRIDGE_DHCP_LOG_FILE:-}" ]; then
                        addrs=$(bridge_vm_addrs "$vm" "$(cat "$BRIDGE_DHCP_LOG_FILE")")
                else
                        addrs=$(bridge_vm_addrs "$vm")
                fi
                bridge_timeline_check "$json" "$mac" "$addrs" "$arch" "$@" 2> "$json.why" && break
                if [ "$SECONDS" -ge "$deadline" ]; then
                        echo "VM $vm: its console's lines about the network, then its last lines:" >&2
                        "$bridge" console --name "$BRIDGE_NAME" --vm "$vm" |
                                grep -aiE 'virtio|net|eth|enp|dhcp|link' | tail -n 30 >&2 || true
                        "$bridge" console --name "$BRIDGE_NAME" --vm "$vm" | tail -n 30 >&2 || true
                        fail "VM $vm: the boot timeline is not as expected ($(tail -n1 "$json.why")): $(cat "$json")"
                fi
                sleep 5
        done
        table=$(ip netns exec "pxf-$BRIDGE_NAME" "$PXF_BIN" status --address 192.168.77.1 \
                --http-port "$port") || fail "pxeforge status failed"
        grep -q "^$mac " <<<"$table" || fail "VM $vm: no row in pxeforge status: $table"
}

# bridge_timeline_check JSON MAC ADDRS ARCH STAGE...: bridge_timeline_has's judge.
bridge_timeline_check() {
        python3 - "$@" <<'PYEOF'
import json, re, sys
path, mac, addrs, arch, stages = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
m = [m for m in json.load(open(path))["machines"] if m["mac"] == mac]
assert len(m) == 1, f"{mac}: {len(m)} entries"
m = m[0]
assert re.fullmatch(addrs, m["ip"] or ""), f"address {m['ip']} is not one of {addrs}"
assert m["arch"] == arch, f"arch {m['arch']}, expected {arch}"
missing = [s for s in stages if s not in m["stages"]]
assert not missing, f"stages {missing} missing from {m['stages']}"
order = [m["stages"][s] for s in stages]
assert order == sorted(order), f"stages out of order: {m['stages']}"
if "booted" in stages:
    assert m["state"] == "booted" and m["kernel"] and m["bootMs"] > 0, f"booted report: {m}"
print(f"timeline: {mac} {m['ip']} {m['arch']} {m['stage']} {m['state']} stages {list(m['stages'])}"
      f" host {m['hostname']} kernel {m['kernel']} bootMs {m['bootMs']}")
PYEOF
}

# bridge_sent VM ADDRS PROTO FILE: the appliance's log shows FILE sent whole to the VM (at
# one of ADDRS, from bridge_vm_addrs) over PROTO, tftp or http (by its plain path, or, for
# a machine of a group whose iPXE script came by MAC, below /.pxeforge/boot/MAC/).
bridge_sent() {
        local vm=$1 addrs=$2 proto=$3 file=${4//./\\.} re
        if [ "$proto" = tftp ]; then
                re="tftp: $addrs:[0-9]+ '/?$file' .*: ok"
        else
                re="http: $addrs:[0-9]+ \"GET\" \"(/[.]pxeforge/boot/[0-9a-f:-]{17})?/+$file\" 20[06] "
        fi
        grep -Eq -- "$re" <<<"$BRIDGE_LOG" || fail "VM $vm: $4 was not sent to it over $proto"
        echo "VM $vm: $(grep -E -m1 -- "$re" <<<"$BRIDGE_LOG" | sed 's/.*pxeforge-server: //')"
}

# bridge_grub_over_http VM ADDRS: the VM booted the bootstrap artifacts of the test bridge
# (HTTP on port 8089) through UEFI PXE with a GRUB that speaks HTTP: shim, GRUB and
# grub.cfg over TFTP; kernel, initramfs and image.iso over HTTP, and never over TFTP.
bridge_grub_over_http() {
        local vm=$1 addrs=$2 f
        grep -q 'BOOT_IMAGE=(http,192.168.77.1:8089)/vmlinuz' <<<"${BRIDGE_MARKERS[$vm]}" \
                || fail "VM $vm: GRUB did not load the kernel over HTTP"
        for f in bootx64.efi grubx64.efi grub/grub.cfg; do
                bridge_sent "$vm" "$addrs" tftp "$f"
        done
        for f in vmlinuz initrd.img image.iso; do
                bridge_sent "$vm" "$addrs" http "$f"
        done
        ! grep -Eq "tftp: $addrs:[0-9]+ '/?(vmlinuz|initrd[.]img)'" <<<"$BRIDGE_LOG" \
                || fail "VM $vm: kernel or initramfs went over TFTP too"
}

# bridge_shim_over_http VM ADDRS: the VM booted the bootstrap artifacts of the test bridge
# through UEFI HTTP boot with the image's shim and a GRUB that speaks HTTP: everything over
# HTTP, nothing over TFTP. (GRUB's root is the HTTP server it came from, so its grub.cfg's
# fallback path loads the kernel over HTTP too.)
bridge_shim_over_http() {
        local vm=$1 addrs=$2 f
        grep -Eq 'BOOT_IMAGE=(\(http,192[.]168[.]77[.]1:8089\))?/vmlinuz ' <<<"${BRIDGE_MARKERS[$vm]}" \
                || fail "VM $vm: not booted by GRUB"
        for f in bootx64.efi grubx64.efi grub/grub.cfg vmlinuz initrd.img image.iso; do
                bridge_sent "$vm" "$addrs" http "$f"
        done
        bridge_no_tftp "$vm" "$addrs"
}

# bridge_secure_boot_on VM: the VM's kernel (its EFI stub) reported Secure Boot on.
bridge_secure_boot_on() {
        local console re='Secure [Bb]oot (is )?enabled'
        # Read whole first: grep -q would end a pipe early, and pipefail call that a failure.
        console=$("$bridge" console --name "$BRIDGE_NAME" --vm "$1")
        grep -Eq "$re" <<<"$console" || fail "VM $1: the kernel does not report Secure Boot"
        echo "VM $1: $(grep -Em1 "$re" <<<"$console")"
}

# bridge_no_tftp VM ADDRS: the VM fetched nothing over TFTP.
bridge_no_tftp() {
        ! grep -Eq -- "tftp: $2:[0-9]+ " <<<"$BRIDGE_LOG" || fail "VM $1 used TFTP"
}

# bridge_log_has REGEX WHAT: the appliance's log has a line matching REGEX.
bridge_log_has() {
        grep -Eq -- "$1" <<<"$BRIDGE_LOG" || fail "the appliance log lacks: $2"
        echo "log: $(grep -E -m1 -- "$1" <<<"$BRIDGE_LOG")"
}

# bridge_server_confined: the appliance's pxeforge-server (found among the namespace's
# processes) runs as its own user, with no capability left to gain, no_new_privs, a
# seccomp filter, and the served folder as its root; dnsmasq runs as another user.
bridge_server_confined() {
        local pid server="" dnsmasq="" status
        for pid in $(ip netns pids "pxf-$BRIDGE_NAME"); do
                case $(cat "/proc/$pid/comm" 2>/dev/null) in
                pxeforge-server) server=$pid ;;
                dnsmasq) dnsmasq=$pid ;;
                esac
        done
        [ -n "$server" ] && [ -n "$dnsmasq" ] || fail "no pxeforge-server or dnsmasq in the bridge"
        status=$(cat "/proc/$server/status")
        grep -q '^CapBnd:[[:space:]]*0000000000000000$' <<<"$status" || fail "the server keeps capabilities"
        grep -q '^NoNewPrivs:[[:space:]]*1$' <<<"$status" || fail "the server lacks no_new_privs"
        grep -q '^Seccomp:[[:space:]]*2$' <<<"$status" || fail "the server has no seccomp filter"
        [ "$(stat -c %U "/proc/$server")" = pxeforge ] || fail "the server does not run as pxeforge"
        [ "$(stat -c %U "/proc/$dnsmasq")" = nobody ] || fail "dnsmasq does not run as nobody"
        # one build: the folder is the root; several: each at /bN of a read-only tmpfs
        { [ -e "/proc/$server/root/image.iso" ] || [ -e "/proc/$server/root/b0/image.iso" ]; } &&
                [ ! -e "/proc/$server/root/etc" ] || fail "the server's root is not the served folder"
        echo "confined: pxeforge-server $server as pxeforge (CapBnd 0, NoNewPrivs 1, Seccomp 2, root the served folder or builds), dnsmasq as nobody"
}

# bridge_stop VM...: the VMs, then the appliance, which must stop on SIGTERM leaving
# nothing behind.
bridge_stop() {
        local vm
        for vm in "$@"; do
                "$bridge" stop-vm --name "$BRIDGE_NAME" --vm "$vm"
        done
        "$bridge" stop-appliance --name "$BRIDGE_NAME" \
                || fail "the appliance did not stop cleanly on SIGTERM"
}
