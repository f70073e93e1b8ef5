#!/usr/bin/env bash
# bench/servers.sh: pxeforge's embedded TFTP and HTTP servers against the real
# alternatives, side by side in one run, on loopback, with the same files and clients.
# pxeforge runs twice: as it ships, keeping the boot timeline (every transfer reported to
# it), and with --no-status (no timeline, no API): what the status feature costs.
#
#   TFTP: pxeforge serve, tftpd-hpa (in.tftpd), dnsmasq's TFTP; client bench/tftp-get.c
#         (built here with cc), blksize 1468, windowsize 1 and larger where acknowledged.
#         One client fetching 60 MB (median of --runs), then --clients clients at once
#         fetching 8 MB each (wall time, aggregate MB/s, failures, server memory).
#   HTTP: pxeforge serve and nginx (sendfile on, one worker): one curl fetching a 340 MB
#         image.iso (median of --runs), --clients curls at once, and wrk on a 4 KiB file.
#
# Every daemon runs in the foreground in a private network namespace made for the run
# (dnsmasq's TFTP port is always 69), as started by this script and stopped by PID at
# exit; no system service is used or touched. Files are random data in a scratch folder
# under /var/tmp (mode 755, served as user nobody), removed at exit.
#
# Memory: "peak PSS" is the largest sum of PSS (smaps_rollup) over the server's processes
# (tftpd-hpa forks one per transfer, nginx has a master and a worker), sampled every
# 0.1 s during the concurrent runs; "VmHWM" is the peak RSS of the main serving process
# (pxeforge-server, dnsmasq, the in.tftpd listener, the nginx worker), reset before each
# concurrent run. MB/s are 10^6 bytes per second.
#
# Usage (root): bench/servers.sh [--runs N] [--clients N] [--window N] [--http-file FILE]
#                                [--results FILE] [--help]
#   --runs N        single-client runs per case, the median is reported (default 5)
#   --clients N     concurrent clients (default 50)
#   --window N      windowsize asked for in the concurrent TFTP run (default 16)
#   --http-file F   serve a copy of F (e.g. a real image.iso) instead of 340 MB of random
#   --results F     where the Markdown goes (default bench/results/servers.md)
# Needs: a built tree (build/default), cc, curl, wrk, iproute2, and the Debian packages
# tftpd-hpa, nginx-light (or nginx), dnsmasq-base. Takes about 2 minutes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
pxf=${PXF_BIN:-$src/build/default/pxeforge/pxeforge}
runs=5
clients=50
window=16
windows=(1 16 64) # single-client TFTP cases
http_file=
results=$here/results/servers.md

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "bench: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
        case $1 in
        --runs) runs=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --window) window=$2; shift 2 ;;
        --http-file) http_file=$2; shift 2 ;;
        --results) results=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
        esac
done
for n in "$runs" "$clients" "$window"; do
        [[ $n =~ ^[1-9][0-9]*$ ]] || die "--runs, --clients and --window take a positive number"
done
[ "$(id -u)" -eq 0 ] || die "run as root (network namespace, daemons on port 69)"
for tool in cc curl wrk ip ss pgrep in.tftpd nginx dnsmasq sha256sum; do
        command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install -y --no-install-recommends tftpd-hpa nginx-light dnsmasq-base wrk curl iproute2)"
done
[ -x "$pxf" ] || die "build pxeforge first ($pxf)"
[ -z "$http_file" ] || [ -r "$http_file" ] || die "cannot read $http_file"

ns=pxf-bench-$$
work=$(mktemp -d /var/tmp/pxf-bench-servers.XXXXXX)
chmod 755 "$work"
root=$work/root
declare -a daemons=() # PIDs of every daemon started in the background
sampler=
started=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

cleanup() {
        local p
        [ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
        # in.tftpd's transfer processes (its children) outlive the listener
        [ -z "${pid[hpa]:-}" ] || kill -TERM $(pgrep -P "${pid[hpa]}") 2>/dev/null || true
        for p in "${daemons[@]}"; do
                kill -TERM "$p" 2>/dev/null || true
        done
        for p in "${daemons[@]}"; do
                wait "$p" 2>/dev/null || true
        done
        ip netns del "$ns" 2>/dev/null || true
        rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nsx() { ip netns exec "$ns" "$@"; }

# Ports inside the namespace. dnsmasq's TFTP listens on 69 and nothing changes that.
declare -A tftp_port=([pxeforge]=6969 [pxeforge-off]=6971 [hpa]=6970 [dnsmasq]=69)
declare -A http_port=([pxeforge]=8081 [pxeforge-off]=8082 [nginx]=8080)
declare -A pid=() server=() tree=() # started PID; serving process; root of the process tree

## Setup ##################################################################################

ip netns add "$ns"
ip -n "$ns" link set lo up
# glibc's getaddrinfo(AI_ADDRCONFIG), which in.tftpd uses for --address, finds no IPv4
# address in a namespace that has only 127.0.0.1; one more address on lo is enough.
ip -n "$ns" addr add 192.0.2.1/32 dev lo

cc -O2 -Wall -Wextra -Werror -o "$work/tftp-get" "$here/tftp-get.c"

mkdir -m 755 "$root" "$work/run" "$work/run-off"
head -c 60000000 /dev/urandom >"$root/big.bin"
head -c 8000000 /dev/urandom >"$root/client.bin"
head -c 4096 /dev/urandom >"$root/small.bin"
if [ -n "$http_file" ]; then
        cp "$http_file" "$root/image.iso"
else
        head -c 340000000 /dev/urandom >"$root/image.iso"
fi
chmod 644 "$root"/*
client_sum=$(sha256sum <"$root/client.bin")

wait_port() { # proto port
        local i
        for i in $(seq 100); do
                [ -n "$(nsx ss -Hln"${1:0:1}" "sport = :$2")" ] && return 0
                sleep 0.1
        done
        tail -n 20 "$work"/*.log >&2
        die "nothing listens on $1 port $2"
}

start() { # name cmd... (in the namespace, logs to $work/name.log)
        local name=$1
        shift
        ip netns exec "$ns" "$@" >"$work/$name.log" 2>&1 & # ip execs the daemon: same PID
        daemons+=($!)
        pid[$name]=$!
}

# Every client here comes from 127.0.0.1, where a rack's come from one address each: the
# per-address limits (4 TFTP transfers, 16 HTTP connections) are raised to the swarm's size.
per_source=(--tftp-max-per-source "$clients" --http-max-per-source "$clients")
start pxeforge "$pxf" serve --artifacts "$root" --dhcp off --address 127.0.0.1 \
        --tftp-port "${tftp_port[pxeforge]}" --http-port "${http_port[pxeforge]}" \
        --runtime-dir "$work/run" --user nobody "${per_source[@]}"
start pxeforge-off "$pxf" serve --artifacts "$root" --dhcp off --address 127.0.0.1 \
        --tftp-port "${tftp_port[pxeforge-off]}" --http-port "${http_port[pxeforge-off]}" \
        --runtime-dir "$work/run-off" --user nobody --no-status "${per_source[@]}"
start hpa in.tftpd --foreground --listen --address 127.0.0.1:"${tftp_port[hpa]}" --secure \
        --user nobody "$root"
start dnsmasq dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --enable-tftp \
        --tftp-root="$root" --listen-address=127.0.0.1 --bind-interfaces --tftp-max=64 \
        --user=nobody --pid-file= --log-facility="$work/dnsmasq-tftp.log"
mkdir -m 755 "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
user nobody nogroup;
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
        access_log $work/nginx/access.log;
        default_type application/octet-stream;
        sendfile on;
        tcp_nopush on;
        client_body_temp_path $work/nginx/body;
        server {
                listen 127.0.0.1:${http_port[nginx]};
                root $root;
        }
}
EOF
start nginx nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf"

wait_port udp "${tftp_port[pxeforge]}"
wait_port tcp "${http_port[pxeforge]}"
wait_port udp "${tftp_port[pxeforge-off]}"
wait_port tcp "${http_port[pxeforge-off]}"
wait_port udp "${tftp_port[hpa]}"
wait_port udp "${tftp_port[dnsmasq]}"
wait_port tcp "${http_port[nginx]}"

# The process that does the serving, for VmHWM.
server[pxeforge]=$(pgrep -P "${pid[pxeforge]}" -x pxeforge-server) || die "no pxeforge-server"
server[pxeforge-off]=$(pgrep -P "${pid[pxeforge-off]}" -x pxeforge-server) || die "no pxeforge-server (--no-status)"
server[hpa]=${pid[hpa]}
server[dnsmasq]=${pid[dnsmasq]}
server[nginx]=$(pgrep -P "${pid[nginx]}" -x nginx) || die "no nginx worker"
# The process whose tree is summed for PSS.
tree=([pxeforge]=${server[pxeforge]} [pxeforge-off]=${server[pxeforge-off]} [hpa]=${pid[hpa]}
        [dnsmasq]=${pid[dnsmasq]} [nginx]=${pid[nginx]})

## Helpers ################################################################################

# window_table VALUES MISSING: a Markdown table, one row per TFTP server and one column per
# windowsize, of the median of VALUES[server,window]; MISSING where the server does not
# do that windowsize.
window_table() {
        local -n values=$1
        local missing=$2 s w
        printf '| server |'
        for w in "${windows[@]}"; do printf ' windowsize %s |' "$w"; done
        echo
        printf '|---|'
        for w in "${windows[@]}"; do printf -- '---:|'; done
        echo
        for s in "${tftp_servers[@]}"; do
                printf '| %s |' "${label[$s]}"
                for w in "${windows[@]}"; do
                        if [ "$w" -gt 1 ] && [ "${tftp_win[$s,$w]}" != "$w" ]; then
                                printf ' %s |' "$missing"
                        else
                                printf ' %s |' "$(median <<<"${values[$s,$w]}")"
                        fi
                done
                echo
        done
}

median() { tr ' ' '\n' | awk 'NF' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p"; } # key=value from tftp-get's line

# sample <pid> <file>: until killed, writes to file the largest PSS sum (KiB) of pid and
# its children seen so far, and the CPU ticks of every child seen, each at its last sample.
sample() {
        local top=$1 out=$2 max=0 total p k v cpu
        local -a f
        local -A child_ticks=()
        set +e
        while :; do
                total=0
                for p in $top $(pgrep -P "$top"); do
                        while read -r k v _; do
                                [ "$k" = Pss: ] && { total=$((total + v)); break; }
                        done 2>/dev/null <"/proc/$p/smaps_rollup"
                        [ "$p" = "$top" ] && continue
                        read -r -a f 2>/dev/null <"/proc/$p/stat" && child_ticks[$p]=$((f[13] + f[14]))
                done
                [ "$total" -gt "$max" ] && max=$total
                cpu=0
                for v in "${child_ticks[@]}"; do cpu=$((cpu + v)); done
                echo "$max $cpu" >"$out.new"
                mv "$out.new" "$out"
                sleep 0.1
        done
}

# cpu_ticks <server>: clock ticks of CPU used so far by the server's processes: the tree's
# root with its reaped children, plus its live children.
cpu_ticks() {
        local top=${tree[$1]} p total
        total=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$top/stat")
        for p in $(pgrep -P "$top"); do
                total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
        done
        echo "$total"
}
hz=$(getconf CLK_TCK)

# measure_start <server>, measure_stop <server>: around a run; measure_stop sets peak_pss
# and vmhwm (MiB) and cpu_ticks_used. in.tftpd ignores SIGCHLD, so its per-transfer
# processes are reaped by the kernel and their CPU time never reaches the listener's
# cutime: for it, the children's ticks come from the sampler (each at its last sample, up
# to 0.1 s before it exited: a lower bound).
measure_start() {
        local s=$1
        echo 5 >"/proc/${server[$s]}/clear_refs" # resets VmHWM to the current RSS
        echo "0 0" >"$work/sample"
        sample "${tree[$s]}" "$work/sample" &
        sampler=$!
        cpu_before=$(cpu_ticks "$s")
}
measure_stop() {
        local s=$1 pss child
        sleep 0.3 # per-transfer processes finish
        kill "$sampler"
        wait "$sampler" 2>/dev/null || true
        sampler=
        read -r pss child <"$work/sample"
        cpu_ticks_used=$(($(cpu_ticks "$s") - cpu_before))
        [ "$s" = hpa ] && cpu_ticks_used=$((cpu_ticks_used + child))
        cpu=$(awk -v t="$cpu_ticks_used" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
        peak_pss=$(mib "$pss")
        vmhwm=$(mib "$(awk '/^VmHWM:/ { print $2 }' "/proc/${server[$s]}/status")")
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# [server,window] -> MB/s of each run; server CPU ms of each run; acknowledged windowsize
declare -A tftp1=() tcpu=() tftp_win=()

## TFTP, one client #######################################################################

tftp_servers=(pxeforge pxeforge-off hpa dnsmasq)
declare -A label=([pxeforge]="pxeforge" [pxeforge-off]="pxeforge --no-status" [hpa]="tftpd-hpa"
        [dnsmasq]="dnsmasq" [nginx]="nginx")

echo "== TFTP: one client, 60 MB, blksize 1468, windowsize ${windows[*]}, $runs runs =="
for run in $(seq "$runs"); do
        for w in "${windows[@]}"; do
                for s in "${tftp_servers[@]}"; do
                        # a server that did not acknowledge this windowsize runs it lockstep:
                        # measured once under windowsize 1 already
                        [ "$w" -gt 1 ] && [ "${tftp_win[$s,$w]:-$w}" != "$w" ] && continue
                        port=${tftp_port[$s]}
                        measure_start "$s"
                        out=$(nsx "$work/tftp-get" -b 1468 -w "$w" -s 60000000 \
                                -o "$work/big.out" 127.0.0.1 "$port" big.bin) ||
                                die "TFTP download from ${label[$s]} failed"
                        measure_stop "$s"
                        tcpu[$s,$w]+="$((cpu_ticks_used * 1000 / hz)) "
                        cmp -s "$work/big.out" "$root/big.bin" || die "${label[$s]}: corrupt file"
                        tftp_win[$s,$w]=$(field windowsize <<<"$out")
                        tftp1[$s,$w]+="$(field mbps <<<"$out") "
                        printf '%-10s windowsize %-3s run %s: %s\n' "${label[$s]}" "$w" "$run" "$out"
                done
        done
done
rm -f "$work/big.out"

## TFTP, many clients #####################################################################

declare -a swarm=()
echo "== TFTP: $clients clients at once, 8 MB each, blksize 1468, windowsize 1 and $window =="
for w in $(printf "%s\n" 1 "$window" | sort -un); do for s in "${tftp_servers[@]}"; do
        # lockstep for every server; the window only where the single-client runs saw it
        # acknowledged (or were not asked)
        [ "$w" -gt 1 ] && [ "${tftp_win[$s,$w]:-$w}" != "$w" ] && continue
        port=${tftp_port[$s]}
        rm -rf "$work/swarm"
        mkdir "$work/swarm"
        measure_start "$s"
        t0=$(now)
        nsx bash -c '
                bin=$1 port=$2 win=$3 dir=$4 n=$5
                for i in $(seq "$n"); do
                        { "$bin" -b 1468 -w "$win" -s 8000000 -o "$dir/$i.out" 127.0.0.1 "$port" \
                                client.bin >"$dir/$i.log" 2>&1; echo $? >"$dir/$i.rc"; } &
                done
                wait' _ "$work/tftp-get" "$port" "$w" "$work/swarm" "$clients"
        t1=$(now)
        measure_stop "$s"
        failed=0
        for i in $(seq "$clients"); do
                if [ "$(cat "$work/swarm/$i.rc")" != 0 ] ||
                        [ "$(sha256sum <"$work/swarm/$i.out")" != "$client_sum" ]; then
                        failed=$((failed + 1))
                        echo "${label[$s]}: client $i: $(cat "$work/swarm/$i.log")" >&2
                fi
        done
        wall=$(elapsed "$t0" "$t1")
        used=$(field windowsize <"$work/swarm/1.log")
        resent=$(cat "$work"/swarm/*.log | field acks_resent | awk '{ s += $1 } END { print s + 0 }')
        agg=$(awk -v n="$clients" -v t="$wall" 'BEGIN { printf "%.1f", n * 8 / t }')
        swarm+=("| ${label[$s]} | $w | ${used:-?} | $wall | $agg | $failed of $clients | $resent | $cpu | $peak_pss | $vmhwm |")
        echo "${swarm[-1]}"
done; done
rm -rf "$work/swarm"

## HTTP ###################################################################################

http_servers=(pxeforge pxeforge-off nginx)
iso_size=$(stat -c %s "$root/image.iso")
iso_mb=$(awk -v b="$iso_size" 'BEGIN { printf "%.0f", b / 1e6 }')
declare -A http1=() hswarm=() hsmall=()

echo "== HTTP: one client, image.iso ($iso_mb MB), $runs runs =="
for s in "${http_servers[@]}"; do # once each, checked byte for byte (and warms the cache)
        port=${http_port[$s]}
        nsx curl -fsS -o "$work/iso.out" "http://127.0.0.1:$port/image.iso"
        cmp -s "$work/iso.out" "$root/image.iso" || die "${label[$s]}: corrupt image.iso"
        rm -f "$work/iso.out"
done
for run in $(seq "$runs"); do
        for s in "${http_servers[@]}"; do
                port=${http_port[$s]}
                read -r size secs < <(nsx curl -fsS -o /dev/null \
                        -w '%{size_download} %{time_total}\n' "http://127.0.0.1:$port/image.iso")
                [ "$size" = "$iso_size" ] || die "${label[$s]}: got $size bytes of $iso_size"
                mbps=$(awk -v b="$size" -v t="$secs" 'BEGIN { printf "%.0f", b / 1e6 / t }')
                http1[$s]+="$mbps "
                printf '%-10s run %s: %s MB/s\n' "${label[$s]}" "$run" "$mbps"
        done
done

echo "== HTTP: $clients clients at once, image.iso each =="
for s in "${http_servers[@]}"; do
        port=${http_port[$s]}
        rm -rf "$work/swarm"
        mkdir "$work/swarm"
        measure_start "$s"
        t0=$(now)
        nsx bash -c '
                url=$1 dir=$2 n=$3
                for i in $(seq "$n"); do
                        { curl -fsS -o /dev/null -w "%{size_download}\n" "$url" \
                                >"$dir/$i.log" 2>&1; echo $? >"$dir/$i.rc"; } &
                done
                wait' _ "http://127.0.0.1:$port/image.iso" "$work/swarm" "$clients"
        t1=$(now)
        measure_stop "$s"
        failed=0
        for i in $(seq "$clients"); do
                if [ "$(cat "$work/swarm/$i.rc")" != 0 ] ||
                        [ "$(cat "$work/swarm/$i.log")" != "$iso_size" ]; then
                        failed=$((failed + 1))
                        echo "${label[$s]}: client $i: $(cat "$work/swarm/$i.log")" >&2
                fi
        done
        wall=$(elapsed "$t0" "$t1")
        agg=$(awk -v n="$clients" -v b="$iso_size" -v t="$wall" 'BEGIN { printf "%.0f", n * b / 1e6 / t }')
        hswarm[$s]="$wall | $agg | $failed of $clients | $cpu | $peak_pss | $vmhwm"
        echo "${label[$s]}: $wall s, $agg MB/s, $failed failed, CPU $cpu s, peak PSS $peak_pss MiB, VmHWM $vmhwm MiB"
done
rm -rf "$work/swarm"

echo "== HTTP: 4 KiB file, wrk, $clients connections, 10 s =="
for s in "${http_servers[@]}"; do
        port=${http_port[$s]}
        nsx wrk -t2 -c"$clients" -d10s "http://127.0.0.1:$port/small.bin" >"$work/wrk.log" 2>&1
        rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$work/wrk.log")
        errs=$(awk '/Non-2xx|Socket errors/ { sub(/^ +/, ""); printf "%s; ", $0 }' "$work/wrk.log")
        hsmall[$s]="$rps | ${errs:-none}"
        echo "${label[$s]}: $rps requests/s, errors: ${errs:-none}"
done

## Results ################################################################################

version_pxeforge=$(git -C "$src" describe --always --dirty 2>/dev/null || echo unknown)
version_hpa=$(in.tftpd -V 2>&1 | head -1)
version_dnsmasq=$(dnsmasq --version | head -1)
version_nginx=$(nginx -v 2>&1)
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)

{
        echo "# Server benchmark: pxeforge vs tftpd-hpa, dnsmasq, nginx"
        echo
        echo "Run of \`bench/servers.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) CPUs ($cpu_model),"
        echo "kernel $(uname -r), load average before the run $load_before, after $(cut -d' ' -f1-3 /proc/loadavg). Loopback in a private"
        echo "network namespace; every server and client on the same machine."
        echo "Versions: pxeforge $version_pxeforge; $version_hpa; $version_dnsmasq; $version_nginx."
        echo "MB/s are 10^6 bytes per second."
        echo
        echo "## TFTP, one client, 60 MB file, blksize 1468 (MB/s, median of $runs runs)"
        echo
        window_table tftp1 'not supported'
        echo
        echo "Server CPU time per download (ms, median; user + system of the server's processes):"
        echo
        window_table tcpu -
        echo
        echo "All runs (MB/s): $(for s in "${tftp_servers[@]}"; do for w in "${windows[@]}"; do
                [ "$w" = 1 ] || [ "${tftp_win[$s,$w]}" = "$w" ] || continue
                printf '%s w%s: %s; ' "${label[$s]}" "$w" "${tftp1[$s,$w]% }"
        done; done)"
        echo
        echo "## TFTP, $clients clients at once, 8 MB each, blksize 1468"
        echo
        echo "| server | windowsize asked | used | wall s | aggregate MB/s | failed | ACKs re-sent | server CPU s | peak PSS MiB | VmHWM MiB |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        printf '%s\n' "${swarm[@]}"
        echo
        echo "## HTTP, image.iso ($iso_mb MB)"
        echo
        echo "| server | 1 client MB/s (median of $runs) | $clients clients: wall s | aggregate MB/s | failed | server CPU s | peak PSS MiB | VmHWM MiB |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
        for s in "${http_servers[@]}"; do
                echo "| ${label[$s]} | $(median <<<"${http1[$s]}") | ${hswarm[$s]} |"
        done
        echo
        echo "All single-client runs (MB/s): $(for s in "${http_servers[@]}"; do printf '%s: %s; ' "${label[$s]}" "${http1[$s]% }"; done)"
        echo
        echo "## HTTP, 4 KiB file, wrk -t2 -c$clients -d10s (keep-alive)"
        echo
        echo "| server | requests/s | errors |"
        echo "|---|---:|---|"
        for s in "${http_servers[@]}"; do echo "| ${label[$s]} | ${hsmall[$s]} |"; done
        echo
        echo "Server CPU s: user + system CPU time of the server's processes during the run, a"
        echo "measure that other load on the machine disturbs less than the wall time, in clock"
        echo "ticks of 10 ms. tftpd-hpa's per-transfer processes are reaped by the kernel (it"
        echo "ignores SIGCHLD), so their time is sampled every 0.1 s: a lower bound."
        echo "Peak PSS: the largest sum of PSS over the server's processes, sampled every 0.1 s"
        echo "during the concurrent run (tftpd-hpa forks a process per transfer; nginx is a master"
        echo "and one worker). VmHWM: peak RSS of the serving process (pxeforge-server, the"
        echo "in.tftpd listener, dnsmasq, the nginx worker), reset before the run. Page cache is"
        echo "in neither. The whole script took $(($(date +%s) - started)) s."
} >"$work/results.md"
mkdir -p "$(dirname "$results")"
cp "$work/results.md" "$results"
echo
cat "$results"
