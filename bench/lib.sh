# bench/lib.sh - what the build benchmarks share: timing, result rows, pxeforge's JSON
# progress events, and the results file. Sourced, not run.

declare -a rows=()

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
