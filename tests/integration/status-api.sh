#!/usr/bin/env bash
# The boot timeline's JSON API (HTTPD_API_PREFIX, /.pxeforge/api/machines) of `pxeforge
# serve` on loopback, without VMs: TFTP and HTTP transfers from one client show as one
# machine with the stages its files stand for, the transfer's bytes and a file not found
# as its failure, in the JSON, in `pxeforge status`'s table and in the Prometheus metrics
# (/.pxeforge/metrics); a booted system's report (POST /.pxeforge/api/report), sent by the
# script the image's pxeforge-boot-report unit runs, makes the machine booted, and malformed, oversized, unknown, mismatched and flooding reports are
# refused and counted; the status page (/.pxeforge/), loaded in headless Chromium, shows
# each machine's row with a client's markup as text; hostile paths under the prefix get
# 404, never a file of the folder; the folder's own files are served as before.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/tests/lib/page.sh"
[ "$(id -u)" -eq 0 ] || fail "must run as root (binds as root, serves as pxeforge)"
command -v curl >/dev/null || fail "curl not found: install curl (tests/deps.sh)"
command -v python3 >/dev/null || fail "python3 not found (tests/deps.sh)"
pxf_tmpdir
chmod 755 "$PXF_TMP"
art=$PXF_TMP/art
mkdir -p "$art/grub"
head -c 2000000 /dev/urandom > "$art/vmlinuz"
echo "set timeout=1" > "$art/grub/grub.cfg"
chmod -R a+rX "$art"
serve_pid=
trap '[ -z "$serve_pid" ] || { kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; }; pxf_cleanup' EXIT
http=http://127.0.0.1:18081
"$PXF_BIN" serve --artifacts "$art" --dhcp off --address 127.0.0.1 --tftp-port 16981 \
        --http-port 18081 --runtime-dir "$PXF_TMP/run" > "$PXF_TMP/serve.log" 2>&1 &
serve_pid=$!
pxf_wait_line "$PXF_TMP/serve.log" 'serving as user' 60 "$serve_pid"

curl -fsS -o /dev/null tftp://127.0.0.1:16981/grub/grub.cfg || fail "TFTP does not serve grub.cfg"
curl -fsS -o "$PXF_TMP/got" "$http/vmlinuz" || fail "HTTP does not serve vmlinuz"
cmp -s "$PXF_TMP/got" "$art/vmlinuz" || fail "HTTP served vmlinuz wrong"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$http/initrd.img")" = 404 ] || fail "a missing file is not 404"

curl -fsS "$http/.pxeforge/api/machines" > "$PXF_TMP/machines.json" || fail "no API answer"
python3 - "$PXF_TMP/machines.json" <<'PYEOF' || fail "the API's JSON is not as expected: $(cat "$PXF_TMP/machines.json")"
import json, sys
doc = json.load(open(sys.argv[1]))
ms = doc["machines"]
assert len(ms) == 1, ms
m = ms[0]
assert m["ip"] == "127.0.0.1" and m["mac"] is None, m
# grub.cfg (loader, TFTP), vmlinuz (kernel, HTTP); initrd.img was not found
assert set(m["stages"]) == {"loader", "kernel"}, m["stages"]
assert m["stages"]["loader"] <= m["stages"]["kernel"], m["stages"]
assert m["stage"] == "kernel", m
assert m["state"] == "failed", m
assert m["failure"] == "HTTP initrd.img: not found after 0 bytes", m["failure"]
t = m["transfer"]
assert t["file"] == "initrd.img" and t["protocol"] == "http" and t["result"] == "not-found", t
PYEOF
pass "TFTP and HTTP transfers of one client show as its machine's stages and failure"

# `pxeforge status` prints the same as a table; with nothing listening it says so.
table=$("$PXF_BIN" status --http-port 18081) || fail "pxeforge status failed"
echo "$table"
grep -Eq '^MAC +ADDRESS +HOST +STAGE +STATE +SEEN +TRANSFER$' <<<"$table" || fail "status: no header"
grep -Eq '^- +127\.0\.0\.1 +- +kernel +failed +[0-9]+s ago +initrd\.img http 0 bytes not-found$' <<<"$table" \
        || fail "status: the machine's row is not as expected"
rc=0
"$PXF_BIN" status --http-port 18089 2> "$PXF_TMP/status.err" || rc=$?
[ "$rc" = 1 ] && grep -q 'no appliance answers on 127.0.0.1 port 18089' "$PXF_TMP/status.err" \
        || fail "status without an appliance: exit $rc, $(cat "$PXF_TMP/status.err")"
pass "pxeforge status prints the machine's row, and says when no appliance answers"

# Prometheus metrics: the machine by stage and state, the servers' counters.
curl -fsS "$http/.pxeforge/metrics" > "$PXF_TMP/metrics" || fail "no metrics"
for line in 'pxeforge_machines{stage="kernel"} 1' 'pxeforge_machines_by_state{state="failed"} 1' \
        'pxeforge_tftp_transfers_total{result="completed"} 1' \
        'pxeforge_http_responses_total{class="4xx"} 1' '# TYPE pxeforge_http_body_bytes_total counter'; do
        grep -qxF "$line" "$PXF_TMP/metrics" || fail "metrics lack '$line': $(cat "$PXF_TMP/metrics")"
done
grep -Eq '^pxeforge_http_body_bytes_total (200[0-9]{4}|[3-9][0-9]{6})$' "$PXF_TMP/metrics" \
        || fail "metrics: the HTTP body bytes do not count vmlinuz's 2000000"
pass "the metrics count the machine and the servers' transfers"

# Hostile paths under the prefix: never a file of the folder, never a crash.
for path in '.pxeforge/../vmlinuz' '.pxeforge/api/machines%2F' '.pxeforge/api/../vmlinuz' \
        ".pxeforge/$(head -c 3000 /dev/zero | tr '\0' a)" '.pxeforge/api/machines/' '.pxeforge/status.js/'; do
        code=$(curl -s --path-as-is -o "$PXF_TMP/body" -w '%{http_code}' "$http/$path")
        [ "$code" = 404 ] || [ "$code" = 414 ] || [ "$code" = 400 ] \
                || fail "/$path: status $code, expected 404 (or 400/414)"
        ! cmp -s "$PXF_TMP/body" "$art/vmlinuz" || fail "/$path served the folder's vmlinuz"
done
[ "$(curl -s -o /dev/null -w '%{http_code}' -d x "$http/.pxeforge/api/machines")" = 405 ] \
        || fail "POST to the API's pages is not refused with 405"
[ "$(curl -s -o /dev/null -w '%{http_code}' -d x "$http/vmlinuz")" = 405 ] \
        || fail "POST to a file is not refused with 405"
[ "$(curl -s -I -o /dev/null -w '%{http_code}' "$http/.pxeforge/api/machines")" = 200 ] \
        || fail "HEAD of the API is not 200"
grep -q 'Cache-Control: no-store' <(curl -s -D - -o /dev/null "$http/.pxeforge/api/machines") \
        || fail "the API's answer may be cached"
curl -fsS -o /dev/null "$http/vmlinuz" || fail "the server stopped serving after hostile requests"
kill -0 "$serve_pid" || fail "serve died"
pass "hostile paths under /.pxeforge/ get 404, and the server goes on"


# The script of the image's pxeforge-boot-report unit (builder/boot-report.sh), run here
# with a kernel command line that names this appliance (bind-mounted over /proc/cmdline in
# a mount namespace of its own): from the address that fetched the files, it makes that
# machine booted, under the MAC of the interface that reaches the appliance (lo's).
# GRUB after a UEFI HTTP boot names its server with the port, and the menu adds it again.
echo "BOOT_IMAGE=/vmlinuz pxeforge.report=$http:18081/.pxeforge/api/report quiet" > "$PXF_TMP/cmdline"
unshare --mount bash -c 'mount --bind "$1" /proc/cmdline && exec bash "$2"' _ \
        "$PXF_TMP/cmdline" "$PXF_SOURCE_DIR/builder/boot-report.sh" > "$PXF_TMP/unit.out" 2>&1 \
        || fail "the boot report script failed: $(cat "$PXF_TMP/unit.out")"
grep -q "pxeforge-boot-report: $http:18081/.pxeforge/api/report: 200 recorded" "$PXF_TMP/unit.out" \
        || fail "the boot report script did not say it was recorded: $(cat "$PXF_TMP/unit.out")"
curl -fsS "$http/.pxeforge/api/machines" > "$PXF_TMP/machines.json" || fail "no API answer"
python3 - "$PXF_TMP/machines.json" "$(hostname)" "$(uname -r)" <<'PYEOF' || fail "the script's report did not make the machine booted: $(cat "$PXF_TMP/machines.json")"
import json, sys
ms = json.load(open(sys.argv[1]))["machines"]
assert len(ms) == 1, ms
m = ms[0]
assert m["mac"] == "00:00:00:00:00:00" and m["ip"] == "127.0.0.1", m
assert m["stage"] == "booted" and m["state"] == "booted", m
assert m["hostname"] == sys.argv[2] and m["kernel"] == sys.argv[3], m
assert m["bootMs"] > 0 and "booted" in m["stages"] and "kernel" in m["stages"], m
PYEOF
grep -q 'http: 127.0.0.1 reported that it booted' "$PXF_TMP/serve.log" || fail "the report is not logged"
pass "the boot report unit's script makes its machine booted, under its MAC, with its host name, kernel and boot time"

# Reports made by hand, from other loopback addresses.
report() { # SOURCE-ADDRESS BODY: prints the status and the answer's line
        curl -s --interface "$1" -o "$PXF_TMP/answer" -w '%{http_code}' \
                --data-binary "$2" "$http/.pxeforge/api/report"
        echo " $(head -n1 "$PXF_TMP/answer")"
}
expect_report() { # SOURCE BODY STATUS ANSWER-PATTERN WHAT
        local got
        got=$(report "$1" "$2")
        grep -Eq "^$3 .*$4" <<<"$got" || fail "$5: got '$got', expected $3 and '$4'"
}
curl -fsS --interface 127.0.0.5 -o /dev/null "$http/vmlinuz" || fail "HTTP from 127.0.0.5"
expect_report 127.0.0.5 $'mac=52:54:00:AA:BB:CC\nhostname=<b>n1</b>\nkernel=6.12.48+deb13-amd64\nbootMs=41250\n' \
        200 recorded "a report from a machine's address"
curl -fsS "$http/.pxeforge/api/machines" > "$PXF_TMP/machines.json" || fail "no API answer"
python3 - "$PXF_TMP/machines.json" <<'PYEOF' || fail "the report did not make the machine booted: $(cat "$PXF_TMP/machines.json")"
import json, sys
ms = json.load(open(sys.argv[1]))["machines"]
m = [m for m in ms if m["ip"] == "127.0.0.5"]
assert len(ms) == 2 and len(m) == 1, ms
m = m[0]
assert m["mac"] == "52:54:00:aa:bb:cc" and m["stage"] == "booted", m
assert m["hostname"] == "<b>n1</b>" and m["kernel"] == "6.12.48+deb13-amd64", m
assert m["bootMs"] == 41250, m
PYEOF
expect_report 127.0.0.5 $'hostname=x\n' 400 'mac= is missing' "a report without a MAC"
expect_report 127.0.0.5 $'mac=52:54:00:00:00:01\n' 403 'another' "a report for another MAC from a known address"
expect_report 127.0.0.5 $'mac=52:54:00:AA:BB:CC\n' 429 'too many' "a fourth report from one address"
expect_report 127.0.0.2 $'mac=52:54:00:00:00:02\n' 403 'has not seen' "a report from an unknown machine"
big=$(head -c 2000 /dev/zero | tr '\0' a)
expect_report 127.0.0.3 "mac=52:54:00:00:00:03"$'\n'"x=$big" 413 'Content Too Large' "an oversized report"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary x \
        "$http/.pxeforge/api/report")
[ "$code" = 501 ] || fail "a chunked report: status $code, expected 501"
# A body that never comes whole: the header clock ends it, and the server goes on.
python3 - <<'PYEOF' || fail "a report whose body never came whole was not cut off"
import socket
s = socket.create_connection(("127.0.0.1", 18081))
s.sendall(b"POST /.pxeforge/api/report HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nmac=")
s.settimeout(30)
data = s.recv(4096)
assert data.startswith(b"HTTP/1.1 408") or data == b"", data
PYEOF
curl -fsS "$http/.pxeforge/metrics" > "$PXF_TMP/metrics" || fail "no metrics"
for line in 'pxeforge_boot_reports_total{result="accepted"} 2' \
        'pxeforge_boot_reports_total{result="malformed"} 1' \
        'pxeforge_boot_reports_total{result="mismatch"} 1' \
        'pxeforge_boot_reports_total{result="rate-limited"} 1' \
        'pxeforge_boot_reports_total{result="unknown-machine"} 1' \
        'pxeforge_boot_reports_total{result="too-large"} 1' \
        'pxeforge_machines_by_state{state="booted"} 2'; do
        grep -qxF "$line" "$PXF_TMP/metrics" || fail "metrics lack '$line': $(grep boot "$PXF_TMP/metrics")"
done
kill -0 "$serve_pid" || fail "serve died"
pass "malformed, mismatched, unknown, flooding, oversized and chunked reports are refused and counted; the machines stay booted"

# The status page in a real browser: each machine's row, the host name with markup as text.
grep -q "Content-Security-Policy: default-src 'self'" <(curl -s -D - -o /dev/null "$http/.pxeforge/") \
        || fail "the status page has no Content-Security-Policy"
rows=$(page_rows "$PXF_BUILD_DIR/test-output/status-api/status-page" "$http/.pxeforge/")
echo "$rows"
grep -qxF '52:54:00:aa:bb:cc|127.0.0.5|<b>n1</b>|booted|booted' <<<"$rows" \
        || fail "the page's row of 52:54:00:aa:bb:cc is not as expected: $rows"
grep -qxF "00:00:00:00:00:00|127.0.0.1|$(hostname)|booted|booted" <<<"$rows" \
        || fail "the page's row of the script's machine is not as expected: $rows"
[ "$(wc -l <<<"$rows")" = 2 ] || fail "the page shows $(wc -l <<<"$rows") rows, not 2: $rows"
pass "the status page, rendered by Chromium, shows each machine's row, a host name's markup as text"

# The history (--state-dir, server.stateDir; `up`'s state directory): what one run saw is
# there after a restart, kept by the confined server in the one folder handed to it.
kill "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
# Without CAP_FOWNER, as pxeforge-serve@.service runs it: root may not change the mode of
# the folder once it gave it away, as on the second start.
serve_kept() { # LOG
        setpriv --bounding-set -fowner "$PXF_BIN" serve --artifacts "$art" --dhcp off --address 127.0.0.1 --tftp-port 16981 \
                --http-port 18081 --runtime-dir "$PXF_TMP/run" --state-dir "$PXF_TMP/state" > "$1" 2>&1 &
        serve_pid=$!
        pxf_wait_line "$1" 'serving as user' 60 "$serve_pid"
}
serve_kept "$PXF_TMP/serve-kept1.log"
curl -fsS --interface 127.0.0.9 -o /dev/null "$http/vmlinuz" || fail "HTTP from 127.0.0.9"
expect_report 127.0.0.9 $'mac=52:54:00:00:00:09\nhostname=kept\n' 200 recorded "a report before the restart"
kill "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
[ "$(stat -c '%U %a' "$PXF_TMP/state/status")" = "pxeforge 700" ] \
        || fail "the history's folder is not the server user's alone: $(stat -c '%U %a' "$PXF_TMP/state/status")"
grep -q '^first=.* mac=52:54:00:00:00:09 ip=127.0.0.9 hostname=kept ' "$PXF_TMP/state/status/timeline" \
        || fail "the history lacks the machine: $(cat "$PXF_TMP/state/status/timeline")"
serve_kept "$PXF_TMP/serve-kept2.log"
grep -q 'boot timeline: 1 machine kept from the last run' "$PXF_TMP/serve-kept2.log" \
        || fail "the restart does not say what it kept: $(cat "$PXF_TMP/serve-kept2.log")"
"$PXF_BIN" status --http-port 18081 | grep -Eq '^52:54:00:00:00:09 +127\.0\.0\.9 +kept +booted +booted ' \
        || fail "the machine is not in the timeline after the restart: $("$PXF_BIN" status --http-port 18081)"
pass "the boot timeline is kept across a restart, in a folder of the server user's own"

# Turned off (--no-status, server.status: false): the files are served, nothing else.
kill "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
"$PXF_BIN" serve --artifacts "$art" --dhcp off --address 127.0.0.1 --tftp-port 16981 \
        --http-port 18081 --runtime-dir "$PXF_TMP/run" --no-status > "$PXF_TMP/serve-off.log" 2>&1 &
serve_pid=$!
pxf_wait_line "$PXF_TMP/serve-off.log" 'serving as user' 60 "$serve_pid"
curl -fsS -o /dev/null "$http/vmlinuz" || fail "--no-status: vmlinuz is not served"
for path in .pxeforge/ .pxeforge/api/machines .pxeforge/metrics; do
        code=$(curl -s -o /dev/null -w '%{http_code}' "$http/$path")
        [ "$code" = 404 ] || fail "--no-status: /$path answered $code, not 404"
done
code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary 'mac=00:00:00:00:00:00' "$http/.pxeforge/api/report")
[ "$code" = 405 ] || fail "--no-status: a report got $code, not 405"
pass "--no-status: the folder is served, and no page, API, metrics or report"
