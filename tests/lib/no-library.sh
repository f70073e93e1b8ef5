#!/usr/bin/env bash
# no-library.sh LIB EXECUTABLE...: fails if any executable loads a shared library whose
# name starts with LIB (as ldd resolves it), naming each one that does.
set -euo pipefail
lib=$1
shift
bad=0
for exe in "$@"; do
        deps=$(ldd "$exe") || { echo "ldd failed on $exe" >&2; exit 1; }
        if grep -q "^[[:space:]]*$lib" <<<"$deps"; then
                echo "$exe loads $(grep "^[[:space:]]*$lib" <<<"$deps" | awk '{print $1}' | tr '\n' ' ')" >&2
                bad=$((bad + 1))
        fi
done
[ "$bad" -eq 0 ] || exit 1
echo "none of $# executables loads $lib"
