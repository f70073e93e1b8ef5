#!/bin/sh
# Prints, once, on the serial console, how this system is laid out and was booted: the
# file system type and source of /, /boot and /home, which tool made the initramfs it
# booted with, whether memtest86+ is installed and in GRUB's menu, SELinux's enforce flag
# (or off), the labels of /etc/shadow and of / (a live root's top directory is made
# before the policy loads: pxeforge's unit labels it), and the kernel command line (tests/vm/layout.sh
# reads it).
fs() { findmnt -n -o FSTYPE,SOURCE "$1" 2>/dev/null | tr -s ' ' ':' || true; }
pkg() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | cut -c2 || true; }
dmesg --console-level emerg
echo "PXF-LAYOUT host=$(hostname) root=$(fs /) boot=$(fs /boot) home=$(fs /home) dracut=$(pkg dracut) initramfs-tools=$(pkg initramfs-tools) memtest=$(pkg memtest86+) memtest-entries=$(grep -c '^menuentry.*[Mm]emtest' /boot/grub/grub.cfg 2>/dev/null) selinux=$(cat /sys/fs/selinux/enforce 2>/dev/null || echo off) shadow=$(stat -c %C /etc/shadow 2>/dev/null) rootlabel=$(stat -c %C / 2>/dev/null) cmdline=$(cat /proc/cmdline)" > /dev/ttyS0
