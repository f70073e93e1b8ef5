#!/usr/bin/env bash
# vm-under-load.sh [--rounds N] [--hogs N] TEST...: runs the named CTest tests of
# build/default side by side, N rounds, each round with N busy-looping CPU hogs beside
# them, and prints one line per test and round. A VM test that reads a report or a marker
# from a console must pass here as it does on an idle machine: it may get slower, never
# flaky. Fixtures (the test image, the PXE artifacts) are set up in the first round only.
# Takes as long as its slowest test times the rounds; as root, like the tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=3 hogs=1
while [ $# -gt 0 ]; do
        case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --hogs) hogs=$2; shift 2 ;;
        -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
        --*) echo "vm-under-load: unknown option $1" >&2; exit 2 ;;
        *) break ;;
        esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--rounds N] [--hogs N] TEST..." >&2; exit 2; }
[[ $rounds =~ ^[1-9][0-9]*$ && $hogs =~ ^[0-9]+$ ]] \
        || { echo "vm-under-load: --rounds and --hogs take numbers" >&2; exit 2; }
regex="^($(IFS='|'; echo "$*" | sed 's/[.]/[.]/g'))\$"
logs=build/default/stress-logs
mkdir -p "$logs"

hog_pids=()
stop_hogs() {
        [ ${#hog_pids[@]} -eq 0 ] || kill "${hog_pids[@]}" 2>/dev/null || true
        hog_pids=()
}
trap stop_hogs EXIT

failed=0
for ((r = 1; r <= rounds; r++)); do
        for ((h = 0; h < hogs; h++)); do
                (while :; do :; done) &
                hog_pids+=($!)
        done
        fixtures=()
        [ "$r" -eq 1 ] || fixtures=(-FS '.*')
        start=$SECONDS
        rc=0
        ctest --test-dir build/default -R "$regex" "${fixtures[@]}" -j"$(($# + 2))" \
                --output-on-failure --output-log "$logs/round-$r.log" > "$logs/round-$r.out" 2>&1 \
                || rc=$?
        stop_hogs
        grep -E '^ *[0-9]+/[0-9]+ Test +#' "$logs/round-$r.out" | sed "s/^/round $r: /"
        echo "round $r: ctest exit $rc after $((SECONDS - start)) s (log: $logs/round-$r.log)"
        [ "$rc" -eq 0 ] || failed=$((failed + 1))
done
echo "vm-under-load: $((rounds - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
