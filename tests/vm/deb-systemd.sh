#!/usr/bin/env bash
# The Debian package, installed and run as a service: built from this tree with cpack,
# installed with apt into a clean Debian 12 root (mmdebstrap: the package, what it depends
# on, a kernel, systemd and udev, nothing else), used there from the installed files
# (--version, --help, validate-config of an installed example, the manual pages), then
# booted as a VM in which systemd starts pxeforge-serve@demo on prebuilt artifacts. A
# check unit in the VM reports on the console what it serves, as which users, and what is
# left after `systemctl stop`. Also lists what lintian says about the package (for the
# record; a Debian-archive-grade package is not the goal of this test).
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
[ "$(id -u)" -eq 0 ] || fail "must run as root (mmdebstrap --mode=root, chroot)"
for tool in cpack mmdebstrap dpkg-shlibdeps mkfs.ext4; do
        command -v "$tool" >/dev/null || fail "$tool not found (tests/deps.sh installs it)"
done
pxf_tmpdir
logdir=${PXF_BUILD_DIR:-$PXF_TMP}/vm-logs
mkdir -p "$logdir"
console=$logdir/deb-systemd.console.log

(cd "$PXF_BUILD_DIR" && cpack -G DEB -B "$PXF_TMP/pkg") > "$PXF_TMP/cpack.log" 2>&1 \
        || { cat "$PXF_TMP/cpack.log" >&2; fail "cpack failed"; }
deb=$(ls "$PXF_TMP"/pkg/pxeforge_*_amd64.deb)
dpkg-deb -f "$deb" Depends | tee "$PXF_TMP/depends"
for dep in libguestfs0 libarchive13 libevent-core libyaml-0-2 dnsmasq-base xorriso squashfs-tools adduser; do
        grep -q "$dep" "$PXF_TMP/depends" || fail "Depends lacks $dep"
done
pass "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

# What the VM serves and how: artifacts with their SHA256SUMS (serve checks them), the
# server section, a static address for the one NIC, and the check unit.
files=$PXF_TMP/files
mkdir -p "$files/srv/pxeforge/demo" "$files/etc/pxeforge" "$files/etc/systemd/network" \
        "$files/etc/systemd/system" "$files/usr/local/sbin"
echo "hello from systemd" > "$files/srv/pxeforge/demo/hello.txt"
# DHCP offers a boot file only when the folder has one; this test boots nothing from it.
echo "not a real boot loader" > "$files/srv/pxeforge/demo/bootx64.efi"
(cd "$files/srv/pxeforge/demo" && sha256sum hello.txt bootx64.efi > SHA256SUMS)
printf 'server:\n  interface: eth0\n  dhcp: proxy\n' > "$files/etc/pxeforge/demo.yaml"
printf '[Match]\nName=eth0\n\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\n' \
        > "$files/etc/systemd/network/10-eth0.network"
cp "$PXF_SOURCE_DIR/tests/vm/systemd/pxf-serve-check.service" "$files/etc/systemd/system/"
cp "$PXF_SOURCE_DIR/tests/vm/systemd/pxf-serve-check" "$files/usr/local/sbin/"

start=$SECONDS
root=$PXF_TMP/root
mirror=http://deb.debian.org/debian
# The package is installed by a hook with apt inside the root: mmdebstrap's
# --include=FILE.deb hands dpkg a path it cannot see there (mmdebstrap 1.3.5). The host's
# apt cache is offered to the root (hard links, no copy): what tests/deps.sh installed is
# not downloaded again.
mmdebstrap --quiet --mode=root --variant=apt --architectures=amd64 \
        --include=systemd-sysv,udev,linux-image-amd64 \
        --setup-hook='mkdir -p "$1/var/cache/apt/archives"; cp -al /var/cache/apt/archives/*.deb "$1/var/cache/apt/archives/" 2>/dev/null || true' \
        --customize-hook="copy-in $deb /tmp" \
        --customize-hook="chroot \"\$1\" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/$(basename "$deb")" \
        --customize-hook="sync-in $files /" \
        --customize-hook='chroot "$1" systemctl enable systemd-networkd pxeforge-serve@demo.service pxf-serve-check.service' \
        --customize-hook='chroot "$1" systemctl mask serial-getty@ttyS0.service' \
        --customize-hook='echo debian-pxf > "$1/etc/hostname"; rm -f "$1"/var/cache/apt/archives/*.deb' \
        bookworm "$root" "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
        "deb http://deb.debian.org/debian-security bookworm-security main" \
        > "$PXF_TMP/mmdebstrap.log" 2>&1 \
        || { tail -n 30 "$PXF_TMP/mmdebstrap.log" >&2; fail "apt could not install the package"; }
echo "clean root with the package, its dependencies, a kernel and systemd in $((SECONDS - start)) s"

# Nothing is mounted in the root: --version, --help and validate-config need no /proc.
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
in_root pxeforge --version | grep -qx "pxeforge [0-9.]*" || fail "pxeforge --version"
in_root pxeforge up --help | grep -q -- '--watch' || fail "pxeforge up --help"
in_root pxeforge validate-config --config-file /usr/share/doc/pxeforge/examples/lab-proxy.yaml \
        || fail "validate-config of the installed example"
[ -x "$root/usr/libexec/pxeforge/pxeforge-server" ] || fail "pxeforge-server not installed"
[ -f "$root/usr/share/man/man5/pxeforge.yaml.5.gz" ] || fail "pxeforge.yaml(5) not installed"
for unit in pxeforge pxeforge-serve; do
        [ -f "$root/usr/lib/systemd/system/$unit@.service" ] || fail "$unit@.service is not installed"
done
grep -q '^ExecStart=/usr/bin/pxeforge serve ' "$root/usr/lib/systemd/system/pxeforge-serve@.service" \
        || fail "pxeforge-serve@.service does not start /usr/bin/pxeforge"
pass "installed with apt into a clean root; the installed pxeforge runs"

# The root as an ext4 disk, written from the folder (nothing mounted on the host), booted
# with its own kernel and initramfs.
disk=$PXF_TMP/root.ext4
mkfs.ext4 -q -F -L pxfroot -d "$root" "$disk" "$(($(du -sm "$root" | cut -f1) + 512))M" \
        || fail "mkfs.ext4 -d could not write the root"
kernel=$(ls "$root"/boot/vmlinuz-*)
initrd=$(ls "$root"/boot/initrd.img-*)
vm_boot_disk "$disk" "$console" -kernel "$kernel" -initrd "$initrd" \
        -append "root=LABEL=pxfroot rw console=ttyS0,115200 net.ifnames=0" \
        || fail "could not start QEMU"
vm_wait_for "$console" 'PXF-SERVE-STOPPED' 900 \
        || fail "no report from the check unit within 900 s (console log: $console)"
report=$(grep -a '^PXF-SERVE ' "$console" | tr -d '\r')
stopped=$(grep -a '^PXF-SERVE-STOPPED' "$console" | tr -d '\r')
echo "$report"
echo "$stopped"
grep -a '^journal: ' "$console" | tr -d '\r' | sed 's/^/    /'
# server=pxeforge: the system user the package's postinst made, not nobody (which dnsmasq
# has): the two processes reading network input do not share a user.
for want in active=active http=ok server=pxeforge main=root; do
        [[ " $report " == *" $want "* ]] || fail "the VM reports '$report', expected $want"
done
dnsmasq_nobody=' dnsmasq=nobody(,nobody)* ' # a regex only when unquoted below
[[ " $report " =~ $dnsmasq_nobody ]] || fail "dnsmasq does not run as nobody: '$report'"
grep -aq "^journal: .*matches its SHA256SUMS" "$console" \
        || fail "the journal does not show the artifacts checked against SHA256SUMS"
pass "systemd started pxeforge-serve@demo: HTTP served, pxeforge-server as pxeforge, dnsmasq as nobody"
for want in state=inactive server=absent dnsmasq=absent main=absent; do
        [[ " $stopped " == *" $want "* ]] || fail "after systemctl stop: '$stopped', expected $want"
done
pass "systemctl stop left no process behind"

if command -v lintian >/dev/null; then
        echo "lintian (for the record):"
        lintian --tag-display-limit 0 "$deb" 2>&1 | sed 's/^/    /' || true
fi
