#!/usr/bin/env python3
"""The shape of the Rust tree: the longest functions, the largest files, and import cycles
between sibling modules (a file that uses a sibling which uses it back).

    scripts/code-shape.py [--top N] [ROOT]

Reads the `.rs` files git tracks (and untracked, unignored ones) under ROOT; test modules
(`tests.rs`, `*_tests.rs`, `tests/` folders) are left out of the cycle check.
"""
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")
USE = re.compile(r"\b(crate|super)((?:::\w+)+)")


def files(root):
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.rs"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.split()
    return [Path(root, f) for f in out if Path(root, f).exists()]


def strip(line, state):
    """The line without strings, chars and comments; `state` carries block comments."""
    out, i = [], 0
    while i < len(line):
        if state["block"]:
            j = line.find("*/", i)
            if j < 0:
                return "".join(out)
            state["block"], i = False, j + 2
        elif line.startswith("//", i):
            break
        elif line.startswith("/*", i):
            state["block"], i = True, i + 2
        elif line[i] == '"':
            j = i + 1
            while j < len(line) and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            i = j + 1
        elif line[i] == "'" and re.match(r"'(\\.|[^\\'])'", line[i:i + 4]):
            i += len(re.match(r"'(\\.|[^\\'])'", line[i:i + 4]).group(0))
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


def functions(path):
    lines = path.read_text(errors="replace").splitlines()
    state = {"block": False}
    clean = [strip(l, state) for l in lines]
    found = []
    for n, line in enumerate(clean):
        m = FN.match(line)
        if not m:
            continue
        depth, opened = 0, False
        for k in range(n, len(clean)):
            if not opened and ";" in clean[k] and "{" not in clean[k]:
                break  # a declaration without a body
            depth += clean[k].count("{") - clean[k].count("}")
            opened = opened or "{" in clean[k]
            if opened and depth <= 0:
                test = is_test_file(path) or any(
                    "#[test]" in lines[j] or "::test" in lines[j] for j in range(max(0, n - 3), n)
                )
                found.append((k - n + 1, f"{path}:{n + 1}", m.group(1), test))
                break
    return found


def is_test_file(path):
    return path.stem == "tests" or path.stem.endswith("_tests") or "tests" in path.parts[:-1] or "benches" in path.parts


def module_of(path, src):
    rel = list(path.relative_to(src).with_suffix("").parts)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def is_test(mod, path):
    return any(p == "tests" or p.endswith("_tests") for p in mod) or "tests" in path.parts[:-1]


def cycles(paths):
    crates = defaultdict(list)
    for p in paths:
        parts = p.parts
        if "src" in parts:
            src = Path(*parts[: len(parts) - parts[::-1].index("src")])
            crates[src].append(p)
    found = []
    for src, ps in crates.items():
        mods = {module_of(p, src): p for p in ps}
        edges = defaultdict(set)
        for mod, p in mods.items():
            if is_test(mod, p) or not mod:
                continue
            text = "\n".join(strip(l, {"block": False}) for l in p.read_text(errors="replace").splitlines())
            # `use super::{a, b}` and `use crate::x::{a, b}` name several modules at once.
            for m in re.finditer(r"\b(crate|super)((?:::\w+)*)::\{([^}]*)\}", text):
                for name in re.findall(r"\w+", m.group(3)):
                    resolve(mods, mod, p, m.group(1), m.group(2) + "::" + name, edges)
            for m in USE.finditer(text):
                resolve(mods, mod, p, m.group(1), m.group(2), edges)
        for a in edges:
            for b in edges[a]:
                if a < b and a in edges.get(b, set()):
                    found.append(f"{mods[a]} <-> {mods[b]}")
    return sorted(found)


def resolve(mods, mod, path, head, tail, edges):
    names = [n for n in tail.split("::") if n]
    is_dir = path.stem in ("mod", "lib", "main")
    here = mod if is_dir else mod[:-1]
    base = () if head == "crate" else (here[:-1] if is_dir else here)
    target = base
    for n in names:
        if base + (n,) in mods or any(k[: len(target) + 1] == target + (n,) for k in mods):
            target = target + (n,)
        else:
            break
    # Only sibling modules (same parent) form the cycles this check is about.
    if target and target != mod and target[:-1] == mod[:-1] and target in mods:
        edges[mod].add(target)


def main():
    args = sys.argv[1:]
    top = 15
    if args[:1] == ["--top"]:
        top, args = int(args[1]), args[2:]
    root = Path(args[0] if args else ".").resolve()
    paths = [p.relative_to(root) for p in files(root)]
    import os
    os.chdir(root)
    fns = sorted((f for p in paths for f in functions(p)), reverse=True)
    print(f"## Longest functions (of {len(fns)})")
    for lines, where, name, _ in fns[:top]:
        print(f"{lines:5}  {name}  {where}")
    code = [f for f in fns if not f[3]]
    print(f"\n## Longest functions outside tests (of {len(code)})")
    for lines, where, name, _ in code[:top]:
        print(f"{lines:5}  {name}  {where}")
    sizes = sorted(((len(p.read_text(errors='replace').splitlines()), p) for p in paths), reverse=True)
    print(f"\n## Largest files (of {len(sizes)})")
    for lines, p in sizes[:top]:
        print(f"{lines:5}  {p}")
    print(f"\n## Functions over 80 lines: {sum(1 for f in fns if f[0] > 80)}, "
          f"outside tests: {sum(1 for f in code if f[0] > 80)}")
    found = cycles(paths)
    print(f"\n## Import cycles between sibling modules: {len(found)}")
    for c in found:
        print(f"  {c}")


if __name__ == "__main__":
    main()
