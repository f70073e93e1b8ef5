#!/usr/bin/env bash
# deploy/test-bridge.sh - an isolated test network for PXE boots: a Linux network
# namespace with a bridge and tap devices, a PXE appliance running in it, and QEMU/OVMF
# VMs that boot from it over the network. Used by the VM tests, by the demo, and to
# prove an image before it meets hardware. Needs root, iproute2, util-linux (setsid),
# QEMU and OVMF (tests/deps.sh installs them).
#
# Usage: deploy/test-bridge.sh COMMAND --name NAME [options]
#
#   up --name NAME [--subnet 192.168.77.0/24] [--vms N]
#       Create the namespace pxf-NAME with loopback up, a bridge br0 holding the first
#       host address of the subnet (192.168.77.1/24), and N (default 1, at most 250) tap
#       devices tap0..tapN-1 enslaved to br0, all up. Refuses (exit 1) if pxf-NAME or
#       the state directory already exists: run `down` first.
#   appliance --name NAME -- CMD [ARGS...]
#       Run CMD inside the namespace in the background (own session, stdin /dev/null),
#       stdout and stderr appended to STATE/appliance.log; its PID goes to
#       STATE/appliance.pid. CMD sees the PXF_BRIDGE_* variables below. Fails, with the
#       end of the log, if CMD is not found or exits within 2 s.
#   stop-appliance --name NAME
#       SIGTERM to the appliance, SIGKILL after 15 s; then stops what it left behind
#       (processes of its session still in the namespace). Exit 0 only if it stopped on
#       SIGTERM and left nothing; the report says which.
#   boot --name NAME --vm I [--mem MiB] [--console FILE] [--firmware MODE] [--disk FILE]
#       Start a VM (QEMU) inside the namespace on tapI: no disk, one virtio-net NIC with
#       MAC 52:54:00:77:00:<I in hex>, first in the boot order. 2 vCPUs, --mem MiB
#       (default 3072: a full-OS initramfs lives in RAM), serial console to FILE (default
#       STATE/vmI.console). --firmware, how it boots from the network:
#         uefi         (default) OVMF's own PXE client (the NIC has no option ROM)
#         secure-boot  the same with OVMF's Secure Boot firmware and Microsoft's keys
#                      enrolled (OVMF_CODE_4M.secboot.fd, OVMF_VARS_4M.ms.fd, SMM)
#         http         OVMF's UEFI HTTP boot client (its PXE switched off)
#         bios         SeaBIOS and the NIC's PXE option ROM (QEMU's iPXE)
#       --secure-boot is short for --firmware secure-boot. --disk FILE (qcow2, written):
#       a virtio disk second in the boot order, what the firmware boots once the network
#       boot ends (a machine pxeforge sends to `local`); IPv6 PXE is then off, so the
#       firmware moves on at once. Returns once QEMU runs (fails if it exits within 2 s).
#   stop-vm --name NAME --vm I
#       Stop that VM (SIGTERM, SIGKILL after 10 s); the console log stays.
#   wait --name NAME (--vm I | --appliance) --for REGEX [--timeout S]
#       Wait until a line of the VM's console (or of the appliance log) matches the
#       extended regex (grep -E), at most S seconds (default 600); print that line.
#       Exit 1 on timeout or when QEMU (the appliance) has exited, with the last lines.
#   console --name NAME (--vm I | --appliance)
#       Print the VM's console log without ANSI escapes (or the appliance log).
#   status --name NAME
#       Show the namespace, its links and addresses, the appliance and the VMs.
#       Exit 0 if the namespace exists, 1 if not.
#   down --name NAME
#       Stop the VMs and the appliance started by this script (recorded PIDs and what
#       their sessions left in the namespace; nothing else is ever signalled), delete
#       the taps, the bridge, the namespace and STATE with the logs in it (copy what you
#       want to keep first; a --console FILE outside STATE stays). Refuses to delete a
#       namespace in which other processes still run (it lists them). Safe to run twice;
#       exit 0 when nothing is left.
#   help | --help
#
# NAME: letters, digits, '-' and '_', at most 32 characters.
# STATE: $PXF_BRIDGE_STATE_DIR/NAME, by default /run/pxeforge-test-bridge/NAME.
#
# The appliance command's environment (values for the default subnet):
#   PXF_BRIDGE_NAME=NAME  PXF_BRIDGE_NETNS=pxf-NAME  PXF_BRIDGE_IF=br0
#   PXF_BRIDGE_ADDR=192.168.77.1  PXF_BRIDGE_PREFIX=24  PXF_BRIDGE_NETMASK=255.255.255.0
#   PXF_BRIDGE_DHCP_FIRST=192.168.77.2  PXF_BRIDGE_DHCP_LAST=192.168.77.254
#   PXF_BRIDGE_STATE=STATE
# The knobs of deploy/lib/vm.sh apply to `boot`: PXF_ACCEL (kvm|tcg), PXF_QEMU,
# PXF_OVMF_CODE, PXF_OVMF_VARS, PXF_CACHE_DIR.
#
# Example, with a plain dnsmasq as the appliance (DHCP + TFTP of a pxe-dir output; every
# file and directory of it must be readable by `nobody`):
#   deploy/test-bridge.sh up --name demo --vms 1
#   deploy/test-bridge.sh appliance --name demo -- dnsmasq --keep-in-foreground \
#       --log-facility=- --conf-file=/dev/null --port=0 --interface=br0 \
#       --bind-interfaces --dhcp-authoritative --dhcp-range=192.168.77.2,192.168.77.254 \
#       --dhcp-leasefile=/run/pxeforge-test-bridge/demo/leases --pid-file \
#       --dhcp-boot=bootx64.efi --enable-tftp --tftp-root=/srv/pxe --user=nobody
#   deploy/test-bridge.sh boot --name demo --vm 0
#   deploy/test-bridge.sh wait --name demo --vm 0 --for 'login:' --timeout 900
#   deploy/test-bridge.sh down --name demo
#
# Exit status: 0 success, 1 failure (the message says what to fix), 2 bad command line.

# shellcheck source-path=SCRIPTDIR/..
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
SOURCE_DIR=$(cd "$(dirname "$SELF")/.." && pwd)
VM_LIB=$SOURCE_DIR/deploy/lib/vm.sh

BRIDGE=br0
MAX_VMS=250
APPLIANCE_TERM_WAIT=15  # seconds between SIGTERM and SIGKILL for the appliance
VM_TERM_WAIT=10         # the same for a VM (as vm_stop)
START_CHECK=2           # seconds a started process must survive to count as started
SECBOOT_CODE=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd
SECBOOT_VARS=/usr/share/OVMF/OVMF_VARS_4M.ms.fd

# ---- messages -----------------------------------------------------------------------

say() { printf 'test-bridge: %s\n' "$*"; }
warn() { printf 'test-bridge: %s\n' "$*" >&2; }
die() {
        warn "$*"
        exit 1
}
usage_error() {
        warn "$*"
        warn "usage: $0 COMMAND --name NAME [options]; see $0 --help"
        exit 2
}
usage() { sed -n '2,/^\([^#]\|$\)/{/^#/{s/^# \{0,1\}//;p}}' "$SELF"; }

need_root() {
        [[ $(id -u) -eq 0 ]] ||
                die "must run as root (it creates network namespaces and tap devices): sudo $0 ${ARGV[*]}"
}

need_cmd() {
        local cmd=$1 pkg=$2
        command -v "$cmd" >/dev/null 2>&1 ||
                die "$cmd not found: install the Debian package $pkg (tests/deps.sh)"
}

# ---- names, addresses ---------------------------------------------------------------

# set_name NAME: sets NAME, NETNS, STATE_ROOT and STATE.
set_name() {
        NAME=$1
        [[ $NAME =~ ^[A-Za-z0-9_-]{1,32}$ ]] ||
                usage_error "bad --name '$NAME': use 1-32 letters, digits, '-' or '_'"
        NETNS=pxf-$NAME
        STATE_ROOT=${PXF_BRIDGE_STATE_DIR:-/run/pxeforge-test-bridge}
        [[ $STATE_ROOT == /* ]] ||
                die "PXF_BRIDGE_STATE_DIR must be an absolute path, not '$STATE_ROOT'"
        STATE=$STATE_ROOT/$NAME
}

_ip4_to_int() {
        local IFS=. a b c d
        read -r a b c d <<<"$1"
        printf '%d\n' $(((10#$a << 24) | (10#$b << 16) | (10#$c << 8) | 10#$d))
}

_int_to_ip4() {
        local n=$1
        printf '%d.%d.%d.%d\n' $(((n >> 24) & 255)) $(((n >> 16) & 255)) $(((n >> 8) & 255)) $((n & 255))
}

# parse_subnet A.B.C.D/P: sets NET_ADDR (first host), NET_PREFIX, NET_MASK,
# NET_DHCP_FIRST (second host) and NET_DHCP_LAST (last host).
parse_subnet() {
        local s=$1 o net mask
        [[ $s =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})$ ]] ||
                usage_error "bad --subnet '$s': expected an IPv4 network like 192.168.77.0/24"
        for o in "${BASH_REMATCH[@]:1:4}"; do
                ((10#$o <= 255)) || usage_error "bad --subnet '$s': $o is not an octet"
        done
        NET_PREFIX=$((10#${BASH_REMATCH[5]}))
        ((NET_PREFIX >= 8 && NET_PREFIX <= 30)) ||
                usage_error "bad --subnet '$s': the prefix length must be 8 to 30"
        o=$((10#${BASH_REMATCH[1]}))
        ((o != 0 && o != 127 && o < 224)) ||
                usage_error "bad --subnet '$s': use a unicast range, e.g. 192.168.77.0/24"
        net=$(_ip4_to_int "${s%/*}")
        mask=$(((0xffffffff << (32 - NET_PREFIX)) & 0xffffffff))
        if ((net & ~mask & 0xffffffff)); then
                usage_error "bad --subnet '$s': host bits are set; did you mean $(_int_to_ip4 $((net & mask)))/$NET_PREFIX?"
        fi
        NET_MASK=$(_int_to_ip4 "$mask")
        NET_ADDR=$(_int_to_ip4 $((net + 1)))
        NET_DHCP_FIRST=$(_int_to_ip4 $((net + 2)))
        NET_DHCP_LAST=$(_int_to_ip4 $(((net | (~mask & 0xffffffff)) - 1)))
}

vm_mac() { printf '52:54:00:77:%02x:%02x\n' $(($1 >> 8)) $(($1 & 255)); }

netns_exists() { [[ -e /run/netns/$NETNS ]]; }

need_netns() {
        netns_exists || die "namespace $NETNS does not exist: create it with $0 up --name $NAME"
        [[ -r $STATE/network ]] ||
                die "no state for $NAME in $STATE (namespace made by hand?): run $0 down --name $NAME, then up"
}

# load_network: reads STATE/network into NET[key].
declare -A NET=()
load_network() {
        local k v
        while IFS='=' read -r k v; do
                [[ -n $k ]] && NET[$k]=$v
        done <"$STATE/network"
}

# ---- processes ----------------------------------------------------------------------
# A process is recorded as "PID START SID": START is its start time (clock ticks after
# boot, /proc/PID/stat field 22), so a PID reused by another process is never signalled;
# SID is the session it was started in (the script starts each one with setsid), to find
# what it left behind in the namespace.

# proc_field PID INDEX: print a field of /proc/PID/stat, counted from the state (0 =
# state, 3 = session, 19 = start time). Fails when the process does not exist.
proc_field() {
        local s
        { s=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
        s=${s##*) }
        local -a fld
        read -ra fld <<<"$s"
        # Empty when the process vanished while the file was read.
        [[ -n ${fld[$2]:-} ]] || return 1
        printf '%s\n' "${fld[$2]}"
}

# alive PID START: the recorded process still runs (and is not a zombie).
alive() {
        local pid=$1 start=$2 st
        [[ $pid =~ ^[0-9]+$ ]] || return 1
        [[ $(proc_field "$pid" 19) == "$start" ]] || return 1
        st=$(proc_field "$pid" 0) || return 1
        [[ $st != Z && $st != X ]]
}

# record PID SID: print the record of a running process.
record() {
        local start
        start=$(proc_field "$1" 19) || return 1
        printf '%s %s %s\n' "$1" "$start" "$2"
}

describe() {
        local cmd
        cmd=$({ tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null || true)
        printf '%s (%s)\n' "$1" "${cmd:0:100}"
}

# stop_procs TIMEOUT "PID START" ...: SIGTERM to each recorded process still running,
# SIGKILL to those still running after TIMEOUT s. Sets STOP_TERMED, STOP_KILLED and
# STOP_LEFT (lists of PIDs). Signals nothing that is not (still) the recorded process.
stop_procs() {
        local timeout=$1 r pid start i any
        shift
        STOP_TERMED=() STOP_KILLED=() STOP_LEFT=()
        local -a live=()
        for r in "$@"; do
                read -r pid start <<<"$r"
                if alive "$pid" "$start"; then
                        kill -TERM "$pid" 2>/dev/null || true
                        live+=("$pid $start")
                fi
        done
        ((${#live[@]})) || return 0
        for ((i = 0; i < timeout * 5; i++)); do
                any=0
                for r in "${live[@]}"; do
                        read -r pid start <<<"$r"
                        alive "$pid" "$start" && any=1
                done
                ((any)) || break
                sleep 0.2
        done
        for r in "${live[@]}"; do
                read -r pid start <<<"$r"
                if alive "$pid" "$start"; then
                        kill -KILL "$pid" 2>/dev/null || true
                        STOP_KILLED+=("$pid")
                else
                        STOP_TERMED+=("$pid")
                fi
        done
        ((${#STOP_KILLED[@]})) || return 0
        for ((i = 0; i < 25; i++)); do
                any=0
                for r in "${live[@]}"; do
                        read -r pid start <<<"$r"
                        alive "$pid" "$start" && any=1
                done
                ((any)) || return 0
                sleep 0.2
        done
        for r in "${live[@]}"; do
                read -r pid start <<<"$r"
                alive "$pid" "$start" && STOP_LEFT+=("$pid")
        done
        return 0
}

# netns_procs [SID...]: print "PID START" of the processes in the namespace, only those
# of the given sessions when SIDs are given.
netns_procs() {
        local pid sid start s
        netns_exists || return 0
        for pid in $(ip netns pids "$NETNS" 2>/dev/null); do
                start=$(proc_field "$pid" 19) || continue
                if (($#)); then
                        sid=$(proc_field "$pid" 3) || continue
                        for s in "$@"; do
                                if [[ $sid == "$s" ]]; then
                                        printf '%s %s\n' "$pid" "$start"
                                        break
                                fi
                        done
                else
                        printf '%s %s\n' "$pid" "$start"
                fi
        done
}

# read_record FILE: sets REC_PID, REC_START, REC_SID (empty if FILE is missing).
read_record() {
        REC_PID="" REC_START="" REC_SID=""
        [[ -r $1 ]] || return 1
        read -r REC_PID REC_START REC_SID _ <"$1" || true
        [[ -n $REC_PID ]]
}

# read_vm I: sets VMS_* from STATE/vmI.state; fails if there is none.
read_vm() {
        local f=$STATE/vm$1.state k v
        VMS_pid="" VMS_start="" VMS_sid="" VMS_dir="" VMS_console="" VMS_mac="" VMS_tap=""
        [[ -r $f ]] || return 1
        while IFS='=' read -r k v; do
                case $k in
                pid | start | sid | dir | console | mac | tap) printf -v "VMS_$k" '%s' "$v" ;;
                esac
        done <"$f"
}

# ---- option parsing -----------------------------------------------------------------

# parse_opts ALLOWED... -- ARGS: sets OPT[name]=value for "--name value" and
# "--name=value"; flags listed as "flag:secure-boot" take no value. Stops at "--" and
# leaves the rest in REST.
declare -A OPT=()
REST=()
parse_opts() {
        local -a allowed=()
        while (($#)) && [[ $1 != -- ]]; do
                allowed+=("$1")
                shift
        done
        shift
        local a key val ok flag
        while (($#)); do
                a=$1
                shift
                if [[ $a == -- ]]; then
                        REST=("$@")
                        return 0
                fi
                if [[ $a != --* ]]; then
                        [[ $CMD != appliance ]] || usage_error "appliance: put the command after --: appliance --name NAME -- $a ..."
                        usage_error "$CMD: unexpected argument '$a'"
                fi
                key=${a#--}
                val=""
                if [[ $key == *=* ]]; then
                        val=${key#*=}
                        key=${key%%=*}
                fi
                ok=0
                for flag in "${allowed[@]}"; do
                        if [[ $flag == "$key" ]]; then
                                ok=1
                                if [[ $a != *=* ]]; then
                                        (($#)) || usage_error "$CMD: --$key needs a value"
                                        val=$1
                                        shift
                                fi
                                break
                        elif [[ $flag == "flag:$key" ]]; then
                                [[ $a != *=* ]] || usage_error "$CMD: --$key takes no value"
                                ok=1
                                val=1
                                break
                        fi
                done
                ((ok)) || usage_error "$CMD: unknown option --$key"
                OPT[$key]=$val
        done
}

need_name() {
        [[ -n ${OPT[name]:-} ]] || usage_error "$CMD: --name NAME is required"
        set_name "${OPT[name]}"
}

need_uint() { # need_uint OPTION VALUE MIN MAX
        if [[ ! $2 =~ ^[0-9]{1,9}$ ]] || ((10#$2 < $3 || 10#$2 > $4)); then
                usage_error "$CMD: --$1 must be a number from $3 to $4, not '$2'"
        fi
}

# which_target: from --vm I / --appliance, sets TARGET to "vm" or "appliance" and VM_I.
which_target() {
        if [[ -n ${OPT[appliance]:-} ]]; then
                [[ -z ${OPT[vm]:-} ]] || usage_error "$CMD: give --vm I or --appliance, not both"
                TARGET=appliance
        else
                [[ -n ${OPT[vm]:-} ]] || usage_error "$CMD: --vm I (or --appliance) is required"
                need_uint vm "${OPT[vm]}" 0 $((MAX_VMS - 1))
                TARGET=vm
                VM_I=$((10#${OPT[vm]}))
        fi
}

# ---- up -------------------------------------------------------------------------------

cmd_up() {
        parse_opts name subnet vms -- "$@"
        need_name
        local subnet=${OPT[subnet]:-192.168.77.0/24} n=${OPT[vms]:-1} i
        parse_subnet "$subnet"
        need_uint vms "$n" 0 "$MAX_VMS"
        n=$((10#$n))
        need_root
        need_cmd ip iproute2
        if netns_exists; then
                die "namespace $NETNS already exists: use it, or remove it first with $0 down --name $NAME"
        fi
        if [[ -e $STATE ]]; then
                die "state directory $STATE is left from an earlier run: run $0 down --name $NAME first"
        fi
        mkdir -p "$STATE_ROOT"
        mkdir "$STATE" || die "cannot create $STATE"
        local err=$STATE/up.err
        if ! up_steps "$n" 2>"$err"; then
                warn "could not set up $NETNS: $(tail -n 3 "$err" | tr '\n' ' ')"
                ip netns del "$NETNS" 2>/dev/null || true
                rm -rf "$STATE"
                die "nothing was left behind; fix the cause above and run up again"
        fi
        rm -f "$err"
        {
                printf 'name=%s\nnetns=%s\nbridge=%s\nsubnet=%s\naddr=%s\nprefix=%s\n' \
                        "$NAME" "$NETNS" "$BRIDGE" "$subnet" "$NET_ADDR" "$NET_PREFIX"
                printf 'netmask=%s\ndhcp_first=%s\ndhcp_last=%s\nvms=%s\n' \
                        "$NET_MASK" "$NET_DHCP_FIRST" "$NET_DHCP_LAST" "$n"
        } >"$STATE/network.tmp"
        mv -f "$STATE/network.tmp" "$STATE/network"
        local taps=""
        for ((i = 0; i < n; i++)); do taps+=" tap$i"; done
        say "namespace $NETNS is up"
        printf '  namespace  %s\n  bridge     %s %s/%s\n  dhcp range %s - %s (suggested)\n  taps      %s\n  state      %s\n' \
                "$NETNS" "$BRIDGE" "$NET_ADDR" "$NET_PREFIX" "$NET_DHCP_FIRST" "$NET_DHCP_LAST" \
                "${taps:- (none)}" "$STATE"
}

up_steps() {
        local n=$1 i
        ip netns add "$NETNS" || return 1
        ip -n "$NETNS" link set lo up || return 1
        # STP off and no forward delay: a port forwards as soon as QEMU opens its tap, so
        # the firmware's first DHCP DISCOVER is not lost. A fixed MAC keeps the bridge's
        # address stable while taps come and go.
        ip -n "$NETNS" link add "$BRIDGE" address 52:54:00:77:ff:00 type bridge \
                stp_state 0 forward_delay 0 || return 1
        ip -n "$NETNS" addr add "$NET_ADDR/$NET_PREFIX" dev "$BRIDGE" || return 1
        ip -n "$NETNS" link set "$BRIDGE" up || return 1
        for ((i = 0; i < n; i++)); do
                ip -n "$NETNS" tuntap add dev "tap$i" mode tap || return 1
                ip -n "$NETNS" link set "tap$i" master "$BRIDGE" up || return 1
        done
}

# ---- appliance ----------------------------------------------------------------------

export_bridge_env() {
        export PXF_BRIDGE_NAME=$NAME PXF_BRIDGE_NETNS=$NETNS PXF_BRIDGE_IF=$BRIDGE \
                PXF_BRIDGE_ADDR=${NET[addr]} PXF_BRIDGE_PREFIX=${NET[prefix]} \
                PXF_BRIDGE_NETMASK=${NET[netmask]} PXF_BRIDGE_DHCP_FIRST=${NET[dhcp_first]} \
                PXF_BRIDGE_DHCP_LAST=${NET[dhcp_last]} PXF_BRIDGE_STATE=$STATE
}

cmd_appliance() {
        parse_opts name -- "$@"
        need_name
        ((${#REST[@]})) || usage_error "appliance: give the command after --, e.g. appliance --name $NAME -- dnsmasq ..."
        need_root
        need_cmd setsid util-linux
        need_netns
        load_network
        if read_record "$STATE/appliance.pid" && alive "$REC_PID" "$REC_START"; then
                die "an appliance already runs in $NETNS: $(describe "$REC_PID"); stop it with $0 stop-appliance --name $NAME"
        fi
        command -v "${REST[0]}" >/dev/null 2>&1 ||
                die "appliance command '${REST[0]}' not found: install it or give its full path"
        rm -f "$STATE/appliance.pid" "$STATE/appliance.exit" "$STATE/appliance.left"
        printf '%q ' "${REST[@]}" >"$STATE/appliance.cmd"
        export_bridge_env
        ip netns exec "$NETNS" setsid -f "$SELF" __appliance-run "$STATE" "${REST[@]}" \
                </dev/null >/dev/null 2>>"$STATE/appliance.log" ||
                die "could not enter $NETNS to start the appliance (see $STATE/appliance.log)"
        local i
        for ((i = 0; i < 50; i++)); do
                [[ -s $STATE/appliance.pid ]] && break
                sleep 0.1
        done
        read_record "$STATE/appliance.pid" ||
                die "the appliance did not start within 5 s: see $STATE/appliance.log"
        for ((i = 0; i < START_CHECK * 5; i++)); do
                [[ -e $STATE/appliance.exit ]] && break
                sleep 0.2
        done
        if [[ -e $STATE/appliance.exit ]] || ! alive "$REC_PID" "$REC_START"; then
                local status
                status=$(cat "$STATE/appliance.exit" 2>/dev/null || echo unknown)
                warn "the appliance exited at once (status $status); last lines of $STATE/appliance.log:"
                tail -n 20 "$STATE/appliance.log" >&2 || true
                if [[ $status == 0 ]]; then
                        warn "an appliance must stay in the foreground (e.g. dnsmasq --keep-in-foreground); a daemon that forked away is not tracked, and down refuses to delete a namespace it still runs in"
                fi
                die "fix the command (or what it needs) and run appliance again"
        fi
        say "appliance started in $NETNS: pid $REC_PID: $(cat "$STATE/appliance.cmd")"
        say "log: $STATE/appliance.log"
}

# __appliance-run STATE CMD...: runs in the namespace as a session leader started by
# setsid. Starts CMD (job control on, so it gets its own process group and default
# SIGINT/SIGQUIT), records it, waits for it and writes its exit status.
cmd___appliance-run() {
        local state=$1 pid rc=0
        shift
        set -m
        "$@" </dev/null >>"$state/appliance.log" 2>&1 &
        pid=$!
        record "$pid" $$ >"$state/appliance.pid.tmp" || true
        mv -f "$state/appliance.pid.tmp" "$state/appliance.pid"
        wait "$pid" 2>/dev/null || rc=$?
        [[ -d $state ]] && printf '%s\n' "$rc" >"$state/appliance.exit"
        exit 0
}

# stop_appliance: sets STOP_MSG; returns 0 if it stopped on SIGTERM and left nothing.
stop_appliance() {
        STOP_MSG=""
        if ! read_record "$STATE/appliance.pid"; then
                STOP_MSG="no appliance was started"
                return 0
        fi
        local pid=$REC_PID start=$REC_START sid=$REC_SID rc=0 i left
        if ! alive "$pid" "$start"; then
                STOP_MSG="the appliance (pid $pid) had already exited (status $(cat "$STATE/appliance.exit" 2>/dev/null || echo unknown))"
        else
                stop_procs "$APPLIANCE_TERM_WAIT" "$pid $start"
                if ((${#STOP_LEFT[@]})); then
                        STOP_MSG="the appliance (pid $pid) survived SIGKILL"
                        rc=1
                elif ((${#STOP_KILLED[@]})); then
                        STOP_MSG="the appliance (pid $pid) ignored SIGTERM for $APPLIANCE_TERM_WAIT s and was killed with SIGKILL"
                        rc=1
                else
                        # Let the supervisor write the exit status.
                        for ((i = 0; i < 25; i++)); do
                                [[ -e $STATE/appliance.exit ]] && break
                                sleep 0.2
                        done
                        STOP_MSG="the appliance (pid $pid) stopped on SIGTERM (exit status $(cat "$STATE/appliance.exit" 2>/dev/null || echo unknown))"
                fi
        fi
        # The supervisor (pid $sid) exits right after the appliance; wait a moment for it.
        for ((i = 0; i < 10; i++)); do
                [[ -z $(netns_procs "$sid") ]] && break
                sleep 0.2
        done
        local -a procs=()
        mapfile -t procs < <(netns_procs "$sid")
        if ((${#procs[@]})); then
                left=""
                for i in "${procs[@]}"; do left+=" $(describe "${i%% *}");"; done
                printf '%s\n' "$left" >>"$STATE/appliance.left"
                stop_procs 5 "${procs[@]}"
                STOP_MSG+="; it left behind:$left stopped now"
                ((${#STOP_LEFT[@]} == 0)) || STOP_MSG+=" (still running: ${STOP_LEFT[*]})"
                rc=1
        else
                STOP_MSG+="; nothing was left"
        fi
        return "$rc"
}

cmd_stop-appliance() {
        parse_opts name -- "$@"
        need_name
        need_root
        [[ -d $STATE ]] || die "no state for $NAME in $STATE: nothing to stop"
        local rc=0
        stop_appliance || rc=$?
        say "$STOP_MSG"
        return "$rc"
}

# ---- VMs ------------------------------------------------------------------------------

cmd_boot() {
        parse_opts name vm mem console firmware disk flag:secure-boot -- "$@"
        need_name
        [[ -n ${OPT[vm]:-} ]] || usage_error "boot: --vm I is required"
        need_uint vm "${OPT[vm]}" 0 $((MAX_VMS - 1))
        local i=$((10#${OPT[vm]})) mem=${OPT[mem]:-3072} console fw=${OPT[firmware]:-uefi}
        local disk=${OPT[disk]:-}
        [[ -z $disk || -f $disk ]] || die "boot: --disk $disk is not a file"
        [[ -z $disk ]] || disk=$(readlink -f "$disk")
        [[ -n ${OPT[secure-boot]:-} ]] && fw=secure-boot
        case $fw in
        uefi | secure-boot | http | bios) ;;
        *) usage_error "boot: --firmware must be uefi, secure-boot, http or bios, not '$fw'" ;;
        esac
        need_uint mem "$mem" 256 1048576
        need_root
        need_cmd setsid util-linux
        need_netns
        load_network
        ((i < NET[vms])) ||
                die "there is no tap$i in $NETNS (it has ${NET[vms]} taps, tap0..tap$((NET[vms] - 1))): use a smaller --vm, or down and up with a larger --vms"
        ip -n "$NETNS" link show "tap$i" >/dev/null 2>&1 ||
                die "tap$i is missing from $NETNS (deleted by hand?): run down and up again"
        if read_vm "$i"; then
                if alive "$VMS_pid" "$VMS_start"; then
                        die "VM $i already runs (pid $VMS_pid): stop it with $0 stop-vm --name $NAME --vm $i"
                fi
                [[ -n $VMS_dir && $VMS_dir == "$STATE"/* ]] && rm -rf "$VMS_dir"
                rm -f "$STATE/vm$i.state"
        fi
        console=${OPT[console]:-$STATE/vm$i.console}
        console=$(readlink -m "$console")
        mkdir -p "$(dirname "$console")" ||
                die "cannot create the directory of the console log $console"
        if [[ $fw == secure-boot ]]; then
                [[ -r $SECBOOT_CODE && -r $SECBOOT_VARS ]] ||
                        die "Secure Boot firmware missing ($SECBOOT_CODE, $SECBOOT_VARS): install the Debian package ovmf"
        fi
        ip netns exec "$NETNS" setsid -f -w "$SELF" __vm-start "$STATE" "$i" "tap$i" \
                "$(vm_mac "$i")" "$mem" "$console" "$fw" "$disk" </dev/null ||
                die "QEMU could not be started for VM $i (see the message above)"
        read_vm "$i" || die "QEMU for VM $i left no record in $STATE"
        local t
        for ((t = 0; t < START_CHECK * 5; t++)); do
                alive "$VMS_pid" "$VMS_start" || break
                sleep 0.2
        done
        if ! alive "$VMS_pid" "$VMS_start"; then
                warn "QEMU for VM $i exited at once. It said:"
                tail -n 20 "$VMS_dir/qemu.out" >&2 2>/dev/null || true
                warn "command line: $(cat "$VMS_dir/cmdline" 2>/dev/null)"
                die "fix the cause above (a tap already in use? firmware? memory?) and boot again"
        fi
        local what="${mem} MiB, firmware $fw${disk:+, disk $disk}"
        say "VM $i started in $NETNS: pid $VMS_pid, tap$i, MAC $VMS_mac, $what"
        say "console: $console"
}

# __vm-start STATE I TAP MAC MEM CONSOLE FIRMWARE [DISK]: runs in the namespace as a
# session leader; starts QEMU with deploy/lib/vm.sh (its private files under STATE) and
# records it.
cmd___vm-start() {
        local state=$1 i=$2 tap=$3 mac=$4 mem=$5 console=$6 fw=$7 disk=${8:-}
        local -a extra=(-name "pxf-$(basename "$state")-vm$i")
        # shellcheck source=deploy/lib/vm.sh
        source "$VM_LIB"
        export TMPDIR=$state
        # shellcheck disable=SC2054 # commas belong to QEMU's option syntax
        case $fw in
        secure-boot)
                export PXF_OVMF_CODE=$SECBOOT_CODE PXF_OVMF_VARS=$SECBOOT_VARS
                extra+=(-machine smm=on -global driver=cfi.pflash01,property=secure,value=on)
                ;;
        http) # OVMF offers HTTP boot once its PXE boot options are gone
                extra+=(-fw_cfg name=opt/org.tianocore/IPv4PXESupport,string=no
                        -fw_cfg name=opt/org.tianocore/IPv6PXESupport,string=no)
                ;;
        bios) export PXF_VM_FIRMWARE=bios ;;
        esac
        if [[ -n $disk ]]; then
                extra+=(-drive "if=none,id=disk0,format=qcow2,file=$disk"
                        -device virtio-blk-pci,drive=disk0,bootindex=2)
                [[ $fw == http ]] || extra+=(-fw_cfg name=opt/org.tianocore/IPv6PXESupport,string=no)
        fi
        vm_boot_pxe_tap "$tap" "$mac" "$mem" "$console" "${extra[@]}" || exit 1
        local start
        start=$(proc_field "$VM_PID" 19) || start=0
        printf 'pid=%s\nstart=%s\nsid=%s\ndir=%s\nconsole=%s\nmac=%s\ntap=%s\n' \
                "$VM_PID" "$start" $$ "$VM_DIR" "$console" "$mac" "$tap" >"$state/vm$i.state.tmp"
        mv -f "$state/vm$i.state.tmp" "$state/vm$i.state"
        exit 0
}

# stop_vm I: sets STOP_MSG.
stop_vm() {
        STOP_MSG=""
        read_vm "$1" || {
                STOP_MSG="VM $1 was not started"
                return 0
        }
        if ! alive "$VMS_pid" "$VMS_start"; then
                STOP_MSG="VM $1 (pid $VMS_pid) had already exited"
        else
                stop_procs "$VM_TERM_WAIT" "$VMS_pid $VMS_start"
                if ((${#STOP_LEFT[@]})); then
                        STOP_MSG="VM $1 (pid $VMS_pid) survived SIGKILL"
                        return 1
                elif ((${#STOP_KILLED[@]})); then
                        STOP_MSG="VM $1 (pid $VMS_pid) was killed with SIGKILL"
                else
                        STOP_MSG="VM $1 (pid $VMS_pid) stopped"
                fi
        fi
        [[ -n $VMS_dir && $VMS_dir == "$STATE"/* ]] && rm -rf "$VMS_dir"
        return 0
}

cmd_stop-vm() {
        parse_opts name vm -- "$@"
        need_name
        [[ -n ${OPT[vm]:-} ]] || usage_error "stop-vm: --vm I is required"
        need_uint vm "${OPT[vm]}" 0 $((MAX_VMS - 1))
        need_root
        [[ -d $STATE ]] || die "no state for $NAME in $STATE: nothing to stop"
        local rc=0
        stop_vm "$((10#${OPT[vm]}))" || rc=$?
        say "$STOP_MSG"
        return "$rc"
}

# ---- wait, console --------------------------------------------------------------------

cmd_wait() {
        parse_opts name vm flag:appliance for timeout -- "$@"
        need_name
        which_target
        local re=${OPT[for]:-} timeout=${OPT[timeout]:-600}
        [[ -n $re ]] || usage_error "wait: --for REGEX is required"
        need_uint timeout "$timeout" 1 86400
        [[ -d $STATE ]] || die "no state for $NAME in $STATE: run up first"
        if [[ $TARGET == appliance ]]; then
                wait_appliance "$re" "$((10#$timeout))"
                return
        fi
        read_vm "$VM_I" || die "VM $VM_I was not started: boot it with $0 boot --name $NAME --vm $VM_I"
        # shellcheck source=deploy/lib/vm.sh
        source "$VM_LIB"
        if ! alive "$VMS_pid" "$VMS_start"; then
                # QEMU is gone (and its PID may be reused): the log cannot change any more.
                if ! grep -aEq -- "$re" "$VMS_console" 2>/dev/null; then
                        warn "QEMU of VM $VM_I (pid $VMS_pid) is not running and /$re/ is not on its console"
                        warn "last 40 lines of $VMS_console:"
                        _vm_strip "$VMS_console" 2>/dev/null | tail -n 40 >&2 || true
                        exit 1
                fi
        else
                # shellcheck disable=SC2034 # read by vm_wait_for
                VM_CONSOLE=$VMS_console
                VM_DIR=$VMS_dir
                VM_PID=$VMS_pid
                vm_wait_for "$VMS_console" "$re" "$((10#$timeout))" || exit 1
        fi
        print_match "$VMS_console" "$re"
}

print_match() {
        local line
        # shellcheck source=deploy/lib/vm.sh
        source "$VM_LIB"
        line=$(_vm_strip "$1" | grep -aE -m1 -- "$2" || true)
        [[ -n $line ]] || line=$(grep -aE -m1 -- "$2" "$1" | tr -d '\r' || true)
        printf '%s\n' "$line"
}

wait_appliance() {
        local re=$1 timeout=$2 log=$STATE/appliance.log start=$SECONDS why
        read_record "$STATE/appliance.pid" || die "no appliance was started: $0 appliance --name $NAME -- CMD"
        while :; do
                if [[ -r $log ]] && grep -aEq -- "$re" "$log"; then
                        grep -aE -m1 -- "$re" "$log"
                        return 0
                fi
                if ! alive "$REC_PID" "$REC_START"; then
                        grep -aEq -- "$re" "$log" 2>/dev/null && {
                                grep -aE -m1 -- "$re" "$log"
                                return 0
                        }
                        why="the appliance (pid $REC_PID) exited (status $(cat "$STATE/appliance.exit" 2>/dev/null || echo unknown)) before /$re/ appeared in its log"
                        break
                fi
                if ((SECONDS - start >= timeout)); then
                        why="timed out after $timeout s waiting for /$re/ in the appliance log"
                        break
                fi
                sleep 1
        done
        warn "$why"
        warn "last 40 lines of $log:"
        tail -n 40 "$log" >&2 2>/dev/null || true
        exit 1
}

cmd_console() {
        parse_opts name vm flag:appliance -- "$@"
        need_name
        which_target
        [[ -d $STATE ]] || die "no state for $NAME in $STATE: run up first"
        if [[ $TARGET == appliance ]]; then
                [[ -r $STATE/appliance.log ]] || die "no appliance log in $STATE"
                cat "$STATE/appliance.log"
                return
        fi
        read_vm "$VM_I" || die "VM $VM_I was not started: boot it with $0 boot --name $NAME --vm $VM_I"
        [[ -r $VMS_console ]] || die "console log $VMS_console is missing"
        # shellcheck source=deploy/lib/vm.sh
        source "$VM_LIB"
        _vm_strip "$VMS_console"
}

# ---- status ---------------------------------------------------------------------------

cmd_status() {
        parse_opts name -- "$@"
        need_name
        need_root
        local f i
        if netns_exists; then
                say "namespace $NETNS: present"
                ip -n "$NETNS" -br addr show | sed 's/^/  /'
        else
                say "namespace $NETNS: absent"
        fi
        if [[ ! -d $STATE ]]; then
                say "state $STATE: absent"
                netns_exists
                return
        fi
        say "state $STATE"
        if read_record "$STATE/appliance.pid"; then
                if alive "$REC_PID" "$REC_START"; then
                        say "appliance: running, pid $REC_PID: $(cat "$STATE/appliance.cmd" 2>/dev/null)"
                else
                        say "appliance: exited (status $(cat "$STATE/appliance.exit" 2>/dev/null || echo unknown)), was: $(cat "$STATE/appliance.cmd" 2>/dev/null)"
                fi
                say "  log: $STATE/appliance.log"
        else
                say "appliance: not started"
        fi
        for f in "$STATE"/vm*.state; do
                [[ -e $f ]] || continue
                i=${f##*/vm}
                i=${i%.state}
                read_vm "$i" || continue
                if alive "$VMS_pid" "$VMS_start"; then
                        say "VM $i: running, pid $VMS_pid, $VMS_tap, MAC $VMS_mac"
                else
                        say "VM $i: stopped, $VMS_tap, MAC $VMS_mac"
                fi
                say "  console: $VMS_console"
        done
        netns_exists
}

# ---- down -----------------------------------------------------------------------------

cmd_down() {
        parse_opts name -- "$@"
        need_name
        need_root
        need_cmd ip iproute2
        if ! netns_exists && [[ ! -d $STATE ]]; then
                say "nothing to do: no namespace $NETNS and no state in $STATE"
                return 0
        fi
        local -a recs=() sids=() procs=()
        local f i rc=0 msg
        # 1. the VMs, all at once, then the appliance.
        if [[ -d $STATE ]]; then
                for f in "$STATE"/vm*.state; do
                        [[ -e $f ]] || continue
                        i=${f##*/vm}
                        i=${i%.state}
                        read_vm "$i" || continue
                        sids+=("$VMS_sid")
                        alive "$VMS_pid" "$VMS_start" && recs+=("$VMS_pid $VMS_start")
                done
                if ((${#recs[@]})); then
                        stop_procs "$VM_TERM_WAIT" "${recs[@]}"
                        say "stopped ${#recs[@]} VM(s)${STOP_KILLED[*]:+; killed with SIGKILL: ${STOP_KILLED[*]}}"
                fi
                if read_record "$STATE/appliance.pid"; then
                        sids+=("$REC_SID")
                        stop_appliance || true
                        say "$STOP_MSG"
                fi
        fi
        # 2. what those sessions left in the namespace; then anything else is not ours.
        if netns_exists; then
                if ((${#sids[@]})); then
                        mapfile -t procs < <(netns_procs "${sids[@]}")
                        if ((${#procs[@]})); then
                                msg=""
                                for f in "${procs[@]}"; do msg+=" $(describe "${f%% *}");"; done
                                say "stopping what was left in $NETNS:$msg"
                                stop_procs 5 "${procs[@]}"
                        fi
                fi
                mapfile -t procs < <(netns_procs)
                if ((${#procs[@]})); then
                        for f in "${procs[@]}"; do warn "  still in $NETNS: $(describe "${f%% *}")"; done
                        die "processes not started by this script still run in $NETNS (listed above): stop them (kill PID) and run down again; the namespace is kept"
                fi
                # 3. taps, bridge, namespace.
                local dev
                for dev in $(ip -n "$NETNS" -o link show 2>/dev/null | sed -n 's/^[0-9]*: \(tap[0-9]*\)[:@].*/\1/p'); do
                        ip -n "$NETNS" link del "$dev" || rc=1
                done
                if ip -n "$NETNS" link show "$BRIDGE" >/dev/null 2>&1; then
                        ip -n "$NETNS" link del "$BRIDGE" || rc=1
                fi
                ip netns del "$NETNS" || rc=1
        fi
        # 4. the state (VM firmware copies and logs with it).
        [[ -d $STATE ]] && rm -rf "$STATE"
        if netns_exists || [[ -e $STATE ]] || ((rc)); then
                die "could not remove everything (namespace $NETNS or $STATE is still there): see the messages above"
        fi
        say "down: namespace $NETNS and $STATE removed; nothing is left"
}

# ---- main -----------------------------------------------------------------------------

main() {
        (($#)) || usage_error "no command given"
        ARGV=("$@")
        CMD=$1
        shift
        case $CMD in
        help | -h | --help)
                usage
                return 0
                ;;
        up | appliance | stop-appliance | boot | stop-vm | wait | console | status | down)
                local a
                for a in "$@"; do
                        [[ $a == -- ]] && break
                        if [[ $a == -h || $a == --help ]]; then
                                usage
                                return 0
                        fi
                done
                "cmd_$CMD" "$@"
                ;;
        __appliance-run | __vm-start) "cmd_$CMD" "$@" ;;
        *) usage_error "unknown command '$CMD'" ;;
        esac
}

main "$@"
