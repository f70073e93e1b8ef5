#!/usr/bin/env bash
# VM test of one disk layout users' images have (tests/images/build-debian-image.sh
# LAYOUT RELEASE: boot-xfs, lvm or btrfs, of Debian 12 bookworm or 13 trixie), the whole
# way. Two builds from the layout image run side by side:
#   - a disk customization in the appliance (tests/vm/layout/disk.yaml) with a package
#     whose maintainer scripts write into /boot and run update-grub on the layout: on
#     boot-xfs (the image of the issue that asked for layouts) dracut, which replaces
#     initramfs-tools and writes a new initramfs; on lvm and btrfs memtest86+, which adds
#     its binaries and a GRUB entry (dracut's initramfs run costs ~220 s in the appliance
#     under TCG); and a kernel argument, which makes update-grub rewrite grub.cfg again;
#   - `pxe-dir` artifacts of each KIND given (full-os, bootstrap; one customized tree,
#     shared through the build cache). A bootstrap needs dracut's live boot: its packages,
#     dracut among them, go over the image's initramfs-tools, what a user of such an image
#     asks for. The kinds not given are proven by the artifacts fixtures, which are built
#     from layout images too (tests/CMakeLists.txt says which) and booted by vm.pxe-*.
#     A bootstrap alone also runs SELinux permissive (os.selinux.mode): the host labels
#     the tree, its squashfs keeps the labels (a full-os initramfs cannot carry them), and
#     pxeforge's unit labels the live root's top directory once the policy is in;
# then the disk and each PXE output boot, each to its report on the console and a login
# prompt.
# Usage: tests/vm/layout.sh LAYOUT RELEASE KIND...
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
[ $# -ge 3 ] || fail "usage: layout.sh boot-xfs|lvm|btrfs bookworm|trixie full-os|bootstrap..."
layout=$1 release=$2
shift 2
kinds=("$@")
for kind in "${kinds[@]}"; do
        [[ $kind == full-os || $kind == bootstrap ]] || fail "unknown PXE kind $kind"
done
bootstrap=false
[[ " ${kinds[*]} " != *" bootstrap "* ]] || bootstrap=true
selinux=false policy=
# the layout images have no policy (tests/images/build-debian-image.sh): it is installed
[ "${kinds[*]}" != bootstrap ] || { selinux=true; policy=", selinux-policy-default"; }
pxf_tmpdir
vm_guestfs_env
cd "$PXF_TMP" || fail "cannot enter $PXF_TMP"
src=$PXF_SOURCE_DIR/tests/vm/layout

# What the report must say of / (type:source), /boot and /home on the disk.
case $layout in
boot-xfs) want_root='xfs:/dev/[sv]da3' want_boot='ext4:/dev/[sv]da2' want_home='' ;;
lvm) want_root='ext4:/dev/mapper/pxfvg-root' want_boot='' want_home='' ;;
btrfs) want_root='btrfs:/dev/[sv]da2\[/@\]' want_boot='' want_home='btrfs:/dev/[sv]da2\[/@home\]' ;;
*) fail "unknown layout $layout" ;;
esac

image=$("$PXF_SOURCE_DIR/tests/images/build-debian-image.sh" "$layout" "$release") \
        || fail "cannot build the $release $layout test image"
echo "image: $(basename "$image")"
disk_package=memtest86+
[ "$layout" != boot-xfs ] || disk_package=dracut
sed "s/@DISK_PACKAGE@/$disk_package/" "$src/disk.yaml" > disk.yaml
cp "$src/report.sh" "$src/report.service" . # the config names them beside itself

# report CONSOLE: the report line, without carriage returns
report() { grep -a -m1 'PXF-LAYOUT' "$1" | tr -d '\r'; }

# The PXE configs: the same os section (so one tree), with what dracut's live boot needs
# when a bootstrap is built.
port=$((18100 + RANDOM % 800))
pxe_config() { # NAME PXE-SECTION-LINES...
        local name=$1
        shift
        {
                echo "os:"
                echo "  hostname: pxf-layout-pxe"
                ! $bootstrap || cat <<EOF
  packages:
    install: [dracut, dracut-live, dracut-network, isc-dhcp-client, procps, curl$policy]
EOF
                ! $selinux || printf '  selinux:\n    mode: permissive\n'
                cat <<EOF
  additionalFiles:
    - source: $src/report.sh
      destination: /usr/local/bin/pxf-layout-report
      permissions: "755"
    - source: $src/report.service
      destination: /etc/systemd/system/pxf-layout-report.service
  services:
    enable: [pxf-layout-report.service]
pxe:
EOF
                printf '  %s\n' "$@"
        } > "$name.yaml"
}
pxe_config full-os "initramfsType: full-os" "kernelCommandLine: {extraCommandLine: [pxf.pxe=full-os]}"
pxe_config bootstrap "initramfsType: bootstrap" "bootstrapBaseUrl: http://192.168.77.1:$port/" \
        "kernelCommandLine: {extraCommandLine: [pxf.pxe=bootstrap]}"

# pxe_builds: the PXE outputs, one after the other (the second reuses the first's tree).
pxe_builds() {
        local name
        for name in "${kinds[@]}"; do
                "$PXF_BIN" customize --config-file "$name.yaml" --image-file "$image" \
                        --output-path "out-$name" --output-image-format pxe-dir \
                        --build-dir "$PXF_TMP/build-pxe" --image-tree-cache-dir "$PXF_IMAGE_TREES" \
                        2> "$name.log" \
                        || { tail -n 40 "$name.log" >&2; return 1; }
        done
}
# On the way out: stop the background builds and boots (each boot's shell stops its VM).
trap 'kill $(jobs -p) 2>/dev/null || true; pkill -TERM -f -- "$PXF_TMP/build-pxe" || true; wait || true; pxf_cleanup' EXIT
start=$SECONDS
pxe_builds &
pxe_pid=$!
"$PXF_BIN" customize --config-file disk.yaml --image-file "$image" \
        --output-path disk.qcow2 --build-dir build-disk 2> disk.log \
        || { tail -n 40 disk.log >&2; fail "$layout: the disk customization failed"; }
echo "$layout: disk customization took $((SECONDS - start)) s"
wait "$pxe_pid" || fail "$layout: a PXE build failed"
echo "$layout: the builds took $((SECONDS - start)) s; their steps:"
for name in disk "${kinds[@]}"; do
        sed -n "s/^pxeforge: \(.*done in.*\)/    $name: \1/p" "$name.log"
done
[ ${#kinds[@]} -eq 1 ] || grep -q 'customized tree [0-9a-f]*: from the cache' "${kinds[1]}.log" \
        || fail "$layout: the ${kinds[1]} build did not reuse the ${kinds[0]} build's tree"

# The three boots, one after the other: a test keeps to one core (ctest runs one per
# core), and TCG guests sharing a core time out in systemd (a /boot mount job did).
if $bootstrap; then
        python3 -u -m http.server "$port" --bind 127.0.0.1 --directory out-bootstrap > http.log 2>&1 &
        pxf_wait_line http.log '^Serving HTTP on' 60 "$!"
fi
# wait_booted CONSOLE: the report, then a login prompt. The getty comes after
# multi-user.target: under TCG beside other tests that took over 5 minutes once, when the
# test images still installed dracut's Recommends (exim4, console-setup, open-iscsi).
wait_booted() { vm_wait_for "$1" 'PXF-LAYOUT' 1500 && vm_wait_for "$1" 'login:' 1200; }
vm_boot_disk disk.qcow2 disk-console.log
wait_booted disk-console.log || fail "$layout: the customized disk did not reach its login prompt"
vm_stop
for name in "${kinds[@]}"; do
        VM_USER_NET="net=192.168.77.0/24,host=192.168.77.1" \
                vm_boot_pxe_user "out-$name" bootx64.efi "$name-console.log"
        wait_booted "$name-console.log" || fail "$layout: the $name PXE boot did not reach its login prompt"
        vm_stop
done
echo "$layout: builds and boots took $((SECONDS - start)) s"

line=$(report disk-console.log)
echo "disk: $line"
grep -Eq " root=$want_root " <<<"$line" || fail "$layout: / is not /$want_root/"
[ -z "$want_boot" ] || grep -Eq " boot=$want_boot " <<<"$line" || fail "$layout: /boot is not /$want_boot/"
[ -z "$want_home" ] || grep -Eq " home=$want_home " <<<"$line" || fail "$layout: /home is not /$want_home/"
if [ "$disk_package" = dracut ]; then
        grep -q ' dracut=i ' <<<"$line" && ! grep -q ' initramfs-tools=i ' <<<"$line" \
                || fail "$layout: dracut did not replace initramfs-tools"
else
        grep -Eq ' memtest=i memtest-entries=[1-9]' <<<"$line" \
                || fail "$layout: memtest86+ is not installed or not in GRUB's menu"
fi
grep -q 'pxf.layout=disk' <<<"$line" || fail "$layout: update-grub did not add the kernel argument"
pass "$layout: the customized disk boots ($disk_package's /boot and GRUB changes, update-grub's argument)"

for name in "${kinds[@]}"; do
        line=$(report "$name-console.log")
        echo "$name: $line"
        grep -q "cmdline=.*pxf.pxe=$name" <<<"$line" || fail "$layout $name: wrong kernel arguments"
        ! $bootstrap || grep -q ' dracut=i ' <<<"$line" || fail "$layout $name: dracut is not installed"
        case $name in
        full-os) grep -q ' root=rootfs:' <<<"$line" || fail "$layout: full-OS root is not the initramfs" ;;
        bootstrap)
                grep -q ' root=overlay:' <<<"$line" || fail "$layout: bootstrap root is not the live overlay"
                grep -q 'GET /image.iso' http.log || fail "$layout: image.iso was not fetched over HTTP"
                ;;
        esac
        if $selinux; then
                grep -q ' selinux=0 shadow=system_u:object_r:shadow_t:s0 rootlabel=system_u:object_r:root_t:s0 ' <<<"$line" \
                        || fail "$layout $name: SELinux is not permissive with the policy's labels"
        else
                grep -q ' selinux=off ' <<<"$line" || fail "$layout $name: SELinux is on"
        fi
done
pass "$layout: ${kinds[*]} PXE artifacts built from it boot$($selinux && echo ", SELinux permissive")"
