#!/usr/bin/env bash
# `pxeforge convert`: a disk image written in each other disk format holds the same
# disk (qemu-img compare), the input is left as it was, and what it refuses (an ISO, a
# live format, COSI, a missing input) it refuses with a message and no output.
source "$(dirname "$0")/../lib/common.sh"
pxf_tmpdir
cd "$PXF_TMP" || fail "cannot enter $PXF_TMP"

# A disk of random data: anything lost or moved by a conversion shows in the compare.
head -c $((24 << 20)) /dev/urandom > in.raw
sum=$(sha256sum < in.raw)
convert() { "$PXF_BIN" convert --image-file "$1" --output-image-file "$2" \
        --output-image-format "$3" --build-dir build; }

prev=in.raw
for fmt in qcow2 vhdx vhd vhd-fixed raw; do
        out=out-$fmt.img
        convert "$prev" "$out" "$fmt" || fail "convert $prev to $fmt failed"
        # QEMU reads a fixed VHD as raw unless told: its footer would count as data.
        qemu_fmt=$fmt
        [[ $fmt != vhd && $fmt != vhd-fixed ]] || qemu_fmt=vpc
        qemu-img compare -q -f raw -F "$qemu_fmt" in.raw "$out" \
                || fail "$fmt: the disk differs from the input"
        prev=$out
done
[ "$(qemu-img info --output=json out-vhdx.img | grep -o '"format": "[a-z0-9]*"')" = '"format": "vhdx"' ] \
        || fail "the vhdx output is not vhdx"
[ "$(sha256sum < in.raw)" = "$sum" ] || fail "the input changed"
[ -z "$(pxf_build_leftovers build)" ] || fail "build dir not clean: $(pxf_build_leftovers build)"
[ -z "$(find . -maxdepth 1 -name '*partial*')" ] || fail "a partial output was left behind"
pass "raw -> qcow2 -> vhdx -> vhd -> vhd-fixed -> raw keeps the disk"

# Refusals: the message says why, the output path keeps what it had.
echo keep > kept.img
refused() { # EXPECTED-STATUS PATTERN ARGS...
        local want=$1 pattern=$2 status=0
        shift 2
        "$PXF_BIN" convert "$@" > log 2>&1 || status=$?
        [ "$status" = "$want" ] || fail "convert $*: status $status, not $want: $(cat log)"
        grep -q -- "$pattern" log || fail "convert $*: no '$pattern' in: $(cat log)"
        [ "$(cat kept.img)" = keep ] || fail "convert $*: the output path was touched"
}
cp in.raw fake.iso
printf '\001CD001' | dd of=fake.iso bs=1 seek=32768 conv=notrunc status=none
refused 1 "is an ISO 9660 image" --image-file fake.iso --output-image-file kept.img \
        --output-image-format qcow2 --build-dir build
refused 1 "convert writes disk images" --image-file in.raw --output-image-file kept.img \
        --output-image-format pxe-dir --build-dir build
refused 2 "is not supported by pxeforge" --image-file in.raw --output-image-file kept.img \
        --output-image-format cosi
refused 2 "convert needs --output-image-format" --image-file in.raw --output-image-file kept.img
refused 1 "does not exist" --image-file missing.raw --output-image-file kept.img \
        --output-image-format raw --build-dir build
pass "an ISO, a live format, COSI, no format and a missing input are refused; the output is untouched"
