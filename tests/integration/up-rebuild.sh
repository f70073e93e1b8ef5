#!/usr/bin/env bash
# `pxeforge up` on loopback (DHCP off): it builds full-OS PXE artifacts from a config and
# serves them over TFTP and HTTP; a change of the config (--watch) rebuilds them and swaps
# the served folder atomically: a download started before the swap finishes with the old
# bytes, requests after it get the new ones, and the old build is removed; a change of
# pxe.additionalFiles alone takes the customized tree from the build cache. SIGHUP
# rebuilds too (a host file the config names changed: a new tree). SIGTERM during a
# rebuild stops everything: no server, no build, no half-written folder. A second config
# (--build other=FILE, the same OS with another which.txt: its tree from the cache) is
# built into builds/other/ and served beside the first to the machine its group names
# (issue 17); --watch rebuilds only the config that changed.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
[ "$(id -u)" -eq 0 ] || fail "must run as root (libguestfs, dropping privileges)"
command -v curl >/dev/null || fail "curl not found: install curl (tests/deps.sh)"
pxf_tmpdir
vm_guestfs_env
chmod 755 "$PXF_TMP" # the server reads the artifacts as nobody
state=$PXF_TMP/state
http=http://127.0.0.1:18099
up_pid=
stop_up() {
        local rc=$?
        if [ -n "$up_pid" ]; then
                kill "$up_pid" 2>/dev/null || true
                wait "$up_pid" 2>/dev/null || true
        fi
        rm -rf "$PXF_TMP"
        return $rc
}
trap stop_up EXIT

write_config() { # HOSTNAME WHICH: os.hostname, and which.txt beside the artifacts
        cat > "$PXF_TMP/up.yaml" <<YAML
os:
  hostname: $1
  additionalFiles:
    - source: extra.txt
      destination: /etc/pxf-extra
pxe:
  initramfsType: full-os
  additionalFiles:
    - content: "$2\n"
      destination: which.txt
server:
  address: 127.0.0.1
  dhcp: off
  tftpPort: 16969
  httpPort: 18099
  machines:
    groups:
      - macs: ["52:54:00:00:00:02"]
        boot: other
YAML
}

# wait_log REGEX SECONDS [FROM]: until the log of `up` has a matching line (at line FROM
# or later).
wait_log() {
        pxf_wait_line "$PXF_TMP/up.log" "$1" "$2" "$up_pid" "${3:-1}"
}

echo "first" > "$PXF_TMP/extra.txt"
write_config first first
# the other build: the same OS (its tree comes from the cache), another which.txt
sed -e 's/"first\\n"/"other\\n"/' -e '/^server:/,$d' "$PXF_TMP/up.yaml" > "$PXF_TMP/other.yaml"
printf 'server:\n  httpPort: 18099\n' >> "$PXF_TMP/other.yaml"
"$PXF_BIN" up --config-file "$PXF_TMP/up.yaml" --build "other=$PXF_TMP/other.yaml" \
        --image-file "$(pxf_test_image)" \
        --state-dir "$state" --build-dir "$PXF_TMP/build" --image-tree-cache-dir "$PXF_IMAGE_TREES" \
        --watch > "$PXF_TMP/up.log" 2>&1 &
up_pid=$!
wait_log 'watching .*other.yaml for changes' 900
[ "$(curl -fsS "$http/which.txt")" = first ] || fail "the first build is not served over HTTP"
# the machine of the other build's group, by its menu's MAC, then its files
curl -fsS --interface 127.0.0.2 -o /dev/null "$http/.pxeforge/boot/52:54:00:00:00:02/grub/grub.cfg" \
        || fail "no menu for the other build's machine"
[ "$(curl -fsS --interface 127.0.0.2 "$http/which.txt")" = other ] || fail "the other build is not served to its machine"
[ "$(curl -fsS --interface 127.0.0.3 "$http/which.txt")" = first ] || fail "another machine did not get the first build"
[ "$(readlink "$state/builds/other/current")" = build-1 ] || fail "builds/other/current does not point at build-1"
grep -q 'customized tree [0-9a-f]*: from the cache' "$PXF_TMP/up.log" || fail "the other build made its tree again"
pass "up --build built the other config into builds/other and serves it to its group's machine"
curl -fsS -o "$PXF_TMP/cfg" "tftp://127.0.0.1:16969/grub/grub.cfg" || fail "TFTP does not serve"
[ "$(readlink "$state/current")" = build-1 ] || fail "current does not point at build-1"
old_sum=$(sha256sum < "$state/build-1/initrd.img")
pass "up built and serves build-1"

# A slow download of the old initramfs, in flight across the swap.
curl -fsS --limit-rate 1M -o "$PXF_TMP/inflight.img" "$http/initrd.img" &
dl_pid=$!
from=$(($(wc -l < "$PXF_TMP/up.log") + 1))
write_config first second
wait_log 'serving .*/build-2$' 900
[ "$(curl -fsS "$http/which.txt")" = second ] || fail "the rebuilt artifacts are not served"
[ ! -e "$state/build-1" ] || fail "the old build was not removed"
wait "$dl_pid" || fail "the download in flight failed across the swap"
[ "$(sha256sum < "$PXF_TMP/inflight.img")" = "$old_sum" ] \
        || fail "the download in flight did not get the old bytes"
pass "--watch rebuilt, swapped atomically, and the download in flight kept the old file"
tail -n +"$from" "$PXF_TMP/up.log" | grep -q 'customized tree [0-9a-f]*: from the cache' \
        || fail "a change of pxe.additionalFiles alone built the tree again"
! tail -n +"$from" "$PXF_TMP/up.log" | grep -q '\] open image' \
        || fail "a change of pxe.additionalFiles alone opened the image"
pass "a change of pxe.additionalFiles alone reuses the customized tree"
[ "$(readlink "$state/builds/other/current")" = build-1 ] || fail "a change of the first config rebuilt the other"
[ "$(curl -fsS --interface 127.0.0.2 "$http/which.txt")" = other ] || fail "the other build's machine lost it"

echo "changed" > "$PXF_TMP/extra.txt" # not the config: --watch does not see it

from=$(($(wc -l < "$PXF_TMP/up.log") + 1))
kill -HUP "$up_pid"
wait_log 'rebuilding into .*/build-3' 60 "$from"
# Inside the build: the image's tree (exported by build-1, from the cache) is in place and
# the customization has begun, a minute or more before the artifacts can be done.
wait_log "\\] restore the image's tree from the cache: done" 600 "$from"
server=$(pgrep -P "$up_pid" -x pxeforge-server || true)
[ -n "$server" ] || fail "no pxeforge-server child"
kill -TERM "$up_pid"
wait "$up_pid" || fail "up did not exit cleanly on SIGTERM"
up_pid=
! kill -0 "$server" 2>/dev/null || fail "pxeforge-server outlived up"
[ -z "$(find "$state" -maxdepth 1 -name '*build-3*')" ] || fail "the interrupted build left files"
[ "$(ls "$state/builds/other")" = "$(printf 'build-1\ncurrent')" ] \
        || fail "the other build's interrupted rebuild left files: $(ls "$state/builds/other")"
[ "$(readlink "$state/current")" = build-2 ] || fail "current changed after an interrupted build"
[ -z "$(pxf_build_leftovers "$PXF_TMP/build")" ] || fail "build dir not clean: $(pxf_build_leftovers "$PXF_TMP/build")"
pass "SIGHUP rebuilds; SIGTERM mid-build stops the build and the server, leaving build-2 served"
