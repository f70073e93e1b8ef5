#!/usr/bin/env bash
# The build cache of live outputs (customize --cache-dir/--no-cache): a first build keeps
# the image's exported tree, a second build of the image started while the first exports
# it waits for that export instead of exporting too, and a build of another tree starts
# from it without the appliance; a rebuild that only changes pxe.kernelCommandLine takes the customized tree and the initramfs from the cache
# and writes the new argument; a rebuild with nothing changed puts the same output back;
# a damaged entry (a tree, an output) is found, never used, and made again;
# --no-cache neither reads nor changes the cache; a changed host file the config names
# is a different tree.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
pxf_tmpdir
vm_guestfs_env
cd "$PXF_TMP" || fail "cannot enter $PXF_TMP"
image=$(pxf_test_image)

echo "a file from the host" > note.txt
config() { # ARG: a full-OS pxe-dir config with the kernel argument ARG
        cat <<EOF
os:
  hostname: cache-test
  additionalFiles:
    - source: note.txt
      destination: /etc/pxf-note
pxe:
  initramfsType: full-os
  kernelCommandLine:
    extraCommandLine: [pxf.arg=$1]
output:
  image:
    format: pxe-dir
EOF
}
start_build() { # NAME ARG [EXTRA...]: starts building into out-NAME, log in NAME.log
        local name=$1 arg=$2
        shift 2
        config "$arg" > "$name.yaml"
        "$PXF_BIN" customize --config-file "$name.yaml" --image-file "$image" \
                --output-path "out-$name" --build-dir build "$@" 2> "$name.log" &
        build_pid=$!
}
finish_build() { # NAME ARG PID: waits for it and checks its output
        wait "$3" || { tail -n 20 "$1.log" >&2; fail "$1: the build failed"; }
        grep -q "pxf.arg=$2" "out-$1/grub/grub.cfg" || fail "$1: grub.cfg lacks pxf.arg=$2"
}
build() { # NAME ARG [EXTRA...]: builds into out-NAME, log in NAME.log
        start_build "$@"
        finish_build "$1" "$2" "$build_pid"
}
# started NAME REGEX ARG [EXTRA...]: starts a build, stops it once its log matches REGEX.
started() {
        local name=$1 regex=$2 arg=$3 pid
        shift 3
        config "$arg" > "$name.yaml"
        "$PXF_BIN" customize --config-file "$name.yaml" --image-file "$image" \
                --output-path "out-$name" --build-dir build "$@" 2> "$name.log" &
        pid=$!
        pxf_wait_line "$name.log" "$regex" 900 "$pid" || fail "$name: never logged /$regex/"
        kill -TERM "$pid"
        wait "$pid" || true
}
# entry LOG REGEX: the cache entry whose key prefix LOG names in REGEX's \1.
entry() {
        local prefix
        prefix=$(sed -n "s/$2/\1/p" "$1" | head -n 1)
        [ -n "$prefix" ] || fail "$1 names no cache key"
        find build/cache -maxdepth 1 -type f -name "$prefix*" ! -name '*.sha256' | head -n 1
}
# damage FILE: inverts the byte at 4096. Writing a fixed byte left a compressed entry as it
# was whenever that byte was already there (1 run in 256).
damage() {
        local byte before
        before=$(sha256sum < "$1")
        byte=$(od -An -tu1 -j 4096 -N 1 "$1" | tr -d ' ')
        [ -n "$byte" ] || fail "$1 is too short to damage"
        # shellcheck disable=SC2059 # the format is the byte, as an octal escape
        printf "$(printf '\\%03o' $((byte ^ 255)))" |
                dd of="$1" bs=1 seek=4096 conv=notrunc status=none
        [ "$(sha256sum < "$1")" != "$before" ] || fail "$1 did not change"
}
# listing DIR: every file's mode, owner, size, name and link target
listing() { (cd "$1" && find . -printf '%M %u %g %s %p %l\n' | sort -k5); }

start_build first one
first_pid=$build_pid
pxf_wait_line first.log "the image's tree [0-9a-f]*: not in the cache, exported now" 900 "$first_pid"
build twin twin
finish_build first one "$first_pid"
grep -q "another build is making [0-9a-f]*; waiting for it" twin.log \
        || fail "twin: it did not wait for the first build's export"
grep -q "the image's tree [0-9a-f]*: from the cache" twin.log || fail "twin: the image's tree was not reused"
! grep -q 'open image' twin.log || fail "twin: the image was opened a second time"
pass "a build started during another's export of the same image waits and takes its tree"
grep -q 'customized tree [0-9a-f]*: not in the cache, built now' first.log || fail "first: no cache miss logged"
grep -q 'open image: done' first.log || fail "first: the image was not opened"
grep -q "the image's tree [0-9a-f]*: not in the cache, exported now" first.log \
        || fail "first: no miss of the image's tree logged"
! grep -q 'the cache failed\|not kept in the cache' first.log || fail "first: the cache was not filled"
tree=$(entry first.log '.*customized tree \([0-9a-f]*\): not in the cache.*')
[ -f "$tree" ] || fail "first: the tree is not in build/cache"
pass "a first build fills the cache ($(du -sh build/cache | cut -f1))"

# One byte of the tree's entry changed in place: found by its checksum, made again.
damage "$tree"
build damaged two
grep -q 'is damaged: removed, and made again' damaged.log || fail "damaged: the damage went unnoticed"
grep -q 'hostname: done' damaged.log || fail "damaged: the damaged tree was used"
grep -q "the image's tree [0-9a-f]*: from the cache" damaged.log \
        || fail "damaged: the image's tree kept by the first build was not used"
! grep -q 'open image' damaged.log || fail "damaged: the image was opened again"
pass "a damaged cache entry is detected and made again, never used; the image's tree came from the cache"

build rebuild three
cat rebuild.log
grep -q 'customized tree [0-9a-f]*: from the cache' rebuild.log || fail "rebuild: the tree was not reused"
grep -q 'full-OS initramfs: .* from the cache' rebuild.log || fail "rebuild: the initramfs was made again"
! grep -Eq "open image|image's tree|additional files|hostname" rebuild.log \
        || fail "rebuild: customization ran again"
pass "a kernel argument change reuses the tree and the initramfs and writes the new argument"

build same one
grep -q 'output [0-9a-f]* of customized tree [0-9a-f]*: from the cache' same.log \
        || fail "same: the output was not reused"
! grep -Eq 'restore the customized tree|make PXE artifacts' same.log || fail "same: artifacts were made again"
diff -r out-first out-same >&2 || fail "same: the output differs from the first build's"
[ "$(listing out-first)" = "$(listing out-same)" ] || fail "same: modes or owners differ"
pass "a rebuild with nothing changed puts the first build's output back"

damage "$(entry same.log '.*output \([0-9a-f]*\) of customized tree.*')"
build again one
grep -q 'is damaged: removed, and made again' again.log || fail "again: the damaged output went unnoticed"
grep -q 'customized tree [0-9a-f]*: from the cache' again.log || fail "again: the tree was not reused"
pass "a damaged output entry is detected and the output made again from the cached tree"

before=$(find build/cache -type f ! -name .lock -printf '%p %s %T@\n' | sort)
started nocache "open image" four --no-cache
! grep -q 'customized tree' nocache.log || fail "--no-cache: the cache was looked up"
[ "$before" = "$(find build/cache -type f ! -name .lock -printf '%p %s %T@\n' | sort)" ] \
        || fail "--no-cache: the cache changed"
pass "--no-cache neither reads nor changes the cache"

echo "another file from the host" > note.txt
started changed "customized tree" three
grep -q 'customized tree [0-9a-f]*: not in the cache' changed.log \
        || fail "a changed host file (os.additionalFiles source) still hit the cache"
pass "a changed host file named by the config is another tree"
[ -z "$(pxf_build_leftovers build)" ] || fail "the build dir holds more than the cache"
