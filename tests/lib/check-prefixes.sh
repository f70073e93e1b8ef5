#!/usr/bin/env bash
# check-prefixes.sh LIB:PREFIX[,PREFIX...] ...: every symbol a static library defines for
# others (nm -g) starts with one of its module's prefixes (house style: one prefix per
# module). Names each symbol that does not; names starting with "__" are the compiler's
# (sanitizer instrumentation) and not checked.
set -euo pipefail
bad=0
for spec in "$@"; do
        lib=${spec%%:*}
        re="^($(tr ',' '|' <<<"${spec#*:}"))_"
        while read -r sym; do
                echo "$lib: '$sym' does not start with ${spec#*:}_" >&2
                bad=$((bad + 1))
        done < <(nm -g --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort -u | grep -v "^__" | grep -Ev "$re")
done
[ "$bad" -eq 0 ] || exit 1
echo "every exported symbol of $# libraries carries its module's prefix"
