#!/usr/bin/python3
"""Writes the small seed corpora under tests/fuzz/corpus/<target>/.

Run with Debian's /usr/bin/python3 (stdlib + numpy + PIL). Seeds are tiny on
purpose: libFuzzer mutates them, so a few valid files of each flavour (tar
formats, gzip, baseline/progressive JPEG, PNG colour types, npy/tenbin/json)
are worth more than large ones.
"""
import gzip
import io
import os
import struct
import tarfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def image(w, h, mode):
    a = (np.arange(w * h * 4, dtype=np.uint32) * 37 % 251).astype(np.uint8)
    bands = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4}[mode] if mode != "P" else 1
    a = a[: w * h * bands].reshape((h, w, bands)) if bands > 1 else a[: w * h].reshape((h, w))
    return Image.fromarray(a, {"P": "L"}.get(mode, mode) if mode != "CMYK" else "CMYK").convert(mode) \
        if mode != "P" else Image.fromarray(a, "L").convert("P")


def encoded(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def tar_bytes(members, fmt=tarfile.PAX_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o444
            t.addfile(ti, io.BytesIO(data))
    return b.getvalue()


def gz(data):
    return gzip.compress(data, mtime=0)


def tenbin(arrays):
    # webdataset tenbin layout: "~TenBin~" + u64 length + data padded to 8, per chunk.
    codes = {np.dtype("uint8"): "u1", np.dtype("float32"): "f4", np.dtype("int64"): "i8"}

    def chunk(b):
        return b"~TenBin~" + struct.pack("<q", len(b)) + b + b"\0" * ((64 - len(b) % 64) % 64)

    out = b""
    for a in arrays:
        hdr = codes[a.dtype].ljust(8, "\0").encode() + b"".ljust(8, b"\0")
        hdr += struct.pack("<q", a.ndim) + b"".join(struct.pack("<q", d) for d in a.shape)
        out += chunk(hdr) + chunk(a.tobytes())
    return out


def main():
    jpg = encoded(image(8, 6, "RGB"), "JPEG", quality=80)
    jpg_gray = encoded(image(5, 7, "L"), "JPEG")
    jpg_prog = encoded(image(16, 16, "RGB"), "JPEG", progressive=True, subsampling=0)
    jpg_cmyk = encoded(image(4, 4, "CMYK"), "JPEG")
    png_rgb = encoded(image(6, 5, "RGB"), "PNG")
    png_l = encoded(image(3, 3, "L"), "PNG")
    png_la = encoded(image(4, 2, "LA"), "PNG")
    png_rgba = encoded(image(2, 3, "RGBA"), "PNG")
    png_p = encoded(image(5, 5, "P"), "PNG")
    png_i16 = encoded(Image.fromarray(np.arange(12, dtype=np.uint16).reshape(3, 4) * 999, "I;16"), "PNG")
    png_1 = encoded(image(9, 3, "L").convert("1"), "PNG")

    for n, d in [("rgb.jpg", jpg), ("gray.jpg", jpg_gray), ("progressive444.jpg", jpg_prog), ("cmyk.jpg", jpg_cmyk)]:
        put("fuzz_jpeg", n, d)
    for n, d in [("rgb.png", png_rgb), ("l.png", png_l), ("la.png", png_la), ("rgba.png", png_rgba),
                 ("p.png", png_p), ("i16.png", png_i16), ("bilevel.png", png_1)]:
        put("fuzz_png", n, d)

    members = [("a/s1.jpg", jpg), ("a/s1.cls", b"3"), ("a/s1.json", b'{"k": [1, 2.5]}'),
               ("s2.seg.png", png_l), ("s2.txt", b"hello")]
    long_members = [("d" * 120 + "/k.txt", b"x"), ("\u00e9t\u00e9.txt", b"y")]
    put("fuzz_tar", "pax.tar", tar_bytes(members))
    put("fuzz_tar", "ustar.tar", tar_bytes(members, tarfile.USTAR_FORMAT))
    put("fuzz_tar", "gnu-long.tar", tar_bytes(long_members, tarfile.GNU_FORMAT))
    put("fuzz_tar", "pax-long.tar", tar_bytes(long_members))
    put("fuzz_tar", "dup-ext.tar", tar_bytes([("k.txt", b"1"), ("k.txt", b"2")]))
    put("fuzz_gzip", "pax.tar.gz", gz(tar_bytes(members)))
    put("fuzz_gzip", "two-members.gz", gz(b"hello ") + gz(b"world"))
    put("fuzz_gzip", "empty.gz", gz(b""))
    # Big enough for several of the parallel target's 256-byte chunks.
    words = b"tar member shard sample gzip inflate window block chunk thread header key".split()
    seq, x = [], 1
    for _ in range(4000):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        seq.append(words[(x >> 16) % len(words)])
    text = b" ".join(seq)
    put("fuzz_gzip_parallel", "text.gz", gz(text))
    put("fuzz_gzip_parallel", "two-members.gz", gz(b"hello ") + gz(text[:3000]))
    put("fuzz_gzip_parallel", "stored.gz", gzip.compress(bytes((i * 7 + (i >> 5)) & 255 for i in range(5000)), 0, mtime=0))

    def rec(k, v):
        body = b" " + k + b"=" + v + b"\n"
        n = len(body) + 1
        while len(str(n)) + len(body) != n:
            n += 1
        return str(n).encode() + body

    put("fuzz_pax", "path-size", b"\0" + rec(b"path", b"some/long/name.txt") + rec(b"size", b"5"))
    put("fuzz_pax", "global-mtime", b"\1" + rec(b"mtime", b"12.75") + rec(b"uname", b"user"))
    put("fuzz_pax", "binary", b"\0" + rec(b"hdrcharset", b"BINARY") + rec(b"path", b"\xff\xfe.x"))
    put("fuzz_pax", "sparse", b"\0" + rec(b"GNU.sparse.major", b"1"))

    npy = io.BytesIO()
    np.save(npy, np.arange(6, dtype="<f4").reshape(2, 3))
    put("fuzz_tensors", "npy-f4", b"\0" + npy.getvalue())
    npy = io.BytesIO()
    np.save(npy, np.asfortranarray(np.arange(6, dtype=">i2").reshape(3, 2)))
    put("fuzz_tensors", "npy-fortran-be", b"\0" + npy.getvalue())
    put("fuzz_tensors", "tenbin", b"\1" + tenbin([np.arange(4, dtype=np.uint8), np.ones((2, 2), np.float32)]))
    put("fuzz_tensors", "json", b"\2" + b'{"a": [1, -2.5e3, true, null, "\\u00e9\\ud83d\\ude00"], "b": {}}')
    put("fuzz_tensors", "cls", b"\3" + b" 42\n")
    put("fuzz_tensors", "txt", b"\4" + "caf\u00e9".encode())

    for i, spec in enumerate([
            "decode|resize(16)|center_crop(8)|jpeg(90)",
            "decode(RGB)|resize([12,10],bicubic)|hflip|png",
            "decode|to_tensor|normalize(imagenet)|npy",
            "pad(2,3,4,5,reflect)|crop(1,1,4,4)|grayscale(3)|convert(L)|png",
            "resize(8,max_size=10)|vflip|to_tensor|normalize([0.5,0.5,0.5],[0.2,0.2,0.2])",
            "decode(native)|convert(F)|npy"]):
        put("fuzz_compose", "spec%d" % i, spec.encode())

    trimap = encoded(image(8, 6, "L"), "PNG")
    shard = tar_bytes([("p/a.image.jpg", jpg), ("p/a.trimap.png", trimap), ("p/a.cls", b"1"),
                       ("p/b.jpg", jpg), ("p/b.png", png_rgb), ("p/b.cls", b"2")])
    put("fuzz_etl", "reference-skip", b"\1" + shard)
    put("fuzz_etl", "maps-fail", b"\2" + shard)
    put("fuzz_etl", "maps-skip", b"\3" + shard)


if __name__ == "__main__":
    main()
