#!/usr/bin/env bash
# bench/hardening.sh: how `pxeforge serve` holds up under hostile clients, load, faults
# and time, measured in one run in a private network namespace (loopback addresses: the
# attacker 127.0.0.1, normal clients 127.0.0.2 and up, load clients one address each).
#
#   amplification  one never-acknowledged read request, without and with options, and
#                  one sent 5 times from one port: packets and bytes sent back in 12 s
#   lock-out       520 requests with timeout=255 from 520 ports of one address, re-sent
#                  every 5 s for 30 s, while a normal client fetches 1 MB every second
#   hogging        300 keep-alive connections from one address sending HEAD every 8 s
#                  (reconnecting when closed) for 30 s, while a normal client GETs 1 MB
#                  every second
#   load           200 TFTP clients (half lockstep, half windowsize 16) fetching 2 MB and
#                  100 HTTP clients fetching 20 MB at once; every copy checked by SHA-256;
#                  pxeforge-server's peak RSS (VmHWM, reset before)
#   faults         kill -9 of pxeforge-server, of dnsmasq and of the root process while
#                  downloads run: what comes back and after how long, whether a port or a
#                  process is left (serve with proxy DHCP on a veth interface)
#   folder swap    50 downloads of 20 MB at 4 MB/s; 2 s in, the served symlink is swapped
#                  to another folder: each copy must be the file it started on
#   soak           --soak SECONDS of mixed load (TFTP and HTTP fetches, aborted
#                  downloads, bad requests); RSS and open descriptors of pxeforge-server
#                  and of the root process after a warm-up and at the end
#
# Usage (root): bench/hardening.sh [--soak SECONDS] [--only PART] [--results FILE] [--help]
#   --soak N      length of the soak (default 600)
#   --only PART   run one part: hostile (amplification, lock-out, hogging, load), swap,
#                 faults or soak
#   --results F   where the Markdown goes (default bench/results/hardening.md)
# Needs a built tree (build/default; PXF_BIN overrides), python3, curl, iproute2, dnsmasq.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
pxf=${PXF_BIN:-$src/build/default/pxeforge/pxeforge}
soak=600
only=
results=$here/results/hardening.md

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "bench: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
        case $1 in
        --soak) soak=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --results) results=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
        esac
done
[[ $soak =~ ^[1-9][0-9]*$ ]] || die "--soak takes a number of seconds"
[[ " hostile swap faults soak " == *" ${only:-hostile} "* ]] || die "--only takes hostile, swap, faults or soak"
[ "$(id -u)" -eq 0 ] || die "run as root (network namespace, ports 67, 69 and 80)"
for tool in python3 curl ip ss pgrep dnsmasq sha256sum; do
        command -v "$tool" >/dev/null || die "$tool is not installed"
done
[ -x "$pxf" ] || die "build pxeforge first ($pxf)"

ns=pxf-harden-$$
work=$(mktemp -d /var/tmp/pxf-bench-hardening.XXXXXX)
chmod 755 "$work"
serve_pid=
declare -a lines=()

cleanup() {
        [ -z "$serve_pid" ] || { kill -TERM "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; } || true
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
        rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nsx() { ip netns exec "$ns" "$@"; }
load() { nsx python3 "$here/hardening.py" "$@"; }
record() { lines+=("$1"); echo "$1"; }
json() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d[sys.argv[2]])' "$@"; }

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add pxf0 type veth peer name pxf1 # the host kernel may lack the dummy driver
ip -n "$ns" link set pxf1 up
ip -n "$ns" addr add 10.99.0.1/24 dev pxf0
ip -n "$ns" link set pxf0 up

for v in a b; do
        mkdir -m 755 "$work/$v"
        head -c 1000000 /dev/urandom >"$work/$v/boot.bin"
        head -c 100000 /dev/urandom >"$work/$v/bootx64.efi" # for DHCP to offer
        head -c 2000000 /dev/urandom >"$work/$v/tftp.bin"
        head -c 20000000 /dev/urandom >"$work/$v/http.bin"
        chmod 644 "$work/$v"/*
done
ln -s a "$work/current"
mkdir -m 755 "$work/run"

wait_port() { # proto port
        for _ in $(seq 100); do
                [ -n "$(nsx ss -Hln"${1:0:1}" "sport = :$2")" ] && return 0
                sleep 0.1
        done
        tail -n 20 "$work/serve.log" >&2
        die "nothing listens on $1 port $2"
}

# start_serve EXTRA...: pxeforge serve of $work/current in the namespace.
start_serve() {
        # ip execs pxeforge: $! is serve's PID
        ip netns exec "$ns" "$pxf" serve --artifacts "$work/current" --tftp-port 69 --http-port 80 \
                --runtime-dir "$work/run" "$@" >>"$work/serve.log" 2>&1 &
        serve_pid=$!
        wait_port udp 69
        wait_port tcp 80
}
stop_serve() { kill -TERM "$serve_pid"; wait "$serve_pid" || true; serve_pid=; }
server_pid() { pgrep -P "$serve_pid" -x pxeforge-server; }
status() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

## amplification, lock-out, hogging, load (loopback, DHCP off) ##############################
hostile() {
start_serve --dhcp off --address 127.0.0.1
record "## Hostile clients"
record ""
record "| case | result |"
record "|---|---|"
declare -A what=([plain]="one request without options" [options]="one request with blksize, tsize and timeout=255"
        [repeat]="one request without options, sent 5 times from one port")
declare -A how=([plain]="" [options]="--options" [repeat]="--repeat 5")
for case in plain options repeat; do
        # shellcheck disable=SC2086 # one option and its value, or none
        r=$(load amplify 127.0.0.1 69 boot.bin ${how[$case]})
        record "| amplification: ${what[$case]}, never acknowledged | $(json "$r" packets) packets, $(json "$r" bytes) bytes back for $(json "$r" request_bytes)-byte requests (x$(json "$r" factor)), from $(json "$r" server_ports) server port(s) |"
done
r=$(load lockout 127.0.0.1 69 boot.bin 1000000 --requests 520 --seconds 30)
record "| lock-out: 520 requests, timeout=255, one address | normal client: $(json "$r" fetches) fetches, $(json "$r" failures) failed, median $(json "$r" median_s) s, max $(json "$r" max_s) s; $(json "$r" packets_to_attacker) packets to the attacker |"
r=$(load hog 127.0.0.1 80 /boot.bin --conns 300 --seconds 30)
record "| hogging: 300 keep-alive connections, one address | normal client: $(json "$r" fetches) fetches, $(json "$r" failures) failed, median $(json "$r" median_s) s, max $(json "$r" max_s) s; the attacker reconnected $(json "$r" attacker_reconnects) times |"

server=$(server_pid)
echo 5 >"/proc/$server/clear_refs" # resets VmHWM
r=$(load load 127.0.0.1 69 80 "$work/a" tftp.bin http.bin --tftp-clients 200 --http-clients 100)
record "| load: 200 TFTP + 100 HTTP clients at once | TFTP $(json "$r" tftp_failures) failed (slowest $(json "$r" tftp_max_s) s), HTTP $(json "$r" http_failures) failed (slowest $(json "$r" http_max_s) s), all in $(json "$r" wall_s) s; pxeforge-server VmHWM $(status "$server" VmHWM) kB |"
stop_serve
}

## folder swap ##############################################################################
swap() {
start_serve --dhcp off --address 127.0.0.1
want_a=$(sha256sum <"$work/a/http.bin")
want_b=$(sha256sum <"$work/b/http.bin")
pids=()
for i in $(seq 50); do
        nsx curl -fsS --interface "127.3.0.$i" --limit-rate 4M -o "$work/swap-$i" \
                http://127.0.0.1/http.bin &
        pids+=($!)
done
sleep 2
ln -sfn b "$work/current.new" && mv -T "$work/current.new" "$work/current"
swap_failed=0
for p in "${pids[@]}"; do wait "$p" || swap_failed=$((swap_failed + 1)); done
exact=0
for i in $(seq 50); do [ "$(sha256sum <"$work/swap-$i")" = "$want_a" ] && exact=$((exact + 1)); done
after=$(nsx curl -fsS http://127.0.0.1/http.bin | sha256sum)
[ "$after" = "$want_b" ] && after=new || after=old
record "| folder swapped during 50 downloads | $exact of 50 copies byte-exact to the file they started on, $swap_failed failed; a download after the swap got the $after folder |"
rm -f "$work"/swap-*
ln -sfn a "$work/current.new" && mv -T "$work/current.new" "$work/current"
stop_serve
}

## faults (proxy DHCP on pxf0) ##############################################################
faults() {
record ""
record "## Faults"
record ""
record "| fault | what came back | after |"
record "|---|---|---|"
# until_true TIMEOUT CMD...: seconds (0.1 s steps) until CMD succeeds, or "never".
until_true() {
        local t0=$SECONDS limit=$1 i
        shift
        for i in $(seq $((limit * 10))); do
                "$@" >/dev/null 2>&1 && { awk -v n="$i" 'BEGIN { printf "%.1f s", n / 10 }'; return; }
                sleep 0.1
        done
        echo "never (${limit} s)"
        : "$t0"
}
http_ok() { nsx curl -fsS -m 2 -o /dev/null http://10.99.0.1/boot.bin; }
start_serve --interface pxf0 --dhcp proxy
downloads() { for i in $(seq 10); do nsx curl -sS --interface "127.4.0.$i" --limit-rate 1M -o /dev/null http://10.99.0.1/http.bin & done; }

downloads
sleep 1
old=$(server_pid)
kill -KILL "$old"
t=$(until_true 30 bash -c "[ -n \"\$(pgrep -P $serve_pid -x pxeforge-server)\" ] && ip netns exec $ns curl -fsS -m 2 -o /dev/null http://10.99.0.1/boot.bin")
record "| kill -9 pxeforge-server during 10 downloads | restarted by serve, HTTP and TFTP served again | $t |"
wait_port udp 69

dns=$(pgrep -f -- "--conf-file=$work/run")
kill -KILL "$dns"
t=$(until_true 30 bash -c "p=\$(pgrep -f -- '--conf-file=$work/run') && [ \"\$p\" != $dns ] && [ -n \"\$(ip netns exec $ns ss -Hlnu 'sport = :67')\" ]")
record "| kill -9 dnsmasq | restarted by serve, port 67 bound again | $t |"

downloads
sleep 1
server=$(server_pid)
kill -KILL "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
serve_pid=
# The patterns end in [n] so that they do not match the shell that runs them.
t=$(until_true 30 bash -c "! kill -0 $server 2>/dev/null && ! pgrep -f '$work/ru[n]' >/dev/null && [ -z \"\$(ip netns exec $ns ss -Hln '( sport = :69 or sport = :80 or sport = :67 )')\" ]")
left=$(nsx ss -Hlnp '( sport = :69 or sport = :80 or sport = :67 )' | sed 's/.*users:((\("[^"]*"\).*/\1/' | sort -u | tr '\n' ' ' || true)
survivors=$(pgrep -f "$work/ru[n]" | tr '\n' ' ' || true)
if [ -z "$left$survivors" ]; then
        record "| kill -9 of serve (the root process) during 10 downloads | pxeforge-server and dnsmasq gone, ports 67, 69 and 80 free | $t |"
else
        record "| kill -9 of serve (the root process) during 10 downloads | left behind: processes ${survivors:-none}, ports held by ${left:-none} | $t |"
        # shellcheck disable=SC2086 # one PID per word
        [ -z "$survivors" ] || kill -KILL $survivors
fi
start_serve --interface pxf0 --dhcp proxy
http_ok && record "| serve started again after that | serving | at once |"
stop_serve
wait
}

## soak #####################################################################################
soak_test() {
start_serve --dhcp off --address 127.0.0.1
server=$(server_pid)
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
mixed() { # SECONDS: a mix of what a lab sees, one round per second
        local end=$((SECONDS + $1)) i=0
        while [ $SECONDS -lt $end ]; do
                i=$((i + 1))
                load load 127.0.0.1 69 80 "$work/a" boot.bin boot.bin --tftp-clients 8 --http-clients 4 >/dev/null || true
                nsx curl -sS --interface 127.5.0.1 -m 0.3 -o /dev/null http://127.0.0.1/http.bin 2>/dev/null || true
                nsx curl -sS -o /dev/null http://127.0.0.1/../../etc/passwd 2>/dev/null || true
                load amplify 127.0.0.1 69 missing.bin --seconds 0.2 >/dev/null || true
        done
}
mixed 20
rss0=$(status "$server" VmRSS) fd0=$(fds "$server") root_rss0=$(status "$serve_pid" VmRSS) root_fd0=$(fds "$serve_pid")
mixed "$soak"
sleep 2
rss1=$(status "$server" VmRSS) fd1=$(fds "$server") root_rss1=$(status "$serve_pid" VmRSS) root_fd1=$(fds "$serve_pid")
record ""
record "## Soak: $soak s of mixed load"
record ""
record "| process | RSS after warm-up | RSS at the end | open fds after warm-up | at the end |"
record "|---|---:|---:|---:|---:|"
record "| pxeforge-server | $rss0 kB | $rss1 kB | $fd0 | $fd1 |"
record "| pxeforge serve (root) | $root_rss0 kB | $root_rss1 kB | $root_fd0 | $root_fd1 |"
[ "$(server_pid)" = "$server" ] || record "(pxeforge-server was restarted during the soak: see the log)"
stop_serve
}

case $only in
"") hostile; swap; faults; soak_test ;;
soak) soak_test ;;
*) "$only" ;;
esac

{
        echo "# Hardening figures ($(date -u +%Y-%m-%d), bench/hardening.sh)"
        echo
        echo "$(nproc) cores, $(uname -r), pxeforge $("$pxf" --version | cut -d' ' -f2); loopback in a private network namespace."
        echo
        printf '%s\n' "${lines[@]}"
} >"$results"
echo "bench: results in $results"
