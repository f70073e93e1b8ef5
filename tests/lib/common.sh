# shellcheck shell=bash
# Shared helpers for pxeforge's shell tests. Source it; it sets strict mode.
set -euo pipefail

PXF_SOURCE_DIR=${PXF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PXF_BIN=${PXF_BIN:-$PXF_SOURCE_DIR/build/default/pxeforge/pxeforge}

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

pass() {
        echo "PASS: $*"
}

# A scratch directory removed when the test exits.
pxf_tmpdir() {
        PXF_TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/pxf-test.XXXXXX")
        trap 'pxf_cleanup' EXIT
}

pxf_cleanup() {
        local rc=$?
        if declare -F vm_stop >/dev/null; then vm_stop || true; fi
        [ -n "${PXF_TMP:-}" ] && rm -rf "$PXF_TMP"
        return $rc
}

# Where the tests' live builds keep and find the trees exported from the test images
# (customize --image-tree-cache-dir): each image leaves the appliance once a run, and the
# other live builds of it start from that tree. build-cache.sh keeps its own.
PXF_IMAGE_TREES=${PXF_IMAGE_TREES:-/var/cache/pxeforge/image-trees}

# pxf_make_deb DIR NAME [POSTINST]: DIR/NAME_1.0_all.deb, made with dpkg-deb: it installs
# /usr/share/NAME/marker holding "NAME 1.0", and runs POSTINST (shell lines) if given.
pxf_make_deb() {
        local dir=$1 name=$2 root
        root=$(mktemp -d "${PXF_TMP:-/var/tmp}/deb.XXXXXX")
        mkdir -p "$root/DEBIAN" "$root/usr/share/$name" "$dir"
        echo "$name 1.0" > "$root/usr/share/$name/marker"
        printf '%s\n' "Package: $name" "Version: 1.0" "Architecture: all" \
                "Maintainer: pxeforge tests <tests@pxeforge.invalid>" \
                "Description: a package made by pxeforge's tests" > "$root/DEBIAN/control"
        if [ $# -ge 3 ]; then
                printf '#!/bin/sh\n%s\n' "$3" > "$root/DEBIAN/postinst"
                chmod 755 "$root/DEBIAN/postinst"
        fi
        dpkg-deb --root-owner-group --build "$root" "$dir/${name}_1.0_all.deb" >/dev/null \
                || fail "dpkg-deb could not build $name"
        rm -rf "$root"
}

# pxf_make_rpm DIR NAME: DIR/NAME-1.0-1.noarch.rpm, made with rpmbuild: it installs
# /usr/share/NAME/marker holding "NAME 1.0" and needs nothing (no dependencies, no scripts).
pxf_make_rpm() {
        local dir=$1 name=$2 top
        top=$(mktemp -d "${PXF_TMP:-/var/tmp}/rpm.XXXXXX")
        mkdir -p "$dir"
        cat > "$top/$name.spec" <<EOF
Name: $name
Version: 1.0
Release: 1
Summary: a package made by pxeforge's tests
License: MIT
BuildArch: noarch
AutoReqProv: no
%description
A package made by pxeforge's tests.
%install
mkdir -p %{buildroot}/usr/share/$name
echo "$name 1.0" > %{buildroot}/usr/share/$name/marker
%files
/usr/share/$name/marker
EOF
        rpmbuild -bb --quiet --define "_topdir $top" --define "_rpmdir $(readlink -f "$dir")" \
                --define '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm' \
                "$top/$name.spec" > "$top/log" 2>&1 \
                || { cat "$top/log" >&2; fail "rpmbuild could not build $name"; }
        rm -rf "$top"
}

# pxf_test_image [LAYOUT [RELEASE]]: the Debian test image (by default the standard
# Debian 12 one), built once and cached by content.
pxf_test_image() {
        "$PXF_SOURCE_DIR/tests/images/build-debian-image.sh" "$@"
}

# Asserts that a file holds each line of an expectations file (both compared without
# carriage returns and trailing blanks). Prints what is missing.
assert_lines() {
        local expected=$1 actual=$2 missing=0 line
        local clean
        clean=$(tr -d '\r' < "$actual" | sed 's/[[:space:]]*$//')
        while IFS= read -r line; do
                line=$(printf '%s' "$line" | sed 's/[[:space:]]*$//')
                [ -z "$line" ] && continue
                if ! grep -qxF -- "$line" <<<"$clean"; then
                        echo "missing: $line" >&2
                        grep -F -- "${line%%=*}=" <<<"$clean" | sed 's/^/    got: /' >&2 || true
                        missing=$((missing + 1))
                fi
        done < "$expected"
        [ "$missing" -eq 0 ]
}

# pxf_wait_line FILE REGEX SECONDS [PID [FROM]]: waits until FILE has a line matching the
# extended REGEX (at line FROM or later, default 1), instead of sleeping for a guessed
# time. Fails with the file's last lines when the time runs out or when PID (a process
# that writes FILE) exits first.
pxf_wait_line() {
        local file=$1 regex=$2 seconds=$3 pid=${4:-} from=${5:-1} deadline=$((SECONDS + $3))
        while :; do
                tail -n +"$from" "$file" 2>/dev/null | grep -Eq -- "$regex" && return 0
                if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
                        tail -n 20 "$file" >&2 || true
                        fail "the process writing $file exited before /$regex/"
                fi
                if [ "$SECONDS" -ge "$deadline" ]; then
                        tail -n 20 "$file" >&2 || true
                        fail "no /$regex/ in $file within $seconds s"
                fi
                sleep 0.2
        done
}

# pxf_build_leftovers DIR: what a build left in its build dir besides the build cache
# (DIR/cache, which outlives builds on purpose), first few entries; empty when clean.
pxf_build_leftovers() {
        find "$1" -mindepth 1 ! -path "$1/cache" ! -path "$1/cache/*" 2>/dev/null | head -n 5
}
