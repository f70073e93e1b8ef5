#!/usr/bin/env bash
# bench/live-build.sh: how long each phase of a bootstrap PXE build takes in pxeforge, and
# the same work done by hand with the native tools on the same input, side by side in one
# run on one machine.
#
#   pxeforge: `pxeforge customize` of the Debian test image with bench/bootstrap.yaml into
#             pxe-dir; its phases are read from its JSON progress lines (--progress json).
#   native:   guestfish tar-out of the image's tree, then by hand on it: apt-get install
#             of the same packages in a chroot, the host name, file and service, the
#             image's dracut in the chroot with the same arguments, mksquashfs (zstd 9, as
#             pxeforge), mkfs.vfat + mtools + xorriso for the ISO, tar | pigz for a
#             pxe-tar, cpio | zstd for a full-OS initramfs; and virt-customize for the
#             same customization in the appliance (the disk outputs' path).
#   pxeforge, again: a rebuild with another kernel argument and one with nothing changed,
#             through the build cache; the same two as `pxeforge up` reloads (SIGHUP).
#
# Usage (root): bench/live-build.sh [results.md]   (default: bench/results/live-build.md)
# Needs: a built tree (build/default), the packages of tests/deps.sh, libguestfs-tools
# (virt-customize), cpio, zstd. Takes about 30 minutes under TCG.
set -euo pipefail
source "$(dirname "$0")/lib.sh" # sets here and src
results=${1:-$here/results/live-build.md}
bench_setup virt-customize guestfish mksquashfs xorriso mkfs.vfat mcopy pigz cpio zstd

work=$(mktemp -d /var/tmp/pxf-bench.XXXXXX)
up_pid=
trap '[ -z "$up_pid" ] || kill "$up_pid" 2>/dev/null; umount -R "$work/tree/proc" "$work/tree/sys" "$work/tree/dev" 2>/dev/null || true; rm -rf "$work"' EXIT
image=$("$src/tests/images/build-debian-image.sh")
config=$here/bootstrap.yaml
echo "== pxeforge =="
log=$work/pxeforge.log
timed total "$pxf" customize --config-file "$config" --image-file "$image" \
        --output-path "$work/pxe" --build-dir "$work/build" --progress json 2> >(tee "$log" >&2)
# pxeforge's JSON progress lines: one row per step, then the artifacts of the last step.
while IFS=$'\t' read -r kind name secs bytes; do
        if [ "$kind" = step ]; then row pxeforge "$name" "$secs"; else row pxeforge "  $name" "$secs" "$bytes"; fi
done < <(progress_rows "$log")
row pxeforge "whole run" "$total"
sed 's/pxf.pxe=bootstrap/pxf.pxe=bench-rebuild/' "$config" > "$here/.bench-rebuild.yaml"
timed t_re "$pxf" customize --config-file "$here/.bench-rebuild.yaml" --image-file "$image" \
        --output-path "$work/pxe-rebuild" --build-dir "$work/build" 2> "$work/rebuild.log"
rm -f "$here/.bench-rebuild.yaml"
grep -q 'from the cache' "$work/rebuild.log" || { cat "$work/rebuild.log" >&2; exit 1; }
row pxeforge "rebuild, another kernel argument (cache)" "$t_re"
timed t_same "$pxf" customize --config-file "$config" --image-file "$image" \
        --output-path "$work/pxe-same" --build-dir "$work/build" 2> "$work/same.log"
row pxeforge "rebuild, nothing changed (cache)" "$t_same"

# `pxeforge up` (DHCP off, on loopback) with the same config and build dir: the time from
# SIGHUP until it serves the rebuilt folder, with nothing changed and then with another
# kernel argument.
up_config=$here/.bench-up.yaml
up_port=$((20000 + RANDOM % 20000))
{ cat "$config"; printf 'server:\n  address: 127.0.0.1\n  dhcp: off\n  tftpPort: %d\n  httpPort: %d\n' \
        "$up_port" "$((up_port + 1))"; } > "$up_config"
chmod 755 "$work" # the server reads the artifacts as nobody
"$pxf" up --config-file "$up_config" --image-file "$image" --state-dir "$work/up-state" \
        --build-dir "$work/build" > "$work/up.log" 2>&1 &
up_pid=$!
# served N: waits until up serves build-N (fails after 30 minutes or when up exits)
served() {
        local i
        for ((i = 0; i < 18000; i++)); do
                grep -q "serving .*/build-$1\$" "$work/up.log" && return 0
                kill -0 "$up_pid" 2>/dev/null || break
                sleep 0.1
        done
        cat "$work/up.log" >&2
        echo "bench: up never served build-$1" >&2
        exit 1
}
# reload N: SIGHUP, until build-N is served
reload() { kill -HUP "$up_pid" && served "$1"; }
served 1
timed t_up_same reload 2
row pxeforge "up: reload, nothing changed (SIGHUP)" "$t_up_same"
sed -i 's/pxf.pxe=bootstrap/pxf.pxe=bench-reload/' "$up_config"
timed t_up_arg reload 3
row pxeforge "up: reload, another kernel argument (SIGHUP)" "$t_up_arg"
kill -TERM "$up_pid"
wait "$up_pid" || true
up_pid=
rm -f "$up_config"
timed t tar -C "$work/pxe" -cf - . >/dev/null # warm the cache for the packaging row
timed t bash -c "tar -C '$work/pxe' -cf - . | pigz -p $(nproc) > '$work/native-pxe.tar.gz'"
pxe_tar_native=$t

echo "== native tools, by hand =="
qemu-img create -q -f qcow2 -F qcow2 -b "$image" "$work/native.qcow2"
timed t_open guestfish --ro -a "$work/native.qcow2" -i exit
row native "open image (guestfish -i)" "$t_open"
mkdir "$work/tree"
timed t_exp bash -c "guestfish --ro -a '$work/native.qcow2' -i tar-out / - | tar -C '$work/tree' --numeric-owner -xpf -"
row native "export tree (guestfish tar-out)" "$t_exp"
kver=$(ls "$work/tree/boot" | sed -n 's/^vmlinuz-//p' | sort -V | tail -n 1)

# The customization by hand in a chroot with proc/sys/dev and the host's name servers;
# dracut's generic (no-hostonly) mode as one runs it by hand; pxeforge's own invocation
# (artifacts/bootstrap.c) trims it further.
mount -t proc proc "$work/tree/proc"
mount --rbind /sys "$work/tree/sys"
mount --rbind /dev "$work/tree/dev"
rm -f "$work/tree/etc/resolv.conf"
cp /etc/resolv.conf "$work/tree/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$work/tree/usr/sbin/policy-rc.d"
chmod 755 "$work/tree/usr/sbin/policy-rc.d"
timed t_apt chroot "$work/tree" bash -c 'apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -y -q install dracut dracut-live dracut-network isc-dhcp-client curl procps && apt-get clean' > "$work/apt.log"
row native "packages (apt-get in a chroot)" "$t_apt"
timed t_rest bash -c "cp '$src/tests/vm/pxe/marker.service' '$work/tree/etc/systemd/system/pxf-marker.service' && chroot '$work/tree' bash -c 'echo pxf-bootstrap > /etc/hostname && systemctl enable pxf-marker.service'"
row native "hostname, file, service (chroot)" "$t_rest"
rm -f "$work/tree/usr/sbin/policy-rc.d"
timed t_dracut chroot "$work/tree" dracut --force --no-hostonly --reproducible --kver "$kver" \
        --add "dmsquash-live livenet network-legacy" \
        --omit "plymouth systemd-networkd network-manager" \
        --add-drivers "overlay squashfs loop iso9660" /boot/bench-initrd.img
umount -R "$work/tree/proc" "$work/tree/sys" "$work/tree/dev"
mv "$work/tree/boot/bench-initrd.img" "$work/initrd.img"
row native "dracut (chroot)" "$t_dracut" "$(size_of "$work/initrd.img")"

mkdir -p "$work/iso/LiveOS" "$work/iso/boot/grub"
timed t_sq mksquashfs "$work/tree" "$work/iso/LiveOS/squashfs.img" -comp zstd \
        -Xcompression-level 9 -noappend -quiet -no-progress -e boot etc/fstab
row native "mksquashfs (zstd 9)" "$t_sq" "$(size_of "$work/iso/LiveOS/squashfs.img")"
# mksquashfs's own zstd default (15), for the level pxeforge chose (artifacts/iso-internal.h).
timed t_sq15 mksquashfs "$work/tree" "$work/squashfs-15.img" -comp zstd \
        -Xcompression-level 15 -noappend -quiet -no-progress -e boot etc/fstab
row native "mksquashfs (zstd 15)" "$t_sq15" "$(size_of "$work/squashfs-15.img")"
rm -f "$work/squashfs-15.img"

cp "$work/tree/boot/vmlinuz-$kver" "$work/iso/vmlinuz"
cp "$work/initrd.img" "$work/iso/initrd.img"
cp "$work/pxe/grub/grub.cfg" "$work/iso/boot/grub/grub.cfg"
make_iso() {
        local efi=$work/efiboot.img
        rm -f "$efi"
        mkfs.vfat -C "$efi" 8192 >/dev/null
        mmd -i "$efi" ::/EFI ::/EFI/BOOT
        mcopy -i "$efi" "$work/tree/usr/lib/shim/shimx64.efi.signed" ::/EFI/BOOT/BOOTX64.EFI
        mcopy -i "$efi" "$work/tree/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed" \
                ::/EFI/BOOT/grubx64.efi
        cp "$efi" "$work/iso/boot/efiboot.img"
        xorriso -as mkisofs -quiet -iso-level 3 -R -V PXF_BENCH -e boot/efiboot.img \
                -no-emul-boot -append_partition 2 0xef "$efi" -o "$work/native.iso" "$work/iso"
}
timed t_iso make_iso
row native "ISO (mkfs.vfat, mtools, xorriso)" "$t_iso" "$(size_of "$work/native.iso")"
row native "pxe-tar (tar | pigz)" "$pxe_tar_native" "$(size_of "$work/native-pxe.tar.gz")"
native_total=$(awk -v a="$t_open" -v b="$t_apt" -v c="$t_exp" -v d="$t_dracut" -v e="$t_sq" \
        -v f="$t_iso" -v g="$t_rest" 'BEGIN { printf "%.1f", a + b + c + d + e + f + g }')
row native "whole run (sum, without pxe-tar)" "$native_total"

# The same customization in the appliance: what disk outputs (and pxeforge before the
# exported-tree path) pay for it under this machine's virtualization.
qemu-img create -q -f qcow2 -F qcow2 -b "$image" "$work/virt-customize.qcow2"
timed t_cust virt_customize_bootstrap "$work/virt-customize.qcow2"
row native "virt-customize (the same, in the appliance)" "$t_cust"

# The full-OS initramfs: pxeforge's libarchive writer against cpio | zstd on the same tree.
cat > "$work/fullos.yaml" <<YAML
pxe:
  initramfsType: full-os
YAML
# Not fatal: the phases above are the comparison the results must keep.
timed t_full "$pxf" customize --config-file "$work/fullos.yaml" --image-file "$work/virt-customize.qcow2" \
        --output-path "$work/fullos" --output-image-format pxe-dir --build-dir "$work/build" --progress json \
        2> "$work/fullos.log" || tail -n 20 "$work/fullos.log" >&2
bytes=0 secs=0
IFS=$'\t' read -r _ _ secs bytes < <(progress_rows "$work/fullos.log" | grep '^artifact	full-OS initramfs	') \
        || cat "$work/fullos.log" >&2
row pxeforge "full-OS initramfs (libarchive, zstd 3)" "$secs" "$bytes"
# The kernel's unpacker and libarchive's zstd filter both at their defaults: level 3.
timed t_cpio bash -c "cd '$work/tree' && ln -sfn /lib/systemd/systemd init && find . -path ./boot -prune -o -path ./etc/fstab -prune -o -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | zstd -q -T$(nproc) -3 > '$work/fullos-native.img'"
row native "full-OS initramfs (cpio | zstd -3)" "$t_cpio" "$(size_of "$work/fullos-native.img")"

write_results "$results" "Live build benchmark" \
        "input: the Debian 12 test image; config: bench/bootstrap.yaml."
