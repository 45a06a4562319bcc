#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every ```cpp block of README.md must compile (CTest wds.readme.snippets_compile).

  check_snippets.py README --cxx C++ --include DIR [--defines WDS_HAS_JPEG=1,...] [--have jpeg,...]
                    [--hero examples/quickstart/main.cpp] [--keep DIR]

Each block becomes one translation unit: its #include lines at the top, then
the rest inside a function (a block with `int main(` is kept as it is). The
harness below declares the placeholders a block uses (`bytes`, `img`, ...) and
`= /* ... */;` becomes `{};`. A block without #include reads the includes of the
block before it, as a reader would. A block that includes a codec header this
build lacks is skipped, saying so. The first block must be the hero example
(--hero) byte for byte. Only the standard library is used. Exit: 0 all compiled,
1 a block failed (its source and the compiler's output are printed), 2 usage.
"""
import argparse
import os
import re
import concurrent.futures
import subprocess
import sys
import tempfile

# Standard headers every harness includes: the snippets are about wds, not <cstdio>.
PRELUDE = """#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <variant>
#include <vector>
"""

# Placeholders, keyed by a line fragment that identifies the block:
# includes (extra headers), top (file scope), params (of the wrapping function).
HARNESS = [
    ("writer.begin(\"big.bin\", size)",
     dict(params="std::uint64_t size, const std::byte* chunk, std::size_t n")),
    ("wds::jpeg_decoder dec;",
     dict(params="const std::vector<std::byte>& bytes, int x, int y, const wds::jpeg_info& info, int want_w, int want_h, "
                 "const wds::image<std::uint8_t>& mask")),
    ("wds::png_decoder dec;",
     dict(params="const std::vector<std::byte>& bytes, const wds::image<std::uint8_t>& trimap, "
                 "const wds::image<std::uint16_t>& depth_map_u16")),
    ("wds::convert(rgb.view()",
     dict(params="const wds::image<std::uint8_t>& rgb, const wds::any_image& any")),
    ("using namespace wds::transforms;",
     dict(params="const wds::image<std::uint8_t>& img, unsigned seed")),
    ("p.apply(bytes.data(), bytes.size(), wds::location{shard, member})",
     dict(params="const std::vector<std::byte>& bytes, const std::string& shard, const std::string& member, "
                 "wds::any_image any_img")),
    ("wds::dtype_name(wds::dtype::float32)", dict(includes=["wds/tensor.hpp"])),
    ("wds::ndarray a = wds::npy_decode(bytes);",
     dict(includes=["wds/npy.hpp"], params="const std::vector<std::byte>& bytes")),
    ("wds::tenbin_encode({wds::ndarray(image_tensor)",
     dict(params="const wds::tensor<float>& image_tensor, const wds::tensor<std::int64_t>& labels")),
    ("wds::decode_field(\"seg.cls\", bytes)",
     dict(top="template <class T> void use(const T&) {}", params="const std::vector<std::byte>& bytes")),
    ("wds::expand_shard_list(",
     dict(includes=["wds/sample.hpp", "wds/io.hpp"],
          top="template <class B> void train(const B&) {}",
          params="wds::sample_reader<wds::file_source>& reader")),
    ("my_per_sample_function(*s);", dict(top="void my_per_sample_function(wds::sample&);")),
    ("for (auto& [images, labels] : ds) train(",
     dict(top="template <class A, class B> void train(const A&, const B&) {}")),
]

# Which build feature a header needs; decode.hpp needs either image codec.
NEEDS = {
    "wds/codec/jpeg.hpp": ["jpeg"],
    "wds/codec/png.hpp": ["png"],
    "wds/codec/decode.hpp": ["jpeg|png"],
    "wds/codec/gzip.hpp": ["zlib"],
    "wds/ais.hpp": ["http"],
}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')
ELIDED_RE = re.compile(r"=\s*/\*[^*]*\*/\s*;")


def blocks(readme):
    lines = readme.split("\n")
    out, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```cpp":
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            out.append((i + 1, "\n".join(lines[i + 1:j]) + "\n"))
            i = j
        i += 1
    return out


def harness_for(code):
    found = {}
    for key, h in HARNESS:
        if key in code:
            found = h
    return found


def translation_unit(code, inherited):
    h = harness_for(code)
    own = [m.group(1) for m in map(INCLUDE_RE.match, code.split("\n")) if m]
    includes = own or list(inherited)
    includes += [x for x in h.get("includes", []) if x not in includes]
    body = "\n".join(l for l in code.split("\n") if not INCLUDE_RE.match(l))
    body = ELIDED_RE.sub("{};", body)
    src = PRELUDE + "".join(f"#include <{x}>\n" for x in includes) + "\n" + h.get("top", "") + "\n"
    if re.search(r"\bint\s+main\s*\(", body):
        src += body
    else:
        src += f"void readme_snippet({h.get('params', '')}) {{\n{body}\n}}\n"
    return src, own, includes


def missing_features(includes, have):
    missing = []
    for inc in includes:
        for need in NEEDS.get(inc, []):
            if not any(alt in have for alt in need.split("|")):
                missing.append(f"{need} (for <{inc}>)")
    return missing


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("readme")
    ap.add_argument("--cxx", required=True)
    ap.add_argument("--include", required=True)
    ap.add_argument("--defines", default="")
    ap.add_argument("--have", default="")
    ap.add_argument("--hero")
    ap.add_argument("--keep")
    args = ap.parse_args()
    with open(args.readme, encoding="utf-8") as f:
        found = blocks(f.read())
    if not found:
        print("readme: no ```cpp block found", file=sys.stderr)
        return 1
    failed = 0
    if args.hero:
        with open(args.hero, encoding="utf-8") as f:
            if f.read() != found[0][1]:
                print(f"readme: FAIL: the first cpp block (line {found[0][0]}) differs from {args.hero}")
                failed += 1
    have = {x for x in args.have.split(",") if x}
    for d in args.defines.split(","):  # WDS_HAS_JPEG=1 -> jpeg; WDS_HAS_HTTPLIB=1 -> http
        m = re.match(r"WDS_HAS_([A-Z0-9]+)=1$", d)
        if m:
            have.add("http" if m.group(1).startswith("HTTP") else m.group(1).lower())
    defines = [f"-D{d}" for d in args.defines.split(",") if d]
    tmp = args.keep or tempfile.mkdtemp(prefix="wds-readme-")
    os.makedirs(tmp, exist_ok=True)
    inherited, compiled, skipped = [], 0, 0
    jobs = []  # (n, line, src, cmd)
    for n, (line, code) in enumerate(found, 1):
        src, own, includes = translation_unit(code, inherited)
        if own:
            inherited = own
        missing = missing_features(includes, have)
        if missing:
            print(f"readme: SKIP block {n} (README line {line}): needs {', '.join(missing)}, not built in")
            skipped += 1
            continue
        path = os.path.join(tmp, f"block{n:02d}.cpp")
        with open(path, "w", encoding="utf-8") as f:
            f.write(src)
        # Syntax only, so wds/url.hpp need not pull Boost.Beast in
        # (WDS_HTTP_SEPARATE); blocks that use HTTP include it themselves.
        cmd = [args.cxx, "-std=c++17", "-fsyntax-only", "-DWDS_HTTP_SEPARATE=1", "-I", args.include] + defines + [path]
        jobs.append((n, line, src, cmd))

    def run(job):
        return subprocess.run(job[3], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(run, jobs))
    for (n, line, src, cmd), r in zip(jobs, results):
        if r.returncode != 0:
            failed += 1
            print(f"readme: FAIL block {n} (README line {line}):\n{src}\n{' '.join(cmd)}\n{r.stdout}")
        else:
            compiled += 1
            print(f"readme: ok   block {n} (README line {line})")
    print(f"readme: {compiled} compiled, {skipped} skipped, {failed} failed, of {len(found)} blocks")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
