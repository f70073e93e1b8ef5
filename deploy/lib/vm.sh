# shellcheck shell=bash
# deploy/lib/vm.sh - helpers for tests that boot QEMU x86_64 virtual machines.
#
# Source it from a bash test script:
#
#     . "$PXF_SOURCE_DIR/deploy/lib/vm.sh"     # or a path relative to the test
#     trap vm_stop EXIT
#     vm_boot_disk "$image" "$log"
#     vm_wait_for "$log" 'debian-test login:' 600 || exit 1
#
# One VM per shell: vm_boot_* refuses to start a second one until vm_stop has run.
#
# Environment knobs (all optional):
#   PXF_CACHE_DIR   where the KVM probe result is cached (default /var/cache/pxeforge)
#   PXF_ACCEL       force the accelerator ("kvm" or "tcg") and skip the probe
#   PXF_OVMF_CODE   firmware code image (default /usr/share/OVMF/OVMF_CODE_4M.fd)
#   PXF_OVMF_VARS   firmware variable store template (default /usr/share/OVMF/OVMF_VARS_4M.fd);
#                   a private copy is made for every VM, the template is never written
#   PXF_QEMU        QEMU binary (default qemu-system-x86_64)
#   PXF_VM_FIRMWARE uefi (default: OVMF) or bios (QEMU's SeaBIOS, and a NIC booted by
#                   vm_boot_pxe_tap keeps its PXE option ROM, QEMU's iPXE)
#   PXF_VM_MEM      memory in MiB of vm_boot_pxe_user and vm_boot_cdrom (default 3072)
#
# The library does not change shell options (set -e etc.) of the script that sources it.

if [[ -n "${_PXF_VM_SH_LOADED:-}" ]]; then
        return 0
fi
_PXF_VM_SH_LOADED=1

VM_PID=""     # PID of the QEMU started by vm_boot_*; empty when none is running
VM_DIR=""     # private directory of that VM (firmware variables, pid file, QEMU stderr)
VM_CONSOLE="" # console log of that VM

_vm_log() { printf '[vm] %s\n' "$*" >&2; }

_vm_cache_dir() {
        local d=${PXF_CACHE_DIR:-/var/cache/pxeforge}
        if mkdir -p "$d" 2>/dev/null && [[ -w $d ]]; then
                printf '%s\n' "$d"
        else
                d=${TMPDIR:-/tmp}/pxeforge-$(id -u)
                mkdir -p "$d"
                printf '%s\n' "$d"
        fi
}

_vm_qemu() { printf '%s\n' "${PXF_QEMU:-qemu-system-x86_64}"; }
_vm_ovmf_code() { printf '%s\n' "${PXF_OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}"; }
_vm_ovmf_vars() { printf '%s\n' "${PXF_OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}"; }

# _vm_probe_kvm: exit status 0 when KVM can really run a guest here.
# /dev/kvm being present and openable is not enough (on some nested hosts the ioctls
# succeed but the first x87/SSE instruction of the firmware fails with
# "KVM internal error ... emulation failure"), so this boots the real OVMF firmware under
# KVM with a 20 s limit and requires its boot manager ("BdsDxe") to print on the serial
# port. With working KVM that takes about a second.
_vm_probe_kvm() {
        [[ -r /dev/kvm && -w /dev/kvm ]] || return 1
        local qemu code vars dir pid rc=1 i
        qemu=$(_vm_qemu)
        code=$(_vm_ovmf_code)
        vars=$(_vm_ovmf_vars)
        command -v "$qemu" >/dev/null 2>&1 || return 1
        [[ -r $code && -r $vars ]] || return 1
        dir=$(mktemp -d "${TMPDIR:-/tmp}/pxf-kvm-probe.XXXXXX") || return 1
        cp "$vars" "$dir/vars.fd"
        "$qemu" -machine q35 -accel kvm -cpu host -m 256 -nodefaults -display none \
                -monitor none -no-reboot \
                -drive "if=pflash,format=raw,unit=0,readonly=on,file=$code" \
                -drive "if=pflash,format=raw,unit=1,file=$dir/vars.fd" \
                -serial "file:$dir/serial.log" </dev/null >"$dir/qemu.err" 2>&1 &
        pid=$!
        for ((i = 0; i < 100; i++)); do
                if grep -q 'BdsDxe' "$dir/serial.log" 2>/dev/null; then
                        rc=0
                        break
                fi
                if grep -qi 'internal error\|emulation failure\|failed to initialize kvm\|Could not access KVM' \
                        "$dir/qemu.err" 2>/dev/null; then
                        break
                fi
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.2
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -rf "$dir"
        return "$rc"
}

# vm_accel: print the QEMU accelerator to use, "kvm" or "tcg".
# "kvm" only if KVM really runs a guest (see _vm_probe_kvm). The answer is cached in
# $PXF_CACHE_DIR/kvm-probe together with the kernel boot id, so the probe (about 1 s
# with KVM, up to 20 s without) runs once per host boot. PXF_ACCEL=kvm|tcg overrides.
vm_accel() {
        if [[ -n "${PXF_ACCEL:-}" ]]; then
                printf '%s\n' "$PXF_ACCEL"
                return 0
        fi
        local cache boot_id line accel
        cache=$(_vm_cache_dir)/kvm-probe
        boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
        if [[ -r $cache ]]; then
                read -r line <"$cache" || true
                if [[ $line == "$boot_id "kvm || $line == "$boot_id "tcg ]]; then
                        printf '%s\n' "${line#* }"
                        return 0
                fi
        fi
        # In a subshell with stderr discarded: bash would otherwise report a crashed probe
        # QEMU ("Aborted") on our stderr.
        if (_vm_probe_kvm) 2>/dev/null; then accel=kvm; else accel=tcg; fi
        printf '%s %s\n' "$boot_id" "$accel" >"$cache.$$" && mv -f "$cache.$$" "$cache"
        printf '%s\n' "$accel"
}

# vm_vcpus [ACCEL]: how many vCPUs a VM gets under ACCEL (default: vm_accel's): one under
# TCG (why: _vm_start), two with KVM.
vm_vcpus() {
        if [[ ${1:-$(vm_accel)} == tcg* ]]; then echo 1; else echo 2; fi
}

# vm_guestfs_env: prepare the environment for libguestfs tools (guestfish, virt-*).
# When KVM does not work, exports LIBGUESTFS_BACKEND=direct and adds force_tcg to
# LIBGUESTFS_BACKEND_SETTINGS (otherwise libguestfs would try KVM because /dev/kvm
# exists, and its appliance would crash). When KVM works, changes nothing.
vm_guestfs_env() {
        if [[ $(vm_accel) == tcg ]]; then
                export LIBGUESTFS_BACKEND=direct
                case ":${LIBGUESTFS_BACKEND_SETTINGS:-}:" in
                *:force_tcg:*) ;;
                *) export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:+$LIBGUESTFS_BACKEND_SETTINGS:}force_tcg ;;
                esac
        fi
}

# _vm_start <console.log> <mem MiB> [qemu args...]: common part of vm_boot_*.
# Starts QEMU (q35, OVMF with a private copy of the variable store, 2 vCPUs, serial
# console appended to <console.log>, no display, no monitor) in the background and
# returns at once. Sets VM_PID, VM_DIR and VM_CONSOLE.
_vm_start() {
        local console=$1 mem=$2
        shift 2
        if [[ -n $VM_PID ]] && kill -0 "$VM_PID" 2>/dev/null; then
                _vm_log "a VM is already running (pid $VM_PID); call vm_stop first"
                return 1
        fi
        local qemu code vars accel
        local -a cpu=()
        qemu=$(_vm_qemu)
        code=$(_vm_ovmf_code)
        vars=$(_vm_ovmf_vars)
        if ! command -v "$qemu" >/dev/null 2>&1; then
                _vm_log "$qemu not found: install the Debian package qemu-system-x86"
                return 1
        fi
        local -a firmware=()
        local uefi=1
        [[ ${PXF_VM_FIRMWARE:-uefi} == bios ]] && uefi=0
        if ((uefi)) && [[ ! -r $code || ! -r $vars ]]; then
                _vm_log "OVMF firmware not found ($code, $vars): install the Debian package ovmf"
                return 1
        fi
        accel=$(vm_accel)
        # TCG keeps QEMU's default CPU model (qemu64), which every amd64 distribution kernel
        # supports; KVM passes the host CPU through. Under TCG a VM has one vCPU: with two,
        # Debian 13's kernel (6.12) once died at boot with "Oops: int3" where it patches its
        # own code while the other vCPU runs it (a race of QEMU's multi-threaded TCG), and
        # with both on one host thread (thread=single) a Debian 12 live boot was so slow that
        # its serial getty gave up waiting for ttyS0; the tests run one VM per core anyway.
        local smp
        smp=$(vm_vcpus "$accel")
        [[ $accel == kvm ]] && cpu=(-cpu host)
        VM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pxf-vm.XXXXXX") || return 1
        if ((uefi)); then
                cp "$vars" "$VM_DIR/OVMF_VARS.fd"
                firmware=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$code"
                        -drive "if=pflash,format=raw,unit=1,file=$VM_DIR/OVMF_VARS.fd")
        fi
        mkdir -p "$(dirname "$console")"
        : >"$console"
        VM_CONSOLE=$console
        local -a cmd=(
                "$qemu" -name pxf-test-vm
                -machine q35 -accel "$accel" "${cpu[@]}" -smp "$smp" -m "$mem"
                -nodefaults -vga std -display none -monitor none -no-user-config
                "${firmware[@]}"
                -chardev "file,id=serial0,path=$console,append=on"
                -serial chardev:serial0
                -device virtio-rng-pci
                -pidfile "$VM_DIR/qemu.pid"
                "$@"
        )
        printf '%q ' "${cmd[@]}" >"$VM_DIR/cmdline"
        _vm_log "starting QEMU ($accel, ${mem} MiB), console: $console"
        "${cmd[@]}" </dev/null >"$VM_DIR/qemu.out" 2>&1 &
        VM_PID=$!
        return 0
}

# vm_boot_disk <disk.qcow2> <console.log> [extra qemu args...]
# Boots a UEFI disk image: 2 vCPUs, 2048 MiB, OVMF, the disk on virtio-blk (first in the
# boot order) opened with -snapshot so the image file is never modified, one virtio-net
# NIC on QEMU user-mode networking (guest 10.0.2.15, DHCP from QEMU), virtio-rng, no
# display, serial console to <console.log> (truncated first). Returns at once; the
# QEMU PID is in VM_PID. Extra args are appended to the QEMU command line.
vm_boot_disk() {
        if (($# < 2)); then
                _vm_log "usage: vm_boot_disk <disk.qcow2> <console.log> [qemu args...]"
                return 2
        fi
        local disk=$1 console=$2 fmt=qcow2
        shift 2
        if [[ ! -r $disk ]]; then
                _vm_log "disk image not found: $disk"
                return 1
        fi
        [[ $disk == *.qcow2 ]] || fmt=raw
        _vm_start "$console" 2048 \
                -snapshot \
                -drive "if=none,id=disk0,format=$fmt,file=$disk" \
                -device virtio-blk-pci,drive=disk0,bootindex=1 \
                -netdev user,id=net0 -device virtio-net-pci,netdev=net0 \
                "$@"
}

# vm_boot_cdrom <image.iso> <console.log> [extra qemu args...]
# Boots an ISO image from a SATA (AHCI) CD-ROM drive, first in the boot order: 2 vCPUs,
# 3072 MiB (PXF_VM_MEM), OVMF, one virtio-net NIC on user-mode networking, no disk (pass e.g.
# -drive if=none,id=d0,file=X -device virtio-blk-pci,drive=d0 as extra args for one).
# Returns at once, like vm_boot_disk.
vm_boot_cdrom() {
        if (($# < 2)); then
                _vm_log "usage: vm_boot_cdrom <image.iso> <console.log> [qemu args...]"
                return 2
        fi
        local iso=$1 console=$2
        shift 2
        if [[ ! -r $iso ]]; then
                _vm_log "ISO image not found: $iso"
                return 1
        fi
        _vm_start "$console" "${PXF_VM_MEM:-3072}" \
                -drive "if=none,id=cd0,media=cdrom,readonly=on,format=raw,file=$iso" \
                -device ide-cd,bus=ide.0,drive=cd0,bootindex=1 \
                -netdev user,id=net0 -device virtio-net-pci,netdev=net0 \
                "$@"
}

# vm_boot_pxe_user <tftp-dir> <bootfile> <console.log> [extra qemu args...]
# PXE-boots through QEMU user-mode networking: QEMU's built-in DHCP server hands out
# <bootfile> (a path relative to <tftp-dir>) and its TFTP server serves <tftp-dir>
# read-only at 10.0.2.2. The virtio-net NIC has no option ROM (romfile=), so OVMF's own
# network stack (VirtioNetDxe + PXE over IPv4) does the boot, as on real UEFI hardware.
# 2 vCPUs, 3072 MiB (PXF_VM_MEM), no disk unless given as extra args. Returns at once.
# VM_USER_NET: more -netdev user options, e.g. "net=192.168.77.0/24,host=192.168.77.1"
# to give the host (and its loopback services) another address in the VM.
vm_boot_pxe_user() {
        if (($# < 3)); then
                _vm_log "usage: vm_boot_pxe_user <tftp-dir> <bootfile> <console.log> [qemu args...]"
                return 2
        fi
        local tftp=$1 bootfile=$2 console=$3
        shift 3
        if [[ ! -d $tftp ]]; then
                _vm_log "TFTP directory not found: $tftp"
                return 1
        fi
        if [[ ! -e $tftp/$bootfile ]]; then
                _vm_log "warning: boot file $tftp/$bootfile does not exist"
        fi
        tftp=$(cd "$tftp" && pwd)
        _vm_start "$console" "${PXF_VM_MEM:-3072}" \
                -netdev "user,id=net0,tftp=$tftp,bootfile=$bootfile${VM_USER_NET:+,$VM_USER_NET}" \
                -device virtio-net-pci,netdev=net0,romfile=,bootindex=1 \
                "$@"
}

# vm_boot_pxe_tap <tap> <mac> <mem MiB> <console.log> [extra qemu args...]
# PXE-boots from a real network: one virtio-net NIC with the given MAC address on the
# existing tap device <tap> (opened with script=no,downscript=no: the caller has already
# created it and enslaved it to a bridge, e.g. in a network namespace, where QEMU must
# then run too). The NIC has no option ROM (romfile=), so OVMF's own network stack does
# the boot (UEFI PXE, then HTTP boot), and it is first in the boot order; with
# PXF_VM_FIRMWARE=bios it keeps its ROM (QEMU's iPXE), which SeaBIOS boots. No disk unless
# given as extra args. 2 vCPUs, <mem> MiB. Returns at once, like vm_boot_disk.
vm_boot_pxe_tap() {
        if (($# < 4)); then
                _vm_log "usage: vm_boot_pxe_tap <tap> <mac> <mem MiB> <console.log> [qemu args...]"
                return 2
        fi
        local tap=$1 mac=$2 mem=$3 console=$4
        shift 4
        if [[ ! -e /sys/class/net/$tap ]]; then
                _vm_log "tap device $tap not found in this network namespace"
                return 1
        fi
        if [[ ! $mac =~ ^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$ ]]; then
                _vm_log "bad MAC address: $mac (expected six hex pairs, e.g. 52:54:00:77:00:01)"
                return 1
        fi
        if [[ ! $mem =~ ^[0-9]+$ ]] || ((mem < 256)); then
                _vm_log "bad memory size: $mem (MiB, at least 256)"
                return 1
        fi
        local rom=,romfile=
        [[ ${PXF_VM_FIRMWARE:-uefi} == bios ]] && rom=
        _vm_start "$console" "$mem" \
                -netdev "tap,id=net0,ifname=$tap,script=no,downscript=no" \
                -device "virtio-net-pci,netdev=net0,mac=$mac$rom,bootindex=1" \
                "$@"
}

# _vm_strip <file>: print a console log without carriage returns, ANSI escapes and bytes
# that are not UTF-8 (OVMF draws GRUB's menu frame in code page 437).
_vm_strip() {
        sed -e 's/\r$//' -e 's/\r/\n/g' -e 's/\x1b\[[0-9;=?]*[A-Za-z]//g' "$1" |
                iconv -f UTF-8 -t UTF-8 -c
}

# vm_wait_for <console.log> <extended regex> <timeout seconds>
# Polls the console log (once a second) until a line matches the regex (grep -E).
# Returns 0 when found; 1 on timeout or when QEMU exited first, after printing the reason
# and the last 40 lines of the console (and QEMU's own messages) to stderr.
vm_wait_for() {
        if (($# != 3)); then
                _vm_log "usage: vm_wait_for <console.log> <extended regex> <timeout seconds>"
                return 2
        fi
        local console=$1 regex=$2 timeout=$3 start=$SECONDS why
        while :; do
                if [[ -r $console ]] && grep -aEq -- "$regex" "$console"; then
                        return 0
                fi
                if [[ -n $VM_PID && $console == "$VM_CONSOLE" ]] && ! kill -0 "$VM_PID" 2>/dev/null; then
                        # QEMU is gone; the log cannot change any more.
                        grep -aEq -- "$regex" "$console" 2>/dev/null && return 0
                        why="QEMU (pid $VM_PID) exited before /$regex/ appeared on the console"
                        break
                fi
                if ((SECONDS - start >= timeout)); then
                        why="timed out after ${timeout} s waiting for /$regex/ on the console"
                        break
                fi
                sleep 1
        done
        _vm_log "$why"
        _vm_log "last 40 lines of $console:"
        if [[ -r $console ]]; then
                _vm_strip "$console" | tail -n 40 >&2
        fi
        if [[ -n $VM_DIR && -s $VM_DIR/qemu.out ]]; then
                _vm_log "QEMU said:"
                tail -n 20 "$VM_DIR/qemu.out" >&2
        fi
        return 1
}

# vm_stop: stop the QEMU started by vm_boot_* (SIGTERM, then SIGKILL after 10 s) and
# remove its private files. Safe to call twice or when no VM was started; always
# returns 0, so it can be used as `trap vm_stop EXIT`.
vm_stop() {
        local pid=$VM_PID i
        if [[ -n $pid ]]; then
                if kill -0 "$pid" 2>/dev/null; then
                        kill -TERM "$pid" 2>/dev/null || true
                        for ((i = 0; i < 50; i++)); do
                                kill -0 "$pid" 2>/dev/null || break
                                sleep 0.2
                        done
                        kill -KILL "$pid" 2>/dev/null || true
                fi
                wait "$pid" 2>/dev/null || true
        fi
        VM_PID=""
        if [[ -n $VM_DIR ]]; then
                rm -rf "$VM_DIR"
                VM_DIR=""
        fi
        return 0
}
