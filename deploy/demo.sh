#!/usr/bin/env bash
# The demo: build the Debian test image (cached), customize it with
# deploy/examples/demo.yaml, boot the result in QEMU (UEFI, serial console) and show the
# console until the login prompt, then clean up. Needs root and Debian's mirror.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lib/common.sh
source tests/lib/vm.sh

[ "$(id -u)" -eq 0 ] || { echo "demo: run as root: sudo $0" >&2; exit 1; }
tests/deps.sh
cmake -S . -B build/default -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/default -j"$(nproc)" >/dev/null
PXF_BIN=$PWD/build/default/pxeforge/pxeforge
pxf_tmpdir
vm_guestfs_env

echo "== 1. the Debian test image (built once, then cached) =="
image=$(pxf_test_image)
echo "$image"

echo "== 2. customize it with deploy/examples/demo.yaml =="
"$PXF_BIN" customize --config-file deploy/examples/demo.yaml --image-file "$image" \
        --output-path "$PXF_TMP/demo.qcow2" --build-dir "$PXF_TMP/build"

echo "== 3. boot it (QEMU, UEFI; the serial console follows) =="
console=$PXF_TMP/console.log
vm_boot_disk "$PXF_TMP/demo.qcow2" "$console"
touch "$console"
tail -n +1 -f "$console" &
tail_pid=$!
found=0
vm_wait_for "$console" 'pxeforge-demo login:' 900 >/dev/null 2>&1 || found=$?
kill "$tail_pid" 2>/dev/null || true
echo
if [ "$found" -eq 0 ]; then
        echo "== the customized image booted to its login prompt (demo / demo) =="
else
        echo "== no login prompt within 15 minutes ==" >&2
        exit 1
fi
