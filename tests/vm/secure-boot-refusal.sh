#!/usr/bin/env bash
# VM test of a Secure Boot refusal, as the README describes it: the full-OS artifacts with
# the kernel's signature stripped (what an unsigned or self-built kernel is), served by
# `pxeforge serve` in a test bridge to a UEFI VM with Secure Boot on. shim and GRUB are
# signed and run; GRUB must refuse the kernel with "bad shim signature" on the console, and
# the appliance's log must name the unsigned file at start and show vmlinuz fetched but no
# initrd.img. The folder's manifest says what a build of such a kernel records (the build's
# own check is unit-tested: tests/unit/test-loaders.c).
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
source "$PXF_SOURCE_DIR/tests/lib/bridge.sh"
src=${PXF_TEST_FULLOS_ARTIFACTS:-$PXF_BUILD_DIR/test-artifacts/full-os}
[ -f "$src/vmlinuz" ] || fail "no full-os artifacts at $src (the artifacts fixture builds them)"

bridge_setup sbref$$
art=$PXF_TMP/art
cp -al "$src" "$art"
rm "$art/vmlinuz" "$art/SHA256SUMS"
# The PE security directory (data directory 4) emptied and the certificate cut off.
python3 - "$src/vmlinuz" "$art/vmlinuz" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
pe = struct.unpack_from("<I", data, 0x3c)[0]
opt = pe + 24
dirs = opt + (112 if struct.unpack_from("<H", data, opt)[0] == 0x20b else 96)
off, size = struct.unpack_from("<II", data, dirs + 4 * 8)
assert off and size, "the kernel carries no signature to strip"
struct.pack_into("<II", data, dirs + 4 * 8, 0, 0)
open(sys.argv[2], "wb").write(data[:off])
PY
sed -i 's/^secure-boot: .*/secure-boot: unsigned: vmlinuz/' "$art/manifest"
chmod -R a+rX "$PXF_TMP"

bridge_serve authoritative --artifacts "$art" --dhcp-range 192.168.77.100,192.168.77.200
"$bridge" boot --name "$BRIDGE_NAME" --vm 0 --mem 2048 --firmware secure-boot
line=$("$bridge" wait --name "$BRIDGE_NAME" --vm 0 --for 'bad shim signature' --timeout 600) \
        || fail "GRUB did not refuse the unsigned kernel"
echo "VM 0: $(tr -d '\r' <<<"$line" | sed 's/.*\(error: bad shim signature\)/\1/')"
BRIDGE_LOG=$("$bridge" console --name "$BRIDGE_NAME" --appliance)
bridge_log_has 'warning: Secure Boot: a machine with Secure Boot on will refuse these artifacts \(no signature on vmlinuz' \
        "the warning naming the unsigned kernel"
addrs=$(bridge_vm_addrs 0)
for f in bootx64.efi grubx64.efi vmlinuz; do
        bridge_sent 0 "$addrs" tftp "$f"
done
! grep -Eq "(tftp|http): $addrs:[0-9]+ .*initrd\.img" <<<"$BRIDGE_LOG" \
        || fail "the initramfs was fetched after the kernel was refused"
console=$("$bridge" console --name "$BRIDGE_NAME" --vm 0)
! grep -q 'Linux version' <<<"$console" || fail "the unsigned kernel ran"
bridge_stop 0
pass "Secure Boot refused the unsigned kernel: GRUB said 'bad shim signature', the log named vmlinuz and shows no initramfs fetched"
