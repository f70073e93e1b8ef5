#!/usr/bin/env bash
# The one command that runs every pxeforge test: installs what it needs (Debian
# packages), builds a normal and a sanitizer (ASan + UBSan) tree, runs the unit and fuzz
# tests and the error-path integration tests under the sanitizers, runs each libFuzzer
# target for a bounded time (clang build), then every other test, VM tests included, on
# the normal build. Must run as root (VMs, libguestfs, network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
        echo "run-all: the tests boot VMs and need root; run: sudo $0" >&2
        exit 1
fi
start=$SECONDS
tests/deps.sh

# The test images (minutes each: mmdebstrap's downloads, then the appliance) need nothing
# of this tree, so they are built while it compiles and the sanitizer and fuzz passes run;
# ctest's image fixtures then find them in the cache (or wait for the build's lock). A
# failure here is reported by those fixtures, which build again and show the log.
images_log=$(mktemp /var/tmp/pxf-images.XXXXXX.log)
(
        # LAYOUT RELEASE, as tests/CMakeLists.txt pairs them
        for image in "standard bookworm" "boot-xfs trixie" "lvm bookworm" "btrfs bookworm"; do
                # shellcheck disable=SC2086 # two words: the layout and the release
                tests/images/build-debian-image.sh $image
        done
) >"$images_log" 2>&1 &
images_pid=$!
trap 'kill "$images_pid" 2>/dev/null || true; rm -f "$images_log"' EXIT

jobs=$(nproc)
cmake -S . -B build/default -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/default -j"$jobs"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DPXF_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$jobs"
# The libFuzzer targets (clang), run below.
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPXF_FUZZ=ON >/dev/null
cmake --build build/fuzz --target fuzzers -j"$jobs"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== sanitizer build: unit, fuzz and integration tests =="
# The sanitizer pass skips tests that boot VMs; those run once, below. The integration
# tests that drive every error path run here only, where a memory error would show.
asan_only='^integration[.](bad-input|package-failure|rpm-sources)$'
# The serving tests (hostile input, kill -9, the confined server) run under both.
asan_too='^integration[.](serve-loopback|serve-boot-files|machine-groups|test-dhcp-supervisor[.].*)$'
ctest --test-dir build/asan -L 'unit|fuzz' --output-on-failure -j"$jobs"
# Each libFuzzer target then runs for a bounded time, one after another, beside the
# sanitizer pass's integration tests: those wait for the test image and then keep one
# core busy with bad-input for minutes while the other has little to do.
fuzz_log=$(mktemp /var/tmp/pxf-fuzz.XXXXXX.log)
(
        unset ASAN_OPTIONS UBSAN_OPTIONS
        ctest --test-dir build/fuzz -L fuzz-run --output-on-failure -j1
) >"$fuzz_log" 2>&1 &
fuzz_pid=$!
trap 'kill "$images_pid" "$fuzz_pid" 2>/dev/null || true; rm -f "$images_log" "$fuzz_log"' EXIT

ctest --test-dir build/asan -R "$asan_only|$asan_too" --output-on-failure -j"$jobs"
unset ASAN_OPTIONS UBSAN_OPTIONS

echo "== libFuzzer: each parser of untrusted input for a bounded time =="
fuzz_status=0
wait "$fuzz_pid" || fuzz_status=$?
cat "$fuzz_log"
[ "$fuzz_status" -eq 0 ] || { echo "run-all: the libFuzzer pass failed" >&2; exit 1; }

echo "== normal build: every test =="
# One test per core: a VM test under TCG mostly keeps one core busy (apt in the libguestfs
# appliance, one booting guest), and the fixtures order what depends on what.
ctest --test-dir build/default -E "$asan_only" --output-on-failure -j"$jobs"
if ! wait "$images_pid"; then
        echo "run-all: the early image build failed (the fixtures built the images again); its last lines:"
        tail -n 20 "$images_log"
fi
echo "run-all: finished in $((SECONDS - start)) s"
