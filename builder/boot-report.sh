#!/bin/bash
# Written by pxeforge (server.bootReport): tells the appliance that served this boot that
# the system is up. One HTTP POST to the URL the kernel command line names
# (pxeforge.report=http://HOST[:PORT]/PATH) with this machine's MAC (of the interface that
# reaches HOST), host name, kernel release and the boot's duration by its own clock, as
# "key=value" lines. bash's /dev/tcp makes the request: the image needs no HTTP client.
set -u
export LC_ALL=C # ${#body} counts bytes

url=
for arg in $(</proc/cmdline); do
        case $arg in pxeforge.report=*) url=${arg#pxeforge.report=} ;; esac
done
if [[ ! $url =~ ^http://([A-Za-z0-9.-]+)(:([0-9]+))?(/[!-~]*)$ ]]; then
        echo "pxeforge-boot-report: no usable pxeforge.report=http://HOST[:PORT]/PATH ('$url')" >&2
        exit 0
fi
host=${BASH_REMATCH[1]} port=${BASH_REMATCH[3]:-80} path=${BASH_REMATCH[4]}

# The interface with the route to the appliance; without iproute2, the first one up.
dev=$(ip -o route get "$host" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p')
if [ -z "$dev" ]; then
        for d in /sys/class/net/*; do
                if [ "${d##*/}" != lo ] && [ "$(cat "$d/operstate" 2>/dev/null)" = up ]; then
                        dev=${d##*/}
                        break
                fi
        done
fi
mac=$(cat "/sys/class/net/$dev/address" 2>/dev/null)
read -r up _ </proc/uptime
body="mac=$mac
hostname=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)
kernel=$(uname -r)
bootMs=$((${up%%.*} * 1000 + 10#${up#*.} * 10))
"

for try in 1 2 3; do
        if exec 3<>"/dev/tcp/$host/$port"; then
                printf 'POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
                        "$path" "$host" "$port" "${#body}" "$body" >&3
                status='' answer=''
                IFS=$' \r' read -r -t 20 _ status _ <&3
                while IFS=$'\r' read -r -t 20 line <&3 && [ -n "$line" ]; do :; done
                IFS=$'\r' read -r -t 20 answer <&3
                exec 3<&-
                echo "pxeforge-boot-report: $url: ${status:-no answer} ${answer:-}"
                [ -z "$status" ] || exit 0 # answered: done, whatever it said
        fi
        sleep $((try * 5))
done
exit 0
