#!/usr/bin/python3
"""Differential tester, shard half: seeded tar archives and the Python oracle's view.

    /usr/bin/python3 tests/diff/shards/gen.py --seed S --count N --out DIR [--only I]

Writes DIR/corpus.bin: for each case "case <seed>:<i> <kind>\\nsize <n>\\n<n bytes>\\nexpect <line>\\n".
Archives come from Python's tarfile in every format (ustar, gnu, pax), with odd
member names (dots, leading dots, dirs, trailing slashes, spaces, unicode, long
names, __key__/__meta__ shapes), sizes around 512-byte blocks, dirs, symlinks and
hard links, optionally gzip/bz2/xz-compressed (tarfile "w:gz" etc.), or cut short.
The oracle is tarfile.open(mode="r|*") with webdataset 1.0.2's tar_file_iterator
and group_by_keys, transcribed below with its very regular expressions.
<line> is the canonical result: each sample as key|ext=size:fnv,..., ";"-joined,
then "!" when the oracle raised (after yielding what it yielded).
"""
import argparse, io, random, re, tarfile

# ---- webdataset 1.0.2 (src/webdataset/tariterators.py), transcribed -----------------


def base_plus_ext(path):
    match = re.match(r"^((?:.*/|)[^.]+)[.]([^/]*)$", path)
    if not match:
        return None, None
    return match.group(1), match.group(2)


def valid_sample(sample):
    return sample is not None and isinstance(sample, dict) and len(list(sample.keys())) > 0 and not sample.get("__bad__", False)


def tar_file_iterator(fileobj, skip_meta=r"__[^/]*__($|/)"):
    stream = tarfile.open(fileobj=fileobj, mode="r|*")
    for tarinfo in stream:
        fname = tarinfo.name
        if not tarinfo.isreg():
            continue
        if fname is None:
            continue
        if "/" not in fname and fname.startswith("__") and fname.endswith("__"):
            continue
        if skip_meta is not None and re.match(skip_meta, fname):
            continue
        data = stream.extractfile(tarinfo).read()
        yield dict(fname=fname, data=data)
        stream.members = []


def group_by_keys(data, lcase=True):
    current_sample = None
    for filesample in data:
        fname, value = filesample["fname"], filesample["data"]
        prefix, suffix = base_plus_ext(fname)
        if prefix is None:
            continue
        if lcase:
            suffix = suffix.lower()
        if current_sample is None or prefix != current_sample["__key__"]:
            if valid_sample(current_sample):
                yield current_sample
            current_sample = dict(__key__=prefix, __url__="x")
        if suffix in current_sample:
            raise ValueError(f"{fname}: duplicate file name in tar file {suffix} {current_sample.keys()}")
        current_sample[suffix] = value
    if valid_sample(current_sample):
        yield current_sample


# ---- canonical form ---------------------------------------------------------------


def fnv1a64(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def enc(s):
    return s.encode("utf-8", "surrogateescape").hex()


def oracle(data):
    out, failed = [], False
    try:
        for s in group_by_keys(tar_file_iterator(io.BytesIO(data))):
            fields = ",".join("%s=%d:%016x" % (enc(k), len(v), fnv1a64(v)) for k, v in s.items() if k not in ("__key__", "__url__"))
            out.append("%s|%s" % (enc(s["__key__"]), fields))
    except Exception:
        failed = True
    return ";".join(out) + ("!" if failed else "")


# ---- generation -------------------------------------------------------------------

BASES = ["a", "b", "img", "x y", "été", "日本", "A", "k0", "k1", ".hidden", "..", ".", "__key__", "__meta__", "__x",
         "0001", "s.t", "Σ", "İ"]
EXTS = ["jpg", "JPG", "txt", "cls", "json", "image.jpg", "seg.PNG", "ΑΣ", "Ǆ", "ß", "__key__", "__url__", "__KEY__",
        "__bad__", "", "tar.gz", "a.b.c", "x y", "ŁÓDŹ", "İmg"]
DIRS = ["", "", "", "d/", "d/e/", "./", "dir.x/", "__meta__/", "sp ace/", "ü/"]
SIZES = [0, 1, 2, 100, 511, 512, 513, 1023, 1024, 1025, 1536]


def member_name(rng, prev_key):
    if prev_key is not None and rng.random() < 0.55:
        key = prev_key
    else:
        key = rng.choice(DIRS) + rng.choice(BASES)
        if rng.random() < 0.05:
            key = "l" * rng.randint(90, 260)
    r = rng.random()
    if r < 0.08:
        name = key  # no ext
    elif r < 0.11:
        name = key + "." + rng.choice(EXTS) + "/"  # trailing slash
    else:
        name = key + "." + rng.choice(EXTS)
    return name, key


def make_case(seed, i, cuts=True):
    rng = random.Random("%d:%d" % (seed, i))
    fmt = rng.choice([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
    comp = rng.choice(["", "", "", "gz", "bz2", "xz"])
    buf = io.BytesIO()
    names = []
    kind = ["ustar", "gnu", "pax"][fmt] + ("+" + comp if comp else "")
    with tarfile.open(fileobj=buf, mode="w:" + comp if comp else "w", format=fmt) as tf:
        prev = None
        for m in range(rng.randint(0, 8)):
            name, prev = member_name(rng, prev)
            ti = tarfile.TarInfo(name)
            ti.mtime = rng.choice([0, 1700000000])
            t = rng.random()
            if t < 0.07:
                ti.type = tarfile.DIRTYPE
            elif t < 0.12:
                ti.type, ti.linkname = tarfile.SYMTYPE, "target"
            elif t < 0.16 and names:
                ti.type, ti.linkname = tarfile.LNKTYPE, rng.choice(names)
            size = rng.choice(SIZES) if rng.random() < 0.8 else rng.randint(0, 3000)
            # 16 random bytes repeated: real payload bytes, yet the committed slice stays small
            payload = (bytes(rng.getrandbits(8) for _ in range(16)) * (size // 16 + 1))[:size] if ti.type == tarfile.REGTYPE else b""
            ti.size = len(payload)
            try:
                tf.addfile(ti, io.BytesIO(payload) if payload else None)
            except ValueError:  # ustar/gnu cannot hold the name
                continue
            names.append(name)
    data = buf.getvalue()
    if cuts and not comp and data and rng.random() < 0.1:
        cut = rng.randrange(len(data))
        if rng.random() < 0.5:
            cut -= cut % 512  # at a block boundary
        data = data[:cut]
        kind += "+cut"
    return kind, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", type=int, default=None)
    ap.add_argument("--no-cut", action="store_true",
                    help="no truncated archives (the committed slice: README's documented deviation aside)")
    a = ap.parse_args()
    import os
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "corpus.bin"), "wb") as f:
        for i in ([a.only] if a.only is not None else range(a.count)):
            kind, data = make_case(a.seed, i, not a.no_cut)
            f.write(b"case %d:%d %s\nsize %d\n" % (a.seed, i, kind.encode(), len(data)))
            f.write(data)
            f.write(b"\nexpect " + oracle(data).encode() + b"\n")


if __name__ == "__main__":
    main()
