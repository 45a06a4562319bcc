#!/usr/bin/python3
"""Golden data for the tar reader/writer and webdataset grouping tests.

Run from the repo root with Debian's python3 (3.11) and GNU tar 1.34 / bsdtar 3.6:
    /usr/bin/python3 tests/golden/gen_tar.py
Writes tests/data/tar/. The C++ suite only reads the outputs.

- interop/*.tar: archives made by GNU tar (gnu, posix, ustar, v7 formats), bsdtar
  (default and pax) and Python tarfile (pax, gnu, ustar) from the same tree, plus
  MANIFEST-<set>.txt listing the regular files each must yield (hex name, size).
  File content is a pattern the test regenerates: byte j = (j * 7 + len(name)) & 255.
- headers/*.bin: Python tarfile header blocks (TarInfo.tobuf) for sizes >= 8 GiB.
- grouping.txt: member-name lists and the samples webdataset 1.0.2 makes of them.
  webdataset is not installable here (no PyPI), so group_by_keys/base_plus_ext and
  the meta-file test below are transcribed from webdataset/tariterators.py (v1.0.2),
  using the very same regular expressions.
"""
import io, os, re, shutil, subprocess, tarfile, tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "tar")


def content(name: bytes, size: int) -> bytes:
    return bytes(((j * 7 + len(name)) & 255) for j in range(size))


# Regular files (relative path, size). Long/unicode names only where the format can hold them.
BASIC = [
    ("empty.txt", 0), ("one.bin", 1), ("block.bin", 512), ("block1.bin", 513), ("odd.dat", 1000),
    ("dir/nested/file.cls", 3), ("dir/two.words.json", 20),
]
LONG = [
    ("n" * 95 + ".txt", 11),            # 99 bytes
    ("m" * 96 + ".txt", 12),            # 100 bytes
    ("k" * 97 + ".txt", 13),            # 101 bytes
    ("d" * 120 + "/" + "f" * 130 + ".bin", 14),   # 255 bytes
    ("/".join(["seg%03d" % i + "x" * 90 for i in range(10)]) + "/end.txt", 15),  # ~1000 bytes
    ("données/été.jpg", 16), ("日本語/テスト.txt", 17),
]
SETS = {"basic": BASIC, "long": BASIC + LONG}


def make_tree(root, files):
    for rel, size in files:
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(content(rel.encode(), size))
    os.makedirs(os.path.join(root, "emptydir"), exist_ok=True)
    os.symlink("one.bin", os.path.join(root, "link.sym"))
    os.link(os.path.join(root, "one.bin"), os.path.join(root, "hard.bin"))


def manifest(path, files):
    # hard.bin is stored as a hard link (type '1') in every format except the first
    # occurrence, so whichever name comes first is the regular member. All tools below
    # add members in sorted order, so "hard.bin" is the regular one and one.bin the link.
    names = sorted(f for f, _ in files)
    with open(path, "w") as out:
        for rel, size in files:
            out.write("%s %d\n" % (rel.encode().hex(), size))


def run(cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True)


def interop():
    d = os.path.join(ROOT, "interop")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for set_name, files in SETS.items():
        tmp = tempfile.mkdtemp()
        make_tree(tmp, files)
        entries = sorted(os.listdir(tmp))
        fixed = ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0"]
        formats = ["gnu", "posix"] + (["ustar", "v7"] if set_name == "basic" else [])
        for fmt in formats:
            run(["tar", "--format=" + fmt, *fixed, "-cf", os.path.join(d, "gnu-%s-%s.tar" % (fmt, set_name)), *entries], tmp)
        run(["bsdtar", "-cf", os.path.join(d, "bsdtar-default-%s.tar" % set_name), *entries], tmp)
        run(["bsdtar", "--format", "pax", "-cf", os.path.join(d, "bsdtar-pax-%s.tar" % set_name), *entries], tmp)
        for fmt_name, fmt in (("pax", tarfile.PAX_FORMAT), ("gnu", tarfile.GNU_FORMAT), ("ustar", tarfile.USTAR_FORMAT)):
            if fmt == tarfile.USTAR_FORMAT and set_name == "long":
                continue
            out = os.path.join(d, "python-%s-%s.tar" % (fmt_name, set_name))
            with tarfile.open(out, "w", format=fmt) as t:
                for e in entries:
                    t.add(os.path.join(tmp, e), arcname=e)
        # Regular files each archive must yield: every file, hard.bin (the first name
        # in sorted order) regular and one.bin stored as a link to it; links/dirs skipped.
        expected = [(rel, size) for rel, size in files if rel != "one.bin"] + [("hard.bin", 1)]
        manifest(os.path.join(d, "MANIFEST-%s.txt" % set_name), sorted(expected))
        shutil.rmtree(tmp)


def python_written():
    """What webdataset's TarWriter (tarfile "w|", pax format) writes, mtime fixed at 0."""
    members = [("a.jpg", b"hello"), ("x" * 120 + ".cls", b"1"), ("déjà/b.txt", b"z" * 513),
               (b"bad\xff/b.txt".decode("utf-8", "surrogateescape"), b"z" * 512), ("y" * 99, b""),
               ("k.seg.png", bytes(range(256)) * 3)]
    buf = io.BytesIO()
    t = tarfile.open(fileobj=buf, mode="w|")
    for name, data in members:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime, ti.mode, ti.uname, ti.gname = len(data), 0, 0o444, "bigdata", "bigdata"
        t.addfile(ti, io.BytesIO(data))
    t.close()
    with open(os.path.join(ROOT, "python-written.tar"), "wb") as f:
        f.write(buf.getvalue())


def headers():
    d = os.path.join(ROOT, "headers")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for fmt_name, fmt in (("pax", tarfile.PAX_FORMAT), ("gnu", tarfile.GNU_FORMAT)):
        ti = tarfile.TarInfo("big.bin")
        ti.size = 8 * 1024 ** 3 + 3
        ti.mtime = 0
        ti.mode = 0o444
        ti.uname = ti.gname = "bigdata"
        with open(os.path.join(d, "size8g-%s.bin" % fmt_name), "wb") as f:
            f.write(ti.tobuf(fmt, "utf-8", "surrogateescape"))


# ---- webdataset 1.0.2 grouping, transcribed ----
def base_plus_ext(path):
    match = re.match(r"^((?:.*/|)[^.]+)[.]([^/]*)$", path)
    if not match:
        return None, None
    return match.group(1), match.group(2)


def is_meta(fname, skip_meta=r"__[^/]*__($|/)"):
    if "/" not in fname and fname.startswith("__") and fname.endswith("__"):
        return True
    return skip_meta is not None and re.match(skip_meta, fname) is not None


def group_by_keys(names, lcase=True):
    samples, current = [], None
    for fname in names:
        if is_meta(fname):
            continue
        prefix, suffix = base_plus_ext(fname)
        if prefix is None:
            continue
        if lcase:
            suffix = suffix.lower()
        if current is None or prefix != current["__key__"]:
            if current is not None:
                samples.append(current)
            current = dict(__key__=prefix, __url__="u")
        if suffix in current:
            raise ValueError("duplicate")
        current[suffix] = fname
    if current is not None:
        samples.append(current)
    return samples


CASES = {
    "simple": ["a.jpg", "a.cls", "b.jpg", "b.cls"],
    "dotted_dirs": ["x.y/a.jpg", "x.y/a.txt", "p.q/r.s/b.seg.png"],
    "multiple_dots": ["cat_01.image.jpg", "cat_01.trimap.png", "cat_01.cls", "cat_01.json"],
    "upper_case": ["A.JPG", "A.Txt", "b.Image.PNG", "c.ÉTÉ", "c.ДА"],
    "non_consecutive": ["a.jpg", "b.jpg", "a.cls"],
    "no_ext": ["README", "a.jpg", "dir/noext", "a.cls"],
    "leading_dot": ["p/q/.hid.txt", ".hidden.jpg", "x.y/.z.jpg", "q/.a.b"],
    "meta": ["__meta__", "__x__/a.jpg", "k/__y__.txt", "__a.jpg", "a.jpg", "___", "__k__.txt"],
    "trailing_dot": ["a.", "a.b", "b..c"],
    "dirs_only": ["d/e/f.jpg", "d/e/f.txt", "d/e/g.jpg"],
    "slash_key": ["a/b.c/d.e", "a/b.c/d.f"],
    "duplicate_ext": ["a.jpg", "a.JPG"],
    "duplicate_exact": ["a.cls", "a.txt", "a.cls"],
    "unicode_key": ["données/été.jpg", "données/été.txt"],
}


def grouping():
    with open(os.path.join(ROOT, "grouping.txt"), "w") as out:
        for name, names in CASES.items():
            out.write("case %s\n" % name)
            for n in names:
                out.write("in %s\n" % n.encode().hex())
            try:
                for s in group_by_keys(names):
                    exts = [k for k in s if not k.startswith("__")]
                    out.write("sample %s %s\n" % (s["__key__"].encode().hex() or "-",
                                                 " ".join(e.encode().hex() or "-" for e in exts)))
                out.write("end\n")
            except ValueError:
                out.write("error duplicate\n")


if __name__ == "__main__":
    os.makedirs(ROOT, exist_ok=True)
    interop()
    python_written()
    headers()
    grouping()
    print("wrote", ROOT)
