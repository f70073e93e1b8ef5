#!/usr/bin/env bash
# Bad input to `pxeforge customize`: each case must exit non-zero with a message that says
# what is wrong, and leave the output path exactly as it was (here: a sentinel file), with
# no partial file beside it and nothing left in the build dir but the failed build's log,
# which the error names.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
pxf_tmpdir
vm_guestfs_env

cd "$PXF_TMP" || fail "cannot enter $PXF_TMP"
good_config=$PXF_TMP/good.yaml
printf 'os:\n  hostname: bad-input-test\n' > "$good_config"
echo "sentinel: must survive every failed run" > out.qcow2
sentinel_sum=$(sha256sum out.qcow2)

# expect_failure NAME EXIT-CODE MESSAGE-REGEX pxeforge-args...
expect_failure() {
        local name=$1 want_rc=$2 want_msg=$3 rc=0
        shift 3
        "$PXF_BIN" customize --output-path "$PXF_TMP/out.qcow2" --build-dir "$PXF_TMP/build" \
                --image-tree-cache-dir "$PXF_IMAGE_TREES" \
                "$@" 2> "$name.err" || rc=$?
        sed "s/^/    [$name] /" "$name.err" | tail -n 5
        [ "$rc" -eq "$want_rc" ] || fail "$name: exit code $rc, expected $want_rc"
        grep -Eq -- "$want_msg" "$name.err" || fail "$name: message does not match /$want_msg/"
        [ "$(sha256sum out.qcow2)" = "$sentinel_sum" ] || fail "$name: output path was touched"
        [ -z "$(find . -maxdepth 1 -name '*pxeforge-partial*')" ] || fail "$name: a partial output was left behind"
        for log in build/failed-build-*.log; do
                [ -f "$log" ] || continue
                grep -qF "the whole log of this build: $PXF_TMP/$log" "$name.err" \
                        || fail "$name: the error does not name the kept log $log"
                rm -f "$log"
        done
        [ -z "$(pxf_build_leftovers build)" ] \
                || fail "$name: the build dir is not clean"
        pass "$name"
}

expect_failure missing-image 1 "input image '/nonexistent/disk.qcow2' does not exist" \
        --config-file "$good_config" --image-file /nonexistent/disk.qcow2

echo "just a few words" > tiny.txt
expect_failure tiny-text-file 1 "too small to be a disk image" \
        --config-file "$good_config" --image-file tiny.txt

seq 1 20000 > text.img
expect_failure text-file 1 "no operating system found in image 'text.img'" \
        --config-file "$good_config" --image-file text.img

qemu-img create -q -f raw blank.img 256M
expect_failure blank-disk 1 "no operating system found in image 'blank.img'" \
        --config-file "$good_config" --image-file blank.img

# A file system the appliance reads only with an extra package: the error names it. jfs
# (libguestfs-jfs, which tests/deps.sh leaves out) always; xfs only where libguestfs-xfs
# is missing (tests/deps.sh installs it for the boot-xfs test image; with it, this image
# is one without an OS).
truncate -s 64M jfs.img
mkfs.jfs -q jfs.img > /dev/null
expect_failure jfs-without-libguestfs-jfs 1 "it holds a file system of type jfs \(/dev/sda\), which libguestfs reads only with the Debian package libguestfs-jfs: install it on this host" \
        --config-file "$good_config" --image-file jfs.img
truncate -s 300M xfs.img
mkfs.xfs -q xfs.img
if dpkg-query -W -f='${Status}' libguestfs-xfs 2>/dev/null | grep -q 'ok installed'; then
        xfs_msg="no operating system found in image 'xfs.img'"
else
        xfs_msg="it holds a file system of type xfs \(/dev/sda\), which libguestfs reads only with the Debian package libguestfs-xfs"
fi
expect_failure xfs-image 1 "$xfs_msg" --config-file "$good_config" --image-file xfs.img

image=$(pxf_test_image)
head -c 8M "$image" > truncated.qcow2
expect_failure truncated-qcow2 1 "input image 'truncated.qcow2' is corrupted or truncated" \
        --config-file "$good_config" --image-file truncated.qcow2

printf 'os:\n  hostname: x\n  hostnme: y\n' > unknown-key.yaml
expect_failure unknown-key 3 "unknown-key.yaml:3:3: os.hostnme: unknown key 'hostnme'" \
        --config-file unknown-key.yaml --image-file "$image"

cat > missing-file.yaml <<'YAML'
os:
  additionalFiles:
    - source: files/not-there.conf
      destination: /etc/not-there.conf
YAML
expect_failure missing-additional-file 3 "missing-file.yaml:3:15: os.additionalFiles\[0\].source: .*not-there.conf.* does not exist" \
        --config-file missing-file.yaml --image-file "$image"

expect_failure bad-format 2 "unknown --output-image-format 'qcow3'" \
        --config-file "$good_config" --image-file "$image" --output-image-format qcow3

# A --rpm-source package that is not one is refused before any work, naming the file.
mkdir -p not-debs
echo "not a package" > not-debs/tool_2.0_amd64.deb
expect_failure rpm-source-not-a-package 1 \
        "--rpm-source: 'not-debs/tool_2.0_amd64.deb' is not a Debian package" \
        --config-file "$good_config" --image-file "$image" --rpm-source not-debs

# liveRoot.omit cuts the root of live outputs; with a disk output it is refused before any
# work rather than ignored.
printf 'liveRoot:\n  omit: [documentation]\n' > omit-disk.yaml
expect_failure live-root-omit-disk 1 \
        "liveRoot.omit works with live outputs \(iso, pxe-dir, pxe-tar\), not qcow2" \
        --config-file omit-disk.yaml --image-file "$image"

# SELinux labels ride in a bootstrap's squashfs; pxe-dir's default initramfs, full-os, is
# a cpio archive without them, so the pair is refused before any work.
printf 'os:\n  selinux:\n    mode: permissive\n' > selinux-pxe.yaml
expect_failure selinux-default-full-os 1 \
        "os.selinux.mode 'permissive' needs a bootstrap initramfs with pxe-dir: the full-os one \(the default for pxe-dir\) is a cpio archive, which carries no SELinux labels; set pxe.initramfsType: bootstrap, or os.selinux.mode: disabled" \
        --config-file selinux-pxe.yaml --image-file "$image" --output-image-format pxe-dir

# A bootstrap build without the ISO's URL is refused before any work.
printf 'pxe:\n  initramfsType: bootstrap\n' > no-url.yaml
expect_failure bootstrap-without-url 1 \
        "neither pxe.bootstrapBaseUrl nor pxe.bootstrapFileUrl is set; set one of them" \
        --config-file no-url.yaml --image-file "$image" --output-image-format pxe-dir

# server.ipxe on a host without the ipxe package (hidden here by a mount namespace of the
# build's own) is refused before any work, naming the package.
printf 'server:\n  ipxe: fallback\n' > ipxe.yaml
# shellcheck disable=SC2016 # $0 and $@ belong to the wrapper
printf '#!/bin/sh\nexec unshare -m sh -c '"'"'mount -t tmpfs none /usr/lib/ipxe && exec "$0" "$@"'"'"' %q "$@"\n' \
        "$PXF_BIN" > without-ipxe.sh
chmod +x without-ipxe.sh
PXF_BIN=$PWD/without-ipxe.sh expect_failure ipxe-without-package 1 \
        "server.ipxe needs iPXE on this host, and /usr/lib/ipxe/snponly.efi is missing: install the Debian package ipxe" \
        --config-file ipxe.yaml --image-file "$image" --output-image-format pxe-dir

# What the image lacks for a live output is found after customization; the error names the
# packages to add, and still nothing is written.
printf 'pxe:\n  initramfsType: bootstrap\n  bootstrapBaseUrl: http://10.0.0.1/\n' > no-dracut.yaml
expect_failure bootstrap-without-dracut 1 \
        "needs: dracut.*dracut-live.*; add them to os.packages.install" \
        --config-file no-dracut.yaml --image-file "$image" --output-image-format pxe-dir

cat > no-shim.yaml <<'YAML'
scripts:
  finalizeCustomization:
    - content: rm /usr/lib/shim/shimx64.efi.signed
YAML
expect_failure iso-without-shim 1 \
        "the image has no /usr/lib/shim/shimx64.efi.signed: add 'shim-signed' to os.packages.install" \
        --config-file no-shim.yaml --image-file "$image" --output-image-format iso
