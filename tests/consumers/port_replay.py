#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks ports/wds without vcpkg (which cannot be downloaded here).

    port_replay.py lint ROOT
        vcpkg.json is valid and complete, its features match the portfile's
        vcpkg_check_features, its version matches include/wds/config.hpp, and
        `usage` names the real package and target.
    port_replay.py cmake-args ROOT FEATURES
        prints, one per line, the cmake configure arguments the portfile gives
        for FEATURES (comma-separated, may be empty): vcpkg_cmake_configure's
        defaults, the vcpkg_check_features ON/OFF options, then OPTIONS.
    port_replay.py fixup ROOT STAGE
        does to an installed STAGE prefix what the portfile does after
        vcpkg_cmake_install: vcpkg_cmake_config_fixup(PACKAGE_NAME wds CONFIG_PATH
        share/cmake/wds) (move + prefix depth correction), removes an empty lib/,
        installs copyright and usage; then checks that no installed file names
        the source tree or STAGE (vcpkg flags absolute paths).
"""
import json
import re
import shutil
import sys
from pathlib import Path

KNOWN_FEATURES = {"zlib": "zlib", "isal": "isal", "bzip2": "bzip2", "lzma": "liblzma", "zstd": "zstd",
                  "jpeg": "libjpeg-turbo", "png": "libspng", "libdeflate": "libdeflate", "http": "boost-beast"}


def fail(msg):
    print(f"port_replay: {msg}", file=sys.stderr)
    sys.exit(1)


def portfile(root):
    return (root / "ports" / "wds" / "portfile.cmake").read_text(encoding="utf-8")


def strip_comments(text):
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def call_args(text, func):
    m = re.search(r"\b" + re.escape(func) + r"\s*\((.*?)\)", strip_comments(text), re.S)
    if not m:
        fail(f"portfile.cmake does not call {func}()")
    return m.group(1).split()


def feature_map(text):
    args = call_args(text, "vcpkg_check_features")
    if "FEATURES" not in args:
        fail("vcpkg_check_features has no FEATURES list")
    rest = args[args.index("FEATURES") + 1:]
    if len(rest) % 2:
        fail("vcpkg_check_features FEATURES is not feature/option pairs")
    return dict(zip(rest[0::2], rest[1::2]))


def header_version(root):
    text = (root / "include" / "wds" / "config.hpp").read_text(encoding="utf-8")
    parts = dict(re.findall(r"^#define WDS_VERSION_(MAJOR|MINOR|PATCH) (\d+)", text, re.M))
    return "{MAJOR}.{MINOR}.{PATCH}".format(**parts)


def lint(root):
    port = root / "ports" / "wds"
    try:
        manifest = json.loads((port / "vcpkg.json").read_text(encoding="utf-8"))
    except ValueError as e:
        fail(f"vcpkg.json is not valid JSON: {e}")
    errors = []
    if manifest.get("name") != "wds":
        errors.append("name must be 'wds'")
    versions = [k for k in ("version", "version-semver", "version-date", "version-string")
                if k in manifest]
    if len(versions) != 1:
        errors.append("exactly one version field is required")
    elif manifest[versions[0]] != header_version(root):
        errors.append(f"{versions[0]} {manifest[versions[0]]} != config.hpp {header_version(root)}")
    for key in ("description", "license", "supports"):
        if not manifest.get(key):
            errors.append(f"'{key}' is required")
    if manifest.get("license") != "MIT":
        errors.append("license must be MIT (as LICENSE)")
    if manifest.get("supports") != "linux":
        errors.append("supports must name what we build and test: linux")
    host = {d["name"] for d in manifest.get("dependencies", []) if isinstance(d, dict) and d.get("host")}
    for h in ("vcpkg-cmake", "vcpkg-cmake-config"):
        if h not in host:
            errors.append(f"host dependency {h} missing")
    features = manifest.get("features", {})
    text = portfile(root)
    fmap = feature_map(text)
    if set(features) != set(fmap):
        errors.append(f"features {sorted(features)} != portfile's vcpkg_check_features {sorted(fmap)}")
    for name, spec in features.items():
        if name not in KNOWN_FEATURES:
            errors.append(f"unknown feature {name}")
            continue
        deps = [d if isinstance(d, str) else d.get("name") for d in spec.get("dependencies", [])]
        if KNOWN_FEATURES[name] not in deps:
            errors.append(f"feature {name} must depend on port {KNOWN_FEATURES[name]}")
        if not spec.get("description"):
            errors.append(f"feature {name} needs a description")
    for name, option in fmap.items():
        if not re.fullmatch(r"WDS_WITH_(ZLIB|ISAL|BZIP2|LZMA|ZSTD|JPEG|PNG|LIBDEFLATE|HTTP)", option):
            errors.append(f"feature {name} maps to {option}, not a WDS_WITH_* option")
    cmakelists = (root / "CMakeLists.txt").read_text(encoding="utf-8")
    for arg in call_args(text, "vcpkg_cmake_configure"):
        m = re.match(r"-D(WDS_[A-Z_]+)=", arg)
        if m and m.group(1) not in cmakelists and m.group(1) != "WDS_INSTALL_CMAKEDIR":
            errors.append(f"portfile passes {m.group(1)}, which CMakeLists.txt does not define")
    if "set(VCPKG_BUILD_TYPE release)" not in text:
        errors.append("header-only port must set(VCPKG_BUILD_TYPE release)")
    fixup = " ".join(call_args(text, "vcpkg_cmake_config_fixup"))
    if fixup != "PACKAGE_NAME wds CONFIG_PATH share/cmake/wds":
        errors.append(f"vcpkg_cmake_config_fixup({fixup}) does not match wdsInstall.cmake's layout")
    for func in ("vcpkg_cmake_install", "vcpkg_fixup_pkgconfig", "vcpkg_install_copyright"):
        call_args(text, func)
    usage = (port / "usage").read_text(encoding="utf-8") if (port / "usage").is_file() else ""
    for needle in ("find_package(wds CONFIG REQUIRED)", "target_link_libraries(main PRIVATE wds::wds)"):
        if needle not in usage:
            errors.append(f"usage must contain '{needle}'")
    if not (root / "LICENSE").is_file():
        errors.append("LICENSE (installed as copyright) is missing")
    if errors:
        fail("ports/wds: " + "; ".join(errors))
    print(f"port_replay: ports/wds ok (version {header_version(root)}, features {', '.join(sorted(fmap))})")


def cmake_args(root, features):
    text = portfile(root)
    fmap = feature_map(text)
    chosen = {f for f in features.split(",") if f}
    unknown = chosen - set(fmap)
    if unknown:
        fail(f"unknown features {sorted(unknown)}")
    # What vcpkg_cmake_configure adds itself for a release-only Linux build.
    args = ["-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"]
    args += [f"-D{opt}={'ON' if feat in chosen else 'OFF'}" for feat, opt in fmap.items()]
    for a in call_args(text, "vcpkg_cmake_configure"):
        if a.startswith("-D"):
            args.append(a)
    print("\n".join(args))


def fixup(root, stage):
    stage = stage.resolve()
    old = stage / "share" / "cmake" / "wds"
    new = stage / "share" / "wds"
    if not old.is_dir():
        fail(f"{old} missing: did the install use share/cmake/wds?")
    new.mkdir(parents=True, exist_ok=True)
    for f in old.iterdir():
        shutil.move(str(f), str(new / f.name))
    old.rmdir()
    if not any((stage / "share" / "cmake").iterdir()):
        (stage / "share" / "cmake").rmdir()
    # The config moved one level up: one fewer step back to the prefix.
    for f in new.glob("*.cmake"):
        t = f.read_text(encoding="utf-8")
        t2 = t.replace('get_filename_component(_IMPORT_PREFIX "${_IMPORT_PREFIX}" PATH)\n', "", 1) \
            if f.name.endswith("Targets.cmake") else t
        t2 = t2.replace('"${CMAKE_CURRENT_LIST_DIR}/../../../"', '"${CMAKE_CURRENT_LIST_DIR}/../../"')
        if t2 != t:
            f.write_text(t2, encoding="utf-8")
    lib = stage / "lib"
    if lib.is_dir() and not any(p.is_file() for p in lib.rglob("*")):
        shutil.rmtree(lib)
    shutil.copyfile(root / "LICENSE", new / "copyright")
    shutil.copyfile(root / "ports" / "wds" / "usage", new / "usage")
    # Post-build checks vcpkg would make.
    errors = []
    needles = [str(root.resolve()), str(stage)]
    for f in sorted(stage.rglob("*")):
        if f.is_dir():
            if not any(f.iterdir()):
                errors.append(f"empty directory {f.relative_to(stage)}")
            continue
        text = f.read_text(encoding="utf-8", errors="replace")
        for n in needles:
            if n in text:
                errors.append(f"{f.relative_to(stage)} contains the absolute path {n}")
    if (stage / "lib").exists():
        errors.append("lib/ left in a header-only port")
    for pc in (stage / "share" / "pkgconfig").glob("*.pc"):
        if not pc.read_text(encoding="utf-8").startswith("prefix=${pcfiledir}/"):
            errors.append(f"{pc.name}: prefix is not relative to ${{pcfiledir}}")
    if errors:
        fail("; ".join(errors))
    print("port_replay: fixup ok: " + " ".join(
        sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file() and "include" not in p.parts)))


def main(argv):
    if len(argv) >= 2 and argv[0] == "lint":
        lint(Path(argv[1]).resolve())
    elif len(argv) >= 2 and argv[0] == "cmake-args":
        cmake_args(Path(argv[1]).resolve(), argv[2] if len(argv) > 2 else "")
    elif len(argv) == 3 and argv[0] == "fixup":
        fixup(Path(argv[1]).resolve(), Path(argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
