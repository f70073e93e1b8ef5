# The Debian package (cpack -G DEB in a build tree): what `cmake --install` installs, under
# /usr. Library dependencies come from dpkg-shlibdeps; the programs pxeforge runs are
# listed here, and what a lab box needs beyond them is recommended.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pxeforge)
set(CPACK_PACKAGE_VENDOR "pxeforge")
set(CPACK_PACKAGE_CONTACT "pxeforge developers <pxeforge@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "all-in-one PXE appliance: customize Linux images, serve them to the network")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Takes a Linux disk image, customizes the OS from a YAML file in the format of\n\
Microsoft's Image Customizer, turns it into network-boot artifacts (a full-OS\n\
initramfs, or a small dracut initramfs that fetches a live ISO) or a live ISO,\n\
and serves them itself: TFTP and HTTP servers, and DHCP through a supervised\n\
dnsmasq (proxy beside a LAN's server, or authoritative).")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)
# Run by pxeforge: dnsmasq (DHCP), qemu-img (disk formats), mksquashfs, xorriso, mtools
# and mkfs.vfat (live ISO), xz and zstd (initramfs compression); adduser makes the
# servers' system user (packaging/debian/postinst).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "adduser, dnsmasq-base, qemu-utils, squashfs-tools, xorriso, mtools, dosfstools, xz-utils, zstd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_LIST_DIR}/debian/postinst)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# libguestfs builds its appliance from the host's kernel; images with an xfs, reiserfs or
# HFS+ file system mount only with the matching libguestfs package; pigz packs pxe-tar
# in parallel; iPXE boots BIOS and HTTP-boot clients (server.ipxe); grub-pc-bin makes GRUB
# for BIOS (server.bios) when an image has none; OVMF boots the test bridge's VMs;
# policycoreutils' setfiles labels a live output's tree for os.selinux.mode; createrepo-c
# indexes a folder of .rpm files given with --rpm-source for a dnf or tdnf image.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "linux-image-amd64, libguestfs-xfs, libguestfs-reiserfs, \
libguestfs-hfsplus, pigz, ipxe, grub-pc-bin")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "ovmf, qemu-system-x86, iproute2, policycoreutils, createrepo-c")
include(CPack)
