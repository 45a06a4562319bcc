#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Golden data for tests/test_{convert,jpeg,png}.cpp, made with the reference
stack (Debian bookworm: Pillow 9.4.0, numpy). Run with Debian's python:

    /usr/bin/python3 tests/golden/gen_codecs.py

It writes tests/data/codecs/: JPEG/PNG inputs, expected pixels as .npy, the
JPEG bytes Pillow writes for given pixels, and manifest.txt, which lists every
check (one per line, whitespace separated, '-' = none):

    decode  <file> <mode|-> <scale> <expected>   expected: x.npy, fnv:<hex>:<shape>, or error
    encode  <input.npy> <mode> <expected.jpg> <quality> <444|422|420> <progressive 0|1> <optimize 0|1>
    convert <input.npy> <from> <to> <expected.npy|error>

Mode '-' means our native mode: the file's Pillow mode, except "1" -> L and
"P" -> RGB (RGBA when the file has transparency), i.e. Pillow's im.convert().
Photos come from python3-skimage's data directory (see LICENSE.txt).
"""
import io
import os
import re
import struct
import sys
import zlib

import numpy as np
import PIL
from PIL import Image

assert PIL.__version__ == "9.4.0", PIL.__version__

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "data", "codecs"))
SK = "/usr/lib/python3/dist-packages/skimage/data"
os.makedirs(OUT, exist_ok=True)
manifest = []


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for x in b:
        h ^= x
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def fnv_fast(arr):
    # FNV-1a 64 over the C-order bytes, vectorized in 8-bit steps (same result).
    b = np.ascontiguousarray(arr).tobytes()
    return fnv1a64(b)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def save_npy(name, arr):
    arr = np.ascontiguousarray(arr)
    if arr.dtype == np.dtype(">u2"):
        arr = arr.astype("<u2")
    np.save(os.path.join(OUT, name), arr, allow_pickle=False)
    return name


def native(im):
    if im.mode == "1":
        return im.convert("L")
    if im.mode == "P":
        return im.convert()
    return im


def expect_decode(fname, mode, scale=1, big=None):
    """Decode with Pillow as the reference would and record the result."""
    data = open(os.path.join(OUT, fname), "rb").read()
    try:
        im = Image.open(io.BytesIO(data))
        if scale > 1:
            im.draft(im.mode, (im.width // scale, im.height // scale))
            got = im.decoderconfig[0] if im.decoderconfig else 1
            assert got == scale, (fname, scale, got)
        im.load()
        im = native(im) if mode == "-" else im.convert(mode)
        arr = np.asarray(im)
    except Exception as e:  # noqa: BLE001 - any Pillow failure is "error"
        msg = re.sub(r" object at 0x[0-9a-f]+", "", str(e))  # keep the output deterministic
        manifest.append(f"decode {fname} {mode} {scale} error  # {type(e).__name__}: {msg}")
        return
    if big is None:  # keep the data small: hashes for large arrays
        big = arr.nbytes > 16384
    if big:
        shape = "x".join(str(s) for s in arr.shape)
        manifest.append(f"decode {fname} {mode} {scale} fnv:{fnv_fast(arr):016x}:{shape}:{arr.dtype.str}")
        return
    m = mode.replace(";", "").lower() if mode != "-" else "native"
    npy = save_npy(f"{fname}.{m}{'.s%d' % scale if scale > 1 else ''}.npy", arr)
    manifest.append(f"decode {fname} {mode} {scale} {npy}")


def sk(name):
    return Image.open(os.path.join(SK, name))


# ----------------------------------------------------------------- sources
astro = sk("astronaut.png").convert("RGB")
chelsea = sk("chelsea.png").convert("RGB")
coffee = sk("coffee.png").convert("RGB")
camera = sk("camera.png").convert("L")

photo = astro.crop((180, 60, 180 + 161, 60 + 123))       # odd size 161x123
photo2 = chelsea.crop((100, 60, 220, 150))                 # 120x90
photo3 = coffee.crop((200, 100, 297, 165))                 # 97x65
gray = camera.crop((200, 80, 330, 177))                    # 130x97
small = astro.crop((200, 100, 264, 148))                   # 64x48

rng = np.random.default_rng(20261125)

# ----------------------------------------------------------------- JPEG decode
jpegs = [
    # name, image, save kwargs
    ("photo_q75_420.jpg", photo, {}),
    ("photo_q90_444.jpg", photo, dict(quality=90, subsampling="4:4:4")),
    ("photo_q85_422.jpg", photo, dict(quality=85, subsampling="4:2:2")),
    ("photo_prog.jpg", photo, dict(quality=80, progressive=True)),
    ("photo_prog_444.jpg", photo, dict(quality=80, subsampling="4:4:4", progressive=True)),
    ("photo_opt.jpg", photo, dict(optimize=True)),
    ("chelsea_q95.jpg", photo2, dict(quality=95)),
    ("coffee_q60_422.jpg", photo3, dict(quality=60, subsampling="4:2:2")),
    ("gray_q75.jpg", gray, {}),
    ("gray_prog.jpg", gray, dict(progressive=True)),
    ("cmyk.jpg", small.convert("CMYK"), {}),
    ("tiny_1x1.jpg", Image.new("RGB", (1, 1), (200, 30, 90)), {}),
    ("tiny_1x1_gray.jpg", Image.new("L", (1, 1), 77), {}),
    ("odd_17x9.jpg", photo.resize((17, 9)), {}),
    ("odd_9x17_422.jpg", photo.resize((9, 17)), dict(subsampling="4:2:2")),
    ("odd_33x1.jpg", photo.resize((33, 1)), {}),
]
for name, im, kw in jpegs:
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kw)
    write(name, buf.getvalue())
    expect_decode(name, "-", big=False if name == "photo_q75_420.jpg" else None)
for name in ("photo_q75_420.jpg", "photo_prog.jpg", "coffee_q60_422.jpg"):
    for mode in ("L", "LA", "RGBA", "CMYK", "I", "F"):
        expect_decode(name, mode)
for name in ("gray_q75.jpg", "cmyk.jpg"):
    for mode in ("RGB", "RGBA", "L"):
        expect_decode(name, mode)
# DCT-scaled decodes (Pillow's draft).
for name in ("photo_q75_420.jpg", "photo_q90_444.jpg", "photo_q85_422.jpg", "photo_prog.jpg",
             "gray_q75.jpg", "cmyk.jpg", "odd_17x9.jpg"):
    for scale in (2, 4, 8):
        expect_decode(name, "-", scale)
# A real camera JPEG (640x427, 4:2:0, with COM marker): hashes, not pixels.
write("rocket.jpg", open(os.path.join(SK, "rocket.jpg"), "rb").read())
expect_decode("rocket.jpg", "-", big=True)
expect_decode("rocket.jpg", "L", big=True)
expect_decode("rocket.jpg", "-", 2, big=True)
expect_decode("rocket.jpg", "-", 8)

# Truncated and corrupt JPEGs: whatever Pillow does (error or pixels).
base = open(os.path.join(OUT, "photo_q75_420.jpg"), "rb").read()
prog = open(os.path.join(OUT, "photo_prog.jpg"), "rb").read()
for tag, d in (("base", base), ("prog", prog)):
    for cut, data in (("noeoi", d[:-2]), ("cut10", d[:-10]), ("half", d[: len(d) // 2]),
                      ("hdr", d[:300]), ("soi", d[:2])):
        fname = f"trunc_{tag}_{cut}.jpg"
        write(fname, data)
        expect_decode(fname, "-")
    sos = d.find(b"\xff\xda")
    n_ok = n_err = 0
    for seed in range(200):
        r = np.random.default_rng(seed)
        bad = bytearray(d)
        for _ in range(3):
            i = int(r.integers(sos + 20, len(d) - 2))
            v = bad[i] ^ int(r.integers(1, 255))
            if v == 0xFF or bad[i] == 0xFF or bad[i - 1] == 0xFF:
                continue
            bad[i] = v
        try:
            Image.open(io.BytesIO(bytes(bad))).load()
            if n_ok == 3:
                continue
            n_ok += 1
        except OSError:
            if n_err == 1:
                continue
            n_err += 1
        fname = f"corrupt_{tag}_{seed}.jpg"
        write(fname, bytes(bad))
        expect_decode(fname, "-")
        if n_ok == 3 and n_err == 1:
            break

# ----------------------------------------------------------------- JPEG encode
save_npy("enc_photo.npy", np.asarray(photo))
save_npy("enc_gray.npy", np.asarray(gray))
save_npy("enc_cmyk.npy", np.asarray(small.convert("CMYK")))
save_npy("enc_tiny.npy", np.asarray(Image.new("RGB", (1, 1), (12, 250, 99))))
save_npy("enc_odd.npy", np.asarray(photo.resize((17, 9))))
save_npy("enc_tiny_gray.npy", np.asarray(Image.new("L", (1, 1), 3)))
# A trimap-like L image expanded to RGB (what the reference ETL encodes).
tri = np.ones((90, 120), np.uint8)
yy, xx = np.mgrid[:90, :120]
tri[((yy - 45) / 40.0) ** 2 + ((xx - 60) / 50.0) ** 2 < 1] = 3
tri[((yy - 45) / 30.0) ** 2 + ((xx - 60) / 40.0) ** 2 < 1] = 2
save_npy("enc_trimap_rgb.npy", np.asarray(Image.fromarray(tri, "L").convert("RGB")))

SUB = {"444": "4:4:4", "422": "4:2:2", "420": "4:2:0"}
enc_cases = [
    ("enc_photo.npy", "RGB", 75, "420", 0, 0, True),  # True: Pillow defaults (no kwargs)
    ("enc_photo.npy", "RGB", 90, "444", 0, 0, False),
    ("enc_photo.npy", "RGB", 50, "422", 0, 0, False),
    ("enc_photo.npy", "RGB", 95, "420", 0, 0, False),
    ("enc_photo.npy", "RGB", 100, "444", 0, 0, False),
    ("enc_photo.npy", "RGB", 5, "420", 0, 0, False),
    ("enc_photo.npy", "RGB", 75, "420", 1, 0, False),
    ("enc_photo.npy", "RGB", 75, "420", 0, 1, False),
    ("enc_photo.npy", "RGB", 85, "444", 1, 1, False),
    ("enc_photo.npy", "RGB", 70, "422", 1, 0, False),
    ("enc_gray.npy", "L", 75, "420", 0, 0, True),
    ("enc_gray.npy", "L", 90, "420", 1, 0, True),
    ("enc_gray.npy", "L", 60, "420", 0, 1, True),
    ("enc_cmyk.npy", "CMYK", 75, "420", 0, 0, True),
    ("enc_tiny.npy", "RGB", 75, "420", 0, 0, True),
    ("enc_tiny_gray.npy", "L", 75, "420", 0, 0, True),
    ("enc_odd.npy", "RGB", 75, "420", 0, 0, True),
    ("enc_odd.npy", "RGB", 75, "444", 0, 0, False),
    ("enc_trimap_rgb.npy", "RGB", 75, "420", 0, 0, True),
]
for i, (inp, mode, q, sub, p, o, defaults) in enumerate(enc_cases):
    arr = np.load(os.path.join(OUT, inp))
    im = Image.fromarray(arr, mode)
    buf = io.BytesIO()
    if defaults and q == 75 and not p and not o:
        im.save(buf, "JPEG")
    else:
        kw = dict(quality=q, progressive=bool(p), optimize=bool(o))
        if mode == "RGB":  # gray/CMYK: Pillow's default sampling (what wds writes)
            kw["subsampling"] = SUB[sub]
        im.save(buf, "JPEG", **kw)
    out = f"enc_{i:02d}.jpg"
    write(out, buf.getvalue())
    manifest.append(f"encode {inp} {mode} {out} {q} {sub} {p} {o}")

# ----------------------------------------------------------------- PNG
def chunk(t, data):
    return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def pack_rows(samples, depth):
    """samples: (h, w*channels) unsigned ints -> PNG rows (filter byte 0)."""
    out = bytearray()
    for row in samples:
        out.append(0)
        if depth == 16:
            out += b"".join(struct.pack(">H", int(v)) for v in row)
        elif depth == 8:
            out += bytes(int(v) for v in row)
        else:
            per = 8 // depth
            for i in range(0, len(row), per):
                byte = 0
                for j in range(per):
                    v = int(row[i + j]) if i + j < len(row) else 0
                    byte |= v << (8 - depth * (j + 1))
                out.append(byte)
    return bytes(out)


def make_png(samples, depth, color_type, interlace=False, plte=None, trns=None):
    """samples: (h, w, channels) array of unsigned ints."""
    h, w, c = samples.shape
    raw = b""
    if not interlace:
        raw = pack_rows(samples.reshape(h, w * c), depth)
    else:
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += pack_rows(sub.reshape(sub.shape[0], sub.shape[1] * c), depth)
    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0))
    if plte is not None:
        png += chunk(b"PLTE", bytes(plte))
    if trns is not None:
        png += chunk(b"tRNS", trns)
    png += chunk(b"IDAT", zlib.compress(raw, 9))
    png += chunk(b"IEND", b"")
    return png


def pillow_png(name, im, **kw):
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    write(name, buf.getvalue())
    return name


W, H = 37, 23
pix_rgb = np.asarray(chelsea.crop((150, 80, 150 + W, 80 + H)))
pix_l = np.asarray(camera.crop((250, 120, 250 + W, 120 + H)))
alpha = (np.add.outer(np.arange(H) * 7, np.arange(W) * 5) % 256).astype(np.uint8)

pngs = []
pngs.append(pillow_png("rgb8.png", Image.fromarray(pix_rgb)))
pngs.append(pillow_png("rgba8.png", Image.fromarray(np.dstack([pix_rgb, alpha]), "RGBA")))
pngs.append(pillow_png("la8.png", Image.fromarray(np.dstack([pix_l, alpha]), "LA")))
pngs.append(pillow_png("l8.png", Image.fromarray(pix_l)))
pngs.append(pillow_png("l1.png", Image.fromarray(pix_l).convert("1")))
v16 = (np.add.outer(np.arange(H) * 911, np.arange(W) * 37) % 65536).astype(np.uint16)
v16[0, :12] = [0, 1, 44, 254, 255, 256, 257, 300, 511, 4096, 65535, 65280]
pngs.append(pillow_png("i16.png", Image.fromarray(v16, "I;16")))
quant = Image.fromarray(pix_rgb).quantize(colors=200)
pngs.append(pillow_png("p8.png", quant))
q16 = Image.fromarray(pix_rgb).quantize(colors=16)
pngs.append(pillow_png("p4.png", q16, bits=4))
q4 = Image.fromarray(pix_rgb).quantize(colors=4)
pngs.append(pillow_png("p2.png", q4, bits=2))
q2 = Image.fromarray(pix_rgb).quantize(colors=2)
pngs.append(pillow_png("p1.png", q2, bits=1))
pngs.append(pillow_png("p8_trns.png", quant, transparency=bytes((i * 37) % 256 for i in range(150))))
pngs.append(pillow_png("p8_trns1.png", quant, transparency=5))
common_l = int(np.bincount(pix_l.ravel()).argmax())
pngs.append(pillow_png("l8_trns.png", Image.fromarray(pix_l), transparency=common_l))
common_rgb = tuple(int(v) for v in pix_rgb[3, 4])
pngs.append(pillow_png("rgb8_trns.png", Image.fromarray(pix_rgb), transparency=common_rgb))

# Files Pillow cannot write: our own minimal writer (any depth, Adam7).
l2 = (pix_l >> 6)[..., None]
l4 = (pix_l >> 4)[..., None]
write("l2.png", make_png(l2, 2, 0)); pngs.append("l2.png")
write("l4.png", make_png(l4, 4, 0)); pngs.append("l4.png")
write("l2_interlaced.png", make_png(l2, 2, 0, interlace=True)); pngs.append("l2_interlaced.png")
write("l1_trns.png", make_png((pix_l >> 7)[..., None], 1, 0, trns=struct.pack(">H", 0))); pngs.append("l1_trns.png")
rgb16 = (pix_rgb.astype(np.uint16) * 257 + rng.integers(0, 200, pix_rgb.shape)).astype(np.uint16)
write("rgb16.png", make_png(rgb16, 16, 2)); pngs.append("rgb16.png")
write("rgb16_trns.png", make_png(rgb16, 16, 2, trns=struct.pack(">HHH", *[int(v) for v in rgb16[2, 2]]))); pngs.append("rgb16_trns.png")
rgba16 = np.dstack([rgb16, alpha.astype(np.uint16) * 256 + 99])
write("rgba16.png", make_png(rgba16, 16, 6)); pngs.append("rgba16.png")
la16 = np.dstack([pix_l.astype(np.uint16) * 256 + 7, alpha.astype(np.uint16) * 257])
write("la16.png", make_png(la16, 16, 4)); pngs.append("la16.png")
write("i16_interlaced.png", make_png(v16[..., None], 16, 0, interlace=True)); pngs.append("i16_interlaced.png")
write("i16_trns.png", make_png(v16[..., None], 16, 0, trns=struct.pack(">H", 300))); pngs.append("i16_trns.png")
write("i16_trns44.png", make_png(v16[..., None], 16, 0, trns=struct.pack(">H", 44))); pngs.append("i16_trns44.png")
write("rgb8_interlaced.png", make_png(pix_rgb, 8, 2, interlace=True)); pngs.append("rgb8_interlaced.png")
write("rgba8_interlaced.png", make_png(np.dstack([pix_rgb, alpha]), 8, 6, interlace=True)); pngs.append("rgba8_interlaced.png")
pal = bytes(rng.integers(0, 256, 3 * 16, dtype=np.uint8))
idx4 = (np.add.outer(np.arange(H), np.arange(W)) % 16).astype(np.uint8)[..., None]
write("p4_interlaced_trns.png", make_png(idx4, 4, 3, interlace=True, plte=pal, trns=bytes(range(0, 256, 32))))
pngs.append("p4_interlaced_trns.png")
write("tiny_1x1.png", make_png(np.array([[[9, 200, 77]]], np.uint8), 8, 2)); pngs.append("tiny_1x1.png")
write("tiny_1x1_l1.png", make_png(np.array([[[1]]], np.uint8), 1, 0)); pngs.append("tiny_1x1_l1.png")

for name in pngs:
    for mode in ("-", "L", "LA", "RGB", "RGBA"):
        expect_decode(name, mode)
for name in ("i16.png", "i16_interlaced.png", "l8.png", "rgb8.png", "p8.png"):
    for mode in ("I", "F"):
        expect_decode(name, mode)
expect_decode("l8.png", "I;16")
expect_decode("i16.png", "CMYK")
expect_decode("p8_trns.png", "CMYK")
# Bad PNG / JPEG inputs (wds policy: decode_error or limit_error, see the tests).
good = open(os.path.join(OUT, "rgb8.png"), "rb").read()
bad = bytearray(good)
idat = good.find(b"IDAT")
bad[idat + 10] ^= 0x01  # IDAT payload changed, CRC not updated
write("bad_crc.png", bytes(bad))
write("trunc.png", good[: len(good) // 2])
write("huge.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
      + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
write("zero_width.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 10, 8, 0, 0, 0, 0))
      + chunk(b"IEND", b""))
write("depth3.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 3, 0, 0, 0, 0))
      + chunk(b"IDAT", zlib.compress(b"\x00" * 20)) + chunk(b"IEND", b""))
write("garbage.bin", bytes(rng.integers(0, 256, 300, dtype=np.uint8)))
# JPEG whose SOF says 65000x65000 (4.2 GP): a limit_error before any allocation.
sof = base.find(b"\xff\xc0")
hj = bytearray(base)
hj[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)
write("huge.jpg", bytes(hj))
zj = bytearray(base)
zj[sof + 5:sof + 7] = struct.pack(">H", 0)
write("zero_height.jpg", bytes(zj))

# ----------------------------------------------------------------- convert
MODES = ["L", "LA", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]
conv_inputs = {}
conv_inputs["L"] = np.arange(256, dtype=np.uint8).reshape(16, 16)
conv_inputs["LA"] = rng.integers(0, 256, (16, 16, 2), dtype=np.uint8)
rgb = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
rgb[0, :8] = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [1, 2, 3], [128, 128, 128], [254, 1, 127]]
conv_inputs["RGB"] = rgb
conv_inputs["RGBA"] = rng.integers(0, 256, (24, 24, 4), dtype=np.uint8)
cmyk = rng.integers(0, 256, (24, 24, 4), dtype=np.uint8)
cmyk[0, :4] = [[0, 0, 0, 0], [255, 255, 255, 255], [0, 0, 0, 255], [255, 0, 128, 0]]
conv_inputs["CMYK"] = cmyk
i16 = rng.integers(0, 65536, (16, 16)).astype(np.uint16)
i16[0] = [0, 1, 127, 128, 254, 255, 256, 257, 300, 511, 512, 1000, 4095, 32768, 65534, 65535]
conv_inputs["I;16"] = i16
i32 = rng.integers(-2**31, 2**31, (16, 16), dtype=np.int64).astype(np.int32)
i32[0] = [-2**31, -70000, -256, -1, 0, 1, 127, 254, 255, 256, 65535, 65536, 70000, 2**31 - 1, 300, 128]
i32[1] = rng.integers(-10, 300, 16)
conv_inputs["I"] = i32
f = (rng.standard_normal((16, 16)) * 200 + 100).astype(np.float32)
f[0] = [-1e9, -1.5, -0.0, 0.0, 0.3, 0.999, 1.0, 127.5, 254.99, 255.0, 255.5, 1e6, 2e9, -2e9, 65535.7, 65536.2]
conv_inputs["F"] = f
for src in MODES:
    arr = conv_inputs[src]
    key = src.replace(";", "").lower()
    inp = save_npy(f"conv_in_{key}.npy", arr)
    im = Image.fromarray(arr, src)
    assert im.mode == src
    for dst in MODES:
        try:
            out = np.asarray(im.convert(dst))
        except ValueError:
            manifest.append(f"convert {inp} {src} {dst} error")
            continue
        name = save_npy(f"conv_{key}_to_{dst.replace(';', '').lower()}.npy", out)
        manifest.append(f"convert {inp} {src} {dst} {name}")

with open(os.path.join(OUT, "manifest.txt"), "w") as fh:
    fh.write("# generated by tests/golden/gen_codecs.py with Pillow %s, numpy %s\n" % (PIL.__version__, np.__version__))
    fh.write("\n".join(manifest) + "\n")
print(len(manifest), "checks;", sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT)), "bytes in", OUT)
