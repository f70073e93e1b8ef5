# pxeforge's check before dracut's livenet downloads the live ISO. pxeforge puts this text
# in the bootstrap initramfs as /sbin/livenetroot, after a first line that sets
# reserve_mib, and dracut's own livenetroot as /sbin/livenetroot.dracut, which this one
# runs once the ISO can be fetched and held in memory.
#
# Without it, a machine with too little memory gets its download killed by the OOM
# killer half-way, and a URL that does not answer gives a bare "error 0": dracut then
# halts without saying why. Here the console says what is wrong (the URL and the reason,
# or the memory needed and available) and the machine keeps trying instead: a server
# that comes up later, or memory added to a VM, lets the boot go on.
# shellcheck shell=sh disable=SC2154,SC1091

type getarg >/dev/null 2>&1 || . /lib/dracut-lib.sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin

# One line on the console and in the kernel log (err and warning get past "quiet").
say() {
        echo "<$1>pxeforge: $2" >/dev/kmsg 2>/dev/null || echo "pxeforge: $2" >/dev/console
}

meminfo_mib() {
        while read -r key value _; do
                if [ "$key" = "$1:" ]; then
                        echo $((value / 1024))
                        return
                fi
        done </proc/meminfo
        echo 0
}

# Sets size (bytes) from the reply to a HEAD request, or reason when there is none.
head_size() {
        size=
        reason=
        if ! reply=$(curl --globoff --location --fail --silent --show-error --head \
                --max-time 30 $insecure -- "$url" 2>/tmp/pxeforge-head.err); then
                # curl's own line: "curl: (7) Failed to connect to ...".
                while IFS= read -r line; do
                        [ -n "$line" ] && reason=${line#curl: }
                done </tmp/pxeforge-head.err
                reason=${reason:-curl failed}
                return 1
        fi
        while IFS= read -r line; do
                line=${line%"$cr"}
                case $line in
                [Cc]ontent-[Ll]ength:*) size=${line#*:} size=${size# } ;;
                esac
        done <<EOF
$reply
EOF
        case $size in '' | *[!0-9]*) size= ;; esac
}

# Until the server answers: the URL and curl's reason, then a wait that doubles to 60 s.
wait_for_server() {
        delay=5
        until head_size; do
                say 3 "cannot fetch $url: $reason; trying again in $delay s"
                sleep "$delay"
                delay=$((delay * 2 > 60 ? 60 : delay * 2))
        done
}

# Until the ISO fits: it stays in memory as the root's lower layer, beside the system.
wait_for_memory() {
        iso_mib=$(((size + 1048575) / 1048576))
        need=$((iso_mib + reserve_mib))
        while :; do
                avail=$(meminfo_mib MemAvailable)
                [ "$avail" -ge "$need" ] && return
                say 3 "not enough memory for $url: it needs $need MiB available ($iso_mib MiB for the ISO, $reserve_mib MiB for the system), this machine has $avail MiB of $(meminfo_mib MemTotal) MiB; give it at least $((need - avail)) MiB more RAM, or boot full-os artifacts or a smaller image (checking again in 30 s)"
                sleep 30
        done
}

cr=$(printf '\r')
netroot=$2
url=${netroot#livenet:}
insecure=
getargbool 0 rd.noverifyssl && insecure=--insecure
case $url in
http://* | https://*)
        if [ ! -e /tmp/livenet.downloaded ]; then
                wait_for_server
                if [ -n "$size" ]; then
                        wait_for_memory
                        say 5 "fetching $url ($iso_mib MiB; $avail MiB of $(meminfo_mib MemTotal) MiB of memory available)"
                fi
        fi
        ;;
esac
exec /sbin/livenetroot.dracut "$@"
