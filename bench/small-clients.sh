#!/usr/bin/env bash
# bench/small-clients.sh: what a machine with little memory must hold to boot pxeforge's PXE
# artifacts, as they are and with the live root's cuts, side by side in one run.
#
#   builds:   the Debian 13 test image (boot-xfs layout, which the VM tests' bootstrap
#             artifacts come from) into bootstrap and full-OS pxe-dir artifacts
#             (tests/vm/pxe/bootstrap.yaml and full-os.yaml), each as it is and with
#             liveRoot.omit: [documentation, manPages, locales];
#   where:    per category of the bootstrap squashfs (documentation, man pages, locales,
#             kernel modules, firmware, the rest) its bytes unpacked (unsquashfs -lls) and
#             what leaving it out saves in the squashfs (mksquashfs again without it, with
#             pxeforge's options), and the same squashfs with other compressions;
#   sizes:    image.iso, LiveOS/squashfs.img and initrd.img, and the manifests' minimum
#             memory (artifacts/memory.c);
#   --boot:   the least memory each boots to a login prompt in, by booting UEFI VMs through
#             QEMU's TFTP in 32 MiB steps from the manifest's minimum, and what the console
#             said at the step below (adds about 30 minutes under TCG).
#
# Usage (root): bench/small-clients.sh [--boot] [results.md]
#   (default: bench/results/small-clients.md)
# Needs: a built tree (build/default), the packages of tests/deps.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh" # sets here and src
boot=false
[ "${1:-}" != --boot ] || { boot=true; shift; }
results=${1:-$here/results/small-clients.md}
bench_setup mksquashfs unsquashfs xorriso python3

work=$(mktemp -d /var/tmp/pxf-bench.XXXXXX)
http_pid=
trap '[ -z "$http_pid" ] || kill "$http_pid" 2>/dev/null; vm_stop 2>/dev/null; rm -rf "$work"' EXIT
image=$("$src/tests/images/build-debian-image.sh" boot-xfs trixie)
declare -a size_rows=() category_rows=() memory_rows=()

# build NAME CONFIG [OMIT]: pxe-dir artifacts at $work/NAME, with liveRoot.omit when OMIT.
build() {
        local name=$1 config=$2 omit=${3:-}
        # the config without cuts of its own (the test's bootstrap config has some)
        sed '/^liveRoot:/,/^  omit:/d' "$config" > "$work/$name.yaml"
        [ -z "$omit" ] || printf 'liveRoot:\n  omit: [%s]\n' "$omit" >> "$work/$name.yaml"
        # the config's relative paths (the marker service) resolve beside the original
        sed -i "s|source: marker.service|source: $src/tests/vm/pxe/marker.service|" "$work/$name.yaml"
        # Debian 13's GRUB fetches kernel and initramfs over HTTP, from the port the VMs
        # below find an HTTP server on
        grep -q 'httpPort:' "$work/$name.yaml" || sed -i 's/^server:$/server:\n  httpPort: 8089/' "$work/$name.yaml"
        "$pxf" customize --config-file "$work/$name.yaml" --image-file "$image" \
                --output-path "$work/$name" --build-dir "$work/build" \
                --image-tree-cache-dir /var/cache/pxeforge/image-trees 2> "$work/$name.log" \
                || { tail -n 20 "$work/$name.log" >&2; exit 1; }
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
manifest_min() { sed -n 's/^minimum-memory-mib: //p' "$work/$1/manifest"; }

omit=documentation,manPages,locales
echo "== builds =="
build bootstrap "$src/tests/vm/pxe/bootstrap.yaml"
build bootstrap-omit "$src/tests/vm/pxe/bootstrap.yaml" "$omit"
build full-os "$src/tests/vm/pxe/full-os.yaml"
build full-os-omit "$src/tests/vm/pxe/full-os.yaml" "$omit"
for name in bootstrap bootstrap-omit; do
        xorriso -osirrox on -indev "$work/$name/image.iso" \
                -extract /LiveOS/squashfs.img "$work/$name.squashfs" >/dev/null 2>&1
        size_rows+=("| $name | $(mib "$(size_of "$work/$name/image.iso")") | $(mib "$(size_of "$work/$name.squashfs")") | $(mib "$(size_of "$work/$name/initrd.img")") | $(manifest_min "$name") |")
done
for name in full-os full-os-omit; do
        size_rows+=("| $name | | | $(mib "$(size_of "$work/$name/initrd.img")") | $(manifest_min "$name") |")
done

echo "== where the squashfs's bytes go =="
unsquashfs -q -n -d "$work/tree" "$work/bootstrap.squashfs" >/dev/null
squash() { mksquashfs "$work/tree" "$1" -noappend -quiet -no-progress -xattrs "${@:2}"; }
squash "$work/all.img" -comp zstd -Xcompression-level 9
all=$(size_of "$work/all.img")
# category NAME PATH...: its bytes in the tree, and the squashfs without it
category() {
        local name=$1 bytes path
        local -a paths=()
        shift
        for path in "$@"; do [ ! -e "$work/tree/$path" ] || paths+=("$path"); done
        if [ ${#paths[@]} -eq 0 ]; then
                category_rows+=("| $name | 0 | 0 |")
                return
        fi
        bytes=$(cd "$work/tree" && du -sb --apparent-size "${paths[@]}" | awk '{s += $1} END {print s + 0}')
        squash "$work/without.img" -comp zstd -Xcompression-level 9 -e "${paths[@]}"
        category_rows+=("| $name | $(mib "$bytes") | $(mib $((all - $(size_of "$work/without.img")))) |")
        echo "$name: $(mib "$bytes") MiB unpacked, $(mib $((all - $(size_of "$work/without.img")))) MiB of the squashfs"
}
category documentation usr/share/doc
category "man pages" usr/share/man usr/share/info
category locales usr/share/locale
category "kernel modules" usr/lib/modules
category firmware usr/lib/firmware
category_rows+=("| all (zstd 9, 128 KiB blocks: pxeforge's) | $(mib "$(du -sb --apparent-size "$work/tree" | cut -f1)") | $(mib "$all") |")
for comp in "zstd 9, 1 MiB blocks:-comp zstd -Xcompression-level 9 -b 1M" \
        "zstd 19, 1 MiB blocks:-comp zstd -Xcompression-level 19 -b 1M" \
        "xz, x86 filter, 1 MiB blocks:-comp xz -Xbcj x86 -b 1M"; do
        # shellcheck disable=SC2086 # the options are words
        timed t squash "$work/other.img" ${comp#*:}
        category_rows+=("| all (${comp%%:*}; $t s) | | $(mib "$(size_of "$work/other.img")") |")
done
rm -rf "$work/tree" "$work"/*.img

# boots NAME MEM: 0 when a UEFI VM with MEM MiB PXE-boots the artifacts to a login prompt.
boots() {
        local name=$1 mem=$2 console=$work/$1-$2.log
        PXF_VM_MEM=$mem VM_USER_NET="net=192.168.77.0/24,host=192.168.77.1" \
                vm_boot_pxe_user "$work/$name" bootx64.efi "$console" >/dev/null
        local ok=1
        vm_wait_for "$console" 'login:|pxeforge: not enough memory|Kernel panic|Out of memory' 1200 \
                >/dev/null 2>&1 && grep -aq 'login:' "$console" && ok=0
        vm_stop
        echo "$name, $mem MiB: $([ $ok = 0 ] && echo "login prompt" || grep -aEo -m1 'pxeforge: not enough memory.{0,60}|Kernel panic.{0,60}|Out of memory.{0,40}' "$console" || echo "no login prompt")"
        return $ok
}

# least NAME: the least memory, in 32 MiB steps, that NAME boots in.
least() {
        local name=$1 mem
        mem=$(manifest_min "$name")
        if boots "$name" "$mem"; then
                while ((mem > 256)) && boots "$name" $((mem - 32)); do mem=$((mem - 32)); done
        else
                until ((mem >= 4096)) || boots "$name" $((mem + 32)); do mem=$((mem + 32)); done
                mem=$((mem + 32))
        fi
        memory_rows+=("| $name | $(manifest_min "$name") | $mem |")
}

# serving NAME: HTTP for NAME's folder where its grub.cfg and initramfs look (port 8089).
serving() {
        [ -z "$http_pid" ] || kill "$http_pid"
        python3 -u -m http.server 8089 --bind 127.0.0.1 --directory "$work/$1" > "$work/http.log" 2>&1 &
        http_pid=$!
        sleep 1
}

if $boot; then
        echo "== the least memory each boots in =="
        for name in bootstrap bootstrap-omit full-os full-os-omit; do
                serving "$name"
                least "$name"
        done
fi

mkdir -p "$(dirname "$results")"
{
        echo "# Small clients: what the machines hold"
        echo
        echo "$(date -u +%Y-%m-%d), $(nproc) CPUs, $(vm_accel) virtualization, $(uname -r);"
        echo "the Debian 13 boot-xfs test image; \"-omit\": liveRoot.omit: [$omit]."
        echo
        echo "| artifacts | image.iso MiB | squashfs MiB | initrd.img MiB | manifest minimum MiB |"
        echo "|---|---:|---:|---:|---:|"
        printf '%s\n' "${size_rows[@]}"
        echo
        echo "Where the bootstrap squashfs's bytes go (as built, no cuts):"
        echo
        echo "| category | MiB unpacked | MiB of the squashfs |"
        echo "|---|---:|---:|"
        printf '%s\n' "${category_rows[@]}"
        if $boot; then
                echo
                echo "| artifacts | manifest minimum MiB | least MiB booted to login (32 MiB steps) |"
                echo "|---|---:|---:|"
                printf '%s\n' "${memory_rows[@]}"
        fi
} > "$results"
echo "bench: results in $results"
