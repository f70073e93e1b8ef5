#!/usr/bin/env bash
# Every disk output format, and every input format: starting from the Debian test image,
# each run customizes the previous run's output into the next format (qcow2 -> raw -> vhd
# -> vhdx -> vhd-fixed -> qcow2), so each format is both written and read back by
# pxeforge. qemu-img info must report the format and the unchanged virtual size.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
pxf_tmpdir
vm_guestfs_env

image=$(pxf_test_image)
config=$PXF_TMP/hostname.yaml
printf 'os:\n  hostname: formats-test\n' > "$config"
want_size=$(qemu-img info --output=json "$image" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')
[ -n "$want_size" ] || fail "cannot read the test image's virtual size"

# The disk type field of a VHD footer (offset 60 of the last 512 bytes, big-endian):
# 2 fixed, 3 dynamic; empty when the footer has no "conectix" cookie.
vhd_disk_type() {
        local cookie
        cookie=$(tail -c 512 "$1" | head -c 8)
        [ "$cookie" = conectix ] || return 0
        tail -c 512 "$1" | od -An -tu1 -j60 -N4 | awk '{ print $1*16777216 + $2*65536 + $3*256 + $4 }'
}

json_field() { sed -n "s/.*\"$1\": \"\\{0,1\\}\\([^\",]*\\).*/\\1/p" | head -n 1; }

input=$image
for step in raw:raw vhd:vpc vhdx:vhdx vhd-fixed:vpc qcow2:qcow2; do
        fmt=${step%%:*} qemu_name=${step#*:}
        out=$PXF_TMP/out.$fmt
        start=$SECONDS
        "$PXF_BIN" customize --config-file "$config" --image-file "$input" \
                --output-image-format "$fmt" --output-path "$out" --build-dir "$PXF_TMP/build" \
                || fail "customize to $fmt failed (input $(basename "$input"))"
        if [ "$fmt" = vhd-fixed ]; then
                # A fixed VHD is raw data plus a footer, so qemu-img's probe calls it raw:
                # check the footer ourselves and read it as vpc.
                [ "$(vhd_disk_type "$out")" = 2 ] || fail "vhd-fixed: footer disk type is not fixed (2)"
                [ "$(stat -c %s "$out")" -eq $((want_size + 512)) ] \
                        || fail "vhd-fixed: file is not virtual size + 512-byte footer"
                info=$(qemu-img info -f vpc --output=json "$out")
        else
                info=$(qemu-img info --output=json "$out")
        fi
        [ "$fmt" != vhd ] || [ "$(vhd_disk_type "$out")" = 3 ] \
                || fail "vhd: footer disk type is not dynamic (3)"
        got_fmt=$(json_field format <<<"$info")
        got_size=$(json_field virtual-size <<<"$info")
        [ "$got_fmt" = "$qemu_name" ] || fail "$fmt: qemu-img reports format '$got_fmt'"
        [ "$got_size" = "$want_size" ] || fail "$fmt: virtual size $got_size, expected $want_size"
        pass "$fmt: format $got_fmt, virtual size $got_size, $((SECONDS - start)) s"
        [ "$input" = "$image" ] || rm -f "$input"
        input=$out
done
