#!/usr/bin/env bash
# VM test of deploy/test-bridge.sh with a stand-in appliance: a plain dnsmasq (DHCP,
# authoritative, and its own TFTP) serving the full-os PXE artifacts of
# tests/vm/pxe/full-os.yaml. It documents and guards the script; the appliance test of
# `pxeforge serve` is a separate test.
#
# Twice, once with 1 VM and once with 2 VMs booting at the same time: `up` a private
# network namespace, start dnsmasq in it with `appliance`, `boot` each VM (OVMF's own
# PXE client on a tap device -> shim -> GRUB -> kernel + initrd over TFTP), `wait` for
# the marker the image's service prints on ttyS0, check the DHCP and TFTP log, then
# `down` and check that no namespace, state, QEMU or dnsmasq is left.
#
# Needs root, ip, dnsmasq, setsid, QEMU, OVMF (a missing one fails the test) and, unless
# PXF_TEST_PXE_ARTIFACTS names an existing full-os pxe-dir output to reuse, libguestfs to
# build the artifacts. PXF_BOOT_TIMEOUT: seconds per boot (default 900).
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/tests/lib/vm.sh"

bridge=$PXF_SOURCE_DIR/deploy/test-bridge.sh
timeout=${PXF_BOOT_TIMEOUT:-900}
subnet=192.168.77.0/24
range=192.168.77.100,192.168.77.200,255.255.255.0,1h

[ "$(id -u)" -eq 0 ] || fail "must run as root (network namespaces and tap devices)"
for need in ip:iproute2 dnsmasq:dnsmasq-base setsid:util-linux \
        qemu-system-x86_64:qemu-system-x86; do
        command -v "${need%%:*}" >/dev/null ||
                fail "${need%%:*} not found: install the Debian package ${need#*:} (tests/deps.sh)"
done
[ -r /usr/share/OVMF/OVMF_CODE_4M.fd ] || fail "OVMF firmware missing: install the Debian package ovmf"
[ -x "$bridge" ] || fail "$bridge is missing or not executable"

pxf_tmpdir
vm_guestfs_env
# dnsmasq's TFTP runs as nobody: it must reach the artifacts below the scratch dir.
chmod 755 "$PXF_TMP"
export PXF_BRIDGE_STATE_DIR=$PXF_TMP/bridge-state
name=tbd$$
state=$PXF_BRIDGE_STATE_DIR/$name

cleanup() {
        local rc=$?
        if [ -e "/run/netns/pxf-$name" ] || [ -d "$state" ]; then
                "$bridge" down --name "$name" >&2 || echo "cleanup: down failed for $name" >&2
        fi
        rm -rf "$PXF_TMP"
        return $rc
}
trap cleanup EXIT

# ---- the artifacts --------------------------------------------------------------------
if [ -n "${PXF_TEST_PXE_ARTIFACTS:-}" ]; then
        art=$(readlink -f "$PXF_TEST_PXE_ARTIFACTS")
        echo "reusing the artifacts in $art"
else
        art=$PXF_TMP/artifacts
        start=$SECONDS
        "$PXF_BIN" customize --config-file "$PXF_SOURCE_DIR/tests/vm/pxe/full-os.yaml" \
                --image-file "$(pxf_test_image)" --output-path "$art" \
                --build-dir "$PXF_TMP/build" || fail "pxeforge customize to pxe-dir failed"
        echo "build took $((SECONDS - start)) s"
fi
for f in bootx64.efi grubx64.efi grub/grub.cfg vmlinuz initrd.img; do
        [ -f "$art/$f" ] || fail "missing artifact $art/$f"
done

# ---- helpers --------------------------------------------------------------------------

# gone PID START: the process recorded as PID with that start time no longer runs
# (zombies count as gone: on some hosts PID 1 reaps orphans late).
gone() {
        local stat
        stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
        stat=${stat##*) }
        # shellcheck disable=SC2086 # split the fields; $3 is the state, ${22} the start time
        set -- "$1" "$2" $stat
        [ "${22}" != "$2" ] || [ "$3" = Z ] || [ "$3" = X ]
}

# recorded: print "PID START what" for the appliance and the VMs of the state dir.
recorded() {
        local f
        [ -r "$state/appliance.pid" ] && awk '{ print $1, $2, "dnsmasq" }' "$state/appliance.pid"
        for f in "$state"/vm*.state; do
                [ -e "$f" ] || continue
                awk -F= -v f="${f##*/}" '$1 == "pid" { p = $2 } $1 == "start" { s = $2 }
                        END { print p, s, "QEMU of " f }' "$f"
        done
}

dnsmasq_cmd() {
        printf '%s\n' dnsmasq --keep-in-foreground --log-facility=- --conf-file=/dev/null \
                --port=0 --interface=br0 --bind-interfaces --dhcp-authoritative \
                "--dhcp-range=$range" "--dhcp-leasefile=$state/leases" --pid-file \
                --dhcp-boot=bootx64.efi --enable-tftp "--tftp-root=$art" --user=nobody
}

# run N: the whole cycle with N VMs booting at once.
run() {
        local n=$1 i start line ip rc procs
        local -a cmd ips=()
        echo "== $n VM(s) =="
        "$bridge" up --name "$name" --subnet "$subnet" --vms "$n" || fail "up failed"
        rc=0
        "$bridge" up --name "$name" --vms "$n" 2>/dev/null || rc=$?
        [ "$rc" -eq 1 ] || fail "a second up of $name must refuse with status 1, got $rc"
        mapfile -t cmd < <(dnsmasq_cmd)
        "$bridge" appliance --name "$name" -- "${cmd[@]}" || fail "dnsmasq did not start"
        "$bridge" wait --name "$name" --appliance --for 'TFTP root is' --timeout 30 >/dev/null ||
                fail "dnsmasq did not report its TFTP root"

        start=$SECONDS
        for ((i = 0; i < n; i++)); do
                "$bridge" boot --name "$name" --vm "$i" || fail "boot of VM $i failed"
        done
        rc=0
        "$bridge" boot --name "$name" --vm 0 2>/dev/null || rc=$?
        [ "$rc" -eq 1 ] || fail "booting a running VM again must fail with status 1, got $rc"
        rc=0
        "$bridge" boot --name "$name" --vm "$n" 2>/dev/null || rc=$?
        [ "$rc" -eq 1 ] || fail "booting a VM without a tap must fail with status 1, got $rc"
        for ((i = 0; i < n; i++)); do
                line=$("$bridge" wait --name "$name" --vm "$i" --for 'PXF-BOOT-OK' \
                        --timeout "$timeout") || fail "VM $i: no boot marker on the console"
                echo "VM $i: marker after $((SECONDS - start)) s: $line"
                grep -q 'host=pxf-fullos ' <<<"$line" || fail "VM $i: wrong host name"
                grep -q 'root=rootfs ' <<<"$line" || fail "VM $i: the root is not the initramfs"
                grep -q 'pxf.pxe=full-os' <<<"$line" || fail "VM $i: the extra kernel argument is missing"
        done
        echo "$n VM(s): all markers after $((SECONDS - start)) s"
        "$bridge" console --name "$name" --vm 0 >"$PXF_TMP/vm0.console" ||
                fail "console of VM 0 failed"
        grep -q 'Start PXE over IPv4' "$PXF_TMP/vm0.console" ||
                fail "VM 0 did not boot with OVMF's PXE client"

        # Each VM got its own address from dnsmasq, by its MAC, and fetched the files.
        for ((i = 0; i < n; i++)); do
                mac=$(printf '52:54:00:77:00:%02x' "$i")
                ip=$(sed -n "s/.*DHCPACK(br0) \([0-9.]*\) $mac.*/\1/p" "$state/appliance.log" | head -n 1)
                [ -n "$ip" ] || fail "no DHCPACK for $mac in the dnsmasq log"
                for f in bootx64.efi grubx64.efi grub/grub.cfg vmlinuz initrd.img; do
                        grep -qF "sent $art/$f to $ip" "$state/appliance.log" ||
                                fail "dnsmasq did not send $f to VM $i ($ip)"
                done
                ips+=("$ip")
        done
        [ "$(printf '%s\n' "${ips[@]}" | sort -u | wc -l)" -eq "$n" ] ||
                fail "the VMs share addresses: ${ips[*]}"

        "$bridge" status --name "$name" || fail "status failed while up"
        procs=$(recorded)
        [ "$(wc -l <<<"$procs")" -eq $((n + 1)) ] || fail "expected $((n + 1)) recorded processes: $procs"
        "$bridge" down --name "$name" || fail "down failed"
        [ ! -e "/run/netns/pxf-$name" ] || fail "namespace pxf-$name is left"
        [ ! -e "$state" ] || fail "state $state is left"
        while read -r pid pstart what; do
                gone "$pid" "$pstart" || fail "$what (pid $pid) still runs after down"
        done <<<"$procs"
        "$bridge" down --name "$name" || fail "a second down must succeed"
        rc=0
        "$bridge" status --name "$name" >/dev/null || rc=$?
        [ "$rc" -eq 1 ] || fail "status after down must say 1 (absent), got $rc"
}

run 1
run 2
pass "deploy/test-bridge.sh: dnsmasq on a netns bridge PXE-boots 1 and 2 VMs, down leaves nothing"
