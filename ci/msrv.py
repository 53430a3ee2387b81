#!/usr/bin/env python3
"""Fails when a locked dependency needs a newer Rust than the workspace declares.

The workspace's `rust-version` (root Cargo.toml, `[workspace.package]`) is a promise: the
locked tree builds with that compiler. Cargo checks a dependency's `rust-version` only when it
resolves, not when Cargo.lock is reused, so the promise silently goes stale as the lock moves.
This check is cheap (cargo metadata, no build): for the host and every shipping target it
walks the resolved graph from the workspace members (normal, build and the members' own dev
dependencies: what `cargo build` and `cargo test` compile) and compares each package's
`rust_version` with the declared one.

Usage: python3 ci/msrv.py [--targets T1,T2,...]   (default: host + the .ci/cross targets)
Prints the packages that set the floor; exit 1 when one exceeds the declaration.
"""

import argparse
import json
import subprocess
import sys

# The targets .ci/cross checks, plus the host (None).
DEFAULT_TARGETS = [
    None,
    "aarch64-linux-android",
    "aarch64-apple-ios",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-pc-windows-gnu",
]


def version(text):
    """`1.88` and `1.88.0` compare equal; missing parts are 0."""
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def metadata(target):
    cmd = ["cargo", "metadata", "--locked", "--format-version", "1"]
    if target:
        cmd += ["--filter-platform", target]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def built_packages(meta):
    """Package ids compiled for the workspace: dev dependencies count only for members."""
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    members = set(meta["workspace_members"])
    seen, stack = set(), list(members)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        for dep in nodes[pid]["deps"]:
            kinds = {k["kind"] for k in dep["dep_kinds"]}
            if pid not in members and kinds == {"dev"}:
                continue
            stack.append(dep["pkg"])
    return seen


def declared(meta):
    members = set(meta["workspace_members"])
    found = {p["rust_version"] for p in meta["packages"] if p["id"] in members}
    if len(found) != 1 or None in found:
        sys.exit(f"msrv: every workspace member must inherit one rust-version, found {found}")
    return found.pop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", help="comma-separated target triples (default: host + cross)")
    args = parser.parse_args()
    targets = args.targets.split(",") if args.targets else DEFAULT_TARGETS
    floor, needs, promised = (0, 0, 0), {}, None
    for target in targets:
        meta = metadata(target)
        promised = promised or declared(meta)
        packages = {p["id"]: p for p in meta["packages"]}
        for pid in built_packages(meta):
            pkg = packages[pid]
            rv = pkg.get("rust_version")
            if not rv:
                continue
            needs.setdefault((pkg["name"], pkg["version"], rv), set()).add(target or "host")
            floor = max(floor, version(rv))
    top = sorted(needs.items(), key=lambda kv: version(kv[0][2]), reverse=True)
    print(f"declared rust-version: {promised}")
    print("highest rust-version among built dependencies:")
    for (name, ver, rv), where in top[:8]:
        print(f"  {rv:>6}  {name} {ver}  ({', '.join(sorted(where))})")
    over = [(k, w) for k, w in top if version(k[2]) > version(promised)]
    if over:
        print(f"FAIL: {len(over)} locked packages need a newer Rust than {promised}; "
              f"set rust-version to {'.'.join(map(str, floor[:2]))} (root Cargo.toml) and the README")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
