#!/usr/bin/env bash
# bench/boot-paths.sh: power-on to login prompt for every way a machine boots from
# `pxeforge serve`, side by side in one run, against the same image booted from a local
# disk. One VM at a time (nothing else should run), in a test bridge
# (deploy/test-bridge.sh), under whatever accelerator the host has (TCG here).
#
#   artifacts: the VM tests' fixtures, build/default/test-artifacts/{full-os,bootstrap}
#     (ctest -R 'artifacts[.]' builds them), and their images, the lvm and boot-xfs test
#     images (tests/images/build-debian-image.sh, cached by content);
#   paths: uefi (OVMF's PXE, shim, GRUB, kernel and initramfs over TFTP), secure-boot (the
#     same with Secure Boot on), http (UEFI HTTP boot, iPXE, all HTTP), uefi-ipxe (serve
#     --ipxe always: OVMF's PXE loads iPXE over TFTP, then HTTP), bios (SeaBIOS and the
#     NIC's iPXE ROM, all HTTP), bios-grub (serve --ipxe off: the ROM loads GRUB for BIOS
#     over TFTP, GRUB kernel and initramfs over HTTP), bios-grub-tftp (full-os only: the
#     same with grub.cfg's HTTP port closed, so GRUB falls back to TFTP: GRUB's HTTP
#     against its TFTP, side by side), disk (the image itself on a virtio disk).
#
# Usage: sudo bench/boot-paths.sh [KIND...]   (KIND: full-os, bootstrap; default both)
# Writes bench/results/boot-paths.md.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=deploy/lib/vm.sh
source "$src/deploy/lib/vm.sh"
bridge=$src/deploy/test-bridge.sh
pxf=${PXF_BIN:-$src/build/default/pxeforge/pxeforge}
arts=${PXF_TEST_ARTIFACTS:-$src/build/default/test-artifacts}
out=$src/bench/results/boot-paths.md
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (network namespaces, VMs)" >&2; exit 1; }
[ -x "$pxf" ] || { echo "bench: build pxeforge first ($pxf)" >&2; exit 1; }
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(full-os bootstrap)
# The images the artifacts fixtures are built from (tests/CMakeLists.txt).
declare -A layout=([full-os]=lvm [bootstrap]=boot-xfs)
declare -A release=([full-os]=bookworm [bootstrap]=trixie)
# The bootstrap fixture fetches image.iso from http://192.168.77.1:8089/.
declare -A http_port=([full-os]=80 [bootstrap]=8089)

PXF_BRIDGE_STATE_DIR=$(mktemp -d /var/tmp/pxf-bench-boot.XXXXXX)
export PXF_BRIDGE_STATE_DIR
name=bench$$
cleanup() {
        "$bridge" down --name "$name" >/dev/null 2>&1 || true
        vm_stop
        rm -rf "$PXF_BRIDGE_STATE_DIR"
}
trap cleanup EXIT
rows=()

# serve KIND [ARGS...]: (re)starts the appliance on KIND's artifacts.
serve() {
        local kind=$1
        shift
        "$bridge" stop-appliance --name "$name" >/dev/null 2>&1 || true
        "$bridge" appliance --name "$name" -- "$pxf" serve --interface br0 --dhcp authoritative \
                --dhcp-range 192.168.77.100,192.168.77.200 --artifacts "$arts/$kind" \
                --runtime-dir "$PXF_BRIDGE_STATE_DIR/run" --http-port "${http_port[$kind]}" \
                "$@" >/dev/null
        "$bridge" wait --name "$name" --appliance --for 'serving .* DHCP' --timeout 60 >/dev/null
}

# net_boot KIND PATH FIRMWARE: boots VM 0 and records the seconds to its login prompt.
net_boot() {
        local kind=$1 path=$2 fw=$3 t0 secs
        t0=$(date +%s.%N)
        "$bridge" boot --name "$name" --vm 0 --mem 2048 --firmware "$fw" >/dev/null
        "$bridge" wait --name "$name" --vm 0 --for 'login:' --timeout 1200 >/dev/null
        secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
        "$bridge" stop-vm --name "$name" --vm 0 >/dev/null
        record "$kind" "$path" "$secs"
}

disk_boot() {
        local kind=$1 image t0 secs console=$PXF_BRIDGE_STATE_DIR/disk.console
        image=$("$src/tests/images/build-debian-image.sh" "${layout[$kind]}" "${release[$kind]}")
        t0=$(date +%s.%N)
        vm_boot_disk "$image" "$console" >/dev/null 2>&1
        vm_wait_for "$console" 'login:' 1200
        secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
        vm_stop
        record "$kind" "disk (${release[$kind]} ${layout[$kind]} image)" "$secs"
}

declare -A disk_secs=()
record() {
        printf '%-10s %-28s %5s s\n' "$1" "$2" "$3"
        rows+=("$1|$2|$3")
        [[ $2 == disk* ]] && disk_secs[$1]=$3
        return 0
}

"$bridge" up --name "$name" --vms 1 >/dev/null
for kind in "${kinds[@]}"; do
        if [ ! -f "$arts/$kind/ipxe/snponly.efi" ] || [ ! -f "$arts/$kind/grub/i386-pc/core.0" ]; then
                echo "bench: no $kind artifacts with iPXE and GRUB for BIOS in $arts (ctest -R 'artifacts[.]')" >&2
                exit 1
        fi
        serve "$kind"
        net_boot "$kind" uefi uefi
        net_boot "$kind" secure-boot secure-boot
        net_boot "$kind" http http
        net_boot "$kind" bios bios
        serve "$kind" --ipxe always
        net_boot "$kind" uefi-ipxe uefi
        serve "$kind" --ipxe off
        net_boot "$kind" bios-grub bios
        if [ "$kind" = full-os ]; then
                # grub.cfg asks for port 80: served on another, GRUB finds no HTTP server
                serve "$kind" --ipxe off --http-port 8090
                net_boot "$kind" bios-grub-tftp bios
        fi
        disk_boot "$kind"
done

{
        echo "# Boot paths: power-on to login prompt ($(date -u +%Y-%m-%d), bench/boot-paths.sh)"
        echo
        echo "One VM at a time, $(vm_vcpus) vCPU(s), 2048 MiB, $(vm_accel), on $(nproc) cores; the appliance"
        echo "is \`pxeforge serve\` in a test bridge. Ratio: against the same image from a disk."
        echo
        echo "| artifacts | path | seconds | ratio to disk |"
        echo "|---|---|---|---|"
        for r in "${rows[@]}"; do
                IFS='|' read -r kind path secs <<<"$r"
                ratio=$(awk -v s="$secs" -v d="${disk_secs[$kind]:-0}" 'BEGIN { if (d > 0) printf "%.2f", s / d }')
                echo "| $kind | $path | $secs | $ratio |"
        done
} >"$out"
echo "bench: results in $out"
