#!/usr/bin/env bash
# What `pxeforge serve` hands each kind of client, without VMs: in a private network
# namespace (a veth pair, dnsmasq for real), serve is started on folders that differ in
# what their manifest says (iPXE mode, GRUB's HTTP client, the chain's signatures) and in
# the iPXE they carry; its log line "boot files: ..." and the dnsmasq configuration it
# wrote must follow the rules of the README ("Which machine boots how"), and a mode the
# folder cannot serve must stop it at start with what to change.
source "$(dirname "$0")/../lib/common.sh"
[ "$(id -u)" -eq 0 ] || fail "must run as root (network namespaces, port 67)"
command -v dnsmasq >/dev/null || fail "dnsmasq not found: install dnsmasq-base (tests/deps.sh)"
pxf_tmpdir
chmod 755 "$PXF_TMP"
ns=pxf-bf$$
cleanup() {
        local rc=$?
        [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
        ip netns del "$ns" 2>/dev/null
        rm -rf "$PXF_TMP"
        return $rc
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link add v0 type veth peer name v1
ip -n "$ns" addr add 10.99.0.1/24 dev v0
ip -n "$ns" link set v0 up
ip -n "$ns" link set v1 up

# folder NAME MANIFEST-LINES...: a served folder with shim, GRUB, kernel, boot.ipxe and
# the manifest lines given; "with-ipxe" among them adds iPXE, "with-bios" GRUB for BIOS.
folder() {
        local d=$PXF_TMP/$1 line
        shift
        mkdir -p "$d/grub"
        for f in bootx64.efi grubx64.efi vmlinuz boot.ipxe grub/grub.cfg; do echo "$f" > "$d/$f"; done
        : > "$d/manifest"
        for line in "$@"; do
                if [ "$line" = with-ipxe ]; then
                        mkdir -p "$d/ipxe"
                        echo snp > "$d/ipxe/snponly.efi"
                        echo undi > "$d/ipxe/undionly.kpxe"
                elif [ "$line" = with-bios ]; then
                        mkdir -p "$d/grub/i386-pc"
                        echo core > "$d/grub/i386-pc/core.0"
                else
                        echo "$line" >> "$d/manifest"
                fi
        done
        chmod -R a+rX "$d"
        echo "$d"
}

# serve_once DIR ARGS...: serve DIR until it serves (then SIGTERM; RC 143) or exits by
# itself (RC its status), at most 60 s; sets LOG and RC.
serve_once() {
        local dir=$1
        shift
        LOG=$PXF_TMP/serve.log RC=0
        rm -rf "$PXF_TMP/run"
        : > "$LOG" # now: the background child's own truncation may come after the first grep
        ip netns exec "$ns" "$PXF_BIN" serve --artifacts "$dir" --interface v0 --dhcp authoritative \
                --dhcp-range 10.99.0.100,10.99.0.200 --runtime-dir "$PXF_TMP/run" "$@" > "$LOG" 2>&1 &
        serve_pid=$!
        for _ in $(seq 300); do
                if grep -q 'serving .* DHCP authoritative' "$LOG"; then
                        kill "$serve_pid"
                        break
                fi
                kill -0 "$serve_pid" 2>/dev/null || break
                sleep 0.2
        done
        wait "$serve_pid" || RC=$?
        serve_pid=
}

has() { grep -q -- "$1" "$LOG" || { cat "$LOG" >&2; fail "$2"; }; }
conf_has() { grep -qx -- "$1" "$PXF_TMP/run/dnsmasq.conf" || { cat "$PXF_TMP/run/dnsmasq.conf" >&2; fail "$2"; }; }

# Debian 12 as built with the default server.ipxe: off, an unsigned kernel.
plain=$(folder plain "ipxe: off" "grub-http: no" "secure-boot: unsigned: vmlinuz")
serve_once "$plain"
has 'boot files: UEFI PXE bootx64.efi, UEFI HTTP boot none, BIOS none, iPXE none (iPXE off)' \
        "off: shim for UEFI PXE, nothing for HTTP boot, BIOS and iPXE"
has 'UEFI HTTP boot clients (arch 16, 19) get no boot URL: the artifacts.* GRUB has no HTTP client' \
        "no note on why HTTP boot is off"
has 'Secure Boot: a machine with Secure Boot on will refuse these artifacts (no signature on vmlinuz;' \
        "no warning naming the unsigned kernel"
conf_has 'dhcp-boot=tag:efi-x64,tag:!ipxe,bootx64.efi,,10.99.0.1' "no shim for UEFI PXE"
! grep -q 'efi-x64-http' "$PXF_TMP/run/dnsmasq.conf" || fail "off: an HTTP boot URL without a loader for it"
! grep -q 'ipxe,175\|tag:ipxe' "$PXF_TMP/run/dnsmasq.conf" || fail "off: iPXE clients are still told apart"
has "iPXE clients (a NIC's iPXE ROM) are answered as the PXE clients they also are" "off: no word on iPXE ROMs"
pass "a folder without iPXE: shim for UEFI PXE, iPXE ROMs answered like other clients, and why HTTP boot is off"

# GRUB for BIOS (server.bios): BIOS clients get it with iPXE off and with fallback; with
# always, iPXE.
bios=$(folder bios "ipxe: fallback" "grub-http: no" "secure-boot: signed" "bios: grub from the image" with-ipxe with-bios)
serve_once "$bios" --ipxe off
has 'boot files: UEFI PXE bootx64.efi, UEFI HTTP boot none, BIOS grub/i386-pc/core.0, iPXE none (iPXE off)' \
        "off: GRUB for BIOS"
conf_has 'dhcp-boot=tag:bios,tag:!ipxe,grub/i386-pc/core.0,,10.99.0.1' "off: no GRUB for BIOS"
! grep -q 'ipxe,175' "$PXF_TMP/run/dnsmasq.conf" || fail "off: a BIOS iPXE ROM would get no GRUB"
serve_once "$bios"
has 'boot files: UEFI PXE bootx64.efi, UEFI HTTP boot ipxe/snponly.efi, BIOS grub/i386-pc/core.0, iPXE boot.ipxe (iPXE fallback)' \
        "fallback: GRUB for BIOS, iPXE only for HTTP boot"
serve_once "$bios" --ipxe always
has 'BIOS ipxe/undionly.kpxe, iPXE boot.ipxe (iPXE always)' "always: iPXE for BIOS"
pass "a folder with GRUB for BIOS: BIOS clients get it unless iPXE is for every client"

serve_once "$plain" --ipxe always
[ "$RC" -eq 1 ] || { cat "$LOG" >&2; fail "--ipxe always on a folder without iPXE exited $RC, expected 1"; }
has "iPXE 'always': the artifacts carry no iPXE (ipxe/snponly.efi, ipxe/undionly.kpxe): build them with server.ipxe: always (the building host needs the Debian package ipxe)" \
        "the error does not say what to change"
pass "--ipxe always on a folder without iPXE stops serve at start, naming the setting and the package"

fallback=$(folder fallback "ipxe: fallback" "grub-http: no" "secure-boot: signed" with-ipxe)
serve_once "$fallback"
has 'boot files: UEFI PXE bootx64.efi, UEFI HTTP boot ipxe/snponly.efi, BIOS ipxe/undionly.kpxe, iPXE boot.ipxe (iPXE fallback)' \
        "fallback: iPXE for HTTP boot and BIOS"
has 'Secure Boot: shim, GRUB and the kernel are signed' "no word on the signed chain"
conf_has 'dhcp-boot=tag:efi-x64-http,http://10.99.0.1:80/ipxe/snponly.efi' "no iPXE URL for HTTP boot"
conf_has 'dhcp-boot=tag:bios,tag:!ipxe,ipxe/undionly.kpxe,,10.99.0.1' "no iPXE for BIOS"
serve_once "$fallback" --ipxe always
has 'boot files: UEFI PXE ipxe/snponly.efi, UEFI HTTP boot ipxe/snponly.efi, BIOS ipxe/undionly.kpxe, iPXE boot.ipxe (iPXE always)' \
        "always: iPXE for every client"
has 'Secure Boot: UEFI PXE clients get iPXE, which Secure Boot refuses' "no Secure Boot warning for iPXE"
pass "a folder with iPXE: fallback hands it to HTTP boot and BIOS, --ipxe always to every client, with a Secure Boot warning"

# Debian 13's GRUB speaks HTTP: HTTP-boot clients get shim and GRUB over HTTP.
grub212=$(folder grub212 "ipxe: fallback" "grub-http: yes" "secure-boot: signed" with-ipxe)
serve_once "$grub212" --http-port 8089
has 'boot files: UEFI PXE bootx64.efi, UEFI HTTP boot bootx64.efi, BIOS ipxe/undionly.kpxe' \
        "a GRUB with HTTP: shim for HTTP boot"
conf_has 'dhcp-boot=tag:efi-x64-http,http://10.99.0.1:8089/bootx64.efi' "no shim URL for HTTP boot"
pass "a GRUB with an HTTP client: HTTP-boot clients get shim over HTTP"
