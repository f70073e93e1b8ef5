#!/usr/bin/env bash
# Package sources of one build on a dnf image (customize --rpm-source,
# --disable-base-image-rpm-repos), as the reference tool takes them there, in the
# libguestfs appliance with the image's own dnf and rpm (tests/images/
# build-rpm-family-image.sh: Debian's dnf in a root that calls itself AlmaLinux, which
# Debian 12's libguestfs does not know: pxeforge reads its os-release):
#   - bad sources are refused before any work, naming the file and line;
#   - a folder of .rpm files, a .repo file whose repository is a folder beside it
#     (file+rel://) and the image's own repository (/etc/yum.repos.d) each give a
#     package, and the output holds nothing of the build's sources or their caches;
#   - with the image's repositories off, its package is nowhere to be found.
source "$(dirname "$0")/../lib/common.sh"
source "$PXF_SOURCE_DIR/deploy/lib/vm.sh"
[ "$(id -u)" -eq 0 ] || fail "must run as root (libguestfs)"
for tool in rpmbuild createrepo_c guestfish; do
        command -v "$tool" >/dev/null || fail "$tool not found: install it (tests/deps.sh)"
done
pxf_tmpdir
vm_guestfs_env
cd "$PXF_TMP" || fail "cannot enter $PXF_TMP"
image=$("$PXF_SOURCE_DIR/tests/images/build-rpm-family-image.sh")

pxf_make_rpm folder pxf-folder-probe
pxf_make_rpm sources/repo-dir pxf-repo-probe
createrepo_c --quiet sources/repo-dir || fail "createrepo_c failed"
printf '%s\n' '# a repository beside this file' '[extra]' 'name=extra' \
        'baseurl=file+rel://repo-dir' 'enabled=1' 'gpgcheck=0' > sources/extra.repo
cat > config.yaml <<EOF
os:
  packages:
    install: [pxf-folder-probe, pxf-repo-probe, pxf-image-probe]
EOF

customize() { # NAME OUTPUT OPTION...: its log in NAME.err
        local name=$1 output=$2
        shift 2
        "$PXF_BIN" customize --config-file config.yaml --image-file "$image" \
                --output-image-file "$output" --output-image-format qcow2 \
                --build-dir "build-$name" "$@" 2> "$name.err"
}

# expect_refused NAME MESSAGE OPTION...: exit 1 with MESSAGE, the output untouched.
expect_refused() {
        local name=$1 message=$2 rc=0
        shift 2
        echo sentinel > "out-$name"
        customize "$name" "out-$name" "$@" || rc=$?
        sed "s/^/    [$name] /" "$name.err" | tail -n 6
        [ "$rc" -eq 1 ] || fail "$name: exit status $rc, expected 1"
        grep -qF -- "$message" "$name.err" || fail "$name: no '$message' in the error"
        [ "$(cat "out-$name")" = sentinel ] || fail "$name: the output path was touched"
}

# Before any work (no appliance).
printf '%s\n' '[broken]' 'name=broken' 'baseurl=file+rel://nowhere' > broken.repo
expect_refused broken-repo \
        "broken.repo:3: baseurl 'file+rel://nowhere': '$PXF_TMP/nowhere': No such file" \
        --rpm-source "$PXF_TMP/broken.repo"
mkdir not-rpms && echo "not a package" > not-rpms/tool-1.0-1.x86_64.rpm
expect_refused not-an-rpm "--rpm-source: 'not-rpms/tool-1.0-1.x86_64.rpm' is not an RPM package" \
        --rpm-source not-rpms
pass "a .repo file naming a missing folder and a file that is no RPM are refused before any work"

# The two builds side by side: each is mostly waiting on its own appliance.
expect_refused image-repos-off "No match for argument: pxf-image-probe" \
        --rpm-source folder --rpm-source sources/extra.repo --disable-base-image-rpm-repos &
off_pid=$!
customize all out.qcow2 --rpm-source folder --rpm-source sources/extra.repo \
        || { tail -n 30 all.err >&2; fail "the build with three sources failed"; }
grep -q "found almalinux 9 in" all.err || fail "the image was not taken for AlmaLinux 9"
wait "$off_pid" || fail "the build with the image's repositories off: its checks failed"
grep -q "signature checks off" all.err || fail "the log does not say the folder is unsigned"
pass "with the image's repositories off, pxf-image-probe is not found"

# What the image holds of dnf's state and sources, before and after.
state() {
        guestfish --ro -a "$1" -i <<'EOF'
-find /var/cache/dnf
-find /var/cache/tdnf
-find /etc/yum.repos.d
-cat /etc/yum.repos.d/image.repo
-is-dir /var/lib/pxeforge-package-sources
EOF
}
state "$image" > before.txt 2>&1
state out.qcow2 > after.txt 2>&1
diff -u before.txt after.txt || fail "the build left its sources or caches in the image"
guestfish --ro -a out.qcow2 -i <<'EOF' > probes.txt 2>&1 || true
command "rpm -qa --qf %{NAME}=%{VERSION}\n"
-cat /usr/share/pxf-folder-probe/marker
-cat /usr/share/pxf-repo-probe/marker
-cat /usr/share/pxf-image-probe/marker
EOF
for name in pxf-folder-probe pxf-repo-probe pxf-image-probe; do
        grep -qx "$name=1.0" probes.txt || { cat probes.txt >&2; fail "rpm does not list $name"; }
        grep -qx "$name 1.0" probes.txt || fail "$name's file is not in the image"
done
pass "a folder, a .repo file (file+rel://) and the image's repository each gave their package; nothing of the sources is left"
