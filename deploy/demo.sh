#!/usr/bin/env bash
# The demo, one command: build the Debian test image (cached), customize it into bootstrap
# PXE artifacts (deploy/examples/demo.yaml), bring the appliance (`pxeforge serve`: DHCP,
# TFTP, HTTP) up in a test bridge (deploy/test-bridge.sh: a private network namespace),
# PXE-boot one UEFI VM from it to its login prompt, show the VM's console and the
# appliance's log, and clean up. Needs root and Debian's mirror; the first run builds the
# test image (2 to 3 minutes), the artifacts take about 3 minutes under TCG (a cold run:
# 375 s in all, 2026-12-05).
#
# Usage: sudo deploy/demo.sh [--release trixie|bookworm]
#   The Debian release of the image: trixie (Debian 13, the current stable; the default)
#   or bookworm (Debian 12). pxeforge is proven on both (README: Debian releases).
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lib/common.sh
source deploy/lib/vm.sh

release=trixie
while [ $# -gt 0 ]; do
        case $1 in
        --release)
                [ $# -ge 2 ] || { echo "demo: --release needs trixie or bookworm" >&2; exit 2; }
                release=$2
                shift 2
                ;;
        -h | --help)
                sed -n 's/^# \{0,1\}//; /^Usage:/,/^$/p' "$0" | sed -n '1,3p'
                exit 0
                ;;
        *)
                echo "demo: unknown argument '$1' (usage: $0 [--release trixie|bookworm])" >&2
                exit 2
                ;;
        esac
done
case $release in
trixie | bookworm) ;;
*)
        echo "demo: unknown release '$release': trixie (Debian 13) or bookworm (Debian 12)" >&2
        exit 2
        ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root: sudo $0" >&2; exit 1; }
tests/deps.sh
cmake -S . -B build/default -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/default -j"$(nproc)" >/dev/null
PXF_BIN=$PWD/build/default/pxeforge/pxeforge
bridge=$PWD/deploy/test-bridge.sh
name=demo$$
pxf_tmpdir
chmod 755 "$PXF_TMP" # the server reads the artifacts as nobody
vm_guestfs_env
export PXF_BRIDGE_STATE_DIR=$PXF_TMP/bridge
trap '"$bridge" down --name "$name" >/dev/null 2>&1 || true; pxf_cleanup' EXIT

echo "== 1. the Debian $release test image (built once, then cached) =="
image=$(pxf_test_image standard "$release")
echo "$image"

echo "== 2. customize it into bootstrap PXE artifacts (deploy/examples/demo.yaml) =="
"$PXF_BIN" customize --config-file deploy/examples/demo.yaml --image-file "$image" \
        --output-path "$PXF_TMP/artifacts" --build-dir "$PXF_TMP/build" \
        --bootstrap-base-url http://192.168.77.1/
ls -l "$PXF_TMP/artifacts"

echo "== 3. the appliance in a test bridge (namespace pxf-$name, bridge br0, 192.168.77.1) =="
"$bridge" up --name "$name" --vms 1
"$bridge" appliance --name "$name" -- "$PXF_BIN" serve --artifacts "$PXF_TMP/artifacts" \
        --interface br0 --dhcp authoritative --dhcp-range 192.168.77.100,192.168.77.200 \
        --runtime-dir "$PXF_TMP/run"
"$bridge" wait --name "$name" --appliance --for 'serving ' --timeout 30

echo "== 4. PXE-boot a UEFI VM from it (its serial console follows) =="
"$bridge" boot --name "$name" --vm 0 --console "$PXF_TMP/vm0.console"
tail -n +1 -f "$PXF_TMP/vm0.console" &
tail_pid=$!
found=0
"$bridge" wait --name "$name" --vm 0 --for 'pxeforge-demo login:' --timeout 1200 \
        >/dev/null 2>&1 || found=$?
kill "$tail_pid" 2>/dev/null || true
echo
echo "== 5. the appliance's log =="
"$bridge" console --name "$name" --appliance
echo
if [ "$found" -ne 0 ]; then
        echo "== no login prompt within 20 minutes ==" >&2
        exit 1
fi
echo "== the VM booted over the network to its login prompt (demo / demo); cleaning up =="
