#!/usr/bin/python3
"""Generates the hostile-input corpus tests/data/bad/ and its MANIFEST.txt.

Run with Debian's /usr/bin/python3 (stdlib + numpy + PIL). Every file is
small; the hostile part is what its headers claim. MANIFEST.txt is
tab-separated:

    file  class  id  fragment  options

class is the wds exception class the file must raise (its category in the
"[wds.<category>.<id>]" prefix must match too), or "ok" for inputs that must be
read without error (path traversal names: they are plain names, never paths).
fragment must occur in what(); for "ok" it is a key the shard must yield.
options are comma-separated `limit=value` overrides of wds::limits or, for
*.etl.tar shards, `map=EXT:SPEC`.
The parser is chosen by the file name: *.tar (sample_reader), *.tar.gz / *.gz
(open_input + sample_reader), *.etl.tar (etl::transform_shard), *.jpg, *.png,
*.npy, *.ten, *.json, *.cls, *.txt, *.spec (wds::compose).
"""
import gzip
import io
import os
import struct
import tarfile
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "bad")
MANIFEST = []


def put(name, data, cls, eid, fragment, options=""):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    assert "\t" not in fragment and "\t" not in options
    MANIFEST.append((name, cls, str(eid), fragment, options))


# ---- tar building blocks ------------------------------------------------------

def octal(v, n):
    return (("%0" + str(n - 1) + "o") % v).encode() + b"\0"


def header(name, size=0, typ=b"0", size_field=None, magic=b"ustar\x0000", fix_checksum=True, checksum=None):
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = octal(0o644, 8)
    h[108:116] = octal(0, 8)
    h[116:124] = octal(0, 8)
    h[124:136] = size_field if size_field is not None else octal(size, 12)
    h[136:148] = octal(0, 12)
    h[148:156] = b" " * 8
    h[156:157] = typ
    h[257:265] = magic
    h[265:269] = b"root"
    h[297:301] = b"root"
    s = sum(h)
    if checksum is not None:
        s = checksum
    if fix_checksum:
        h[148:156] = ("%06o" % s).encode() + b"\0 "
    assert len(h) == 512
    return bytes(h)


def pad(data):
    return data + b"\0" * ((512 - len(data) % 512) % 512)


def member(name, data, **kw):
    return header(name, len(data), **kw) + pad(data)


def pax_record(key, value):
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


def pax(records, typ=b"x"):
    data = b"".join(pax_record(k, v) for k, v in records)
    return member(b"././@PaxHeader", data, typ=typ)


END = b"\0" * 1024


def python_tar(members, fmt=tarfile.PAX_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return b.getvalue()


def gen_tar():
    good = member(b"s1.txt", b"hello world") + member(b"s1.cls", b"7") + END
    put("truncated-header.tar", good[:300], "tar_error", 201, "truncated header block (300 of 512 bytes)")
    put("truncated-payload.tar", good[:512 + 5], "tar_error", 202, "truncated payload: 6 bytes missing")
    put("truncated-padding.tar", good[:512 + 100], "tar_error", 202, "truncated payload padding")
    put("truncated-second-header.tar", good[:1024 + 511], "tar_error", 201, "truncated header block (511 of 512")
    bad = bytearray(good)
    bad[0] = ord("S")  # name changed, checksum not updated
    put("bad-checksum.tar", bytes(bad), "tar_error", 203, "bad header checksum")
    put("bad-checksum-garbage.tar", header(b"x.txt", 0, checksum=None)[:148] + b"12x4567\0" +
        header(b"x.txt", 0)[156:] + END, "tar_error", 204, "bad number in checksum field")
    # size 2^63 in GNU base-256: does not fit int64.
    put("size-2pow63-base256.tar",
        header(b"huge.bin", size_field=b"\x80\0\0\0" + (1 << 63).to_bytes(8, "big")) + END,
        "tar_error", 204, "bad number in size field")
    # 0xff...: base-256 negative -1 size.
    put("size-negative-base256.tar", header(b"neg.bin", size_field=b"\xff" * 12) + END,
        "tar_error", 204, "negative size")
    put("size-octal-garbage.tar", header(b"g.bin", size_field=b"0000012x456\0") + END,
        "tar_error", 204, "bad number in size field")
    # 8 GiB - 1 in octal, no payload: over max_member_size (4 GiB) before any allocation.
    put("size-8gib-octal.tar", header(b"big.bin", size_field=b"77777777777\0") + END,
        "limit_error", 502, "member of 8589934591 bytes exceeds the limit")
    # base-256 2^62: a size that fits int64 but no memory.
    put("size-2pow62-base256.tar",
        header(b"big.bin", size_field=b"\x80\0\0\0" + (1 << 62).to_bytes(8, "big")) + END,
        "limit_error", 502, "member of 4611686018427387904 bytes exceeds the limit")
    # pax size lies: claims 1 MB, 10 bytes follow.
    put("pax-size-lies.tar", pax([(b"size", b"1000000")]) + member(b"lie.bin", b"0123456789")[:1024],
        "tar_error", 202, "truncated payload")
    put("pax-size-1tb.tar", pax([(b"size", b"1099511627776")]) + member(b"tb.bin", b"x") + END,
        "limit_error", 502, "member of 1099511627776 bytes exceeds the limit")
    put("pax-size-overflow.tar", pax([(b"size", b"18446744073709551616")]) + member(b"o.bin", b"x") + END,
        "tar_error", 206, "bad pax size \"18446744073709551616\"")
    put("pax-size-negative.tar", pax([(b"size", b"-5")]) + member(b"n.bin", b"x") + END,
        "tar_error", 206, "bad pax size \"-5\"")
    put("pax-record-length-lies.tar", member(b"././@PaxHeader", b"99 path=x.txt\n", typ=b"x") +
        member(b"x.txt", b"x") + END, "tar_error", 206, "bad pax record at byte 0")
    put("pax-record-no-key.tar", member(b"././@PaxHeader", b"9 =value\n", typ=b"x") +
        member(b"x.txt", b"x") + END, "tar_error", 206, "(no key)")
    put("pax-record-zero-length.tar", member(b"././@PaxHeader", b"0 \n", typ=b"x") +
        member(b"x.txt", b"x") + END, "tar_error", 206, "bad pax record")
    put("pax-header-too-large.tar", header(b"././@PaxHeader", 1 << 24, typ=b"x") + END,
        "limit_error", 501, "pax header of 16777216 bytes exceeds the limit of 1048576")
    put("gnu-longname-too-large.tar", header(b"././@LongLink", (1 << 33) - 1, typ=b"L",
                                             magic=b"ustar  \0") + END,
        "limit_error", 501, "GNU long name of 8589934591 bytes exceeds the limit")
    put("pax-then-eof.tar", pax([(b"path", b"a.txt")]), "tar_error", 201, "archive ends after an extension header")
    put("pax-then-end-marker.tar", pax([(b"path", b"a.txt")]) + END, "tar_error", 201,
        "end-of-archive marker after an extension header")
    # 1 TB sparse claims: GNU old sparse type 'S' and pax GNU.sparse (1.0 format).
    sp = bytearray(header(b"sparse.bin", 512, typ=b"S", magic=b"ustar  \0", fix_checksum=False))
    sp[483:495] = octal(1 << 40, 12)  # realsize
    sp[386:398] = octal(0, 12)        # first sparse entry: offset 0 ...
    sp[398:410] = octal(512, 12)      # ... numbytes 512
    sp[148:156] = ("%06o" % (sum(sp) )).encode() + b"\0 "
    put("sparse-gnu-1tb.tar", bytes(sp) + b"\0" * 512 + END, "limit_error", 502, "exceeds the limit of")
    put("sparse-pax-1tb.tar", pax([(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0"),
                                   (b"GNU.sparse.name", b"sparse.bin"),
                                   (b"GNU.sparse.realsize", b"1099511627776")]) +
        member(b"GNUSparseFile.0/sparse.bin", b"1\n0\n512\n" + b"\0" * 503 + b"x" * 512) + END,
        "limit_error", 502, "exceeds the limit of")
    # Path traversal: plain names. The test checks the keys and that nothing was created.
    put("path-traversal.tar", python_tar([("../../../../tmp/wds-evil.txt", b"pwned"),
                                          ("/etc/wds-evil.txt", b"abs"),
                                          ("a/../../b.txt", b"dotdot"),
                                          ("./c/./d.txt", b"dot")]),
        "ok", 0, "../../../../tmp/wds-evil")
    put("path-traversal-gnu.tar", python_tar([("../" * 40 + "x.txt", b"long")], tarfile.GNU_FORMAT),
        "ok", 0, "../" * 39 + "../x")
    # Links pointing anywhere are skipped, never followed.
    lnk = tarfile.TarInfo("etc-link.txt")
    lnk.type = tarfile.SYMTYPE
    lnk.linkname = "/etc/passwd"
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
        t.addfile(lnk)
        ti = tarfile.TarInfo("k.txt")
        ti.size = 1
        t.addfile(ti, io.BytesIO(b"k"))
    put("symlink-escape.tar", b.getvalue(), "ok", 0, "k")
    put("duplicate-ext.tar", member(b"k.txt", b"1") + member(b"k.txt", b"2") + END,
        "sample_error", 301, "duplicate ext \"txt\" in sample \"k\"")
    put("too-many-fields.tar", b"".join(member(b"k.f%d" % i, b"") for i in range(9)) + END,
        "limit_error", 503, "has more than 8 fields", "max_sample_fields=8")
    put("member-over-limit.tar", member(b"k.bin", b"z" * 5000) + END,
        "limit_error", 502, "member of 5000 bytes exceeds the limit of 4096", "max_member_size=4096")


def gen_gzip():
    shard = python_tar([("a.txt", b"x" * 100), ("a.cls", b"1")])
    z = gzip.compress(shard, mtime=0)
    put("truncated.tar.gz", z[: len(z) // 2], "io_error", 111, "truncated gzip stream")
    put("truncated-trailer.tar.gz", z[:-4], "io_error", 111, "truncated gzip stream")
    bad = bytearray(z)
    bad[-8] ^= 0xFF  # CRC32
    put("bad-crc.tar.gz", bytes(bad), "io_error", 112, "")
    bad = bytearray(z)
    bad[-1] ^= 0x01  # ISIZE
    put("bad-length.tar.gz", bytes(bad), "io_error", 112, "")
    # Garbage after the gzip end is a warning now, as in Python (tests/test_compress.cpp).
    # put("trailing-garbage.tar.gz", z + b"GARBAGE!", "io_error", 112, "trailing garbage after the gzip stream")
    # A tar member of 64 MiB of zeros: 64 KiB compressed. Bounded by max_decompressed_size.
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    hdr = header(b"bomb.bin", 64 << 20)
    parts = [co.compress(hdr)]
    chunk = b"\0" * (1 << 20)
    for _ in range(64):
        parts.append(co.compress(chunk))
    parts.append(co.compress(END))
    parts.append(co.flush())
    put("bomb-64mib.tar.gz", b"".join(parts), "limit_error", 504, "gzip stream decompresses past the limit of 16777216",
        "max_decompressed_size=16777216")
    # The same bomb against the member limit instead (decompression itself unbounded).
    put("bomb-member.tar.gz", b"".join(parts), "limit_error", 502,
        "member of 67108864 bytes exceeds the limit of 1048576", "max_member_size=1048576")
    # Data after the end of the archive: 2 MiB of garbage inside the gzip stream.
    put("junk-after-end.tar.gz", gzip.compress(shard + b"\x01" * (2 << 20), mtime=0), "io_error", 113, "")
    put("not-gzip-after-magic.tar.gz", b"\x1f\x8b\x08\x00" + b"\xff" * 60, "io_error", 112, "")


# ---- PNG ------------------------------------------------------------------------

def png_chunk(typ, data, crc=None):
    c = zlib.crc32(typ + data) if crc is None else crc
    return struct.pack(">I", len(data)) + typ + data + struct.pack(">I", c & 0xFFFFFFFF)


PNG_SIG = b"\x89PNG\r\n\x1a\n"


def png(w, h, idat, depth=8, color=0, extra=b""):
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
    return PNG_SIG + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def gen_png():
    small = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(small, "PNG")
    small = small.getvalue()
    put("png-truncated.png", small[: len(small) - 30], "decode_error", 432, "truncated PNG (data)")
    bad = bytearray(small)
    bad[29] ^= 0xFF  # IHDR CRC
    put("png-bad-crc.png", bytes(bad), "decode_error", 431, "corrupt PNG")
    put("png-signature-only.png", PNG_SIG, "decode_error", 432, "truncated PNG")
    # 200 megapixels claimed (over 2 x 89,478,485), a few bytes of data.
    put("png-200mp-header.png", png(20000, 10000, zlib.compress(b"\0" * 64)), "limit_error", 500,
        "image of 20000x10000 = 200000000 pixels exceeds limits::max_image_pixels")
    put("png-4gp-header.png", png(65535, 65535, zlib.compress(b"\0" * 64)), "limit_error", 500,
        "pixels exceeds limits::max_image_pixels")
    # Decompression bomb: 8000x8000 gray (64 MP, under Pillow's warning) whose IDAT
    # is 64 MB of zeros in 62 KiB; rejected by a lowered limit before inflating.
    rows = zlib.compress(b"\0" * (8000 * 8001), 9)
    put("png-bomb-64mp.png", png(8000, 8000, rows), "limit_error", 500,
        "image of 8000x8000 = 64000000 pixels exceeds limits::max_image_pixels (1000000)",
        "max_image_pixels=1000000")
    # zTXt chunk inflating to 64 MiB (text bomb, over spng's chunk cache limit); pixels are fine.
    ztxt = png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"A" * (64 << 20), 9))
    put("png-ztxt-bomb.png", png(4, 4, zlib.compress(b"\0" * 20), extra=ztxt), "decode_error", 431, "zTXt inflates to more than 1 MiB")
    # A chunk length of 2^31-1 (bigger than the file and than max_png_chunk_size).
    huge = PNG_SIG + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)) + \
        struct.pack(">I", 0x7FFFFFFF) + b"tEXt" + b"a" * 32
    put("png-chunk-length-2g.png", huge, "decode_error", 432, "truncated PNG")
    put("png-zero-width.png", png(0, 4, zlib.compress(b"\0" * 4)), "decode_error", 431, "invalid image width")
    put("png-bad-depth.png", png(4, 4, zlib.compress(b"\0" * 20), depth=7), "decode_error", 433, "unsupported PNG (header): invalid bit depth")
    put("png-idat-garbage.png", png(4, 4, b"\x78\x9c" + b"\xff" * 40), "decode_error", 431, "corrupt PNG (data)")


# ---- JPEG -------------------------------------------------------------------------

def jpeg_with_size(src, w, h):
    """Rewrites the SOF0 frame size of a baseline JPEG."""
    b = bytearray(src)
    i = 2
    while i < len(b):
        assert b[i] == 0xFF
        marker = b[i + 1]
        length = struct.unpack(">H", b[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            b[i + 5:i + 9] = struct.pack(">HH", h, w)
            return bytes(b)
        i += 2 + length
    raise ValueError("no SOF")


def gen_jpeg():
    b = io.BytesIO()
    im = Image.new("RGB", (32, 24))
    im.putdata([((x * 8) % 256, (y * 10) % 256, 128) for y in range(24) for x in range(32)])
    im.save(b, "JPEG", quality=90)
    small = b.getvalue()
    put("jpeg-truncated-header.jpg", small[:100], "decode_error", 402, "Premature end of JPEG file")
    put("jpeg-truncated-data.jpg", small[: len(small) - 200], "decode_error", 402, "truncated JPEG")
    put("jpeg-soi-only.jpg", b"\xff\xd8", "decode_error", 402, "truncated JPEG (header)")
    put("jpeg-garbage-after-soi.jpg", b"\xff\xd8\xff" + b"\x00\x11" * 50, "decode_error", 402, "truncated JPEG")
    # 65500 x 65500 = 4.3 GP claimed in a 600-byte file.
    put("jpeg-4gp-header.jpg", jpeg_with_size(small, 65500, 65500), "limit_error", 500,
        "image of 65500x65500 = 4290250000 pixels exceeds limits::max_image_pixels")
    # 100 megapixels: above Pillow's warning (89,478,485), below its error: still
    # refused under a lowered limit before any pixel buffer exists.
    put("jpeg-100mp-header.jpg", jpeg_with_size(small, 10000, 10000), "limit_error", 500,
        "image of 10000x10000 = 100000000 pixels exceeds limits::max_image_pixels (89478485)",
        "max_image_pixels=89478485")
    put("jpeg-200mp-header.jpg", jpeg_with_size(small, 20000, 10000), "limit_error", 500,
        "image of 20000x10000 = 200000000 pixels exceeds limits::max_image_pixels (178956970)")
    put("jpeg-zero-size.jpg", jpeg_with_size(small, 0, 24), "decode_error", 400, "Empty JPEG image")
    bad = bytearray(small)
    sos = bad.index(b"\xff\xda")
    for k in range(sos + 20, min(len(bad) - 2, sos + 220)):
        bad[k] = 0xFF if k % 2 else 0x00
    # Pillow decodes it too (libjpeg warnings are not errors there).
    put("jpeg-corrupt-entropy.jpg", bytes(bad), "ok", 0, "")


# ---- tensors and fields -------------------------------------------------------------

def npy_bytes(header_text, payload=b"", version=(1, 0)):
    h = header_text.encode("latin1")
    pad_to = 64
    total = 10 + len(h) + 1
    h = h + b" " * ((pad_to - total % pad_to) % pad_to) + b"\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack("<H", len(h)) + h + payload


def gen_tensors():
    put("npy-shape-overflow.npy", npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }"),
        "decode_error", 475, "shape product overflows")
    put("npy-shape-2pow62.npy", npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }"),
        "decode_error", 475, "shape product overflows")
    put("npy-1tb.npy", npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (1099511627776,), }"),
        "limit_error", 522, "npy: array of 1099511627776 bytes exceeds max_member_size")
    put("npy-truncated-data.npy", npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (100,), }", b"\0" * 40),
        "decode_error", 472, "truncated data: need 400 bytes, have 40")
    put("npy-header-len-lies.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 65535) + b"{'descr'",
        "limit_error", 520, "header of 65535 bytes exceeds 10000")
    put("npy-negative-dim.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"),
        "decode_error", 475, "negative dimension in shape")
    put("npy-object-dtype.npy", npy_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", b"\0" * 8),
        "decode_error", 474, "unsupported dtype descr '|O'")
    put("npy-nul-in-header.npy", npy_bytes("{'descr': '<f4\0', 'fortran_order': False, 'shape': (1,), }", b"\0" * 4),
        "decode_error", 474, "unsupported dtype descr")
    put("npy-truncated-magic.npy", b"\x93NUM", "decode_error", 472, "truncated magic")

    def chunk(b, length=None):
        n = len(b) if length is None else length
        return b"~TenBin~" + struct.pack("<q", n) + b + b"\0" * ((64 - len(b) % 64) % 64)

    hdr = b"u1\0\0\0\0\0\0" + b"\0" * 8 + struct.pack("<q", 1) + struct.pack("<q", 4)
    put("tenbin-length-2pow62.ten", chunk(hdr) + b"~TenBin~" + struct.pack("<q", 1 << 62) + b"\0" * 8,
        "decode_error", 481, "tenbin: truncated chunk: length 4611686018427387904, 8 bytes left")
    put("tenbin-negative-length.ten", b"~TenBin~" + struct.pack("<q", -8) + b"\0" * 8, "decode_error", 481,
        "tenbin: negative chunk length")
    put("tenbin-bad-magic.ten", b"~TenBun~" + struct.pack("<q", 0), "decode_error", 480, "magic bytes mismatch")
    big = b"u1\0\0\0\0\0\0" + b"\0" * 8 + struct.pack("<q", 2) + struct.pack("<q", 1 << 40) + struct.pack("<q", 1 << 40)
    put("tenbin-dims-overflow.ten", chunk(big) + chunk(b"\0" * 8), "decode_error", 475, "shape product overflows")
    rank = b"u1\0\0\0\0\0\0" + b"\0" * 8 + struct.pack("<q", 1 << 60)
    put("tenbin-rank-lies.ten", chunk(rank) + chunk(b""), "decode_error", 482, "rank larger than the header")
    put("tenbin-header-only.ten", chunk(hdr), "decode_error", 484, "header chunk without a data chunk")

    put("json-nul-in-string.json", b'{"a": "x\x00y"}', "decode_error", 495, "json: Invalid control character at")
    put("json-nul-after-value.json", b'{"a": 1}\x00', "decode_error", 495, "json: Extra data")
    put("json-nul-only.json", b"\x00", "decode_error", 495, "json: Expecting value")
    put("json-escaped-nul-ok.json", b'{"a": "x\\u0000y"}', "ok", 0, "")
    put("json-deep-nesting.json", b"[" * 100000 + b"]" * 100000, "limit_error", 521, "nesting deeper than")
    put("json-truncated.json", b'{"a": [1, 2', "decode_error", 495, "json: Expecting ',' delimiter")
    put("json-bad-utf8.json", b'{"a": "\xff\xfe"}', "decode_error", 496, "json: invalid UTF-8")
    put("json-lone-surrogate-key.json", b'{"\\ud800": 1, "\\ud800": 2}', "ok", 0, "")
    put("json-huge-number.json", b"1" * 5000, "decode_error", 497, "integer has more than 4300 digits")
    put("cls-int64-overflow.cls", b"99999999999999999999", "limit_error", 523, "cls: integer outside int64")
    put("cls-nul.cls", b"1\x002", "decode_error", 490, "cls: invalid literal for int() with base 10")
    put("txt-invalid-utf8.txt", b"ok \xc3\x28 bad", "decode_error", 491, "text: invalid UTF-8")
    put("txt-overlong-nul.txt", b"\xc0\x80", "decode_error", 491, "text: invalid UTF-8")


def gen_specs():
    put("spec-unknown-op.spec", b"decode|explode(3)|png", "spec_error", 601, "unknown op \"explode\"")
    put("spec-empty.spec", b"", "spec_error", 600, "empty spec")
    put("spec-huge-size.spec", b"decode|resize(99999999999)|png", "spec_error", 604, "resize: size must be an integer in [1, 16777216]")
    put("spec-nul.spec", b"decode|resize(2\x0056)|png", "spec_error", 602, "expected ',' or ')'")
    put("spec-too-long.spec", b"hflip|" * 12000 + b"hflip", "spec_error", 602, "spec longer than 64 KiB")


def gen_etl():
    # Input-controlled amplification: a 1 x 2000 PNG (2,000 pixels, under the
    # limit) that resize(64) -- shorter side to 64 -- turns into 64 x 128,000 =
    # 8.2 megapixels, over max_image_pixels. The output size comes from the
    # input's aspect ratio, so it must be checked like a decoded size (with the
    # default limit a 1 x 60000 PNG of 200 bytes would ask for 3.9 gigapixels).
    b = io.BytesIO()
    Image.new("L", (1, 2000), 7).save(b, "PNG")
    put("resize-amplification.etl.tar", python_tar([("s.png", b.getvalue())]), "limit_error", 500,
        "exceeds limits::max_image_pixels (1000000)", "max_image_pixels=1000000,map=png:decode|resize(64)|png")
    # A shard whose image is fine but whose tar is truncated: the shard fails.
    im = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(im, "PNG")
    full = python_tar([("a.png", im.getvalue()), ("b.png", im.getvalue())])
    put("truncated-shard.etl.tar", full[: 512 * 3 + 10], "tar_error", 202, "truncated payload", "map=png:decode|png")


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f != "LICENSE.txt":
            os.remove(os.path.join(OUT, f))
    gen_tar()
    gen_gzip()
    gen_png()
    gen_jpeg()
    gen_tensors()
    gen_specs()
    gen_etl()
    with open(os.path.join(OUT, "MANIFEST.txt"), "w") as f:
        f.write("# file\tclass\tid\tfragment\toptions  (generated by tests/golden/gen_bad.py; id 0 = any id)\n")
        for row in MANIFEST:
            f.write("\t".join(row) + "\n")


if __name__ == "__main__":
    main()
