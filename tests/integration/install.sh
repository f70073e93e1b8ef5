#!/usr/bin/env bash
# `cmake --install` into a scratch prefix, then the installed files used as a user would:
# the program and its server from their installed places, the manual pages (lint-free and
# found by man), an installed example config validated, bash completion, and the systemd
# unit with its paths filled in, checked by systemd-analyze verify.
source "$(dirname "$0")/../lib/common.sh"
pxf_tmpdir
prefix=$PXF_TMP/usr
for tool in groff man systemd-analyze; do
        command -v "$tool" >/dev/null || fail "$tool not found (tests/deps.sh installs it)"
done
cmake --install "$PXF_BUILD_DIR" --prefix "$prefix" > "$PXF_TMP/install.log" \
        || { cat "$PXF_TMP/install.log" >&2; fail "cmake --install failed"; }
for f in bin/pxeforge libexec/pxeforge/pxeforge-server share/man/man1/pxeforge.1.gz \
        share/man/man5/pxeforge.yaml.5.gz share/doc/pxeforge/README.md \
        share/doc/pxeforge/examples/lab-proxy.yaml share/bash-completion/completions/pxeforge \
        lib/systemd/system/pxeforge@.service lib/systemd/system/pxeforge-serve@.service; do
        [ -f "$prefix/$f" ] || fail "not installed: $f"
done
pass "installed $(find "$prefix" -type f | wc -l) files"

[ "$("$prefix/bin/pxeforge" --version)" = "pxeforge $(sed -n 's/^project(pxeforge VERSION \([0-9.]*\).*/\1/p' "$PXF_SOURCE_DIR/CMakeLists.txt")" ] \
        || fail "the installed pxeforge reports another version"
"$prefix/bin/pxeforge" validate-config --config-file "$prefix/share/doc/pxeforge/examples/lab-proxy.yaml" \
        || fail "the installed example does not validate"
pass "the installed program runs and validates an installed example"

for page in man1/pxeforge.1.gz man5/pxeforge.yaml.5.gz; do
        warnings=$(zcat "$prefix/share/man/$page" | groff -man -ww -z 2>&1)
        [ -z "$warnings" ] || fail "groff warns about $page: $warnings"
done
MANPATH=$prefix/share/man man -w pxeforge.yaml >/dev/null || fail "man does not find pxeforge.yaml(5)"
MANPATH=$prefix/share/man man pxeforge 2>/dev/null | grep -q 'pxeforge up' || fail "pxeforge(1) lacks up"
pass "manual pages are lint-free and found by man"

# shellcheck disable=SC1091
completion() { # completion WORD...: what the installed completion offers for the last word
        set +u
        source "$prefix/share/bash-completion/completions/pxeforge"
        COMP_WORDS=("$prefix/bin/pxeforge" "$@")
        COMP_CWORD=$#
        _pxeforge
        echo "${COMPREPLY[*]}"
}
[ "$(completion serve --http-p)" = --http-port ] || fail "bash completion does not complete --http-p"
[ "$(completion serve --tftp-max-p)" = --tftp-max-per-source ] || fail "bash completion lacks the limits"
[ "$(completion serve --dhcp a)" = authoritative ] || fail "bash completion lacks --dhcp modes"
pass "bash completion takes the options from the program"

for unit in pxeforge@ pxeforge-serve@; do
        command=${unit%@}
        command=${command#pxeforge}
        command=${command#-}
        grep -q "^ExecStart=$prefix/bin/pxeforge ${command:-up} " "$prefix/lib/systemd/system/$unit.service" \
                || fail "$unit.service does not start the installed program"
        cp "$prefix/lib/systemd/system/$unit.service" "$PXF_TMP/${unit}lab.service"
        MANPATH=$prefix/share/man systemd-analyze verify "$PXF_TMP/${unit}lab.service" \
                || fail "systemd-analyze verify found problems in $unit.service"
done
pass "the systemd units name the installed program and pass systemd-analyze verify"
