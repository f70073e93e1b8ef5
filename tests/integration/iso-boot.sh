#!/usr/bin/env bash
# Boot proof of the live ISO writer (builder/iso.c) with a real Debian kernel and boot chain.
#
# From the Debian test image (one read-only libguestfs launch): the kernel, the image's own
# initramfs-tools initrd, shim, MokManager, the CD GRUB (gcdx64.efi.signed; grubx64.efi.signed
# when the image has no gcdx64) and its /etc as a small tree (the boots below stop at the
# kernel's command line, so the root file system's contents do not matter; the live
# outputs' whole trees are booted by vm.iso-full-os and the PXE tests). Then:
#   1. bld_squashfs_write_level on that tree at pxeforge's zstd level (9), as the ISO's
#      LiveOS/squashfs.img (the level's size and time against others: bench/live-build.sh);
#   2. bld_iso_write (through iso-writer-tool) of a staging folder with vmlinuz, initrd.img,
#      LiveOS/squashfs.img and a boot/grub/grub.cfg written as bld_grub_cfg writes it for an
#      ISO (serial terminal, `search --label`), with a 27-character label (longer than a
#      Joliet label can be) and a kernel command line without root=;
#   3. the ISO boots from a virtual CD drive (AHCI) under OVMF with Secure Boot enforced
#      (Microsoft keys: shim -> Debian-signed GRUB -> Debian-signed kernel) until the kernel
#      prints its command line with pxf.iso=1 and reports Secure Boot;
#   4. the same file boots as a disk (what `dd` to a USB stick gives), without Secure Boot;
#   5. a copy with its El Torito boot record disabled boots as a disk, as on firmware that
#      ignores El Torito on disks: through MBR partition 2 (the appended efiboot.img) and
#      GRUB's /.disk/info search;
#   6. the same ISO (made with GRUB for BIOS, as server.bios makes it, from this host's
#      grub-pc-bin: the test image has none) boots on BIOS (SeaBIOS) from a CD drive,
#      through its BIOS El Torito entry, and
#   7. as a disk, through GRUB's MBR code, with the same grub.cfg.
# Every boot must reach the kernel's "Command line:" with pxf.iso=1, and GRUB must not have
# failed to find the ISO by its label.
# The initrd then finds no root file system and waits or drops to its shell: that is fine,
# the proof is that the kernel came off the ISO with the ISO's grub.cfg.
#
# Usage: tests/integration/iso-boot.sh [path/to/iso-writer-tool]   (as root; ~5 min under TCG)
# Env:   PXF_BOOT_TIMEOUT  seconds to wait for each kernel command line (default 600)
#        PXF_VM_LOG_DIR    where to keep console logs (default:
#                          $PXF_BUILD_DIR/vm-logs under ctest, else the scratch folder)
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"

name="iso-boot"
tool=${1:-${PXF_BUILD_DIR:-$PXF_SOURCE_DIR/build/default}/tests/iso-writer-tool}
timeout=${PXF_BOOT_TIMEOUT:-600}
[ -x "$tool" ] || fail "iso-writer-tool not found at '$tool' (build the tree, or pass its path)"
[ "$(id -u)" -eq 0 ] || fail "must run as root (extracts a root tree with its owners)"
for cmd in xorriso mksquashfs mkfs.vfat mcopy guestfish; do
        command -v "$cmd" >/dev/null || fail "$cmd not found (tests/deps.sh installs it)"
done
secboot_code=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd
secboot_vars=/usr/share/OVMF/OVMF_VARS_4M.ms.fd
if [ ! -r "$secboot_code" ] || [ ! -r "$secboot_vars" ]; then
        fail "OVMF Secure Boot firmware missing (package ovmf)"
fi

pxf_tmpdir
vm_guestfs_env
if [ -n "${PXF_VM_LOG_DIR:-}" ]; then
        logdir=$PXF_VM_LOG_DIR
elif [ -n "${PXF_BUILD_DIR:-}" ]; then
        logdir=$PXF_BUILD_DIR/vm-logs
else
        logdir=$PXF_TMP/logs
fi
mkdir -p "$logdir"

image=$(pxf_test_image) || fail "could not build the Debian test image"

# ---- what the image gives ------------------------------------------------------------------
from=$PXF_TMP/from-image
mkdir -p "$from/boot" "$from/efi" "$PXF_TMP/tree"
start=$SECONDS
# '-' before a command: a file the image does not have is not an error here.
guestfish --ro -a "$image" -i <<EOF || fail "cannot read the test image with guestfish"
glob copy-out /boot/vmlinuz-* $from/boot
glob copy-out /boot/initrd.img-* $from/boot
copy-out /usr/lib/shim/shimx64.efi.signed $from/efi
-copy-out /usr/lib/shim/mmx64.efi.signed $from/efi
-copy-out /usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed $from/efi
-copy-out /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed $from/efi
copy-out /etc $PXF_TMP/tree
EOF
kernel=$(printf '%s\n' "$from"/boot/vmlinuz-* | sort -V | tail -n 1)
kver=${kernel##*/vmlinuz-}
initrd=$from/boot/initrd.img-$kver
[ -f "$initrd" ] || fail "the image has no initrd for kernel $kver"
grub=$from/efi/gcdx64.efi.signed
if [ ! -f "$grub" ]; then
        # Same modules and memdisk script; it reaches /boot/grub through /.disk/info.
        echo "$name: the image has no gcdx64.efi.signed; using grubx64.efi.signed" >&2
        grub=$from/efi/grubx64.efi.signed
fi
[ -f "$grub" ] || fail "the image has neither gcdx64.efi.signed nor grubx64.efi.signed"
mm=$from/efi/mmx64.efi.signed
[ -f "$mm" ] || mm=-
bios_from=$("$tool" bios-grub "$PXF_TMP/tree" "$PXF_TMP/bios.img" "$PXF_TMP/boot_hybrid.img") ||
        fail "GRUB for BIOS could not be made"
tree_mib=$(du -sm "$PXF_TMP/tree" | cut -f1)
pass "image files: kernel $kver, ${grub##*/}, tree of $tree_mib MiB ($((SECONDS - start)) s)"

# ---- squashfs ---------------------------------------------------------------------------------
out=$PXF_TMP/squashfs.img
"$tool" squashfs "$PXF_TMP/tree" "$out" 9 2 etc/fstab >/dev/null || fail "bld_squashfs_write_level failed"
# Into files: grep -q would stop reading early and fail the pipeline (pipefail).
unsquashfs -s "$out" >"$PXF_TMP/super.txt"
unsquashfs -l "$out" >"$PXF_TMP/list.txt"
grep -q 'Compression zstd' "$PXF_TMP/super.txt" || fail "squashfs: not zstd"
grep -qx 'squashfs-root/etc/passwd' "$PXF_TMP/list.txt" || fail "squashfs: no etc/passwd"
! grep -qx 'squashfs-root/etc/fstab' "$PXF_TMP/list.txt" || fail "squashfs: etc/fstab was not excluded"
pass "squashfs of the image's /etc: zstd, etc/fstab excluded"

# ---- the ISO ---------------------------------------------------------------------------------
label=PXF_ISO_BOOT_TEST_$(od -An -N4 -tx4 /dev/urandom | tr -d ' ' | tr a-f A-F)
stage=$PXF_TMP/stage
mkdir -p "$stage/LiveOS" "$stage/boot/grub" "$PXF_TMP/work"
cp "$kernel" "$stage/vmlinuz"
cp "$initrd" "$stage/initrd.img"
mv "$PXF_TMP/squashfs.img" "$stage/LiveOS/squashfs.img"
rm -rf "$PXF_TMP/tree"
# As bld_grub_cfg writes it for an ISO boot (builder/grub-cfg.c), with test kernel args.
cat >"$stage/boot/grub/grub.cfg" <<EOF
# Written by pxeforge
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=3
set default=0

menuentry 'pxeforge iso-boot test' {
	search --no-floppy --set=root --label $label
	linux /vmlinuz console=ttyS0,115200 pxf.iso=1
	initrd /initrd.img
}
EOF
iso=$PXF_TMP/live.iso
start=$SECONDS
"$tool" iso "$stage" "$from/efi/shimx64.efi.signed" "$grub" "$mm" "$label" "$iso" "$PXF_TMP/work" \
        "$PXF_TMP/bios.img" "$PXF_TMP/boot_hybrid.img" || fail "bld_iso_write failed"
[ -z "$(ls -A "$PXF_TMP/work")" ] || fail "bld_iso_write left files in its work folder"
pass "ISO $label: $(($(stat -c %s "$iso") / 1048576)) MiB in $((SECONDS - start)) s"

cmdline_re='Command line: .*pxf\.iso=1'

# boot_and_check <what> <console log>: after vm_boot_*, waits for the kernel's command line
# and checks that grub.cfg's `search --label` found the ISO (GRUB prints "no such device"
# otherwise, and would boot on only because $root happened to be the ISO already).
boot_and_check() {
        local what=$1 console=$2
        vm_wait_for "$console" "$cmdline_re" "$timeout" ||
                fail "$what: no kernel command line with pxf.iso=1 (console log: $console)"
        if grep -aq "no such device: $label" "$console"; then
                fail "$what: GRUB did not find the label $label (console log: $console)"
        fi
}

# ---- boot 1: CD drive, Secure Boot -----------------------------------------------------------
console=$logdir/$name.cdrom-secureboot.console.log
start=$SECONDS
PXF_OVMF_CODE=$secboot_code PXF_OVMF_VARS=$secboot_vars vm_boot_cdrom "$iso" "$console" \
        -machine smm=on -global driver=cfi.pflash01,property=secure,value=on ||
        fail "could not start QEMU"
boot_and_check "CD boot" "$console"
vm_wait_for "$console" 'Secure boot enabled' 60 ||
        fail "CD boot: the kernel did not report Secure Boot (console log: $console)"
vm_stop
pass "CD drive, Secure Boot: kernel started from the ISO after $((SECONDS - start)) s"

# ---- boot 2: the same bytes as a disk (a USB stick) ------------------------------------------
console=$logdir/$name.disk.console.log
start=$SECONDS
vm_boot_disk "$iso" "$console" || fail "could not start QEMU"
boot_and_check "disk boot" "$console"
vm_stop
pass "as a disk: kernel started from the ISO after $((SECONDS - start)) s"

# ---- BIOS (6, 7): from a CD drive and as a disk, before boot 3 takes the ISO apart --------
for how in cdrom disk; do
        console=$logdir/$name.bios-$how.console.log
        start=$SECONDS
        PXF_VM_FIRMWARE=bios "vm_boot_$how" "$iso" "$console" || fail "could not start QEMU"
        boot_and_check "BIOS $how boot" "$console"
        vm_stop
        pass "BIOS, $how: GRUB for BIOS (from $bios_from) started the kernel after $((SECONDS - start)) s"
done

# ---- boot 3: a disk, through the MBR's EFI partition -----------------------------------------
# OVMF finds El Torito on a disk too, so boot 2 may never touch MBR partition 2. Much PC
# firmware does not: with the El Torito boot record renamed in a copy, the firmware must boot
# the appended efiboot.img, and GRUB, loaded from FAT where /boot/grub is not, must find
# the ISO file system through /.disk/info.
usb=$PXF_TMP/usb-stick.img
cp "$iso" "$usb"
patched=0
while IFS=: read -r offset _; do
        printf 'X' | dd of="$usb" bs=1 seek="$offset" conv=notrunc status=none
        patched=$((patched + 1))
done < <(head -c 1048576 "$iso" | LC_ALL=C grep -obUa 'EL TORITO SPECIFICATION')
[ "$patched" -ge 1 ] || fail "no El Torito boot record found in the ISO"
rm -f "$iso"
console=$logdir/$name.esp-partition.console.log
start=$SECONDS
vm_boot_disk "$usb" "$console" || fail "could not start QEMU"
boot_and_check "ESP partition boot" "$console"
grep -aq "error: file \`/boot/' not found" "$console" ||
        fail "ESP partition boot: GRUB did not start on the FAT partition (log: $console)"
vm_stop
pass "through the MBR EFI partition and /.disk/info: kernel started after $((SECONDS - start)) s"
