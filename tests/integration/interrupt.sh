#!/usr/bin/env bash
# Interrupting `pxeforge customize`: SIGINT and SIGTERM during a build must stop it with
# exit status 130, leave the output path untouched, the build dir empty and no appliance
# (QEMU) running; a run killed outright (SIGKILL) leaves files that the next run removes.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
pxf_tmpdir
vm_guestfs_env

cd "$PXF_TMP" || fail "cannot enter $PXF_TMP"
image=$(pxf_test_image)
printf 'os:\n  hostname: interrupt-test\n' > config.yaml
echo "sentinel" > out.qcow2
sentinel_sum=$(sha256sum out.qcow2)

start_build() {
        "$PXF_BIN" customize --config-file config.yaml --image-file "$image" \
                --output-path "$PXF_TMP/out.qcow2" --build-dir "$PXF_TMP/build" 2> "$1" &
        build_pid=$!
        # Wait until the appliance runs (the image is open), then interrupt mid-build.
        pxf_wait_line "$1" 'open image: done' 900 "$build_pid"
}

# The appliance is stopped before customize exits; the wait allows for a QEMU that a
# loaded machine is slow to reap.
no_appliance_left() {
        local work=$1
        for _ in $(seq 1 300); do
                pgrep -f -- "$work" >/dev/null || return 0
                sleep 0.2
        done
        pgrep -af -- "$work" >&2
        return 1
}

for sig in INT TERM; do
        start_build "$sig.err"
        work="$PXF_TMP/build/pxeforge-$build_pid"
        kill -s "$sig" "$build_pid"
        rc=0
        wait "$build_pid" || rc=$?
        tail -n 3 "$sig.err" | sed "s/^/    [$sig] /"
        [ "$rc" -eq 130 ] || fail "SIG$sig: exit status $rc, expected 130"
        grep -q "interrupted" "$sig.err" || fail "SIG$sig: no message saying it was interrupted"
        [ "$(sha256sum out.qcow2)" = "$sentinel_sum" ] || fail "SIG$sig: output path touched"
        [ -z "$(pxf_build_leftovers build)" ] || fail "SIG$sig: build dir not empty"
        [ -z "$(find . -maxdepth 1 -name '*pxeforge-partial*')" ] || fail "SIG$sig: partial output left behind"
        no_appliance_left "$work" || fail "SIG$sig: the appliance still runs"
        pass "SIG$sig stops the build cleanly"
done

# SIGKILL leaves the work dir behind; the next run must remove it and succeed.
start_build kill.err
kill -s KILL "$build_pid"
wait "$build_pid" || true
stale="$PXF_TMP/build/pxeforge-$build_pid"
[ -d "$stale" ] || fail "expected the killed run's work dir to remain"
no_appliance_left "$stale" || fail "the killed run's appliance still runs"
"$PXF_BIN" customize --config-file config.yaml --image-file "$image" \
        --output-path "$PXF_TMP/out.qcow2" --build-dir "$PXF_TMP/build" 2> next.err \
        || fail "the run after a killed one failed"
grep -q "removing '$stale' left by an earlier run" next.err || fail "stale work dir not reported"
[ ! -e "$stale" ] || fail "stale work dir still there"
[ -z "$(pxf_build_leftovers build)" ] || fail "build dir not empty after the next run"
qemu-img info out.qcow2 | grep -q 'file format: qcow2' || fail "the next run wrote no image"
pass "a killed run's leftovers are removed by the next run"

# A live build runs the package step in a container on the exported tree: interrupted or
# killed there, nothing may keep running in the tree, and a stop leaves the build dir
# empty as above.
printf 'os:\n  packages:\n    install: [dracut, curl]\noutput:\n  image:\n    format: pxe-dir\n' > live.yaml
descendants() { # PID: its children, grandchildren, ...
        local child
        for child in $(pgrep -P "$1"); do
                echo "$child"
                descendants "$child"
        done
}
# The PID namespace of the container under the build (one of its descendants is in it).
container_ns() {
        local me p ns
        me=$(readlink /proc/self/ns/pid)
        for p in $(descendants "$1"); do
                ns=$(readlink "/proc/$p/ns/pid" 2>/dev/null) || continue
                [ "$ns" != "$me" ] && { echo "$ns"; return 0; }
        done
        return 1
}
in_ns() { # NS: whether any process lives in that PID namespace
        local d
        for d in /proc/[0-9]*; do
                [ "$(readlink "$d/ns/pid" 2>/dev/null)" = "$1" ] && return 0
        done
        return 1
}
start_live_build() {
        "$PXF_BIN" customize --config-file live.yaml --image-file "$image" \
                --output-path "$PXF_TMP/live-out" --build-dir "$PXF_TMP/build" \
                --image-tree-cache-dir "$PXF_IMAGE_TREES" 2> "$1" &
        build_pid=$!
        tree="$PXF_TMP/build/pxeforge-$build_pid/rootfs"
        pxf_wait_line "$1" 'packages \.\.\.' 900 "$build_pid" || fail "the live build never reached its package step"
        for _ in $(seq 1 300); do
                ns=$(container_ns "$build_pid") && return 0
                sleep 0.2
        done
        fail "no process of the build runs in a container"
}
nothing_in_ns() {
        for _ in $(seq 1 300); do
                in_ns "$1" || return 0
                sleep 0.2
        done
        return 1
}

start_live_build live-term.err
kill -s TERM "$build_pid"
rc=0
wait "$build_pid" || rc=$?
[ "$rc" -eq 130 ] || fail "live build, SIGTERM: exit status $rc, expected 130"
nothing_in_ns "$ns" || fail "live build, SIGTERM: processes still run in the container"
[ ! -e live-out ] || fail "live build, SIGTERM: output path written"
[ -z "$(pxf_build_leftovers build)" ] || fail "live build, SIGTERM: build dir not empty"
pass "SIGTERM during the package step in the container stops everything in it"

start_live_build live-kill.err
kill -s KILL "$build_pid"
wait "$build_pid" || true
nothing_in_ns "$ns" || fail "live build, SIGKILL: processes still run in the container"
grep -q "$tree" /proc/self/mountinfo && fail "live build, SIGKILL: a container mount is visible on the host"
pass "SIGKILL of pxeforge during the package step leaves nothing running in the container"
