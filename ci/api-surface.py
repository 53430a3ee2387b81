#!/usr/bin/env python3
"""Public API surface check (issue 6): the server library's public items are identical on
every target, and the API-conformance test names every one of them.

For each crate below and each target, rustdoc (nightly, JSON output) lists the public items:
modules, types, fields, enum variants (and their fields), functions, methods and associated
items of inherent impls, trait methods, constants, re-exports, and the traits each public
type implements (auto traits included: a type that is Send on Linux but not on iOS is a
difference). Each item comes with its signature (function inputs and output, field and
constant types). Then:

  (a) the lists must be identical on every target (the difference is printed);
  (b) every item except trait impls must be named in the crate's tests/api_conformance.rs
      (comments stripped): methods and associated items as `Type::name` or `.name(`,
      enum variants as `Enum::Variant`, everything else as an identifier;
  (c) no `#[cfg(...)]` (or `#[cfg_attr(...)]`) may sit directly on a `pub` item in the
      crate's src/ (pub(crate)/pub(super)/pub(in ...) are fine): file:line is printed.

Usage: python3 ci/api-surface.py [--targets host|all|T1,T2] [--crates openrtmp-server,...]
Needs the nightly toolchain (rustdoc JSON is unstable). Builds in $CARGO_TARGET_DIR
(default: target). Cross targets get the C-toolchain environment of ci/cross-env.sh.
Exit status: 0 ok, 1 a check failed, 2 a build failed or bad usage.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CROSS_TARGETS = [
    "aarch64-linux-android",
    "aarch64-apple-ios",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-pc-windows-gnu",
]
# crate -> (rustdoc JSON file stem, conformance test, source dir)
CRATES = {
    "openrtmp-server": (
        "openrtmp_server",
        "crates/openrtmp-server/tests/api_conformance.rs",
        "crates/openrtmp-server/src",
    ),
    "openrtmp-ffi": (
        "openrtmp_ffi",
        "crates/openrtmp-ffi/tests/api_conformance.rs",
        "crates/openrtmp-ffi/src",
    ),
}
# Public items the UniFFI macros generate (FFI scaffolding: vtable structs, `extern "C"`
# functions). They are compared across targets like everything else, but a conformance test
# has no business naming them.
GENERATED = re.compile(r"(^|::)(uniffi_|UniFfi|UNIFFI_)")
TOOLCHAIN = os.environ.get("API_SURFACE_TOOLCHAIN", "nightly")


def log(msg):
    print(msg, flush=True)


# ------------------------------------------------------------------------------------------
# Building the rustdoc JSON
# ------------------------------------------------------------------------------------------


def target_dir():
    td = os.environ.get("CARGO_TARGET_DIR", "target")
    return td if os.path.isabs(td) else os.path.join(ROOT, td)


def cross_env(target):
    """NAME=VALUE lines of ci/cross-env.sh for `target` (empty for the host)."""
    if target == "host":
        return {}
    out = subprocess.run(
        ["bash", os.path.join(ROOT, "ci", "cross-env.sh"), target],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    env = {}
    for line in out.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return env


def has_std(target):
    """Whether the toolchain ships a prebuilt std for `target` (`rustup target add` works for
    stable here, but the dist server has no cross std for the installed nightly: 404)."""
    out = subprocess.run(
        ["rustc", f"+{TOOLCHAIN}", "--print", "target-libdir", "--target", target],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return bool(out) and os.path.isdir(out) and any(f.startswith("libcore-") for f in os.listdir(out))


def rustdoc_json(crate, target):
    stem = CRATES[crate][0]
    cmd = ["cargo", f"+{TOOLCHAIN}", "rustdoc", "--locked", "-p", crate, "--lib"]
    out_dir = os.path.join(target_dir(), "doc")
    if target != "host":
        cmd += ["--target", target]
        if not has_std(target):
            # Check-only std from rust-src (`rustup +nightly component add rust-src`).
            cmd.insert(2, "-Zbuild-std")
        out_dir = os.path.join(target_dir(), target, "doc")
    cmd += ["--", "-Z", "unstable-options", "--output-format", "json"]
    env = dict(os.environ)
    env.update(cross_env(target))
    env.setdefault("CARGO_TERM_COLOR", "never")
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    secs = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-6000:])
        log(f"FAIL: {' '.join(cmd)} ({target}) exited {proc.returncode}")
        sys.exit(2)
    path = os.path.join(out_dir, stem + ".json")
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    log(f"  {crate} {target}: rustdoc JSON in {secs:.1f}s (format {doc.get('format_version')})")
    return doc


# ------------------------------------------------------------------------------------------
# Reading the rustdoc JSON (format versions 4x-5x; unknown shapes fall back to plain JSON
# with the crate-local ids removed, so they still compare across targets)
# ------------------------------------------------------------------------------------------


def strip_ids(v):
    if isinstance(v, dict):
        return {k: strip_ids(x) for k, x in v.items() if k not in ("id", "crate_id")}
    if isinstance(v, list):
        return [strip_ids(x) for x in v]
    return v


def one(d):
    """The single (key, value) of an externally tagged enum value."""
    if isinstance(d, dict) and len(d) == 1:
        return next(iter(d.items()))
    return (d, None) if isinstance(d, str) else (None, d)


def generic_args(args):
    if not args:
        return ""
    kind, val = one(args)
    if kind == "angle_bracketed":
        parts = []
        for a in val.get("args", []):
            k, v = one(a)
            if k == "type":
                parts.append(ty(v))
            elif k == "lifetime":
                parts.append(v)
            elif k == "const":
                parts.append(str(v.get("expr", v)) if isinstance(v, dict) else str(v))
            else:
                parts.append(json.dumps(strip_ids(a), sort_keys=True))
        for c in val.get("constraints", val.get("bindings", [])):
            bk, bv = one(c.get("binding"))
            name = c.get("name", "?") + generic_args(c.get("args"))
            if bk == "equality":
                tk, tv = one(bv)
                parts.append(f"{name} = {ty(tv) if tk == 'type' else json.dumps(strip_ids(bv), sort_keys=True)}")
            elif bk == "constraint":
                parts.append(f"{name}: " + " + ".join(bound(b) for b in bv))
            else:
                parts.append(name + json.dumps(strip_ids(c.get("binding")), sort_keys=True))
        return "<" + ", ".join(parts) + ">" if parts else ""
    if kind == "parenthesized":
        out = val.get("output")
        return "(" + ", ".join(ty(t) for t in val.get("inputs", [])) + ")" + (f" -> {ty(out)}" if out else "")
    return json.dumps(strip_ids(args), sort_keys=True)


def path_str(p):
    name = p.get("path") or p.get("name") or "?"
    return name + generic_args(p.get("args"))


def bound(b):
    k, v = one(b)
    if k == "trait_bound":
        return path_str(v["trait"])
    if k == "outlives":
        return v
    if k == "use":
        return "use<..>"
    return json.dumps(strip_ids(b), sort_keys=True)


def ty(t):
    if t is None:
        return "()"
    k, v = one(t)
    if k == "resolved_path":
        return path_str(v)
    if k == "primitive":
        return v
    if k == "generic":
        return v
    if k == "tuple":
        return "(" + ", ".join(ty(x) for x in v) + ")"
    if k == "slice":
        return "[" + ty(v) + "]"
    if k == "array":
        return f"[{ty(v['type'])}; {v['len']}]"
    if k == "borrowed_ref":
        lt = (v.get("lifetime") or "") + " " if v.get("lifetime") else ""
        return "&" + lt + ("mut " if v.get("is_mutable", v.get("mutable")) else "") + ty(v["type"])
    if k == "raw_pointer":
        return ("*mut " if v.get("is_mutable", v.get("mutable")) else "*const ") + ty(v["type"])
    if k == "impl_trait":
        return "impl " + " + ".join(bound(b) for b in v)
    if k == "dyn_trait":
        parts = [path_str(tr["trait"]) for tr in v.get("traits", [])]
        if v.get("lifetime"):
            parts.append(v["lifetime"])
        return "dyn " + " + ".join(parts)
    if k == "qualified_path":
        return f"<{ty(v.get('self_type'))} as {path_str(v['trait']) if v.get('trait') else '?'}>::{v.get('name')}"
    if k == "function_pointer":
        return "fn" + sig(v.get("sig", v.get("decl", {})))
    if k == "infer":
        return "_"
    return json.dumps(strip_ids(t), sort_keys=True)


def sig(s):
    inputs = ", ".join(f"{name}: {ty(t)}" for name, t in s.get("inputs", []))
    out = s.get("output")
    return f"({inputs})" + (f" -> {ty(out)}" if out else "")


def generics(g):
    if not g:
        return ""
    params = []
    for p in g.get("params", []):
        k, v = one(p.get("kind"))
        if k == "lifetime":
            continue  # elided and named lifetimes are noise for "same API"
        if k == "type":
            if v.get("is_synthetic", v.get("synthetic")):
                continue  # `impl Trait` argument, shown in the signature
            bs = " + ".join(bound(b) for b in v.get("bounds", []))
            params.append(p["name"] + (": " + bs if bs else ""))
        elif k == "const":
            params.append(f"const {p['name']}: {ty(v.get('type'))}")
    preds = []
    for w in g.get("where_predicates", []):
        k, v = one(w)
        if k == "bound_predicate":
            preds.append(ty(v.get("type")) + ": " + " + ".join(bound(b) for b in v.get("bounds", [])))
        else:
            preds.append(json.dumps(strip_ids(w), sort_keys=True))
    return ("<" + ", ".join(params) + ">" if params else "") + (" where " + ", ".join(preds) if preds else "")


def fn_sig(v):
    h = v.get("header", {})
    quals = "".join(
        q + " " for q, key in (("const", "is_const"), ("async", "is_async"), ("unsafe", "is_unsafe")) if h.get(key, h.get(key[3:]))
    )
    return quals + "fn" + generics(v.get("generics")) + sig(v.get("sig", v.get("decl", {})))


def attrs_of(item):
    out = []
    for a in item.get("attrs", []):
        out.append(a if isinstance(a, str) else json.dumps(a, sort_keys=True))
    return out


def non_exhaustive(item):
    return any("non_exhaustive" in a for a in attrs_of(item))


class Surface:
    """Walks one crate's rustdoc JSON from its root module."""

    def __init__(self, doc):
        self.doc = doc
        self.index = doc["index"]
        self.items = {}  # path -> (kind, signature)
        self.seen = set()

    def add(self, path, kind, signature=""):
        self.items[path] = (kind, signature)

    def walk(self):
        root = self.index[str(self.doc["root"])]
        self.module(root, [root["name"]])
        return self.items

    def module(self, item, path):
        for child_id in one(item["inner"])[1].get("items", []):
            child = self.index.get(str(child_id))
            if child is None or child.get("visibility") != "public":
                continue
            self.item(child, path)

    def item(self, it, path, name=None):
        kind, v = one(it["inner"])
        name = name or it.get("name")
        if kind == "use":
            self.use(it, v, path)
            return
        if name is None:
            return
        p = "::".join(path + [name])
        key = (it["id"], p)
        if key in self.seen:
            return
        self.seen.add(key)
        if kind == "module":
            self.add(p, "mod")
            self.module(it, path + [name])
        elif kind == "struct":
            self.add(p, "struct", generics(v.get("generics")) + self.struct_shape(v.get("kind"), p))
            self.impls(v.get("impls", []), p)
        elif kind == "union":
            self.add(p, "union", generics(v.get("generics")))
            self.fields(v.get("fields", []), p)
            self.impls(v.get("impls", []), p)
        elif kind == "enum":
            shape = " #[non_exhaustive]" if non_exhaustive(it) else ""
            if v.get("has_stripped_variants", v.get("variants_stripped")):
                shape += " (hidden variants)"
            self.add(p, "enum", generics(v.get("generics")) + shape)
            for vid in v.get("variants", []):
                var = self.index[str(vid)]
                vk, vv = one(var["inner"])
                vp = f"{p}::{var['name']}"
                self.add(vp, "variant", self.struct_shape(vv.get("kind"), vp, variant=True))
            self.impls(v.get("impls", []), p)
        elif kind == "function":
            self.add(p, "fn", fn_sig(v))
        elif kind == "trait":
            self.add(p, "trait", generics(v.get("generics")) + (" unsafe" if v.get("is_unsafe") else ""))
            for mid in v.get("items", []):
                m = self.index[str(mid)]
                self.assoc(m, p)
        elif kind in ("constant", "static"):
            t = v.get("type") if "type" in v else v
            self.add(p, kind, ty(t))
        elif kind in ("type_alias", "typedef"):
            self.add(p, "type", ty(v.get("type")))
        elif kind in ("macro", "proc_macro"):
            self.add(p, "macro")
        else:
            self.add(p, kind, json.dumps(strip_ids(v), sort_keys=True)[:200])

    def struct_shape(self, shape, p, variant=False):
        k, v = one(shape)
        if k in ("unit", "plain") and v is None:
            return ""
        if k == "tuple":
            types = []
            for fid in v:
                if fid is None:
                    types.append("_")  # private field
                else:
                    types.append(ty(self.index[str(fid)]["inner"]["struct_field"]))
            return "(" + ", ".join(types) + ")"
        if k in ("plain", "struct"):
            self.fields(v.get("fields", []), p, variant)
            return " {..}" if v.get("has_stripped_fields", v.get("fields_stripped")) else ""
        return json.dumps(strip_ids(shape), sort_keys=True)

    def fields(self, ids, p, variant=False):
        for fid in ids:
            f = self.index[str(fid)]
            # Fields of enum variants are as public as the enum (rustdoc: "default").
            if variant or f.get("visibility") == "public":
                self.add(f"{p}::{f['name']}", "field", ty(f["inner"]["struct_field"]))

    def assoc(self, m, owner):
        mk, mv = one(m["inner"])
        mp = f"{owner}::{m['name']}"
        if mk == "function":
            self.add(mp, "method", fn_sig(mv))
        elif mk in ("assoc_const", "constant"):
            self.add(mp, "assoc_const", ty(mv.get("type")))
        elif mk in ("assoc_type",):
            self.add(mp, "assoc_type", ty(mv.get("type")))
        else:
            self.add(mp, mk)

    def impls(self, ids, p):
        for iid in ids:
            imp = self.index.get(str(iid))
            if imp is None:
                continue
            v = imp["inner"]["impl"]
            if v.get("blanket_impl") is not None:
                continue  # `impl<T> From<T> for T` and friends: the same for every type
            if v.get("trait") is None:
                for mid in v.get("items", []):
                    m = self.index.get(str(mid))
                    if m is not None and m.get("visibility") == "public":
                        self.assoc(m, p)
            else:
                neg = "!" if v.get("is_negative", v.get("negative")) else ""
                auto = " (auto)" if v.get("is_synthetic", v.get("synthetic")) else ""
                self.add(f"{p} impl {neg}{path_str(v['trait'])}", "impl", auto.strip())

    def use(self, it, v, path):
        target_id = v.get("id")
        target = self.index.get(str(target_id)) if target_id is not None else None
        if v.get("is_glob", v.get("glob")):
            if target is not None and one(target["inner"])[0] == "module":
                self.module(target, path)  # a glob of a local module: its items, here
            else:
                self.add("::".join(path + ["*"]) + f" (use {v['source']}::*)", "use")
            return
        name = v.get("name")
        if target is not None:
            self.item(target, path, name)  # a local item, inlined under its new name
        else:
            # An item of another crate: its own API is that crate's business; the name is ours.
            self.add("::".join(path + [name]), "use", v.get("source", ""))


# ------------------------------------------------------------------------------------------
# The checks
# ------------------------------------------------------------------------------------------


def strip_comments(src):
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    return re.sub(r"//[^\n]*", " ", src)


def mentioned(path, kind, code, idents):
    parts = path.split(" ")[0].split("::")
    name = parts[-1]
    if kind == "mod" and len(parts) == 1:
        return True  # the crate itself
    if kind in ("method", "assoc_const", "assoc_type"):
        owner = parts[-2]
        return bool(
            re.search(rf"\b{re.escape(owner)}\s*>?\s*::\s*{re.escape(name)}\b", code)
            or re.search(rf"\.\s*{re.escape(name)}\s*(\(|::<)", code)
        )
    if kind == "variant":
        owner = parts[-2]
        return bool(re.search(rf"\b{re.escape(owner)}\s*::\s*{re.escape(name)}\b", code))
    return name in idents


CFG_RE = re.compile(r"^\s*#\[\s*cfg(_attr)?\s*\(")
PUB_RE = re.compile(r"^\s*pub(\s|$)")  # `pub` but not `pub(crate)` / `pub(super)` / `pub(in ..)`
ATTR_OR_DOC = re.compile(r"^\s*(#\[|///|//!|$)")
PUB_BLOCK = re.compile(r"^\s*pub\s+(enum|trait)\b")  # their variants / items are public too
IMPL_RE = re.compile(r"^\s*(unsafe\s+)?impl\b")


def indent(line):
    return len(line) - len(line.lstrip())


def cfg_on_pub(src_dir):
    """`#[cfg(..)]` / `#[cfg_attr(..)]` on public items: a `pub` item (the next line that is
    not an attribute or doc comment), a variant of a `pub enum` or an item of a `pub trait`,
    or an `impl` block that holds `pub` items. Relies on rustfmt's indentation."""
    found = []
    for dirpath, _, files in os.walk(src_dir):
        for fn in sorted(files):
            if not fn.endswith(".rs"):
                continue
            path = os.path.join(dirpath, fn)
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
            for i, line in enumerate(lines):
                if not CFG_RE.match(line) or re.match(r"^\s*#\[cfg\(test\)\]\s*$", line):
                    continue  # test-only code is not part of the library anyone builds against
                # Skip the rest of this attribute (it may span lines) and any further
                # attributes and doc comments: `j` is the item's first line.
                j, depth = i + 1, line.count("[") - line.count("]")
                while j < len(lines) and (depth > 0 or ATTR_OR_DOC.match(lines[j])):
                    if depth > 0 or lines[j].lstrip().startswith("#["):
                        depth += lines[j].count("[") - lines[j].count("]")
                    j += 1
                if j >= len(lines):
                    continue
                item = lines[j]
                why = None
                if PUB_RE.match(item):
                    why = "pub item"
                elif IMPL_RE.match(item):
                    k, braces = j, 0
                    while k < len(lines):
                        braces += lines[k].count("{") - lines[k].count("}")
                        if k > j and PUB_RE.match(lines[k]):
                            why = "impl block with pub items"
                            break
                        if braces <= 0 and "{" in "".join(lines[j : k + 1]):
                            break
                        k += 1
                else:
                    # The enclosing block: the nearest line above with less indentation.
                    k = i - 1
                    while k >= 0 and (not lines[k].strip() or indent(lines[k]) >= indent(line)):
                        k -= 1
                    if k >= 0 and PUB_BLOCK.match(lines[k]) and lines[k].rstrip().endswith("{"):
                        why = "member of " + lines[k].strip().rstrip("{").strip()
                if why:
                    rel = os.path.relpath(path, ROOT)
                    found.append(f"{rel}:{i + 1}: {line.strip()}  ->  {item.strip()[:90]}  ({why})")
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", default="host", help="host | all | comma-separated target triples (host = the machine's)")
    ap.add_argument("--crates", default=",".join(CRATES), help="comma-separated, from: " + ", ".join(CRATES))
    ap.add_argument("--list", action="store_true", help="print every item with its signature (host)")
    args = ap.parse_args()

    if args.targets == "host":
        targets = ["host"]
    elif args.targets == "all":
        targets = ["host"] + CROSS_TARGETS
    else:
        targets = ["host"] + [t for t in args.targets.split(",") if t and t != "host"]
    crates = [c for c in args.crates.split(",") if c]
    for c in crates:
        if c not in CRATES:
            ap.error(f"unknown crate {c}")

    t0 = time.monotonic()
    failed = False
    for crate in crates:
        stem, test_file, src_dir = CRATES[crate]
        log(f"== {crate}: public items on {', '.join(targets)}")
        surfaces = {t: Surface(rustdoc_json(crate, t)).walk() for t in targets}
        host = surfaces["host"]
        log(f"  {len(host)} items on the host ({sum(1 for k, _ in host.values() if k != 'impl')} excluding trait impls)")
        if args.list:
            for p in sorted(host):
                k, s = host[p]
                log(f"    {k:11} {p} {s}")

        # (a) identical on every target
        for t in targets[1:]:
            other = surfaces[t]
            diff = []
            for p in sorted(set(host) | set(other)):
                a, b = host.get(p), other.get(p)
                if a == b:
                    continue
                if b is None:
                    diff.append(f"    only on host:      {a[0]} {p} {a[1]}")
                elif a is None:
                    diff.append(f"    only on {t}: {b[0]} {p} {b[1]}")
                else:
                    diff.append(f"    differs: {a[0]} {p}\n      host:   {a[1]}\n      {t}: {b[1]}")
            if diff:
                failed = True
                log(f"FAIL: {crate}: the public API on {t} differs from the host's:")
                log("\n".join(diff))
            else:
                log(f"  ok: {crate} on {t} = host ({len(other)} items)")

        # (b) every item named in the conformance test
        try:
            with open(os.path.join(ROOT, test_file), encoding="utf-8") as f:
                code = strip_comments(f.read())
        except FileNotFoundError:
            code = ""
            log(f"FAIL: {test_file} is missing")
            failed = True
        idents = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
        everything = {p: v for s in surfaces.values() for p, v in s.items()}
        missing = sorted(
            f"{k} {p}"
            for p, (k, _) in everything.items()
            if k != "impl" and not GENERATED.search(p) and not mentioned(p, k, code, idents)
        )
        if missing:
            failed = True
            log(f"FAIL: {crate}: {len(missing)} public item(s) not named in {test_file}:")
            for m in missing:
                log(f"    {m}")
        else:
            log(f"  ok: every public item of {crate} is named in {test_file}")

        # (c) no #[cfg] on pub items
        cfgs = cfg_on_pub(os.path.join(ROOT, src_dir))
        if cfgs:
            failed = True
            log(f"FAIL: {crate}: #[cfg] on pub items (the public API must not depend on the target):")
            for c in cfgs:
                log(f"    {c}")
        else:
            log(f"  ok: no #[cfg] on pub items in {src_dir}")

    log(f"api-surface: {'FAIL' if failed else 'ok'} in {time.monotonic() - t0:.0f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
