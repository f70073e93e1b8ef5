#!/usr/bin/env bash
# tests/vm/boot-base-image.sh - smoke test of the VM test tooling: build (or reuse) the
# cached Debian bookworm UEFI test image, boot it with OVMF (shim -> GRUB -> Linux) and wait
# for the serial-console login prompt.
#
# Usage: tests/vm/boot-base-image.sh     (as root; builds the image first if needed, ~5 min)
# Env:   PXF_BOOT_TIMEOUT  seconds to wait for the login prompt (default 600)
#        PXF_VM_LOG_DIR    where to keep the console log (default: $PXF_BUILD_DIR/vm-logs
#                          under ctest, else a new directory in /tmp)
#        PXF_CACHE_DIR     image cache (see tests/images/build-debian-image.sh)
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
src=$PXF_SOURCE_DIR

name=boot-base-image
timeout=${PXF_BOOT_TIMEOUT:-600}

if [[ -n ${PXF_VM_LOG_DIR:-} ]]; then
        logdir=$PXF_VM_LOG_DIR
elif [[ -n ${PXF_BUILD_DIR:-} ]]; then
        logdir=$PXF_BUILD_DIR/vm-logs
else
        logdir=$(mktemp -d /tmp/pxf-$name.XXXXXX)
fi
mkdir -p "$logdir"
console=$logdir/$name.console.log

t0=$SECONDS
image=$("$src/tests/images/build-debian-image.sh") || fail "could not build the Debian test image"
[[ -f $image ]] || fail "image builder printed '$image', which is not a file"
echo "$name: image $image (ready after $((SECONDS - t0)) s)" >&2

trap vm_stop EXIT
t0=$SECONDS
vm_boot_disk "$image" "$console" || fail "could not start QEMU"
if ! vm_wait_for "$console" 'debian-test login:' "$timeout"; then
        fail "no 'debian-test login:' prompt on the serial console within $timeout s (console log: $console)"
fi
boot_s=$((SECONDS - t0))

# The prompt alone could come from a wrong kernel command line; check the path there too.
grep -aqE 'Command line: .*root=UUID=[0-9a-f-]+ .*console=ttyS0,115200' "$console" ||
        fail "kernel command line without root=UUID=... console=ttyS0,115200 (console log: $console)"
vm_stop
pass "$name: login prompt after $boot_s s under $(vm_accel) (console log: $console)"
