#!/usr/bin/env bash
# Machine groups (server.machines) of `pxeforge serve` on loopback, without VMs: two
# folders served as builds a and b; a loader's plain menu request gets the lines that ask
# again by its MAC; by MAC, each machine gets its build's menu, the menu that starts its
# disk (local) or nothing (ignore), over TFTP and HTTP; every later file from the same
# address comes from that machine's build; the API says what each machine boots; a
# boot-once machine boots local once it reported booted, until `pxeforge machine reset`
# (which a wrong token cannot do), and the status page opened with `pxeforge status
# --reset-link` has a reset button for it (headless Chromium); SIGHUP reads changed groups (and keeps them when the
# config turned invalid); a group naming a build that is not served is refused at start
# with the file, line and key. The VM proof is vm.appliance-authoritative.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/tests/lib/page.sh"
[ "$(id -u)" -eq 0 ] || fail "must run as root (binds as root, serves as pxeforge)"
command -v curl >/dev/null || fail "curl not found: install curl (tests/deps.sh)"
pxf_tmpdir
chmod 755 "$PXF_TMP"
for b in a b; do
        mkdir -p "$PXF_TMP/$b/grub"
        echo "menu of $b" > "$PXF_TMP/$b/grub/grub.cfg"
        printf '#!ipxe\necho script of %s\n' "$b" > "$PXF_TMP/$b/boot.ipxe"
        echo "kernel of $b" > "$PXF_TMP/$b/vmlinuz"
        head -c 12000000 /dev/urandom > "$PXF_TMP/$b/initrd.img"
done
chmod -R a+rX "$PXF_TMP/a" "$PXF_TMP/b"
write_groups() { # write_groups BOOT-OF-MAC-3 DEFAULT
        cat > "$PXF_TMP/groups.yaml" <<EOF
server:
  machines:
    default: $2
    groups:
      - macs: ["52:54:00:77:00:01"]
        boot: a
        bootOnce: true
      - macs: ["52:54:00:77:00:02"]
        boot: local
      - macs: ["52:54:00:77:00:03"]
        boot: $1
      - macs: ["52:54:00:88"]
        boot: b
EOF
}
write_groups ignore a
http=http://127.0.0.1:18091 tftp=tftp://127.0.0.1:16991
serve_pid=
trap '[ -z "$serve_pid" ] || { kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; }; pxf_cleanup' EXIT
"$PXF_BIN" serve --artifacts "a=$PXF_TMP/a" --build "b=$PXF_TMP/b" --config-file "$PXF_TMP/groups.yaml" \
        --dhcp off --address 127.0.0.1 --tftp-port 16991 --http-port 18091 \
        --runtime-dir "$PXF_TMP/run" > "$PXF_TMP/serve.log" 2>&1 &
serve_pid=$!
pxf_wait_line "$PXF_TMP/serve.log" 'serving as user' 60 "$serve_pid"
pxf_wait_line "$PXF_TMP/serve.log" 'routing: 4 machine group rules, others boot a' 10 "$serve_pid"

# get URL [--interface ADDR]: the body, or "<CODE>" for anything but 200
get() {
        local out code
        out=$(curl -s -w '\n%{http_code}' "${@:2}" "$1") || true
        code=${out##*$'\n'}
        [ "$code" = 200 ] && printf '%s\n' "${out%$'\n'*}" || echo "<$code>"
}
expect() { # expect WHAT GOT WANT (WANT an extended regex)
        grep -Eq -- "$3" <<<"$2" || fail "$1: got '$2', expected /$3/"
}

# The plain menus ask again by MAC, with the loader's own variables.
expect "GRUB's plain menu" "$(curl -fsS "$tftp/grub/grub.cfg")" \
        '^configfile /\.pxeforge/boot/\$\{net_default_mac\}/grub/grub\.cfg$'
expect "iPXE's plain script" "$(get "$http/boot.ipxe")" 'chain /\.pxeforge/boot/\$\{netX/mac:hexhyp\}/boot\.ipxe'

# By MAC, from 127.0.0.2..6: each machine's own menu, then its own kernel by the plain path.
expect "a's menu" "$(get "$http/.pxeforge/boot/52:54:00:77:00:01/grub/grub.cfg" --interface 127.0.0.2)" '^menu of a$'
expect "a's kernel" "$(get "$http/vmlinuz" --interface 127.0.0.2)" '^kernel of a$'
expect "b's menu by prefix, TFTP" "$(curl -fsS --interface 127.0.0.3 "$tftp/.pxeforge/boot/52-54-00-88-00-09/grub/grub.cfg")" '^menu of b$'
expect "b's kernel, TFTP" "$(curl -fsS --interface 127.0.0.3 "$tftp/vmlinuz")" '^kernel of b$'
expect "b's kernel, HTTP" "$(get "$http/vmlinuz" --interface 127.0.0.3)" '^kernel of b$'
expect "b's iPXE script" "$(get "$http/.pxeforge/boot/52:54:00:88:00:0a/boot.ipxe" --interface 127.0.0.4)" 'script of b'
local_menu=$(get "$http/.pxeforge/boot/52:54:00:77:00:02/grub/grub.cfg" --interface 127.0.0.5)
expect "the local menu" "$local_menu" "echo 'pxeforge: 52:54:00:77:00:02 boots from its disk'"
# shellcheck disable=SC2016 # GRUB's variable, as the menu writes it
expect "the local menu" "$local_menu" 'chainloader \$pxf_loader'
expect "the local iPXE script" "$(get "$http/.pxeforge/boot/52:54:00:77:00:02/boot.ipxe" --interface 127.0.0.5)" '^exit 1$'
expect "an ignored machine's menu" "$(get "$http/.pxeforge/boot/52:54:00:77:00:03/grub/grub.cfg" --interface 127.0.0.6)" '^<404>$'
# A machine no group holds boots the default, a; a malformed MAC gets nothing.
expect "the default's menu" "$(get "$http/.pxeforge/boot/02:00:00:00:00:01/grub/grub.cfg" --interface 127.0.0.7)" '^menu of a$'
expect "a malformed MAC" "$(get "$http/.pxeforge/boot/52:54:00:77:00/grub/grub.cfg")" '^<404>$'
expect "a path out of the folder" "$(get "$http/.pxeforge/boot/52:54:00:77:00:01/../../etc/passwd")" '^<(400|404)>$'
curl -fsS "$http/.pxeforge/api/machines" > "$PXF_TMP/machines.json" || fail "no API answer"
python3 - "$PXF_TMP/machines.json" <<'PYEOF' || fail "the API does not say what each machine boots: $(cat "$PXF_TMP/machines.json")"
import json, sys
boots = {m["mac"]: (m["boots"], m["ip"]) for m in json.load(open(sys.argv[1]))["machines"] if m["mac"]}
want = {"52:54:00:77:00:01": ("build a", "127.0.0.2"), "52:54:00:88:00:09": ("build b", "127.0.0.3"),
        "52:54:00:77:00:02": ("local", "127.0.0.5"), "52:54:00:77:00:03": ("ignore", "127.0.0.6")}
for mac, w in want.items():
    assert boots.get(mac) == w, (mac, boots.get(mac), w)
state = {m["mac"]: m["state"] for m in json.load(open(sys.argv[1]))["machines"]}
assert state["52:54:00:77:00:02"] == "local", state  # sent to its disk
PYEOF
pass "each machine got its own build's menu and files, its disk's menu or nothing, over TFTP and HTTP"

# Boot-once: reported booted, the machine boots local; reset, its build again.
expect "the report" "$(get "$http/.pxeforge/api/report" --interface 127.0.0.2 --data-binary $'mac=52:54:00:77:00:01\nhostname=n1\n')" 'recorded'
expect "boot-once after the report" "$(get "$http/.pxeforge/boot/52:54:00:77:00:01/grub/grub.cfg" --interface 127.0.0.2)" 'boots from its disk'
expect "a wrong token" "$(get "$http/.pxeforge/api/reset" --data-binary $'mac=52:54:00:77:00:01\ntoken=00000000000000000000000000000000\n')" '^<403>$'
[ "$(stat -c '%a %U' /run/pxeforge/http-18091.token)" = "600 root" ] || fail "the token file is not root's alone"
# The page opened with the reset link has a reset button for that machine alone.
link=$("$PXF_BIN" status --http-port 18091 --reset-link) || fail "status --reset-link failed"
expect "the reset link" "$link" '^http://127\.0\.0\.1:18091/\.pxeforge/#token=[0-9a-f]{32}$'
rows=$(page_rows "$PXF_TMP/page" "$link")
echo "$rows"
grep -qx '52:54:00:77:00:01|127.0.0.2|n1|booted|local|reset' <<<"$rows" || fail "no reset button for the booted boot-once machine: $rows"
[ "$(grep -c '|reset$' <<<"$rows")" = 1 ] || fail "reset buttons for other machines: $rows"
"$PXF_BIN" machine reset 52:54:00:77:00:01 --http-port 18091 || fail "pxeforge machine reset failed"
expect "boot-once after the reset" "$(get "$http/.pxeforge/boot/52:54:00:77:00:01/grub/grub.cfg" --interface 127.0.0.2)" '^menu of a$'
! "$PXF_BIN" machine reset 52:54:00:77:00:77 --http-port 18091 2> "$PXF_TMP/reset.err" || fail "an unknown machine was reset"
grep -q 'no machine 52:54:00:77:00:77 has been seen' "$PXF_TMP/reset.err" || fail "reset of an unknown machine: $(cat "$PXF_TMP/reset.err")"
pass "a boot-once machine boots its disk once it reported booted, until pxeforge machine reset"

# SIGHUP: changed groups apply to the next request, while a transfer in flight keeps the
# file it opened; an invalid config changes nothing. Machine 00:03 (ignored: the first
# build's files) downloads slowly across the change that gives it build b.
curl -fsS --interface 127.0.0.6 --limit-rate 1M -o "$PXF_TMP/inflight.img" "$http/initrd.img" &
dl_pid=$!
sleep 1
write_groups b ignore
kill -HUP "$serve_pid"
pxf_wait_line "$PXF_TMP/serve.log" 'SIGHUP: machine groups read again' 10 "$serve_pid"
sleep 0.5
cmp -s <(curl -fsS --interface 127.0.0.6 "$http/initrd.img") "$PXF_TMP/b/initrd.img" \
        || fail "after SIGHUP, machine 00:03 does not get build b's files"
kill -0 "$dl_pid" 2>/dev/null || fail "the slow download ended before the change (no transfer in flight)"
wait "$dl_pid" || fail "the download in flight failed across SIGHUP"
cmp -s "$PXF_TMP/inflight.img" "$PXF_TMP/a/initrd.img" || fail "the download in flight did not keep build a's bytes"
expect "the changed group" "$(get "$http/.pxeforge/boot/52:54:00:77:00:03/grub/grub.cfg" --interface 127.0.0.6)" '^menu of b$'
expect "the changed default" "$(get "$http/.pxeforge/boot/02:00:00:00:00:05/grub/grub.cfg" --interface 127.0.0.8)" '^<404>$'
write_groups nosuchbuild ignore
kill -HUP "$serve_pid"
pxf_wait_line "$PXF_TMP/serve.log" "no build named 'nosuchbuild' is served" 10 "$serve_pid"
expect "the kept group" "$(get "$http/.pxeforge/boot/52:54:00:77:00:03/grub/grub.cfg" --interface 127.0.0.6)" '^menu of b$'
pass "SIGHUP reads the groups again (the next request gets the new build, a download in flight keeps its file); an invalid change keeps the running ones"
kill "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
serve_pid=
[ ! -e /run/pxeforge/http-18091.token ] || fail "the token file outlived the appliance"

# A build the groups name must be served: refused at start, naming file, line and key.
! "$PXF_BIN" serve --artifacts "a=$PXF_TMP/a" --config-file "$PXF_TMP/groups.yaml" --dhcp off \
        --address 127.0.0.1 --tftp-port 16991 --http-port 18091 --runtime-dir "$PXF_TMP/run" \
        > "$PXF_TMP/bad.log" 2>&1 || fail "serve started with a group naming no served build"
grep -q "groups.yaml:11:15: server.machines.groups\[2\].boot: no build named 'nosuchbuild' is served (served: a)" "$PXF_TMP/bad.log" \
        || fail "the error does not say where: $(cat "$PXF_TMP/bad.log")"
pass "a group naming a build that is not served is refused at start with its file, line and key"
