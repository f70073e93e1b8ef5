# bench/lib.sh - what the build benchmarks share: timing, result rows, pxeforge's JSON
# progress events, and the results file. Sourced, not run.

# where the benchmarks are (here) and the source tree (src); the VM helpers
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/.." && pwd)
PXF_SOURCE_DIR=$src
# shellcheck source=deploy/lib/vm.sh
source "$src/deploy/lib/vm.sh"

declare -a rows=()

# bench_setup TOOL...: checks that we are root, that each TOOL is installed and that
# pxeforge is built (PXF_BIN, default build/default; sets pxf), and sets up libguestfs.
bench_setup() {
        local tool
        pxf=${PXF_BIN:-$src/build/default/pxeforge/pxeforge}
        [ "$(id -u)" -eq 0 ] || { echo "bench: run as root (libguestfs, chroot)" >&2; exit 1; }
        for tool in "$@"; do
                command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 1; }
        done
        [ -x "$pxf" ] || { echo "bench: build pxeforge first ($pxf)" >&2; exit 1; }
        vm_guestfs_env
}

# row <tool> <phase> <seconds> [size bytes]
row() {
        local size=${4:-}
        [ -n "$size" ] && size=$(awk -v b="$size" 'BEGIN { printf "%.1f MiB", b / 1048576 }')
        rows+=("| $1 | $2 | $3 | $size |")
        printf '%-9s %-34s %8s s  %s\n' "$1" "$2" "$3" "$size"
}

# timed <seconds-var> cmd...: runs cmd, stores its wall time (0.1 s) in the variable.
timed() {
        local -n _out=$1
        shift
        local t0 t1
        t0=$(date +%s.%N)
        "$@"
        t1=$(date +%s.%N)
        _out=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
}

size_of() { stat -c %s "$1"; }

# virt_customize_bootstrap DISK: bench/bootstrap.yaml's customization done by
# virt-customize on DISK (packages, host name, the marker unit and its service).
virt_customize_bootstrap() {
        virt-customize -q -a "$1" \
                --install dracut,dracut-live,dracut-network,isc-dhcp-client,curl,procps \
                --hostname pxf-bootstrap \
                --upload "$src/tests/vm/pxe/marker.service:/etc/systemd/system/pxf-marker.service" \
                --run-command 'systemctl enable pxf-marker.service'
}

# progress_rows LOG: "step NAME SECONDS" and "artifact NAME SECONDS BYTES", tab-separated,
# from the JSON lines of `pxeforge customize --progress json` in LOG.
progress_rows() {
        python3 -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if not line.startswith("{"):
        continue
    e = json.loads(line)
    if e["event"] == "step-end" and e["ok"]:
        print("step", e["name"], e["seconds"], "", sep="\t")
    elif e["event"] == "artifact":
        print("artifact", e["name"], e["seconds"], e["bytes"], sep="\t")
' "$1"
}

# write_results FILE TITLE INPUT-LINE: the rows as a Markdown table under a heading that
# says when and where they were measured.
write_results() {
        mkdir -p "$(dirname "$1")"
        {
                echo "# $2"
                echo
                echo "$(date -u +%Y-%m-%d), $(nproc) CPUs, $(vm_accel) virtualization, $(uname -r);"
                echo "$3"
                echo
                echo "| tool | phase | seconds | size |"
                echo "|---|---|---:|---:|"
                printf '%s\n' "${rows[@]}"
        } > "$1"
        echo "bench: results in $1"
}
