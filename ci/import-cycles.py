#!/usr/bin/env python3
"""Fails when two source files of one crate import each other.

A file `a.rs` "imports" module `b` when it names `crate::b` (or `super::b` resolving to a
sibling) in a `use` or a path. Module paths are mapped to files (`b.rs` or `b/…`), so
`crate::platform::state` is the file `platform/state.rs`, and a child file naming its
parent module (`super::…` items defined in `foo.rs` from `foo/bar.rs`) counts as importing
the parent. Tests (`tests.rs`, `tests/`, `#[cfg(test)]` modules after the marker) are not
counted: a test module naturally names what it tests.

Usage: ci/import-cycles.py [crates-dir]   (exit 1 and a list of pairs when any exist)
"""
import os
import re
import sys

PATH = re.compile(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)")


def module_files(src):
    """Map module path tuples to files, for one crate's src dir."""
    files = {}
    for root, _, names in os.walk(src):
        for name in names:
            if not name.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, name), src)
            parts = rel[:-3].split(os.sep)
            if parts in (["lib"], ["main"]):
                parts = []
            elif parts[-1] == "mod":
                parts = parts[:-1]
            files[tuple(parts)] = rel
    return files


def is_test(rel):
    parts = rel[:-3].split(os.sep)
    return "tests" in parts or parts[-1].endswith("_tests") or parts[-1] == "testutil"


def non_test_text(path):
    text = open(path, encoding="utf-8").read()
    # Drop everything after the first `#[cfg(test)]` item: unit tests sit at the end.
    cut = text.find("#[cfg(test)]")
    return text if cut < 0 else text[:cut]


def resolve(files, module, kind, segs):
    base = list(module) if kind == "super" else []
    if kind == "super":
        base = base[:-1]
        while segs and segs[0] == "super":
            base, segs = base[:-1], segs[1:]
    path = base + segs
    # The longest prefix that is a file.
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in files:
            return tuple(path[:n])
    return None


def check_crate(src):
    files = module_files(src)
    edges = {}
    for module, rel in files.items():
        if is_test(rel):
            continue
        text = non_test_text(os.path.join(src, rel))
        text = re.sub(r"//[^\n]*", "", text)
        targets = set()
        for kind, tail in PATH.findall(text):
            segs = [s for s in tail.split("::") if s]
            target = resolve(files, module, kind, segs)
            if target is not None and target != module and target != ():
                targets.add(target)
        # `use super::{a, b}` and `use crate::{a, b}` groups.
        for kind, group in re.findall(r"\b(crate|super)::\{([^}]*)\}", text):
            for item in group.split(","):
                segs = [s for s in item.strip().split("::") if s and s != "self"]
                if segs and re.fullmatch(r"[a-z_][a-z0-9_]*", segs[0]):
                    target = resolve(files, module, kind, segs)
                    if target is not None and target != module and target != ():
                        targets.add(target)
        edges[module] = targets
    pairs = []
    for a, targets in edges.items():
        for b in targets:
            # A parent declaring its child (`mod b;`) and the child naming the parent is
            # the normal shape; a circle is the parent also naming the child's items
            # while the child names the parent's.
            if a < b and a in edges.get(b, set()):
                pairs.append((files[a], files[b]))
    return pairs


def main():
    crates = sys.argv[1] if len(sys.argv) > 1 else "crates"
    bad = []
    for name in sorted(os.listdir(crates)):
        src = os.path.join(crates, name, "src")
        if os.path.isdir(src):
            bad += [(name, a, b) for a, b in check_crate(src)]
    for name, a, b in bad:
        print(f"{name}: {a} <-> {b} import each other")
    if bad:
        sys.exit(1)
    print("no two files of a crate import each other")


if __name__ == "__main__":
    main()
