#!/usr/bin/env bash
# A package whose maintainer script fails, installed by the package step both ways it runs:
# on the exported tree in a container (pxe-dir) and in the libguestfs appliance (qcow2).
# Each build must fail with an error that names the package, shows the postinst's own
# message and apt's command line, and names the build's log, kept in the build dir with
# the whole output; the output path is untouched and nothing else is left behind.
#
# The package comes from a folder of .deb files given with --rpm-source, with the image's
# own apt sources off (--disable-base-image-rpm-repos), so neither build needs the
# network; under the sanitizers this also drives every path of builder/sources.c.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
[ "$(id -u)" -eq 0 ] || fail "must run as root (libguestfs, the build container)"
command -v dpkg-deb >/dev/null || fail "dpkg-deb not found: install dpkg (tests/deps.sh)"
pxf_tmpdir
vm_guestfs_env
cd "$PXF_TMP" || fail "cannot enter $PXF_TMP"

package=pxf-failing-postinst
message="pxf-postinst: the licence server at 10.9.8.7 cannot be reached"

# The package: a postinst that prints its reason and exits 1.
pxf_make_deb repo "$package" "$(printf 'echo "%s" >&2\nexit 1' "$message")"
image=$(pxf_test_image)
printf 'os:\n  packages:\n    install:\n      - %s\n' "$package" > config.yaml

# expect_package_failure NAME OUTPUT FORMAT
expect_package_failure() {
        local name=$1 output=$2 rc=0 log
        echo "sentinel" > "$output"
        "$PXF_BIN" customize --config-file config.yaml --image-file "$image" \
                --output-path "$output" --output-image-format "$3" --build-dir "build-$name" \
                --image-tree-cache-dir "$PXF_IMAGE_TREES" \
                --rpm-source repo --disable-base-image-rpm-repos 2> "$name.err" || rc=$?
        sed "s/^/    [$name] /" "$name.err" | tail -n 40
        [ "$rc" -eq 1 ] || fail "$name: exit code $rc, expected 1"
        grep -q "os.packages.install: .*apt-get exited with status 100" "$name.err" \
                || fail "$name: the error does not say that apt-get failed, and with what"
        grep -q "command: .*apt-get .* install $package\$" "$name.err" \
                || fail "$name: the error lacks apt-get's command line"
        grep -qF "$message" "$name.err" || fail "$name: the error lacks the postinst's message"
        grep -q "error processing package $package" "$name.err" \
                || fail "$name: the error does not name the package that failed"
        log=$(sed -n 's/.*the whole log of this build: //p' "$name.err")
        [ -n "$log" ] || fail "$name: the error names no log"
        [ -f "$log" ] || fail "$name: the log $log is not there"
        case "$log" in "$PXF_TMP/build-$name/"*) ;; *) fail "$name: the log is not in the build dir" ;; esac
        grep -q "Unpacking $package" "$log" || fail "$name: the log lacks apt's whole output"
        grep -qF "$message" "$log" || fail "$name: the log lacks the postinst's message"
        [ "$(cat "$output")" = sentinel ] || fail "$name: the output path was touched"
        [ -z "$(find . -maxdepth 1 -name '*pxeforge-partial*')" ] || fail "$name: a partial output was left"
        [ "$(pxf_build_leftovers "$PXF_TMP/build-$name")" = "$log" ] \
                || fail "$name: the build dir holds more than the log: $(pxf_build_leftovers "$PXF_TMP/build-$name")"
        pass "$name: the error names $package, shows its postinst's message and the log"
}

# Side by side: each is mostly waiting on its own appliance.
expect_package_failure live out-pxe pxe-dir &
live_pid=$!
expect_package_failure appliance out.qcow2 qcow2
wait "$live_pid" || fail "the live build's checks failed"
