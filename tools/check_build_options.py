#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that CMake, pkg-config and meson give consumers the same wds.

For each codec setting (everything auto, everything off) it configures the
repository with CMake and with meson in a temporary directory and compares:
  - the WDS_* definitions on the exported wds::wds / wds::http targets,
  - the -D flags in the CMake-generated wds.pc / wds-http.pc,
  - the -D flags in the meson-generated wds.pc / wds-http.pc,
  - the Requires module lists of both wds.pc files,
  - the versions (include/wds/config.hpp, CMake, meson).
Run from anywhere:  tools/check_build_options.py   (needs cmake and meson)
"""
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {
    "auto": ({d: "AUTO" for d in ("ZLIB", "ISAL", "BZIP2", "LZMA", "ZSTD", "JPEG", "PNG", "LIBDEFLATE", "HTTP")},
             {d: "auto" for d in ("zlib", "isal", "bzip2", "lzma", "zstd", "jpeg", "png", "libdeflate", "http")}),
    "off": ({d: "OFF" for d in ("ZLIB", "ISAL", "BZIP2", "LZMA", "ZSTD", "JPEG", "PNG", "LIBDEFLATE", "HTTP")},
            {d: "disabled" for d in ("zlib", "isal", "bzip2", "lzma", "zstd", "jpeg", "png", "libdeflate", "http")}),
}


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        print(r.stdout, file=sys.stderr)
        raise SystemExit(f"check_build_options: failed: {' '.join(map(str, cmd))}")
    return r.stdout


def header_version():
    text = (ROOT / "include" / "wds" / "config.hpp").read_text(encoding="utf-8")
    parts = dict(re.findall(r"^#define WDS_VERSION_(MAJOR|MINOR|PATCH) (\d+)", text, re.M))
    return "{MAJOR}.{MINOR}.{PATCH}".format(**parts)


def parse_pc(path):
    """-> (set of -D flags, set of required module names, version) or None."""
    if not path.is_file():
        return None
    fields = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z.]+):\s*(.*)$", line)
        if m:
            fields[m.group(1)] = m.group(2)
    defines = set(re.findall(r"-D(\S+)", fields.get("Cflags", "")))
    requires = set()
    for item in fields.get("Requires", "").split(","):
        name = item.strip().split(" ")[0] if item.strip() else ""
        if name:
            requires.add(name)
    return defines, requires, fields.get("Version")


def cmake_side(tmp, cmake_opts):
    build = tmp / "cmake"
    args = ["cmake", "-S", str(ROOT), "-B", str(build), "-DWDS_BUILD_TESTS=OFF",
            "-DWDS_BUILD_EXAMPLES=OFF", "-DWDS_BUILD_BENCHMARKS=OFF", "-DWDS_INSTALL=ON"]
    args += [f"-DWDS_WITH_{k}={v}" for k, v in cmake_opts.items()]
    run(args)
    targets = (build / "wdsTargets.cmake").read_text(encoding="utf-8")
    defs = {}
    for name, body in re.findall(r"set_target_properties\((wds::\w+) PROPERTIES(.*?)\n\)", targets, re.S):
        m = re.search(r'INTERFACE_COMPILE_DEFINITIONS "([^"]*)"', body)
        defs[name] = set(m.group(1).split(";")) if m else set()
    return defs, parse_pc(build / "wds.pc"), parse_pc(build / "wds-http.pc")


def meson_side(tmp, meson_opts):
    build = tmp / "meson"
    args = ["meson", "setup", str(build), str(ROOT), "--wrap-mode=nodownload",
            "-Dtests=false", "-Dexamples=false", f"--prefix={tmp / 'prefix'}"]
    args += [f"-D{k}={v}" for k, v in meson_opts.items()]
    run(args)
    run(["meson", "install", "-C", str(build), "--quiet"])
    pcdir = tmp / "prefix" / "share" / "pkgconfig"
    return parse_pc(pcdir / "wds.pc"), parse_pc(pcdir / "wds-http.pc")


def main():
    for tool in ("cmake", "meson"):
        if not shutil.which(tool):
            print(f"check_build_options: {tool} not found", file=sys.stderr)
            return 2
    version = header_version()
    problems = []
    for setting, (cmake_opts, meson_opts) in SETTINGS.items():
        with tempfile.TemporaryDirectory(prefix="wds-options-") as t:
            tmp = Path(t)
            target_defs, cmake_pc, cmake_http_pc = cmake_side(tmp, cmake_opts)
            meson_pc, meson_http_pc = meson_side(tmp, meson_opts)
        core = target_defs.get("wds::wds", set())
        rows = {
            "CMake wds::wds": core,
            "CMake wds.pc": cmake_pc[0] if cmake_pc else None,
            "meson wds.pc": meson_pc[0] if meson_pc else None,
        }
        for what, got in rows.items():
            if got != core:
                problems.append(f"[{setting}] {what} defines {sorted(got) if got is not None else 'nothing (missing)'}"
                                f" but CMake wds::wds defines {sorted(core)}")
        for macro in ("WDS_HAS_ZLIB", "WDS_HAS_ISAL", "WDS_HAS_BZIP2", "WDS_HAS_LZMA", "WDS_HAS_ZSTD", "WDS_HAS_JPEG",
                      "WDS_HAS_PNG", "WDS_HAS_LIBDEFLATE"):
            if not any(d.startswith(macro + "=") for d in core):
                problems.append(f"[{setting}] {macro} is not set explicitly on wds::wds")
        if setting == "off" and any(d.endswith("=1") for d in core):
            problems.append(f"[off] codecs enabled although everything is OFF: {sorted(core)}")
        if cmake_pc and meson_pc and cmake_pc[1] != meson_pc[1]:
            problems.append(f"[{setting}] Requires differ: CMake {sorted(cmake_pc[1])}, meson {sorted(meson_pc[1])}")
        for what, pc in (("CMake wds.pc", cmake_pc), ("meson wds.pc", meson_pc)):
            if pc and pc[2] != version:
                problems.append(f"[{setting}] {what} has version {pc[2]}, config.hpp {version}")
        http = target_defs.get("wds::http")
        http_rows = {"CMake wds-http.pc": cmake_http_pc, "meson wds-http.pc": meson_http_pc}
        for what, pc in http_rows.items():
            if (http is None) != (pc is None):
                problems.append(f"[{setting}] wds::http {'missing' if http is None else 'present'} "
                                f"but {what} {'missing' if pc is None else 'present'}")
            elif pc is not None and pc[0] != http:
                problems.append(f"[{setting}] {what} defines {sorted(pc[0])}, wds::http {sorted(http)}")
        print(f"check_build_options: [{setting}] wds: {' '.join(sorted(core))}"
              f"{'; http: ' + ' '.join(sorted(http)) if http else ''}"
              f"; requires: {', '.join(sorted(cmake_pc[1])) if cmake_pc else '?'}")
    if problems:
        for p in problems:
            print(f"check_build_options: MISMATCH {p}", file=sys.stderr)
        return 1
    print("check_build_options: CMake, pkg-config and meson agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
