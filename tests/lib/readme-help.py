#!/usr/bin/env python3
"""readme-help.py PXEFORGE README [--update]: the README's help blocks against the program.

Each block in the README sits between `<!-- pxeforge ARGS -->` and `<!-- end -->` and holds
the output of `pxeforge ARGS` (e.g. `customize --help`) indented by four spaces. Without
--update, fails and shows a diff for every block that differs from what the program prints
(both come from pxeforge/cli.c's tables: the README cannot drift from --help and the man
page). With --update, rewrites the blocks."""
import difflib
import re
import subprocess
import sys

BLOCK = re.compile(r"(<!-- pxeforge ([^>]*?) -->\n)(.*?)(<!-- end -->)", re.S)


def rendered(pxeforge, args):
    out = subprocess.run([pxeforge, *args.split()], check=True, capture_output=True, text=True)
    lines = out.stdout.rstrip("\n").split("\n")
    return "\n" + "".join(("    " + l).rstrip() + "\n" for l in lines) + "\n"


def main():
    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4 and sys.argv[3] != "--update"):
        sys.exit(__doc__)
    pxeforge, readme = sys.argv[1], sys.argv[2]
    text = open(readme, encoding="utf-8").read()
    blocks = BLOCK.findall(text)
    if not blocks:
        sys.exit(f"{readme}: no <!-- pxeforge ARGS --> blocks")
    bad = 0
    for head, args, body, end in blocks:
        want = rendered(pxeforge, args)
        if body != want:
            bad += 1
            sys.stderr.writelines(difflib.unified_diff(
                body.splitlines(True), want.splitlines(True),
                f"README: pxeforge {args}", f"program: pxeforge {args}"))
    if len(sys.argv) == 4:
        new = BLOCK.sub(lambda m: m.group(1) + rendered(pxeforge, m.group(2)) + m.group(4), text)
        open(readme, "w", encoding="utf-8").write(new)
        print(f"{readme}: {len(blocks)} help blocks written")
        return
    if bad:
        sys.exit(f"{bad} of {len(blocks)} help blocks differ; update them with: "
                 f"tests/lib/readme-help.py {pxeforge} {readme} --update")
    print(f"{len(blocks)} help blocks match the program")


main()
