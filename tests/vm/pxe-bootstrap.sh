#!/usr/bin/env bash
# VM tests of the bootstrap mode: the Debian test image customized into `pxe-dir`
# artifacts whose small dracut initramfs downloads image.iso over HTTP
# (tests/vm/pxe/bootstrap.yaml, built by the artifacts fixture), then
#   1. PXE-boot a UEFI VM with 512 MiB through QEMU's user-mode TFTP (shim, GRUB, kernel,
#      initramfs), with image.iso served over HTTP from the host's loopback (192.168.77.1
#      in the VM), to a login prompt;
#   2. boot the same image.iso from a virtual CD drive, with no network server at all;
#   3. PXE-boot a VM with too little memory (384 MiB), first with the HTTP server down:
#      the console must name the URL and why it cannot be fetched, then, with the server
#      up, say how much memory the download needs, and keep checking instead of halting.
# 1 and 2 must reach the marker the config's service prints, on an overlay root, with
# SELinux permissive and the labels the squashfs carries.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
pxf_tmpdir

# Built once per test run by the artifacts fixture (tests/vm/build-artifacts.sh).
out=${PXF_TEST_BOOTSTRAP_ARTIFACTS:-$PXF_BUILD_DIR/test-artifacts/bootstrap}
[ -f "$out/image.iso" ] || fail "no bootstrap artifacts at $out (the artifacts fixture builds them)"
# tests/vm/pxe/bootstrap.yaml fetches http://192.168.77.1:8089/image.iso: the address of
# the test bridge's appliance, which QEMU's user network gives the host here.
port=8089
host=192.168.77.1
grep -q "root=live:http://$host:$port/image.iso" "$out/grub/grub.cfg" \
        || fail "grub.cfg lacks root=live:<URL>"
grep -q '^initramfs-type: bootstrap$' "$out/manifest" || fail "manifest: wrong initramfs type"
min_mib=$(sed -n 's/^minimum-memory-mib: \([0-9]*\)$/\1/p' "$out/manifest")
[ -n "$min_mib" ] || fail "manifest: no minimum-memory-mib"
echo "bootstrap initrd: $(stat -c %s "$out/initrd.img") bytes, image.iso: $(stat -c %s "$out/image.iso") bytes, minimum memory: $min_mib MiB"
((min_mib <= 512)) || fail "the artifacts need $min_mib MiB, more than the 512 MiB this test boots them in"

# HTTP for image.iso on the host's loopback; QEMU's user network maps $host to it.
python3 -u -m http.server "$port" --bind 127.0.0.1 --directory "$out" > "$PXF_TMP/http.log" 2>&1 &
http_pid=$!
trap 'kill $http_pid 2>/dev/null || true; pxf_cleanup' EXIT
pxf_wait_line "$PXF_TMP/http.log" '^Serving HTTP on' 60 "$http_pid"

check_marker() {
        local console=$1 what=$2 line
        line=$(grep -a -m1 'PXF-BOOT-OK' "$console" | tr -d '\r')
        echo "$line"
        grep -q 'host=pxf-bootstrap ' <<<"$line" || fail "$what: wrong host name"
        grep -q 'root=overlay ' <<<"$line" || fail "$what: the root is not the live overlay"
        grep -q 'pxf.pxe=bootstrap' <<<"$line" || fail "$what: the extra kernel argument is missing"
        ! grep -q 'pxf.first-build' <<<"$line" || fail "$what: booted with the first build's argument"
        # liveRoot.omit in the config: no documentation but the copyright files; and no
        # apt package lists in any live root
        grep -Eq ' doc=0 copyright=[1-9][0-9]* aptlists=0 ' <<<"$line" \
                || fail "$what: the live root's cuts are not as the config asked"
        # os.selinux.mode permissive: the policy loaded, the squashfs's labels read
        grep -q ' selinux=0 shadow=system_u:object_r:shadow_t:s0 rootlabel=system_u:object_r:root_t:s0 ' <<<"$line" \
                || fail "$what: SELinux is not permissive with the policy's labels"
        grep -q ' security=selinux selinux=1 ' <<<"$line" \
                || fail "$what: the SELinux mode's kernel arguments are missing"
}

console=$PXF_TMP/pxe-console.log
start=$SECONDS
PXF_VM_MEM=512 VM_USER_NET="net=192.168.77.0/24,host=$host" \
        vm_boot_pxe_user "$out" bootx64.efi "$console"
vm_wait_for "$console" 'PXF-BOOT-OK' 1200 || { cat "$PXF_TMP/http.log" >&2; fail "PXE: no marker"; }
echo "PXE boot to the marker took $((SECONDS - start)) s"
check_marker "$console" PXE
# The getty comes once every unit of multi-user.target has started: the whole OS is up.
vm_wait_for "$console" 'login:' 900 || fail "PXE: no login prompt after the marker"
echo "PXE boot to the login prompt took $((SECONDS - start)) s"
grep -q 'GET /image.iso' "$PXF_TMP/http.log" || fail "image.iso was not fetched over HTTP"
# What the initramfs's check saw before the download (the manifest's minimum is made of it).
grep -a -m1 'pxeforge: fetching ' "$console" | tr -d '\r' || fail "PXE: no line of the memory check"
vm_stop
pass "bootstrap PXE artifacts boot to a login prompt in 512 MiB: TFTP for the boot files, HTTP for image.iso ($(cat "$out.source" 2>/dev/null || echo "image unknown"))"

kill "$http_pid" 2>/dev/null || true
console=$PXF_TMP/cd-console.log
start=$SECONDS
vm_boot_cdrom "$out/image.iso" "$console"
vm_wait_for "$console" 'PXF-BOOT-OK' 1200 || fail "CD: no marker"
echo "CD boot to the marker took $((SECONDS - start)) s"
check_marker "$console" CD
grep -a -m1 'PXF-BOOT-OK' "$console" | grep -q 'root=live:CDLABEL=PXF_' \
        || fail "CD: the ISO's own grub.cfg did not boot it by its label"
vm_stop
pass "image.iso boots from a CD drive on its own"

# 3. Too little memory, and at first no server: the console says so, and the machine waits.
console=$PXF_TMP/small-console.log
url="http://$host:$port/image.iso"
PXF_VM_MEM=384 VM_USER_NET="net=192.168.77.0/24,host=$host" \
        vm_boot_pxe_user "$out" bootx64.efi "$console"
vm_wait_for "$console" "pxeforge: cannot fetch $url: \\([0-9]+\\) " 900 \
        || fail "384 MiB, no server: no line naming the URL and the reason"
grep -a -m1 'pxeforge: cannot fetch' "$console" | tr -d '\r'
python3 -u -m http.server "$port" --bind 127.0.0.1 --directory "$out" > "$PXF_TMP/http2.log" 2>&1 &
http_pid=$!
pxf_wait_line "$PXF_TMP/http2.log" '^Serving HTTP on' 60 "$http_pid"
vm_wait_for "$console" 'pxeforge: not enough memory for .*it needs [0-9]+ MiB available' 300 \
        || fail "384 MiB: no line saying how much memory the download needs"
line=$(grep -a -m1 'pxeforge: not enough memory' "$console" | tr -d '\r')
echo "$line"
grep -q "give it at least [0-9]* MiB more RAM" <<<"$line" || fail "384 MiB: the line does not say what to do"
# 30 s later it checks again: the machine neither halted nor downloaded the ISO.
deadline=$((SECONDS + 120))
until (($(grep -ac 'pxeforge: not enough memory' "$console") >= 2)); do
        ((SECONDS < deadline)) || fail "384 MiB: no second check: the machine stopped waiting"
        kill -0 "$VM_PID" 2>/dev/null || fail "384 MiB: the VM is gone"
        sleep 2
done
! grep -aEq 'reboot: System halted|reboot: Power down|Kernel panic' "$console" \
        || fail "384 MiB: the machine halted"
! grep -q 'GET /image.iso ' "$PXF_TMP/http2.log" || fail "384 MiB: image.iso was downloaded anyway"
vm_stop
pass "a machine with too little memory says what the download needs and keeps waiting, and one without a server names the URL and the reason"
