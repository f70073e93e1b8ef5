#!/usr/bin/env bash
# `pxeforge serve` on loopback (DHCP off), without VMs: a folder is served only when it
# matches its SHA256SUMS; the unprivileged server, killed, is restarted and serves again;
# SIGTERM stops everything, leaving no process behind.
source "$(dirname "$0")/../lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "must run as root (binds as root, serves as nobody)"
command -v curl >/dev/null || fail "curl not found: install curl (tests/deps.sh)"
pxf_tmpdir
chmod 755 "$PXF_TMP"
art=$PXF_TMP/art
mkdir -p "$art/grub"
echo "kernel" > "$art/vmlinuz"
echo "set timeout=1" > "$art/grub/grub.cfg"
(cd "$art" && sha256sum vmlinuz grub/grub.cfg > SHA256SUMS)
chmod -R a+rX "$art"
serve_pid=
stop_serve() {
        local rc=$?
        [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
        rm -rf "$PXF_TMP"
        return $rc
}
trap stop_serve EXIT
serve=("$PXF_BIN" serve --artifacts "$art" --dhcp off --address 127.0.0.1 --tftp-port 16980
        --http-port 18080 --runtime-dir "$PXF_TMP/run")

"${serve[@]}" > "$PXF_TMP/serve.log" 2>&1 &
serve_pid=$!
pxf_wait_line "$PXF_TMP/serve.log" 'serving as user nobody' 60 "$serve_pid"
grep -q "matches its SHA256SUMS" "$PXF_TMP/serve.log" || fail "no SHA256SUMS check in the log"
[ "$(curl -fsS http://127.0.0.1:18080/vmlinuz)" = kernel ] || fail "HTTP does not serve"
pass "a folder that matches its SHA256SUMS is served"

server=$(pgrep -P "$serve_pid" -x pxeforge-server) || fail "no pxeforge-server child"
[ "$(stat -c %U "/proc/$server")" = nobody ] || fail "pxeforge-server does not run as nobody"
kill -KILL "$server"
pxf_wait_line "$PXF_TMP/serve.log" 'pxeforge-server was killed by signal 9.*restarting it' 30 "$serve_pid"
pxf_wait_line "$PXF_TMP/serve.log" "pxeforge-server started \(pid [0-9]+\)" 30 "$serve_pid"
for _ in $(seq 1 50); do
        curl -fsS -o /dev/null http://127.0.0.1:18080/vmlinuz 2>/dev/null && break
        sleep 0.2
done
[ "$(curl -fsS http://127.0.0.1:18080/grub/grub.cfg)" = "set timeout=1" ] \
        || fail "the restarted server does not serve"
new=$(pgrep -P "$serve_pid" -x pxeforge-server) || fail "no pxeforge-server after the restart"
[ "$new" != "$server" ] || fail "the server was not replaced"
pass "a killed pxeforge-server is restarted and serves again"

kill -TERM "$serve_pid"
wait "$serve_pid" || fail "serve did not exit 0 on SIGTERM"
serve_pid=
! kill -0 "$new" 2>/dev/null || fail "pxeforge-server outlived serve"
pass "SIGTERM stops serve and its server"

echo "changed" > "$art/vmlinuz"
rc=0
"${serve[@]}" > "$PXF_TMP/bad.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "serve of a modified folder exited $rc, expected 1"
grep -q "do not match their SHA256SUMS: .*vmlinuz" "$PXF_TMP/bad.log" \
        || { cat "$PXF_TMP/bad.log" >&2; fail "the error does not name the changed file"; }
pass "a folder whose files changed since the build is refused, naming the file"

# A folder the unprivileged server cannot read is a start-up error, not a restart loop.
mkdir -p "$PXF_TMP/private/art"
chmod 700 "$PXF_TMP/private"
serve[3]=$PXF_TMP/private/art
rc=0
timeout 60 "${serve[@]}" > "$PXF_TMP/private.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { cat "$PXF_TMP/private.log" >&2; fail "serve of an unreadable folder exited $rc, expected 1"; }
grep -q "pxeforge-server exited with status 1 at start-up: .*chmod o+rx" "$PXF_TMP/private.log" \
        || { cat "$PXF_TMP/private.log" >&2; fail "the error does not say what to fix"; }
pass "a folder the server user cannot read stops serve at start-up with what to fix"
