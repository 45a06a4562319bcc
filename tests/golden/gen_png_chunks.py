#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Crafted PNGs for Pillow 9.4's chunk rules (tests/test_png_chunks.cpp).

    /usr/bin/python3 tests/golden/gen_png_chunks.py

Writes tests/data/pngchunks/<case>.png and manifest.txt, one line per case:

    <case> ok <fnv1a64 of convert("RGB") pixels, hex> <HxW> <comment as hex|->
    <case> refuse <Pillow's exception type>

"ok" means Image.open(f).convert("RGB") succeeds; the comment is
info["comment"] after that load, UTF-8 encoded (what Pillow's JPEG save
writes), '-' when absent.
"""
import io
import os
import struct
import zlib

import PIL
from PIL import Image

assert PIL.__version__ == "9.4.0", PIL.__version__

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "data", "pngchunks"))
os.makedirs(OUT, exist_ok=True)
SIG = b"\x89PNG\r\n\x1a\n"


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for x in b:
        h ^= x
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def chunk(cid, data, crc=None):
    c = zlib.crc32(cid + data) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(data)) + cid + data + struct.pack(">I", c)


def ihdr(w, h, depth=8, ctype=2, comp=0, filt=0, inter=0):
    return chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, comp, filt, inter))


def rows_rgb(w, h, seed=1):
    out = bytearray()
    for y in range(h):
        out.append(0)
        for x in range(w):
            out += bytes(((x * 37 + y * 11 + seed) & 255, (x * 5 + y * 71) & 255, (x * y + seed * 3) & 255))
    return bytes(out)


W, H = 7, 5
RAW = rows_rgb(W, H)
Z = zlib.compress(RAW)
IEND = chunk(b"IEND", b"")


def png(pre=(), idat=None, post=(), head=None, end=IEND):
    head = ihdr(W, H) if head is None else head
    idat = [chunk(b"IDAT", Z)] if idat is None else idat
    return SIG + head + b"".join(pre) + b"".join(idat) + b"".join(post) + end


def bad_adler(z):
    return z[:-4] + bytes(b ^ 0xFF for b in z[-4:])


def ztxt(key, text, method=0):
    return chunk(b"zTXt", key + b"\0" + bytes([method]) + zlib.compress(text))


cases = {}
cases["good"] = png()
# Before IDAT: every chunk's CRC and name are checked.
cases["iccp_bad_crc"] = png(pre=[chunk(b"iCCP", b"prof\0\0" + zlib.compress(b"x" * 40), crc=1)])
cases["unknown_bad_crc"] = png(pre=[chunk(b"prIv", b"hello", crc=0xDEADBEEF)])
cases["unknown_good"] = png(pre=[chunk(b"prIv", b"hello")])
cases["bad_name_pre"] = png(pre=[chunk(b"ab#d", b"hello")])
cases["bad_name_space"] = png(pre=[chunk(b"ab d", b"")])
cases["lower_idat_name"] = png(pre=[chunk(b"idat", b"zz")])
cases["underscore_name"] = png(pre=[chunk(b"a_b_", b"zz")])
cases["ihdr_bad_crc"] = png(head=chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0), crc=5))
cases["text_before_ihdr"] = SIG + chunk(b"tEXt", b"comment\0first") + ihdr(W, H) + chunk(b"IDAT", Z) + IEND
cases["ancillary_len_past_eof"] = SIG + ihdr(W, H) + struct.pack(">I", 1 << 20) + b"teXt" + b"abc"
# IDAT and IEND CRCs are never checked.
parts = [Z[:10], Z[10:20], Z[20:]]
cases["idat_first_bad_crc"] = png(idat=[chunk(b"IDAT", parts[0], crc=0), chunk(b"IDAT", parts[1]), chunk(b"IDAT", parts[2])])
cases["idat_last_bad_crc"] = png(idat=[chunk(b"IDAT", parts[0]), chunk(b"IDAT", parts[1]), chunk(b"IDAT", parts[2], crc=7)])
cases["idat_zero_len"] = png(idat=[chunk(b"IDAT", parts[0]), chunk(b"IDAT", b""), chunk(b"IDAT", parts[1] + parts[2])])
cases["iend_bad_crc"] = png(end=chunk(b"IEND", b"", crc=1))
cases["no_iend"] = png(end=b"")
cases["trailing_garbage"] = png() + b"garbage after the end" * 3
cases["bad_name_post"] = png(post=[chunk(b"a!cd", b"junk")])
cases["unknown_bad_crc_post"] = png(post=[chunk(b"prIv", b"hello", crc=3)])
cases["post_len_past_eof"] = png(end=b"") + struct.pack(">I", 1000) + b"teXt" + b"short"
cases["post_gama_short"] = png(post=[chunk(b"gAMA", b"\0\1")])
cases["post_ztxt_method1"] = png(post=[ztxt(b"comment", b"x", method=1)])
# Adler-32: checked when the trailer is read with the last row.
cases["adler_bad_same_idat"] = png(idat=[chunk(b"IDAT", bad_adler(Z))])
zb = bad_adler(Z)
cases["adler_bad_later_idat"] = png(idat=[chunk(b"IDAT", zb[:-4]), chunk(b"IDAT", zb[-4:])])
cases["adler_missing_no_more_data"] = png(idat=[chunk(b"IDAT", Z[:-4])])
cases["stream_garbage_after_end"] = png(idat=[chunk(b"IDAT", Z + b"\xde\xad\xbe\xef" * 4)])
cases["extra_idat_garbage"] = png(idat=[chunk(b"IDAT", Z), chunk(b"IDAT", b"\xff" * 9)])
cases["stream_short"] = png(idat=[chunk(b"IDAT", zlib.compress(RAW[:-5]))])
cases["truncated_mid_idat"] = png(end=b"")[:-len(Z) // 2]
cases["truncated_after_idat_data"] = png(end=b"")[:-4]
cases["text_between_idats_complete"] = png(idat=[chunk(b"IDAT", Z), chunk(b"tEXt", b"comment\0mid"), chunk(b"IDAT", b"")])
cases["text_between_idats_short"] = png(idat=[chunk(b"IDAT", Z[:20]), chunk(b"tEXt", b"a\0b"), chunk(b"IDAT", Z[20:])])
cases["bad_filter_byte"] = png(idat=[chunk(b"IDAT", zlib.compress(bytes([7]) + RAW[1:]))])
# 64 KiB read pieces: stored blocks, then empty stored blocks push the trailer
# into the next piece of the same chunk (accepted) or keep it in the same piece.
BW, BH = 120, 180
BRAW = rows_rgb(BW, BH, seed=9)
def stored(raw, empties):
    out = bytearray(b"\x78\x01")
    for i in range(0, len(raw), 65535):
        blk = raw[i:i + 65535]
        out += b"\x00" + struct.pack("<HH", len(blk), len(blk) ^ 0xFFFF) + blk
    out += b"\x00\x00\x00\xff\xff" * empties
    out += b"\x01\x00\x00\xff\xff" + struct.pack(">I", zlib.adler32(raw))
    return bytes(out)
base_len = len(stored(BRAW, 0))
need = (2 * 65536 - base_len) // 5 + 2  # pushes the trailer past 128 KiB
big_next = bad_adler(stored(BRAW, need))
big_same = bad_adler(stored(BRAW, 0))
cases["adler_bad_next_piece"] = SIG + ihdr(BW, BH) + chunk(b"IDAT", big_next) + IEND
cases["adler_bad_same_piece"] = SIG + ihdr(BW, BH) + chunk(b"IDAT", big_same) + IEND
# Handler checks.
cases["ihdr_short"] = SIG + chunk(b"IHDR", struct.pack(">IIBB", W, H, 8, 2)) + chunk(b"IDAT", Z) + IEND
cases["ihdr_filter1"] = png(head=ihdr(W, H, filt=1))
cases["ihdr_comp1"] = png(head=ihdr(W, H, comp=1))
cases["gama_short"] = png(pre=[chunk(b"gAMA", b"\0\0\1")])
cases["gama_ok"] = png(pre=[chunk(b"gAMA", struct.pack(">I", 45455))])
cases["srgb_empty"] = png(pre=[chunk(b"sRGB", b"")])
cases["srgb_ok"] = png(pre=[chunk(b"sRGB", b"\0")])
cases["phys_short"] = png(pre=[chunk(b"pHYs", b"\0" * 8)])
cases["chrm_odd"] = png(pre=[chunk(b"cHRM", b"\0" * 30)])
cases["trns_rgb_short"] = png(pre=[chunk(b"tRNS", b"\0\1\0\2")])
cases["iccp_no_nul_nonzero"] = png(pre=[chunk(b"iCCP", b"abc")])
cases["iccp_bad_zlib"] = png(pre=[chunk(b"iCCP", b"p\0\0garbage")])
cases["ztxt_method1"] = png(pre=[ztxt(b"comment", b"x", method=1)])
cases["ztxt_bad_zlib"] = png(pre=[chunk(b"zTXt", b"comment\0\0notzlib")])
cases["ztxt_too_large"] = png(pre=[ztxt(b"note", b"a" * ((1 << 20) + 10))])
# Comments (info["comment"]), including after the image data.
cases["text_comment"] = png(pre=[chunk(b"tEXt", b"comment\0Created with GIMP")])
cases["text_comment_latin1"] = png(pre=[chunk(b"tEXt", b"comment\0caf\xe9 \xff")])
cases["text_comment_post"] = png(post=[chunk(b"tEXt", b"comment\0after the pixels")])
cases["text_comment_both"] = png(pre=[chunk(b"tEXt", b"comment\0one")], post=[chunk(b"tEXt", b"comment\0two")])
cases["text_comment_key_case"] = png(pre=[chunk(b"tEXt", b"Comment\0not this one")])
cases["ztxt_comment"] = png(pre=[ztxt(b"comment", b"squeezed \xe9")])
cases["itxt_comment"] = png(pre=[chunk(b"iTXt", b"comment\0\0\0en\0\0" + "h\u00e9llo \u4e16".encode())])
cases["itxt_comment_z"] = png(pre=[chunk(b"iTXt", b"comment\0\1\0\0\0" + zlib.compress("z\u00e9".encode()))])
cases["itxt_bad_utf8"] = png(pre=[chunk(b"iTXt", b"comment\0\0\0\0\0\xff\xfe")])
cases["text_no_nul"] = png(pre=[chunk(b"tEXt", b"comment")])
cases["text_comment_bad_crc_post"] = png(post=[chunk(b"tEXt", b"comment\0crc ignored", crc=9)])
# Palettes.
PW, PH = 6, 4
prow = b"".join(b"\0" + bytes((x + y) % 4 for x in range(PW)) for y in range(PH))
pz = zlib.compress(prow)
pal = bytes((10, 20, 30, 200, 100, 50, 0, 255, 0, 1, 2, 3))
cases["pal_ok"] = SIG + ihdr(PW, PH, 8, 3) + chunk(b"PLTE", pal) + chunk(b"IDAT", pz) + IEND
cases["pal_short_plte"] = SIG + ihdr(PW, PH, 8, 3) + chunk(b"PLTE", pal[:6]) + chunk(b"IDAT", pz) + IEND
cases["pal_no_plte"] = SIG + ihdr(PW, PH, 8, 3) + chunk(b"IDAT", pz) + IEND
cases["pal_plte_771"] = SIG + ihdr(PW, PH, 8, 3) + chunk(b"PLTE", bytes(771)) + chunk(b"IDAT", pz) + IEND
cases["pal_plte_770"] = SIG + ihdr(PW, PH, 8, 3) + chunk(b"PLTE", bytes(range(256)) * 3 + b"\1\2") + chunk(b"IDAT", pz) + IEND
cases["pal_plte_before_ihdr"] = SIG + chunk(b"PLTE", pal) + ihdr(PW, PH, 8, 3) + chunk(b"IDAT", pz) + IEND
cases["pal_plte_not_mult3"] = SIG + ihdr(PW, PH, 8, 3) + chunk(b"PLTE", pal + b"\7") + chunk(b"IDAT", pz) + IEND
cases["gray_trns_short"] = SIG + ihdr(PW, PH, 8, 0) + chunk(b"tRNS", b"\1") + chunk(b"IDAT", pz) + IEND
cases["interlace_method2"] = png(head=ihdr(W, H, inter=2),
                                 idat=[chunk(b"IDAT", zlib.compress(Image.open(io.BytesIO(png())).convert("RGB").tobytes()[:0] or b""))])

# Interlace method 2 needs Adam7 data: take it from Pillow's own interlaced writer? Pillow
# cannot write interlaced PNGs, so build the passes here.
def adam7(raw_rows, w, h, bpp):
    starts = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    out = bytearray()
    for x0, y0, dx, dy in starts:
        xs = list(range(x0, w, dx))
        if not xs:
            continue
        for y in range(y0, h, dy):
            row = raw_rows[y]
            out.append(0)
            for x in xs:
                out += row[x * bpp:(x + 1) * bpp]
    return bytes(out)
rr = [RAW[y * (1 + 3 * W) + 1:(y + 1) * (1 + 3 * W)] for y in range(H)]
cases["interlace_method2"] = png(head=ihdr(W, H, inter=2), idat=[chunk(b"IDAT", zlib.compress(adam7(rr, W, H, 3)))])
cases["interlace_method1"] = png(head=ihdr(W, H, inter=1), idat=[chunk(b"IDAT", zlib.compress(adam7(rr, W, H, 3)))])

manifest = []
for name, data in cases.items():
    with open(os.path.join(OUT, name + ".png"), "wb") as f:
        f.write(data)
    try:
        im = Image.open(io.BytesIO(data))
        rgb = im.convert("RGB")
        c = im.info.get("comment")
        if c is None:
            ch = "-"
        else:
            cb = c.encode() if isinstance(c, str) else bytes(c)
            ch = cb.hex() if cb else "-"
        manifest.append(f"{name} ok {fnv1a64(rgb.tobytes()):016x} {rgb.height}x{rgb.width} {ch}")
    except Exception as e:  # noqa: BLE001 - any refusal counts
        manifest.append(f"{name} refuse {type(e).__name__}")
with open(os.path.join(OUT, "manifest.txt"), "w") as f:
    f.write("\n".join(manifest) + "\n")
print("\n".join(manifest))
