#!/usr/bin/env bash
# `pxe-tar` carries exactly the artifacts folder: customize the Debian test image into a
# .tar.gz (full-OS initramfs), unpack it, and check that every file listed in the
# manifest is there with its size and checksum (sha256sum -c), that nothing else is, and
# that modes allow a TFTP server running as nobody to read everything.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
pxf_tmpdir
vm_guestfs_env

image=$(pxf_test_image)
tarball=$PXF_TMP/artifacts.tar.gz
"$PXF_BIN" customize --config-file "$PXF_SOURCE_DIR/tests/vm/pxe/full-os.yaml" \
        --image-file "$image" --output-image-format pxe-tar --output-path "$tarball" \
        --build-dir "$PXF_TMP/build" --image-tree-cache-dir "$PXF_IMAGE_TREES" --progress json 2> >(tee "$PXF_TMP/progress.log" >&2) \
        || fail "customize to pxe-tar failed"
[ "$(head -c 2 "$tarball" | od -An -tx1 | tr -d ' ')" = 1f8b ] || fail "not gzip"
[ -z "$(pxf_build_leftovers "$PXF_TMP/build")" ] || fail "build dir not clean: $(pxf_build_leftovers "$PXF_TMP/build")"

mkdir "$PXF_TMP/x"
tar -xzf "$tarball" -C "$PXF_TMP/x" || fail "the tarball does not unpack"
cd "$PXF_TMP/x" || fail "cannot enter $PXF_TMP/x"
sha256sum --quiet --strict -c SHA256SUMS || fail "unpacked files do not match SHA256SUMS"
listed=$(sed -n 's/^file: [0-9]* [0-9a-f]* //p' manifest | sort)
present=$(find . -type f ! -name manifest ! -name SHA256SUMS | sed 's|^\./||' | sort)
[ "$listed" = "$present" ] || { diff <(echo "$listed") <(echo "$present") >&2; fail "manifest and tarball differ"; }
while read -r size _ path; do
        [ "$(stat -c %s "$path")" = "$size" ] || fail "$path: size differs from the manifest"
done < <(sed -n 's/^file: //p' manifest)
bad=$(find . ! -perm -o=r | head -n 3)
[ -z "$bad" ] || fail "not world-readable: $bad"
[ "$(tar -tzvf "$tarball" | awk '{print $2}' | sort -u)" = "root/root" ] || fail "owners are not root"
pass "pxe-tar unpacks to the manifest's files: $(echo "$present" | wc -l) files, $(stat -c %s "$tarball") bytes"

# --progress json: what programs read (bench/live-build.sh). Every step that began ended
# well, in order, and the initramfs the log reports is the one in the tarball.
python3 - "$PXF_TMP/progress.log" "$(stat -c %s initrd.img)" <<'PY' || fail "the JSON progress is wrong"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
begins = [e for e in events if e["event"] == "step-begin"]
ends = [e for e in events if e["event"] == "step-end"]
assert begins and [b["name"] for b in begins] == [e["name"] for e in ends], (begins, ends)
assert all(e["ok"] and e["of"] == len(ends) for e in ends), ends
assert [e["step"] for e in ends] == list(range(1, len(ends) + 1)), ends
initrd = [e for e in events if e["event"] == "artifact" and e["name"] == "full-OS initramfs"]
assert len(initrd) == 1 and initrd[0]["bytes"] == int(sys.argv[2]), initrd
print(f"progress: {len(ends)} steps, " + ", ".join(f'{e["name"]} {e["seconds"]} s' for e in ends))
PY
pass "--progress json reports every step and the initramfs it made"
