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
# GRUB booted over UEFI HTTP boot names its server with the boot URL's port, to which the
# menu adds the port again: http://10.0.0.1:8089:8089/... (the same port twice).
if [[ ! $url =~ ^http://([A-Za-z0-9.-]+)(:([0-9]+))?(:[0-9]+)?(/[!-~]*)$ ]]; then
        echo "pxeforge-boot-report: no usable pxeforge.report=http://HOST[:PORT]/PATH ('$url')" >&2
        exit 0
fi
host=${BASH_REMATCH[1]} port=${BASH_REMATCH[3]:-80} path=${BASH_REMATCH[5]}

# The interface with the route to the appliance; without iproute2, the first one up.
interface() {
        local d dev
        dev=$(ip -o route get "$host" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p')
        if [ -z "$dev" ]; then
                for d in /sys/class/net/*; do
                        if [ "${d##*/}" != lo ] && [ "$(cat "$d/operstate" 2>/dev/null)" = up ]; then
                                dev=${d##*/}
                                break
                        fi
                done
        fi
        echo "$dev"
}

# One POST; prints the status code and the answer's first line ("" when none came).
report() {
        local mac up body status='' line answer=''
        mac=$(cat "/sys/class/net/$(interface)/address" 2>/dev/null)
        read -r up _ </proc/uptime
        body="mac=$mac
hostname=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)
kernel=$(uname -r)
bootMs=$((${up%%.*} * 1000 + 10#${up#*.} * 10))
"
        exec 3<>"/dev/tcp/$host/$port" || return 0
        printf 'POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
                "$path" "$host" "$port" "${#body}" "$body" >&3
        IFS=$' \r' read -r -t 20 _ status _ <&3
        while IFS=$'\r' read -r -t 20 line <&3 && [ -n "$line" ]; do :; done
        IFS=$'\r' read -r -t 20 answer <&3
        exec 3<&-
        echo "$status $answer"
}

# The network may still be settling (a DHCP client taking over from the initramfs's):
# tried for about two minutes, until the appliance answers, whatever it says.
for try in 1 2 3 4 5 6 7 8; do
        result=$(report)
        if [ -n "${result% }" ]; then
                echo "pxeforge-boot-report: $url: $result"
                exit 0
        fi
        echo "pxeforge-boot-report: $url: no answer (try $try)"
        # what the network looks like, once: the reason is most often there
        [ "$try" != 1 ] || echo "pxeforge-boot-report: interfaces: $(ip -br addr 2>/dev/null | tr -s ' \n' ' ')"
        sleep $((try < 6 ? try * 5 : 30))
done
echo "pxeforge-boot-report: $url: the appliance never answered" >&2
exit 0
