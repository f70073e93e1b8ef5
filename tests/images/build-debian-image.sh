#!/bin/bash
# tests/images/build-debian-image.sh - build (or reuse) the cached test image: Debian 12
# "bookworm" or Debian 13 "trixie", amd64, UEFI, laid out the way the Debian installer
# lays out a UEFI system.
#
# Usage:  sudo tests/images/build-debian-image.sh [LAYOUT [RELEASE]]
#         image=$(tests/images/build-debian-image.sh [LAYOUT [RELEASE]])
#
# RELEASE is bookworm (the default: oldstable) or trixie (stable). Both are built the same
# way from the same package list; the image names and the apt sources carry the release.
#
# LAYOUT is how the disk is laid out (default: standard):
#   standard  ESP + one ext4 root (below), what the Debian installer's "guided - use
#             entire disk" gives on UEFI
#   boot-xfs  ESP + a separate ext4 /boot (512 MiB) + an xfs root (the RHEL family's way;
#             needs libguestfs-xfs on the host)
#   lvm       ESP + an LVM physical volume holding volume group "pxfvg" with an ext4 root
#             on logical volume "root", /boot inside it (GRUB reads it through LVM)
#   btrfs     ESP + one btrfs file system with subvolumes @ (mounted on /) and @home (on
#             /home), the top level as its default subvolume (Ubuntu's and openSUSE's way)
# Each layout is its own image, debian-RELEASE-LAYOUT-<key>.qcow2 (the standard one keeps
# the name debian-RELEASE-<key>.qcow2), with the same packages and settings; the three
# other layouts also have the tools their roots need at boot (xfsprogs, lvm2, btrfs-progs)
# and share one root file system tarball per release, debian-RELEASE-layouts-<key>.rootfs.tar,
# kept in the cache beside them.
#
# Prints the path of the qcow2 image on stdout and nothing else; progress goes to stderr.
#
# The image:
#   - qcow2, 4 GiB virtual, GPT:
#       1: EFI system partition, 200 MiB, FAT32, file system label "EFI", GPT name "EFI"
#       2: ext4 root, file system label "root", GPT name "root", rest of the disk
#   - root file system made by mmdebstrap (--variant=important, i.e. what debootstrap
#     and the installer's base system give) from http://deb.debian.org plus the kernel,
#     initramfs-tools, GRUB (EFI, signed) and shim (signed); apt sources point at
#     RELEASE, RELEASE-updates and RELEASE-security, so apt-get works in the guest
#   - /etc/fstab by UUID; the ESP is mounted at /boot/efi with umask=0077
#   - ESP: EFI/debian/{shimx64,grubx64,mmx64,fbx64}.efi, BOOTX64.CSV and the grub.cfg stub
#     that finds the root file system by UUID, as grub-install writes them; plus the
#     removable-media path EFI/BOOT/{BOOTX64.EFI (shim),grubx64.efi,mmx64.efi} (no fbx64:
#     shim's fallback would try to write boot entries to NVRAM and reset)
#   - /boot/grub/grub.cfg made by the image's own grub-mkconfig (root=UUID=...);
#     kernel command line "console=tty0 console=ttyS0,115200", GRUB timeout 1 s and
#     GRUB on the serial port too
#   - the SELinux policy (selinux-policy-default, selinux-utils), off (SELINUX=disabled),
#     for the tests of os.selinux.mode, in the standard images and Debian 13's layouts
#   - hostname debian-test; root locked (no password; log in by customising the image);
#     DHCP on every Ethernet NIC with systemd-networkd, DNS through systemd-resolved;
#     empty /etc/machine-id (generated at first boot); no SSH host keys
#
# Cache: ${PXF_CACHE_DIR:-/var/cache/pxeforge}/debian-RELEASE-<key>.qcow2, where <key> is
# the first 16 hex digits of the SHA-256 of this script (plus IMAGE_INPUTS below, the files
# of tests/images/ it reads; none at the moment). An existing image is reused at once.
# Builds of one image are serialised with flock; older debian-RELEASE-*.qcow2 files of
# the same layout are deleted after a successful build.
#
# Needs root, mmdebstrap, libguestfs-tools, qemu-utils and network access to
# deb.debian.org. About 3 minutes on 2 cores without KVM (mmdebstrap ~80 s, libguestfs
# ~100 s). Uses KVM for the libguestfs appliance only when KVM really works
# (deploy/lib/vm.sh: vm_guestfs_env). The build log (mmdebstrap --verbose, maintainer
# scripts, guestfish commands) is kept beside the image as <image>.build.log; a failed
# build's log as debian-RELEASE[-LAYOUT]-last-failure.log.
set -euo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SCRIPT")
# Files of tests/images/ that this script reads and that change the image (part of the key).
IMAGE_INPUTS=()

LAYOUT=${1:-standard}
case $LAYOUT in
standard | boot-xfs | lvm | btrfs) ;;
*)
        echo "build-debian-image: unknown layout '$LAYOUT' (standard, boot-xfs, lvm, btrfs)" >&2
        exit 2
        ;;
esac
SUITE=${2:-bookworm}
case $SUITE in
bookworm | trixie) ;;
*)
        echo "build-debian-image: unknown release '$SUITE' (bookworm, trixie)" >&2
        exit 2
        ;;
esac
CACHE_DIR=${PXF_CACHE_DIR:-/var/cache/pxeforge}
KEY=$(cat "$SCRIPT" "${IMAGE_INPUTS[@]}" | sha256sum | cut -c1-16)
NAME=debian-$SUITE
[[ $LAYOUT == standard ]] || NAME=debian-$SUITE-$LAYOUT
OUT=$CACHE_DIR/$NAME-$KEY.qcow2

# Fast path: the image for this version of the script is already there.
if [[ -f $OUT ]]; then
        printf '%s\n' "$OUT"
        exit 0
fi

MIRROR=http://deb.debian.org/debian
SECURITY_MIRROR=http://deb.debian.org/debian-security
HOSTNAME_=debian-test
CMDLINE="console=tty0 console=ttyS0,115200"
DISK_SIZE=4G
ESP_START=2048 # sectors of 512 bytes: 1 MiB alignment
ESP_END=411647 # 200 MiB ESP
ESP_TYPE=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
# On top of --variant=important (Priority required + important, as debootstrap installs).
# mmdebstrap does not install Recommends; the installer does, so the ones that change how
# the system boots are listed: zstd (initramfs-tools compresses with it) and busybox (in
# the initramfs), efibootmgr. Deliberately left out: systemd-timesyncd (NTP traffic).
PACKAGES=(
        linux-image-amd64 initramfs-tools zstd busybox kmod udev
        systemd systemd-sysv systemd-resolved libpam-systemd dbus
        grub-efi-amd64 grub-efi-amd64-bin grub-efi-amd64-signed shim-signed efibootmgr dosfstools
        iproute2 passwd login ca-certificates apt
)
# The layouts share one root file system (one mmdebstrap run, ~80 s, for the three
# images): it has the tools each of their roots needs at boot.
ROOTFS_NAME=$NAME
if [[ $LAYOUT != standard ]]; then
        PACKAGES+=(xfsprogs lvm2 btrfs-progs)
        ROOTFS_NAME=debian-$SUITE-layouts
fi
# The SELinux policy, for os.selinux.mode, in the images vm.customize-boot uses: the
# standard one and Debian 13's layouts (its boot-xfs image, see tests/CMakeLists.txt).
# Installed here at native speed, where installing it in the appliance costs minutes
# under TCG. It stays off (SELINUX=disabled below; Debian's kernel starts AppArmor) until
# a config turns it on. About 28 MB, which every tree, squashfs and full-OS initramfs
# built from the image carries, so the other images go without it.
if [[ $LAYOUT == standard || $SUITE == trixie ]]; then
        PACKAGES+=(selinux-policy-default selinux-utils)
fi

log() { printf '[build-debian-image] %s\n' "$*" >&2; }
die() {
        log "error: $*"
        exit 1
}

# ---- prerequisites ----------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || die "must run as root (mmdebstrap root mode, libguestfs on a fresh disk)"
need() { # need <command> <debian package>
        command -v "$1" >/dev/null 2>&1 ||
                die "'$1' not found: install the Debian package '$2' (apt-get install $2)"
}
need mmdebstrap mmdebstrap
need guestfish libguestfs-tools
need qemu-img qemu-utils
need qemu-system-x86_64 qemu-system-x86
need flock util-linux
need setsid util-linux
need findmnt util-linux
need sha256sum coreutils
need mkfs.fat dosfstools # formats the ESP as a file
compgen -G '/boot/vmlinuz-*' >/dev/null ||
        die "no kernel in /boot (libguestfs's supermin needs one): install the Debian package 'linux-image-amd64'"
[[ -r $SCRIPT_DIR/../../deploy/lib/vm.sh ]] || die "missing $SCRIPT_DIR/../../deploy/lib/vm.sh"
# shellcheck source-path=SCRIPTDIR source=../../deploy/lib/vm.sh
. "$SCRIPT_DIR/../../deploy/lib/vm.sh"

mkdir -p "$CACHE_DIR"

# ---- lock: one build at a time -----------------------------------------------------------
LOCK=$CACHE_DIR/$NAME.lock
exec 9>"$LOCK"
if ! flock -n 9; then
        log "another build holds $LOCK, waiting for it"
        flock 9
fi
if [[ -f $OUT ]]; then # built by the process we waited for
        printf '%s\n' "$OUT"
        exit 0
fi

# umount_under <dir>: detach every mount below <dir> (mmdebstrap mounts /proc, /sys and
# /dev in its chroot; a build killed hard can leave them behind).
umount_under() {
        local m
        findmnt -rn -o TARGET | awk -v p="$1/" 'index($0, p) == 1' | sort -r |
                while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# Leftovers of builds that were killed hard (we hold the lock, so none is running).
for d in "$CACHE_DIR"/.build-"$NAME".*; do
        if [[ -d $d ]]; then
                umount_under "$d"
                rm -rf --one-file-system "$d" 2>/dev/null || true
        fi
done

WORK=$(mktemp -d "$CACHE_DIR/.build-$NAME.XXXXXX")
LOGFILE=$WORK/build.log
CHILD_PID=""
GF_PID=""
BUILD_OK=""

cleanup() {
        local rc=$? i
        trap - EXIT INT TERM
        if [[ -n $CHILD_PID ]]; then
                # The step runs in its own process group (see run): stop all of it (mmdebstrap
                # does not stop apt/dpkg on SIGTERM, it lets them finish), SIGKILL after 5 s.
                kill -TERM -- "-$CHILD_PID" 2>/dev/null || true
                for ((i = 0; i < 25; i++)); do
                        kill -0 -- "-$CHILD_PID" 2>/dev/null || break
                        sleep 0.2
                done
                kill -KILL -- "-$CHILD_PID" 2>/dev/null || true
                wait "$CHILD_PID" 2>/dev/null || true
        fi
        if [[ -n $GF_PID ]]; then
                # Not "guestfish --remote exit": the server may be busy with a long command.
                # libguestfs's recovery process stops the appliance when guestfish dies.
                kill -TERM "$GF_PID" 2>/dev/null || true
                for ((i = 0; i < 50; i++)); do
                        kill -0 "$GF_PID" 2>/dev/null || break
                        sleep 0.2
                done
        fi
        if [[ -z $BUILD_OK && -s $LOGFILE ]]; then
                cp "$LOGFILE" "$CACHE_DIR/$NAME-last-failure.log" 2>/dev/null || true
                log "build failed; last lines of the log (full log: $CACHE_DIR/$NAME-last-failure.log):"
                tail -n 40 "$LOGFILE" >&2 || true
        fi
        # --one-file-system: never descend into a /proc or /dev still mounted by a killed
        # mmdebstrap.
        umount_under "$WORK"
        rm -rf --one-file-system "$WORK" 2>/dev/null || true
        exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# run <command...>: run a command with its output in the build log, in the background so
# that INT/TERM are handled at once (bash defers traps while a foreground child runs), and
# in a process group of its own (setsid) so that cleanup can stop it with its children.
run() {
        printf '+ %s\n' "$*" >>"$LOGFILE"
        setsid --wait "$@" >>"$LOGFILE" 2>&1 9>&- </dev/null &
        CHILD_PID=$!
        local rc=0
        wait "$CHILD_PID" || rc=$?
        CHILD_PID=""
        return "$rc"
}

STEP_T0=$SECONDS
step_done() { # step_done <what>: one progress line per step with its duration
        log "$1: $((SECONDS - STEP_T0)) s"
        STEP_T0=$SECONDS
}

BUILD_T0=$SECONDS
log "building $OUT (log: $LOGFILE)"

# ---- 1. root file system -------------------------------------------------------------------
# Hooks run by mmdebstrap with the root directory as $1.
cat >"$WORK/essential-hook.sh" <<EOF
#!/bin/sh
# Answer grub's debconf questions before grub-efi-amd64 is configured: never touch NVRAM
# (also on later upgrades inside the guest: OVMF with fresh variables has no entries
# anyway), keep the removable-media copy in EFI/BOOT up to date, and the serial console.
set -eu
chroot "\$1" debconf-set-selections <<'SEL'
grub-efi-amd64 grub2/update_nvram boolean false
grub-efi-amd64 grub2/force_efi_extra_removable boolean true
grub-efi-amd64 grub2/linux_cmdline string
grub-efi-amd64 grub2/linux_cmdline_default string $CMDLINE
SEL
EOF

cat >"$WORK/customize-hook.sh" <<EOF
#!/bin/sh
set -eu
root=\$1

echo $HOSTNAME_ >"\$root/etc/hostname"
cat >"\$root/etc/hosts" <<'HOSTS'
127.0.0.1	localhost
127.0.1.1	$HOSTNAME_

# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
HOSTS

# GRUB: short timeout, serial console for GRUB and the kernel (like Debian's cloud images).
f=\$root/etc/default/grub
sed -i \\
	-e 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=1/' \\
	-e 's/^GRUB_CMDLINE_LINUX_DEFAULT=.*/GRUB_CMDLINE_LINUX_DEFAULT="$CMDLINE"/' \\
	-e 's/^#\\?GRUB_TERMINAL=.*/GRUB_TERMINAL="console serial"/' \\
	"\$f"
grep -q '^GRUB_TERMINAL=' "\$f" || echo 'GRUB_TERMINAL="console serial"' >>"\$f"
grep -q '^GRUB_SERIAL_COMMAND=' "\$f" ||
	echo 'GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"' >>"\$f"

# Network: DHCP on the Ethernet NICs with systemd-networkd, DNS with systemd-resolved.
mkdir -p "\$root/etc/systemd/network"
cat >"\$root/etc/systemd/network/90-dhcp.network" <<'NET'
# pxeforge test image: DHCP (IPv4 and IPv6) on every Ethernet interface.
[Match]
Name=en* eth*
Type=ether

[Network]
DHCP=yes
NET
chroot "\$root" systemctl enable systemd-networkd.service systemd-resolved.service
ln -sf ../run/systemd/resolve/stub-resolv.conf "\$root/etc/resolv.conf"

# Root locked, no password (Debian's default when no root password is given).
chroot "\$root" usermod --password '*' root

# No host identity in a template image.
rm -f "\$root"/etc/ssh/ssh_host_*
: >"\$root/etc/machine-id"
rm -f "\$root/var/lib/dbus/machine-id"

# The SELinux policy is installed but off, as Debian leaves it until selinux-activate.
if [ -e "\$root/etc/selinux/config" ]; then
	sed -i 's/^SELINUX=.*/SELINUX=disabled/' "\$root/etc/selinux/config"
fi

# What the tests install later comes without Recommends, as in Debian's minimal and
# container images: dracut-core alone recommends mdadm (which pulls in an MTA), lvm2,
# cryptsetup and console-setup, dracut-network open-iscsi and nfs-common. In the appliance
# under TCG they cost minutes per disk build (the boot-xfs layout's package step took 457
# s), and their services slowed each boot under TCG by minutes.
cat >"\$root/etc/apt/apt.conf.d/90pxf-no-recommends" <<'APT'
APT::Install-Recommends "false";
APT

# Build-time settings of mmdebstrap (--aptopt/--dpkgopt) do not belong in the image.
rm -f "\$root/etc/apt/apt.conf.d/99mmdebstrap" "\$root/etc/dpkg/dpkg.cfg.d/99mmdebstrap"
EOF
chmod +x "$WORK/essential-hook.sh" "$WORK/customize-hook.sh"

# make_rootfs TAR: the root file system as a tarball, made by mmdebstrap.
make_rootfs() {
        local pkgs
        pkgs=$(
                IFS=,
                echo "${PACKAGES[*]}"
        )
        export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true
        # mmdebstrap puts its temporary root (with /proc, /sys, /dev mounted) into TMPDIR.
        run env TMPDIR="$WORK" mmdebstrap \
                --verbose --mode=root --variant=important --architectures=amd64 \
                --include="$pkgs" \
                --aptopt='Acquire::Retries "3"' \
                --dpkgopt=force-unsafe-io \
                --essential-hook="$WORK/essential-hook.sh" \
                --customize-hook="$WORK/customize-hook.sh" \
                "$SUITE" "$1" \
                "deb $MIRROR $SUITE main" \
                "deb $MIRROR $SUITE-updates main" \
                "deb $SECURITY_MIRROR $SUITE-security main"
}

ROOTFS=$WORK/rootfs.tar
if [[ $ROOTFS_NAME == "$NAME" ]]; then
        make_rootfs "$ROOTFS"
        step_done "mmdebstrap ($(du -m "$ROOTFS" | cut -f1) MiB tarball)"
else
        # One layout image's build makes the shared tarball; the others wait for it.
        ROOTFS=$CACHE_DIR/$ROOTFS_NAME-$KEY.rootfs.tar
        exec 8>"$CACHE_DIR/$ROOTFS_NAME.lock"
        flock 8
        if [[ ! -f $ROOTFS ]]; then
                make_rootfs "$WORK/rootfs.tar"
                mv -f "$WORK/rootfs.tar" "$ROOTFS"
                step_done "mmdebstrap ($(du -m "$ROOTFS" | cut -f1) MiB tarball, shared by the layouts)"
        else
                step_done "mmdebstrap: the layouts' shared tarball $ROOTFS"
        fi
        flock -u 8
        exec 8>&-
        for old in "$CACHE_DIR/$ROOTFS_NAME"-????????????????.rootfs.tar; do
                [[ ! -f $old || $old == "$ROOTFS" ]] || rm -f "$old"
        done
fi

# ---- 2. disk --------------------------------------------------------------------------------
IMG=$WORK/$NAME.qcow2
run qemu-img create -q -f qcow2 "$IMG" "$DISK_SIZE"

vm_guestfs_env
log "libguestfs: backend ${LIBGUESTFS_BACKEND:-default}${LIBGUESTFS_BACKEND_SETTINGS:+, settings $LIBGUESTFS_BACKEND_SETTINGS}"
GF_OUT=$(guestfish --listen 9>&- 2>>"$LOGFILE") || die "guestfish --listen failed"
eval "$GF_OUT"
GF_PID=${GUESTFISH_PID:-}
[[ -n $GF_PID ]] || die "guestfish did not start (see $LOGFILE)"

# gf <guestfish command...>: one command in the guestfish server; output to the log.
gf() { run guestfish --remote="$GF_PID" -- "$@"; }
# gfo <guestfish command...>: same, but the command's output on stdout.
gfo() {
        printf '+ guestfish %s\n' "$*" >>"$LOGFILE"
        guestfish --remote="$GF_PID" -- "$@" 2>>"$LOGFILE" 9>&-
}

gf add-drive "$IMG" format:qcow2
gf set-smp 2
gf run
step_done "libguestfs appliance started"

BOOT_END=$((ESP_END + 1048576)) # a separate /boot: 512 MiB
LVM_TYPE=E6D6D379-F507-44C2-A23C-238F2A3DF928
ROOT_DEV=/dev/sda2 # what holds /
BOOT_DEV=""        # a separate /boot, if any
gf part-init /dev/sda gpt
gf part-add /dev/sda p "$ESP_START" "$ESP_END"
gf part-set-gpt-type /dev/sda 1 "$ESP_TYPE"
gf part-set-name /dev/sda 1 EFI
case $LAYOUT in
standard)
        gf part-add /dev/sda p $((ESP_END + 1)) -34 # up to the last usable GPT sector
        gf part-set-name /dev/sda 2 root
        gf mkfs ext4 /dev/sda2 label:root
        gf mount /dev/sda2 /
        ;;
boot-xfs)
        gf part-add /dev/sda p $((ESP_END + 1)) "$BOOT_END"
        gf part-add /dev/sda p $((BOOT_END + 1)) -34
        gf part-set-name /dev/sda 2 boot
        gf part-set-name /dev/sda 3 root
        ROOT_DEV=/dev/sda3 BOOT_DEV=/dev/sda2
        gf mkfs ext4 "$BOOT_DEV" label:boot
        gf mkfs xfs "$ROOT_DEV" label:root
        gf mount "$ROOT_DEV" /
        gf mkdir /boot
        gf mount "$BOOT_DEV" /boot
        ;;
lvm)
        gf part-add /dev/sda p $((ESP_END + 1)) -34
        gf part-set-name /dev/sda 2 lvm
        gf part-set-gpt-type /dev/sda 2 "$LVM_TYPE"
        gf pvcreate /dev/sda2
        gf vgcreate pxfvg /dev/sda2
        gf lvcreate-free root pxfvg 100
        ROOT_DEV=/dev/pxfvg/root
        gf mkfs ext4 "$ROOT_DEV" label:root
        gf mount "$ROOT_DEV" /
        ;;
btrfs)
        gf part-add /dev/sda p $((ESP_END + 1)) -34
        gf part-set-name /dev/sda 2 root
        gf mkfs btrfs /dev/sda2 label:root
        gf mount /dev/sda2 /
        gf btrfs-subvolume-create /@
        gf btrfs-subvolume-create /@home
        gf umount /
        gf mount-options subvol=@ /dev/sda2 /
        gf mkdir /home
        gf mount-options subvol=@home /dev/sda2 /home
        ;;
esac
step_done "partitions and file systems ($LAYOUT)"

gf tar-in "$ROOTFS" / xattrs:true
rm -f "$WORK/rootfs.tar"
step_done "root file system copied in"

# FAT32 ESP (UEFI's file system), formatted as a file on the host (mkfs.fat writes the
# file, nothing is mounted) and written onto the partition. Not `command mkfs.fat` in the
# image: that runs in a chroot whose /dev is bound from the appliance's, and once in two
# builds here the partition node was not there ("unable to open /dev/sda1").
mkfs.fat -F 32 -n EFI -C "$WORK/esp.img" $(((ESP_END - ESP_START + 1) / 2)) >>"$LOGFILE" 2>&1 ||
        die "mkfs.fat could not format the ESP image (see $LOGFILE)"
gf upload "$WORK/esp.img" /dev/sda1
rm -f "$WORK/esp.img"
gf mkdir-p /boot/efi
gf mount /dev/sda1 /boot/efi
ESP_UUID=$(gfo vfs-uuid /dev/sda1)
ROOT_UUID=$(gfo vfs-uuid "$ROOT_DEV")
[[ -n $ESP_UUID && -n $ROOT_UUID ]] || die "could not read the file system UUIDs"
BOOT_UUID=""
[[ -z $BOOT_DEV ]] || BOOT_UUID=$(gfo vfs-uuid "$BOOT_DEV")
log "root UUID $ROOT_UUID, ESP UUID $ESP_UUID${BOOT_UUID:+, /boot UUID $BOOT_UUID}"

# fstab as the installer writes it for the layout.
{
        cat <<EOF
# /etc/fstab: static file system information.
#
# Use 'blkid' to print the universally unique identifier for a
# device; this may be used with UUID= as a more robust way to name devices
# that works even if disks are added and removed. See fstab(5).
#
# systemd generates mount units based on this file, see systemd.mount(5).
# Please run 'systemctl daemon-reload' after you make changes here.
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
EOF
        case $LAYOUT in
        standard) echo "UUID=$ROOT_UUID /               ext4    errors=remount-ro 0       1" ;;
        boot-xfs)
                echo "UUID=$ROOT_UUID /               xfs     defaults        0       0"
                echo "UUID=$BOOT_UUID /boot           ext4    defaults        0       2"
                ;;
        lvm) echo "/dev/mapper/pxfvg-root /               ext4    errors=remount-ro 0       1" ;;
        btrfs)
                echo "UUID=$ROOT_UUID /               btrfs   defaults,subvol=@ 0       0"
                echo "UUID=$ROOT_UUID /home           btrfs   defaults,subvol=@home 0       0"
                ;;
        esac
        echo "UUID=$ESP_UUID  /boot/efi       vfat    umask=0077      0       1"
} >"$WORK/fstab"
gf upload "$WORK/fstab" /etc/fstab

# Where GRUB finds its grub.cfg (the file system that holds /boot, and the path in it),
# and the root= that grub-mkconfig must write for the layout.
case $LAYOUT in
boot-xfs) GRUB_FS_UUID=$BOOT_UUID GRUB_PREFIX=/grub ;;
btrfs) GRUB_FS_UUID=$ROOT_UUID GRUB_PREFIX=/@/boot/grub ;;
*) GRUB_FS_UUID=$ROOT_UUID GRUB_PREFIX=/boot/grub ;;
esac
case $LAYOUT in
lvm) ROOT_ARG="root=/dev/mapper/pxfvg-root " ;;
btrfs) ROOT_ARG="root=UUID=$ROOT_UUID .*rootflags=subvol=@" ;;
*) ROOT_ARG="root=UUID=$ROOT_UUID " ;;
esac

# The boot chain, as grub-install --uefi-secure-boot --force-extra-removable writes it.
cat >"$WORK/grub-stub.cfg" <<EOF
search.fs_uuid $GRUB_FS_UUID root
set prefix=(\$root)'$GRUB_PREFIX'
configfile \$prefix/grub.cfg
EOF
for f in /usr/lib/shim/shimx64.efi.signed /usr/lib/shim/mmx64.efi.signed \
        /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed; do
        [[ $(gfo is-file "$f") == true ]] || die "$f missing from the root file system"
done
gf mkdir-p /boot/efi/EFI/debian
gf mkdir-p /boot/efi/EFI/BOOT
gf cp /usr/lib/shim/shimx64.efi.signed /boot/efi/EFI/debian/shimx64.efi
gf cp /usr/lib/shim/mmx64.efi.signed /boot/efi/EFI/debian/mmx64.efi
gf cp /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed /boot/efi/EFI/debian/grubx64.efi
if [[ $(gfo is-file /usr/lib/shim/fbx64.efi.signed) == true ]]; then
        gf cp /usr/lib/shim/fbx64.efi.signed /boot/efi/EFI/debian/fbx64.efi
fi
if [[ $(gfo is-file /usr/lib/shim/BOOTX64.CSV) == true ]]; then
        gf cp /usr/lib/shim/BOOTX64.CSV /boot/efi/EFI/debian/BOOTX64.CSV
fi
gf upload "$WORK/grub-stub.cfg" /boot/efi/EFI/debian/grub.cfg
gf cp /usr/lib/shim/shimx64.efi.signed /boot/efi/EFI/BOOT/BOOTX64.EFI
gf cp /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed /boot/efi/EFI/BOOT/grubx64.efi
gf cp /usr/lib/shim/mmx64.efi.signed /boot/efi/EFI/BOOT/mmx64.efi
step_done "ESP: FAT32, fstab, shim + signed GRUB"

# ---- 3. initramfs and grub.cfg, made by the image's own tools ---------------------------------
if [[ -z $(gfo glob-expand '/boot/initrd.img-*') ]]; then
        log "no /boot/initrd.img-* from mmdebstrap: running update-initramfs in the appliance"
        gf command "update-initramfs -c -k all"
fi
KERNELS=$(gfo glob-expand '/boot/vmlinuz-*')
[[ -n $KERNELS ]] || die "no kernel in /boot"
for k in $KERNELS; do
        [[ $(gfo is-file "/boot/initrd.img-${k#/boot/vmlinuz-}") == true ]] ||
                die "no initramfs for $k"
done
gf command "grub-mkconfig -o /boot/grub/grub.cfg"
GRUB_CFG=$(gfo cat /boot/grub/grub.cfg)
grep -q -- "$ROOT_ARG" <<<"$GRUB_CFG" ||
        die "/boot/grub/grub.cfg does not boot with /$ROOT_ARG/"
grep -q -- "$CMDLINE" <<<"$GRUB_CFG" || die "/boot/grub/grub.cfg lacks '$CMDLINE'"
step_done "grub-mkconfig"

# ---- 4. final checks and clean-up -------------------------------------------------------------
gf truncate /etc/machine-id
gf rm-f /var/lib/dbus/machine-id
[[ -z $(gfo glob-expand '/etc/ssh/ssh_host_*') ]] || die "SSH host keys in the image"
[[ $(gfo cat /etc/hostname) == "$HOSTNAME_" ]] || die "wrong /etc/hostname"
[[ $(gfo readlink /etc/resolv.conf) == ../run/systemd/resolve/stub-resolv.conf ]] ||
        die "/etc/resolv.conf is not systemd-resolved's stub"
SHADOW=$(gfo cat /etc/shadow)
grep -q '^root:\*:' <<<"$SHADOW" || die "root account is not locked"
gf umount-all
case $LAYOUT in
standard | lvm) gf fsck ext4 "$ROOT_DEV" ;;
boot-xfs)
        gf fsck ext4 "$BOOT_DEV"
        gf xfs-repair "$ROOT_DEV" nomodify:true
        ;;
btrfs) gf btrfs-fsck /dev/sda2 ;;
esac
gf shutdown
run guestfish --remote="$GF_PID" -- exit
GF_PID=""
step_done "checks"

run qemu-img check -q "$IMG"
chmod 0644 "$IMG"
# The build log (package lists, maintainer scripts' output) stays beside the image.
cp "$LOGFILE" "${OUT%.qcow2}.build.log"
mv -f "$IMG" "$OUT"
BUILD_OK=1

for old in "$CACHE_DIR/$NAME"-????????????????.qcow2 "$CACHE_DIR/$NAME"-????????????????.build.log; do
        if [[ -f $old && $old != "$OUT" && $old != "${OUT%.qcow2}.build.log" ]]; then
                log "removing the outdated $old"
                rm -f "$old"
        fi
done
rm -f "$CACHE_DIR/$NAME-last-failure.log"
log "done in $((SECONDS - BUILD_T0)) s: $OUT ($(du -m "$OUT" | cut -f1) MiB on disk)"
printf '%s\n' "$OUT"
