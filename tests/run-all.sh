#!/usr/bin/env bash
# The one command that runs every pxeforge test: installs what it needs (Debian
# packages), builds a normal and a sanitizer (ASan + UBSan) tree, runs the unit, fuzz and
# integration tests under the sanitizers, runs each libFuzzer target for a bounded time
# (clang build), then every test, VM tests included, on the normal build. Must run as root (VMs, libguestfs, network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
        echo "run-all: the tests boot VMs and need root; run: sudo $0" >&2
        exit 1
fi
start=$SECONDS
tests/deps.sh

jobs=$(nproc)
cmake -S . -B build/default -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/default -j"$jobs"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DPXF_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$jobs"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== sanitizer build: unit, fuzz and integration tests =="
# The sanitizer pass skips tests that boot VMs; those run once, below.
ctest --test-dir build/asan -L 'unit|fuzz' --output-on-failure -j"$jobs"
ctest --test-dir build/asan -R '^integration[.](bad-input|package-failure)$' --output-on-failure -j"$jobs"
unset ASAN_OPTIONS UBSAN_OPTIONS

echo "== libFuzzer: each parser of untrusted input for a bounded time =="
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPXF_FUZZ=ON >/dev/null
cmake --build build/fuzz --target fuzzers -j"$jobs"
ctest --test-dir build/fuzz -L fuzz-run --output-on-failure -j"$jobs"

echo "== normal build: every test =="
# One test per core: a VM test under TCG mostly keeps one core busy (apt in the libguestfs
# appliance, one booting guest), and the fixtures order what depends on what.
ctest --test-dir build/default --output-on-failure -j"$jobs"
echo "run-all: finished in $((SECONDS - start)) s"
