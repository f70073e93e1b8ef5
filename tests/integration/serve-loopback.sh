#!/usr/bin/env bash
# `pxeforge serve` on loopback (DHCP off), without VMs: a folder is served only when it
# matches its SHA256SUMS; the unprivileged server, killed, is restarted and serves again;
# SIGTERM stops everything, leaving no process behind; so does SIGKILL of serve; an address
# that is not IPv4 and a state directory the server cannot pass are refused.
source "$(dirname "$0")/../lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "must run as root (binds as root, serves as pxeforge)"
getent passwd pxeforge >/dev/null || fail "the system user pxeforge is missing (tests/deps.sh creates it)"
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
# server_child LOG: the pid of serve's pxeforge-server once serve says it serves, as its
# log names it, checked in /proc to be serve's child.
server_child() {
        local log=$1 pid
        pxf_wait_line "$log" "serving '.*' on 127\.0\.0\.1" 60 "$serve_pid"
        pid=$(sed -nE 's/.*pxeforge-server started \(pid ([0-9]+)\).*/\1/p' "$log" | tail -n 1)
        [ -n "$pid" ] || { cat "$log" >&2; fail "no pxeforge-server start in $log"; }
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pxeforge-server ] \
                && [ "$(awk '{print $4}' "/proc/$pid/stat")" = "$serve_pid" ] \
                || { cat "$log" >&2; fail "pid $pid is not a pxeforge-server child of serve"; }
        echo "$pid"
}
serve=("$PXF_BIN" serve --artifacts "$art" --dhcp off --address 127.0.0.1 --tftp-port 16980
        --http-port 18080 --runtime-dir "$PXF_TMP/run")

"${serve[@]}" > "$PXF_TMP/serve.log" 2>&1 &
serve_pid=$!
pxf_wait_line "$PXF_TMP/serve.log" 'serving as user pxeforge' 60 "$serve_pid"
grep -q "matches its SHA256SUMS" "$PXF_TMP/serve.log" || fail "no SHA256SUMS check in the log"
[ "$(curl -fsS http://127.0.0.1:18080/vmlinuz)" = kernel ] || fail "HTTP does not serve"
pass "a folder that matches its SHA256SUMS is served"

server=$(server_child "$PXF_TMP/serve.log")
[ "$(stat -c %U "/proc/$server")" = pxeforge ] || fail "pxeforge-server does not run as its user pxeforge"
# Confined: no capability can come back, a system call allow-list, and its whole file
# system is the served folder, read-only.
grep -q '^CapBnd:[[:space:]]*0000000000000000$' "/proc/$server/status" \
        || fail "pxeforge-server keeps capabilities in its bounding set: $(grep CapBnd "/proc/$server/status")"
grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$server/status" || fail "pxeforge-server lacks no_new_privs"
grep -q '^Seccomp:[[:space:]]*2$' "/proc/$server/status" || fail "pxeforge-server has no seccomp filter"
[ "$(ls "/proc/$server/root" | sort | tr '\n' ' ')" = "SHA256SUMS grub vmlinuz " ] \
        || fail "pxeforge-server's root is not the served folder: $(ls "/proc/$server/root")"
grep -Eq '^[0-9]+ [0-9]+ [^ ]+ [^ ]+ / ro,' "/proc/$server/mountinfo" \
        || fail "pxeforge-server's root is not read-only: $(head -n 3 "/proc/$server/mountinfo")"
[ "$(wc -l < "/proc/$server/mountinfo")" -eq 1 ] || fail "pxeforge-server sees more than its folder mounted"
kill -KILL "$server"
pxf_wait_line "$PXF_TMP/serve.log" 'pxeforge-server was killed by signal 9.*restarting it' 30 "$serve_pid"
pxf_wait_line "$PXF_TMP/serve.log" "pxeforge-server started \(pid [0-9]+\)" 30 "$serve_pid"
for _ in $(seq 1 50); do
        curl -fsS -o /dev/null http://127.0.0.1:18080/vmlinuz 2>/dev/null && break
        sleep 0.2
done
[ "$(curl -fsS http://127.0.0.1:18080/grub/grub.cfg)" = "set timeout=1" ] \
        || fail "the restarted server does not serve"
new=$(server_child "$PXF_TMP/serve.log")
[ "$new" != "$server" ] || fail "the server was not replaced"
pass "a killed pxeforge-server is restarted and serves again"

kill -TERM "$serve_pid"
wait "$serve_pid" || fail "serve did not exit 0 on SIGTERM"
serve_pid=
! kill -0 "$new" 2>/dev/null || fail "pxeforge-server outlived serve"
pass "SIGTERM stops serve and its server"

# kill -9 of serve: its server (unprivileged by then, which once cleared the parent-death
# signal) stops too and leaves the ports free for the next serve.
"${serve[@]}" > "$PXF_TMP/orphan.log" 2>&1 &
serve_pid=$!
server=$(server_child "$PXF_TMP/orphan.log")
kill -KILL "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
serve_pid=
for _ in $(seq 1 50); do
        kill -0 "$server" 2>/dev/null || break
        sleep 0.2
done
! kill -0 "$server" 2>/dev/null || { kill -KILL "$server"; fail "pxeforge-server outlived serve killed with SIGKILL"; }
"${serve[@]}" > "$PXF_TMP/again.log" 2>&1 &
serve_pid=$!
pxf_wait_line "$PXF_TMP/again.log" 'serving as user pxeforge' 60 "$serve_pid"
[ "$(curl -fsS http://127.0.0.1:18080/vmlinuz)" = kernel ] || fail "the next serve does not serve"
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "serve did not exit 0 on SIGTERM"
serve_pid=
pass "serve killed with SIGKILL takes its server with it; the next serve binds the ports"

# Without the pxeforge user (installed from a tarball, say) the server runs as nobody and
# the log says what to do: here /etc/passwd lacks it in serve's own mount namespace.
grep -v '^pxeforge:' /etc/passwd > "$PXF_TMP/passwd"
# shellcheck disable=SC2016 # expanded by the inner shell
unshare --mount --propagation private sh -c 'mount --bind "$0" /etc/passwd && exec "$@"' \
        "$PXF_TMP/passwd" "${serve[@]}" > "$PXF_TMP/fallback.log" 2>&1 &
serve_pid=$!
pxf_wait_line "$PXF_TMP/fallback.log" 'serving as user nobody' 60 "$serve_pid"
grep -q "the system user 'pxeforge' does not exist: serving as 'nobody'.*adduser --system --group pxeforge" \
        "$PXF_TMP/fallback.log" || { cat "$PXF_TMP/fallback.log" >&2; fail "no warning about the missing user"; }
server=$(server_child "$PXF_TMP/fallback.log")
[ "$(stat -c %U "/proc/$server")" = nobody ] || fail "the fallback server does not run as nobody"
[ "$(curl -fsS http://127.0.0.1:18080/vmlinuz)" = kernel ] || fail "the fallback server does not serve"
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "serve did not exit 0 on SIGTERM"
serve_pid=
pass "without its system user the server runs as nobody, and the log says how to make the user"

# The servers' limits reach pxeforge-server from serve's options and from a config's server
# section: with one request per connection, a response says it closes its connection,
# which by default it keeps open.
printf 'server:\n  http:\n    maxRequests: 1\n  tftp:\n    maxPerSource: 2\n' > "$PXF_TMP/limits.yaml"
for how in defaults options config; do
        case $how in
        defaults) extra=() ;;
        options) extra=(--http-max-requests 1 --tftp-max-per-source 2) ;;
        config) extra=(--config-file "$PXF_TMP/limits.yaml") ;;
        esac
        # A log of its own: the shell truncates a redirected file only once the background
        # child runs, so a reused one could still show the last serve's lines.
        "${serve[@]}" "${extra[@]}" > "$PXF_TMP/limits-$how.log" 2>&1 &
        serve_pid=$!
        server=$(server_child "$PXF_TMP/limits-$how.log")
        args=$(tr '\0' ' ' < "/proc/$server/cmdline")
        curl -fsi http://127.0.0.1:18080/vmlinuz | tr -d '\r' > "$PXF_TMP/response" || fail "$how: HTTP does not serve"
        if [ "$how" = defaults ]; then
                [[ $args != *--http-max-requests* ]] || fail "defaults: a limit was passed: $args"
                ! grep -qix 'connection: close' "$PXF_TMP/response" || fail "defaults: the connection was closed"
        else
                [[ $args == *"--tftp-max-per-source 2 --http-max-requests 1"* ]] \
                        || fail "$how: the limits did not reach pxeforge-server: $args"
                grep -qix 'connection: close' "$PXF_TMP/response" \
                        || fail "$how: one request per connection did not close the connection"
        fi
        kill -TERM "$serve_pid"
        wait "$serve_pid" || fail "serve did not exit 0 on SIGTERM"
        serve_pid=
done
rc=0
timeout 30 "${serve[@]}" --tftp-max-transfers 0 > "$PXF_TMP/limits.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -q "invalid --tftp-max-transfers '0' (expected 1 to 4096)" "$PXF_TMP/limits.log" \
        || { cat "$PXF_TMP/limits.log" >&2; fail "--tftp-max-transfers 0 exited $rc without saying the range"; }
pass "the servers' limits come from serve's options and the config's server section, in range"

# An address that is not IPv4 is refused as given, not cut to fit and bound elsewhere.
for bad in 2001:db8::1234:5678:9abc 192.168.100.100.5 127.0.0.1x; do
        rc=0
        timeout 30 "${serve[@]}" --address "$bad" > "$PXF_TMP/address.log" 2>&1 || rc=$?
        [ "$rc" -eq 1 ] || { cat "$PXF_TMP/address.log" >&2; fail "--address $bad exited $rc, expected 1"; }
        grep -qF -- "--address '$bad' is not an IPv4 address" "$PXF_TMP/address.log" \
                || { cat "$PXF_TMP/address.log" >&2; fail "--address $bad: the error does not name it"; }
done
pass "--address that is not an IPv4 address is refused, naming it"

echo "changed" > "$art/vmlinuz"
rc=0
"${serve[@]}" > "$PXF_TMP/bad.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "serve of a modified folder exited $rc, expected 1"
grep -q "do not match their SHA256SUMS: .*vmlinuz" "$PXF_TMP/bad.log" \
        || { cat "$PXF_TMP/bad.log" >&2; fail "the error does not name the changed file"; }
pass "a folder whose files changed since the build is refused, naming the file"

# A folder the unprivileged server cannot read is a start-up error, not a restart loop.
mkdir -p "$PXF_TMP/private/art"
chmod 700 "$PXF_TMP/private/art"
serve[3]=$PXF_TMP/private/art
rc=0
timeout 60 "${serve[@]}" > "$PXF_TMP/private.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { cat "$PXF_TMP/private.log" >&2; fail "serve of an unreadable folder exited $rc, expected 1"; }
grep -q "pxeforge-server exited with status 1 at start-up: .*chmod o+rx" "$PXF_TMP/private.log" \
        || { cat "$PXF_TMP/private.log" >&2; fail "the error does not say what to fix"; }
pass "a folder the server user cannot read stops serve at start-up with what to fix"

# `up` leaves the mode of an existing state directory alone (a stateDir of /root once
# became world-readable): one the server cannot pass is refused with what to do.
mkdir -p "$PXF_TMP/up/state"
chmod 700 "$PXF_TMP/up/state"
printf 'os:\n  hostname: state-dir-check\n' > "$PXF_TMP/up/config.yaml"
echo "not an image" > "$PXF_TMP/up/image.qcow2"
rc=0
timeout 60 "$PXF_BIN" up --config-file "$PXF_TMP/up/config.yaml" --image-file "$PXF_TMP/up/image.qcow2" \
        --state-dir "$PXF_TMP/up/state" --build-dir "$PXF_TMP/up/build" > "$PXF_TMP/up.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { cat "$PXF_TMP/up.log" >&2; fail "up with a private state directory exited $rc, expected 1"; }
grep -q "the state directory '.*/up/state' (mode 0700) does not let the unprivileged server through" "$PXF_TMP/up.log" \
        || { cat "$PXF_TMP/up.log" >&2; fail "the error does not say what is wrong with the state directory"; }
[ "$(stat -c %a "$PXF_TMP/up/state")" = 700 ] || fail "up changed the mode of an existing state directory"
pass "up keeps an existing state directory's mode and refuses one the server cannot pass"
