#!/usr/bin/env bash
# Installs the Debian packages that building pxeforge and running every test needs.
# Idempotent: apt-get runs only when something is missing.
set -euo pipefail

packages=(
        # build
        build-essential cmake pkg-config clang-format
        libguestfs-dev libarchive-dev libyaml-dev libevent-dev libcmocka-dev libcrypt-dev libseccomp-dev
        libssl-dev pigz
        # libguestfs builds its appliance from the host's kernel and packages
        linux-image-amd64 libguestfs-tools
        # image tools the builder and the tests drive
        qemu-utils qemu-system-x86 ovmf mmdebstrap dosfstools mtools fdisk gdisk
        xorriso squashfs-tools dnsmasq-base xz-utils zstd
        # setfiles: labels a live output's tree for os.selinux.mode
        policycoreutils
        # what the tests read initramfs images with, and build test packages with
        cpio dpkg
        # the dnf path: rpmbuild makes the tests' RPM packages, createrepo_c indexes folders
        # of them (pxeforge runs it for --rpm-source folders on dnf and tdnf images)
        rpm createrepo-c
        # iPXE for the artifacts of server.ipxe (BIOS, HTTP-boot and iPXE clients); GRUB for
        # BIOS (server.bios) when an image has no grub-pc-bin of its own
        ipxe grub-pc-bin
        # xfs: made by the tests (xfsprogs), read by the appliance only with libguestfs-xfs
        # (the boot-xfs test image); jfs: made by bad-input (jfsutils) to prove the error
        # that names a missing libguestfs-* package (libguestfs-jfs is left out on purpose)
        xfsprogs libguestfs-xfs jfsutils
        # the tests' clients and networks: curl (HTTP interop), iproute2 (namespaces,
        # bridges, taps), python3 (a plain HTTP server for the QEMU user-network test;
        # with python3-yaml, the judge of Image Customizer's test configurations)
        curl iproute2 util-linux python3 python3-yaml
        # pxeforge-server's system user (made below, as the package does)
        adduser
        # the installed files' checks: manual pages (groff, man) and the unit (systemd-analyze)
        groff-base man-db systemd
        # the Debian package: cpack's dependency list, and its check in a clean chroot
        dpkg-dev lintian
        # fuzzing
        clang libclang-rt-14-dev
        # the status page in a real browser (headless): integration.status-api and the
        # appliance's VM tests
        chromium
)

missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
                || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
        echo "deps: all ${#packages[@]} packages present"
elif [ "$(id -u)" -ne 0 ]; then
        echo "deps: missing packages: ${missing[*]}; run as root to install them" >&2
        exit 1
else
        echo "deps: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# pxeforge-server's own system user, made the way the Debian package's postinst makes it
# (packaging/debian/postinst); the serving tests expect the server to run as it.
if ! getent passwd pxeforge >/dev/null; then
        if [ "$(id -u)" -ne 0 ]; then
                echo "deps: the system user pxeforge is missing; run as root to create it" >&2
                exit 1
        fi
        adduser --system --group --home /nonexistent --no-create-home --quiet pxeforge
        echo "deps: created the system user pxeforge"
fi
