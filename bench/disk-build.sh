#!/usr/bin/env bash
# bench/disk-build.sh - a disk output (qcow2) of the bootstrap config, by pxeforge and by
# virt-customize, side by side in one run on the same input image.
#
# Disk outputs are customized inside the libguestfs appliance (the live outputs' exported
# tree path does not apply: the result must land in the disk image). This compares that
# path with virt-customize doing the same customization (packages, host name, a file, a
# service), then `qemu-img convert` to a standalone qcow2 as pxeforge writes it.
#
# Usage (root): bench/disk-build.sh [results.md]   (default: bench/results/disk-build.md)
# Needs: a built tree (build/default), libguestfs-tools (virt-customize). About 25 minutes
# under TCG.
set -euo pipefail
source "$(dirname "$0")/lib.sh" # sets here and src
results=${1:-$here/results/disk-build.md}
bench_setup virt-customize

work=$(mktemp -d /var/tmp/pxf-bench-disk.XXXXXX)
trap 'rm -rf "$work"' EXIT
image=$("$src/tests/images/build-debian-image.sh")
sed 's/format: pxe-dir/format: qcow2/' "$here/bootstrap.yaml" > "$here/.bench-disk.yaml"

echo "== pxeforge, qcow2 output =="
timed total "$pxf" customize --config-file "$here/.bench-disk.yaml" --image-file "$image" \
        --output-path "$work/pxeforge.qcow2" --build-dir "$work/build" --progress json \
        2> >(tee "$work/pxeforge.log" >&2)
rm -f "$here/.bench-disk.yaml"
while IFS=$'\t' read -r kind name secs bytes; do
        [ "$kind" = step ] && row pxeforge "$name" "$secs"
done < <(progress_rows "$work/pxeforge.log")
row pxeforge "whole run" "$total" "$(size_of "$work/pxeforge.qcow2")"

echo "== virt-customize, then qemu-img convert =="
qemu-img create -q -f qcow2 -F qcow2 -b "$image" "$work/overlay.qcow2"
timed t_cust virt_customize_bootstrap "$work/overlay.qcow2"
row native "virt-customize (the same customization)" "$t_cust"
timed t_conv qemu-img convert -O qcow2 "$work/overlay.qcow2" "$work/native.qcow2"
row native "qemu-img convert (standalone qcow2)" "$t_conv" "$(size_of "$work/native.qcow2")"
row native "whole run" "$(awk -v a="$t_cust" -v b="$t_conv" 'BEGIN { printf "%.1f", a + b }')"

write_results "$results" "Disk build benchmark" \
        "input: the Debian 12 test image; config: bench/bootstrap.yaml with output.image.format qcow2."
