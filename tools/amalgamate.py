#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generates single_include/wds/wds.hpp from include/wds/wds.hpp.

    tools/amalgamate.py           rewrite single_include/wds/wds.hpp
    tools/amalgamate.py --check   exit 1 if the committed file is stale

Every `#include <wds/...>` (or a quoted include that resolves under include/)
is replaced by the file's text between `// ---- begin/end wds/x.hpp ----`
markers; everything else (system and codec-library includes) is left as is.
The umbrella decides what goes in: a codec header it includes under
`#if WDS_HAS_JPEG` lands in the single header under that same guard.

A file is inlined once where it is first included. If that spot sits inside
preprocessor conditionals (say `#if WDS_HAS_ZLIB` in open.hpp pulls in
codec/gzip.hpp), the copy is wrapped in a generated include guard, and a later
include is inlined again (also guarded) only where those same conditionals are
not all known to hold, e.g. at an unconditional include.

Output is deterministic: only relative paths, no dates, '\\n' line endings.
Limits: includes computed by macros, and `#include` text inside raw strings or
block comments, are not understood (the tool fails on an unresolved
`#include <wds/...>` rather than guessing).
"""
import argparse
import difflib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INCLUDE_DIR = ROOT / "include"
UMBRELLA = INCLUDE_DIR / "wds" / "wds.hpp"
OUTPUT = ROOT / "single_include" / "wds" / "wds.hpp"

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
PRAGMA_ONCE_RE = re.compile(r"^\s*#\s*pragma\s+once\b")
OPEN_COND_RE = re.compile(r"^\s*#\s*if(n?def)?\b")
ELSE_RE = re.compile(r"^\s*#\s*(else|elif)\b")
CLOSE_COND_RE = re.compile(r"^\s*#\s*endif\b")
VERSION_RE = re.compile(r"^#define WDS_VERSION_(MAJOR|MINOR|PATCH) (\d+)", re.M)


class AmalgamateError(Exception):
    pass


def read_text(path):
    text = path.read_text(encoding="utf-8")
    return text.replace("\r\n", "\n")


def rel(path):
    return path.relative_to(INCLUDE_DIR).as_posix()


def guard_name(path):
    return "WDS_AMALGAMATED_" + re.sub(r"[^A-Za-z0-9]", "_", rel(path)).upper() + "_"


class Amalgamator:
    def __init__(self):
        # file -> condition sets it was inlined under; a condition set is the
        # frozenset of enclosing `#if...` lines (or `#else of ...`) at that point.
        self.copies = {}
        self.stack = []  # for include-cycle reports

    def resolve(self, including, bracket, name):
        candidates = []
        if bracket == '"':
            candidates.append(including.parent / name)
        candidates.append(INCLUDE_DIR / name)
        for c in candidates:
            c = c.resolve()
            if c.is_file() and INCLUDE_DIR in c.parents:
                return c
        if name.startswith("wds/"):
            closing = ">" if bracket == "<" else '"'
            raise AmalgamateError(
                f"{rel(including)}: cannot resolve #include {bracket}{name}{closing} "
                f"under include/")
        return None

    def emit_file(self, path, conds, out, guarded=False):
        if path in self.stack:
            chain = " -> ".join(rel(p) for p in self.stack + [path])
            raise AmalgamateError(f"include cycle: {chain}")
        self.stack.append(path)
        name = rel(path)
        out.append(f"// ---- begin {name} ----\n")
        if guarded:
            g = guard_name(path)
            out.append(f"#ifndef {g}\n#define {g}\n")
        local = []  # this file's open conditionals
        lines = read_text(path).splitlines(keepends=True)
        guard_lines = include_guard_lines(lines)
        for index, line in enumerate(lines):
            if not line.endswith("\n"):
                line += "\n"
            if PRAGMA_ONCE_RE.match(line):
                continue
            m = INCLUDE_RE.match(line)
            if m:
                target = self.resolve(path, m.group(1), m.group(2))
                if target is not None:
                    self.include(target, conds | frozenset(local), out)
                    continue
            directive = " ".join(line.split())
            if index in guard_lines:
                pass  # a classic include guard is not a condition on the contents
            elif OPEN_COND_RE.match(line):
                local.append(directive)
            elif ELSE_RE.match(line):
                if not local:
                    raise AmalgamateError(f"{name}: #else/#elif without #if")
                local[-1] = f"{directive} after {local[-1]}"
            elif CLOSE_COND_RE.match(line):
                if not local:
                    raise AmalgamateError(f"{name}: #endif without #if")
                local.pop()
            out.append(line)
        if local:
            raise AmalgamateError(f"{name}: unterminated {local[-1]}")
        if guarded:
            out.append(f"#endif  // {guard_name(path)}\n")
        out.append(f"// ---- end {name} ----\n")
        self.stack.pop()

    def include(self, target, conds, out):
        name = rel(target)
        earlier = self.copies.setdefault(target, [])
        # An earlier copy whose conditions all hold here is already compiled in
        # (WDS_* configuration macros do not change inside the header).
        if any(c <= conds for c in earlier):
            out.append(f"// #include <{name}> (inlined above)\n")
            return
        guarded = bool(conds) or bool(earlier)
        earlier.append(conds)
        self.emit_file(target, conds, out, guarded)


def include_guard_lines(lines):
    """Indices of the `#ifndef X` and final `#endif` of a classic include guard."""
    code = [(i, l.strip()) for i, l in enumerate(lines)
            if l.strip() and not l.strip().startswith(("//", "/*", "*"))]
    if len(code) < 3:
        return set()
    m = re.match(r"#\s*ifndef\s+(\w+)$", code[0][1])
    if not m or not re.match(r"#\s*define\s+" + re.escape(m.group(1)) + r"\b", code[1][1]):
        return set()
    if not CLOSE_COND_RE.match(code[-1][1]):
        return set()
    # The #ifndef must close at the last #endif, not earlier.
    depth = 0
    for i, l in code[:-1]:
        if OPEN_COND_RE.match(l):
            depth += 1
        elif CLOSE_COND_RE.match(l):
            depth -= 1
            if depth == 0:
                return set()
    return {code[0][0], code[-1][0]}


def version():
    text = read_text(INCLUDE_DIR / "wds" / "config.hpp")
    parts = dict(VERSION_RE.findall(text))
    try:
        return f"{parts['MAJOR']}.{parts['MINOR']}.{parts['PATCH']}"
    except KeyError:
        raise AmalgamateError("include/wds/config.hpp: WDS_VERSION_* not found")


def generate():
    if not UMBRELLA.is_file():
        raise AmalgamateError(f"{UMBRELLA.relative_to(ROOT)} does not exist")
    out = [
        f"// wds {version()}: header-only WebDataset reader/writer and image transforms.\n",
        "// SPDX-License-Identifier: MIT\n",
        "//\n",
        "// GENERATED by tools/amalgamate.py from include/wds/wds.hpp: do not edit.\n",
        "// Optional codecs are compiled in only when their WDS_HAS_* macro is 1\n",
        "// (and the program links the codec library).\n",
        "#ifndef WDS_SINGLE_INCLUDE_WDS_HPP_\n",
        "#define WDS_SINGLE_INCLUDE_WDS_HPP_\n",
    ]
    am = Amalgamator()
    am.copies[UMBRELLA.resolve()] = [frozenset()]
    am.emit_file(UMBRELLA.resolve(), frozenset(), out)
    out.append("#endif  // WDS_SINGLE_INCLUDE_WDS_HPP_\n")
    return "".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 if the committed file differs")
    args = ap.parse_args(argv)
    try:
        text = generate()
    except AmalgamateError as e:
        print(f"amalgamate: error: {e}", file=sys.stderr)
        return 2
    shown = OUTPUT.relative_to(ROOT).as_posix()
    if args.check:
        old = read_text(OUTPUT) if OUTPUT.is_file() else ""
        if old == text:
            print(f"amalgamate: {shown} is up to date")
            return 0
        diff = difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                    f"{shown} (committed)", f"{shown} (generated)", n=1)
        lines = list(diff)
        sys.stderr.writelines(lines[:60])
        if len(lines) > 60:
            print(f"... ({len(lines) - 60} more diff lines)", file=sys.stderr)
        print(f"amalgamate: {shown} is stale; run tools/amalgamate.py and commit it",
              file=sys.stderr)
        return 1
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    if not OUTPUT.is_file() or read_text(OUTPUT) != text:
        with open(OUTPUT, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        print(f"amalgamate: wrote {shown}")
    else:
        print(f"amalgamate: {shown} unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
