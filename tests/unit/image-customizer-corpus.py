#!/usr/bin/env python3
"""Runs `pxeforge validate-config` on every configuration of Image Customizer's own test
data (tests/config-corpus/image-customizer) and checks the verdict.

Which verdict is right is worked out here, independently of pxeforge's schema: a config
must be accepted unless it, or a file of its chain of baseConfigs, uses something pxeforge
does not implement (the storage section with its verity, UKI, overlays, COSI output or OCI
input); then pxeforge must refuse it with "... is not supported by pxeforge" as its first
error. Files with only a top-level `packages` list are package lists, not configs.

Usage: image-customizer-corpus.py PXEFORGE CORPUS_DIR
"""
import os
import subprocess
import sys

import yaml

REFUSED_PREVIEW = {"uki": "uki", "reinitialize-verity": "verity",
                   "input-image-oci": "oci", "btrfs": "storage", "create": "storage"}


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def refused_uses(path, stack=()):
    """What of pxeforge's refused set the config at path uses, its bases included."""
    config = load(path)
    uses = set()
    if "storage" in config:
        uses.add("storage")
    os_section = config.get("os") or {}
    uses.update(key for key in ("uki", "overlays") if key in os_section)
    image = (config.get("input") or {}).get("image") or {}
    if "oci" in image or "azureLinux" in image:
        uses.add("oci")
    output = config.get("output") or {}
    if (output.get("image") or {}).get("format") in ("cosi", "baremetal-image"):
        uses.add("cosi")
    items = (output.get("artifacts") or {}).get("items") or []
    if "ukis" in items or "verity-hash" in items:
        uses.add("uki")
    for feature in config.get("previewFeatures") or []:
        if feature in REFUSED_PREVIEW:
            uses.add(REFUSED_PREVIEW[feature])
    for base in config.get("baseConfigs") or []:
        base_path = os.path.normpath(os.path.join(os.path.dirname(path), base["path"]))
        if base_path not in stack:
            uses |= refused_uses(base_path, stack + (path,))
    return uses


def is_package_list(path):
    config = load(path)
    return isinstance(config, dict) and set(config) == {"packages"}


def validate(pxeforge, path):
    result = subprocess.run([pxeforge, "validate-config", "--config-file", path],
                            capture_output=True, text=True, check=False)
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    return result.returncode, errors


def main():
    pxeforge, corpus = os.path.abspath(sys.argv[1]), sys.argv[2]
    os.chdir(corpus)
    configs = sorted(f for f in os.listdir(".") if f.endswith(".yaml"))
    accepted = refused = 0
    problems = []
    for name in configs:
        if is_package_list(name):
            continue
        uses = refused_uses(name)
        status, errors = validate(pxeforge, name)
        if not uses:
            accepted += 1
            if status != 0:
                problems.append(f"{name}: must be accepted, got: {errors[:1]}")
        else:
            refused += 1
            if status != 3 or not errors or "is not supported by pxeforge" not in errors[0]:
                problems.append(f"{name}: uses {sorted(uses)}, must be refused by name, "
                                f"got status {status}: {errors[:1]}")
    print(f"{accepted} configurations accepted, {refused} refused by name, "
          f"{len(problems)} wrong")
    for problem in problems:
        print(problem)
    return 1 if problems or accepted == 0 or refused == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
