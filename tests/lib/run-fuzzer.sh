#!/usr/bin/env bash
# run-fuzzer.sh <libFuzzer binary> <seed corpus dir> <seconds>
# Fuzzes for a bounded time on a scratch copy of the seed corpus (the seeds in the
# repository are never rewritten). Any crash, leak, timeout or out-of-memory fails, and the
# reproducer is kept and named.
set -euo pipefail
bin=$1 seeds=$2 seconds=$3
work=$(mktemp -d /var/tmp/pxf-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
n=0
while IFS= read -r -d '' f; do # seeds in subfolders may share a name
        n=$((n + 1))
        cp -- "$f" "$work/corpus/$n-$(basename "$f")"
done < <(find "$seeds" -type f -print0)
rc=0
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "$work/corpus" || rc=$?
if [ "$rc" -ne 0 ]; then
        keep=/var/tmp/pxf-fuzz-failures
        mkdir -p "$keep"
        cp -t "$keep" "$work"/artifacts/* 2>/dev/null || true
        echo "FAIL: $(basename "$bin") exited $rc; reproducers in $keep:" >&2
        ls -l "$keep" >&2
        exit 1
fi
echo "PASS: $(basename "$bin"): no crash in ${seconds} s"
