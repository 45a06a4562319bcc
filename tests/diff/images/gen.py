#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Differential image corpus: random inputs x random compose specs, with the
reference stack (Debian bookworm: Pillow 9.4.0, torchvision 0.14, numpy;
cjpeg/wrjpgcom of libjpeg-turbo-progs for what Pillow cannot write) as oracle.

    /usr/bin/python3 tests/diff/images/gen.py N SEED OUTDIR [small]
    /usr/bin/python3 tests/diff/images/gen.py curated OUTDIR   (appends)

The committed CTest slice (tests/data/diff/images) is made by
tests/diff/images/make_slice.sh.

Writes OUTDIR/<i>.<ext> (inputs) and OUTDIR/cases.txt, one case a line,
tab-separated:

    <id> <input file> <spec> <expected>

expected: "refuse" (Pillow/torchvision raise), "skip" (not compared), "jpeg:<fnv1a64 of the bytes>",
or "png:<fnv1a64 of the pixels>:<HxWxC>" (PNG outputs: the pixels of the
written file in wds's native mode, since zlib streams differ). Checked by
wds_diff_check (tests/diff/diff_check.cpp).
"""
import io
import os
import random
import struct
import subprocess
import sys
import tempfile
import warnings
import zlib

import numpy as np
import PIL
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image, PngImagePlugin

assert PIL.__version__ == "9.4.0", PIL.__version__
assert torchvision.__version__.startswith("0.14"), torchvision.__version__
torch.set_num_threads(1)
warnings.filterwarnings("ignore")

FILTERS = {"nearest": T.InterpolationMode.NEAREST, "bilinear": T.InterpolationMode.BILINEAR,
           "bicubic": T.InterpolationMode.BICUBIC, "lanczos": T.InterpolationMode.LANCZOS,
           "box": T.InterpolationMode.BOX, "hamming": T.InterpolationMode.HAMMING}
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def fnv1a64(b):
    # FNV-1a 64 over bytes, vectorised 8 bytes at a time is not equivalent; keep it exact.
    a = np.frombuffer(b, dtype=np.uint8)
    h = 0xCBF29CE484222325
    p = 0x100000001B3
    for x in a.tolist():
        h = ((h ^ x) * p) & 0xFFFFFFFFFFFFFFFF
    return h


# ---------------------------------------------------------------- inputs

def pixels(rng, w, h, c):
    """Smooth gradients plus noise (compressible, with real edges)."""
    y, x = np.mgrid[0:h, 0:w]
    out = np.zeros((h, w, c), np.float64)
    for k in range(c):
        a, b, d = rng.uniform(-6, 6), rng.uniform(-6, 6), rng.uniform(0, 255)
        out[..., k] = d + a * x + b * y + rng.normal(0, rng.choice([0, 4, 30]), (h, w))
    return np.clip(out, 0, 255).astype(np.uint8)


SMALL = False  # the committed slice: small files only


def rand_size(rng):
    r = rng.random()
    if SMALL:
        return int(rng.integers(1, 40)), int(rng.integers(1, 40))
    if r < 0.15:
        return int(rng.integers(1, 4)), int(rng.integers(1, 4))
    if r < 0.9:
        return int(rng.integers(1, 90)), int(rng.integers(1, 90))
    return int(rng.integers(90, 400)), int(rng.integers(90, 300))


def pil_jpeg(rng):
    w, h = rand_size(rng)
    mode = rng.choice(["RGB", "RGB", "RGB", "L", "CMYK"])
    arr = pixels(rng, w, h, {"RGB": 3, "L": 1, "CMYK": 4}[mode])
    im = Image.fromarray(arr[..., 0] if mode == "L" else arr, mode if mode != "CMYK" else None)
    if mode == "CMYK":
        im = Image.frombytes("CMYK", (w, h), arr.tobytes())
    kw = dict(quality=int(rng.integers(5, 101)), subsampling=int(rng.integers(0, 3)),
              progressive=bool(rng.random() < 0.3), optimize=bool(rng.random() < 0.2))
    r = rng.random()
    if r < 0.35:
        kw["comment"] = rand_comment(rng)
    if rng.random() < 0.15:
        kw["exif"] = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00"
    if rng.random() < 0.1:
        kw["icc_profile"] = bytes(rng.integers(0, 256, int(rng.integers(10, 300)), dtype=np.uint8))
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kw)
    return buf.getvalue()


def rand_comment(rng):
    r = rng.random()
    if r < 0.4:
        return rng.choice([b"Created with GIMP", b"Compressed by jpeg-recompress", b"x", b"LEAD Technologies"])
    if r < 0.7:
        return bytes(rng.integers(0, 256, int(rng.integers(1, 200)), dtype=np.uint8))
    return "caf\u00e9 \u4e16".encode()


def cjpeg(rng):
    """What Pillow cannot write: 4:4:0, 4:1:1, restart intervals, arithmetic coding."""
    w, h = rand_size(rng)
    gray = rng.random() < 0.2
    arr = pixels(rng, w, h, 1 if gray else 3)
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.pnm")
        with open(src, "wb") as f:
            f.write((b"P5" if gray else b"P6") + f"\n{w} {h}\n255\n".encode() + arr.tobytes())
        args = ["cjpeg", "-quality", str(int(rng.integers(10, 100)))]
        if not gray:
            args += ["-sample", str(rng.choice(["1x2", "4x1", "2x1", "1x1", "2x2", "1x4"]))]
        if rng.random() < 0.4:
            args += ["-restart", str(int(rng.integers(1, 4))) + ("B" if rng.random() < 0.5 else "")]
        if rng.random() < 0.25:
            args += ["-arithmetic"]
        if rng.random() < 0.3:
            args += ["-progressive"]
        out = subprocess.run(args + [src], check=True, capture_output=True).stdout
        if rng.random() < 0.4:
            p = subprocess.run(["wrjpgcom", "-comment", "made by cjpeg " + str(int(rng.integers(0, 1000)))],
                               input=out, check=True, capture_output=True)
            out = p.stdout
        return out


def chunk(cid, data):
    return struct.pack(">I", len(data)) + cid + data + struct.pack(">I", zlib.crc32(cid + data) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def raw_png(rng):
    """Any bit depth / colour type, interlaced or not, with optional chunks."""
    ctype = int(rng.choice([0, 2, 3, 4, 6]))
    depths = {0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]}[ctype]
    depth = int(rng.choice(depths))
    w, h = rand_size(rng)
    ch = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    maxv = (1 << depth) - 1
    npal = int(rng.integers(1, (1 << depth) + 1)) if ctype == 3 else 0
    top = npal - 1 if ctype == 3 else maxv
    samples = (pixels(rng, w, h, ch).astype(np.uint32) * max(top, 1) // 255)
    if depth == 16:
        samples = samples * 257 if rng.random() < 0.5 else rng.integers(0, 65536, (h, w, ch))
    inter = rng.random() < 0.3

    def pack_row(row):  # row: (n, ch)
        flat = row.reshape(-1)
        if depth == 16:
            return flat.astype(">u2").tobytes()
        if depth == 8:
            return flat.astype(np.uint8).tobytes()
        bits = np.zeros(len(flat) * depth, np.uint8)
        for k in range(depth):
            bits[k::depth] = (flat >> (depth - 1 - k)) & 1
        return np.packbits(bits).tobytes()

    raw = bytearray()
    passes = ADAM7 if inter else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        xs = list(range(x0, w, dx))
        if not xs:
            continue
        for y in range(y0, h, dy):
            raw.append(0)
            raw += pack_row(samples[y, xs])
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, int(inter)))
    if rng.random() < 0.2:
        out += chunk(b"gAMA", struct.pack(">I", 45455))
    if rng.random() < 0.15:
        out += chunk(b"sRGB", b"\0")
    if rng.random() < 0.1:
        out += chunk(b"iCCP", b"prof\0\0" + zlib.compress(bytes(rng.integers(0, 256, 64, dtype=np.uint8))))
    if ctype == 3:
        out += chunk(b"PLTE", bytes(rng.integers(0, 256, 3 * npal, dtype=np.uint8)))
    if rng.random() < 0.3 and ctype in (0, 2, 3):
        if ctype == 3:
            out += chunk(b"tRNS", bytes(rng.integers(0, 256, int(rng.integers(1, npal + 1)), dtype=np.uint8)))
        elif ctype == 0:
            out += chunk(b"tRNS", struct.pack(">H", int(rng.integers(0, maxv + 1))))
        else:
            out += chunk(b"tRNS", struct.pack(">HHH", *[int(v) for v in rng.integers(0, maxv + 1, 3)]))
    out += text_chunks(rng)
    z = zlib.compress(bytes(raw), int(rng.integers(0, 10)))
    if rng.random() < 0.3 and len(z) > 2:
        cut = sorted(rng.integers(1, len(z), 2).tolist())
        out += chunk(b"IDAT", z[:cut[0]]) + chunk(b"IDAT", z[cut[0]:cut[1]]) + chunk(b"IDAT", z[cut[1]:])
    else:
        out += chunk(b"IDAT", z)
    if rng.random() < 0.2:
        out += text_chunks(rng)
    return out + chunk(b"IEND", b"")


def text_chunks(rng):
    out = b""
    for _ in range(int(rng.integers(0, 3))):
        key = rng.choice([b"comment", b"Comment", b"Software", b"comment"])
        val = rand_comment(rng)
        kind = rng.integers(0, 3)
        if kind == 0:
            out += chunk(b"tEXt", key + b"\0" + val.replace(b"\0", b" "))
        elif kind == 1:
            out += chunk(b"zTXt", key + b"\0\0" + zlib.compress(val))
        else:
            z = int(rng.integers(0, 2))
            out += chunk(b"iTXt", key + b"\0" + bytes([z, 0]) + b"en\0\0" + (zlib.compress(val) if z else val))
    return out


def pil_png(rng):
    w, h = rand_size(rng)
    mode = rng.choice(["RGB", "RGBA", "L", "LA", "P", "1", "I;16"])
    if mode == "P":
        im = Image.fromarray(pixels(rng, w, h, 3)).convert("P", palette=Image.ADAPTIVE,
                                                            colors=int(rng.integers(2, 256)))
        if rng.random() < 0.4:
            im.info["transparency"] = int(rng.integers(0, 2))
    elif mode == "I;16":
        im = Image.fromarray((pixels(rng, w, h, 1)[..., 0].astype(np.uint16) * 257), "I;16")
    elif mode == "1":
        im = Image.fromarray(pixels(rng, w, h, 1)[..., 0]).convert("1")
    else:
        c = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2}[mode]
        a = pixels(rng, w, h, c)
        im = Image.fromarray(a[..., 0] if c == 1 else a, mode)
    info = PngImagePlugin.PngInfo()
    if rng.random() < 0.3:
        info.add_text("comment", rand_comment(rng).decode("latin-1"), zip=bool(rng.random() < 0.5))
    buf = io.BytesIO()
    kw = {"pnginfo": info}
    if "transparency" in im.info:
        kw["transparency"] = im.info["transparency"]
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def corrupt(rng, data):
    b = bytearray(data)
    r = rng.random()
    if r < 0.4:
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(0, len(b)))
            b[i] ^= 1 << int(rng.integers(0, 8))
    elif r < 0.7:
        b = b[:int(rng.integers(1, len(b)))]
    elif r < 0.85 and data[:4] == b"\x89PNG":
        # break one chunk's CRC
        offs, pos = [], 8
        while pos + 12 <= len(b):
            n = struct.unpack(">I", b[pos:pos + 4])[0]
            offs.append(pos + 8 + n)
            pos += 12 + n
        if offs:
            o = int(rng.choice(offs))
            if o + 4 <= len(b):
                b[o] ^= 0x55
    else:
        b += bytes(rng.integers(0, 256, int(rng.integers(1, 40)), dtype=np.uint8))
    return bytes(b)


def make_input(rng):
    r = rng.random()
    if r < 0.35:
        data, ext = pil_jpeg(rng), "jpg"
    elif r < 0.5:
        data, ext = cjpeg(rng), "jpg"
    elif r < 0.75:
        data, ext = raw_png(rng), "png"
    else:
        data, ext = pil_png(rng), "png"
    if rng.random() < 0.2:
        data = corrupt(rng, data)
    return data, ext


# ---------------------------------------------------------------- specs

def rand_spec(rng):
    ops = []
    d = rng.choice(["decode", "decode(native)", "decode(rgb)", "decode(l)", "decode(rgba)"])
    ops.append(d)
    for _ in range(int(rng.integers(0, 4))):
        k = rng.choice(["resize", "center_crop", "crop", "pad", "hflip", "vflip", "grayscale", "convert", "norm"])
        if k == "resize":
            n = int(rng.integers(1, 120))
            if rng.random() < 0.3:
                ops.append(f"resize({n}x{int(rng.integers(1, 120))})")
            else:
                ops.append(f"resize({n},{rng.choice(list(FILTERS))})")
        elif k == "center_crop":
            ops.append(f"center_crop({int(rng.integers(1, 120))})" if rng.random() < 0.6 else
                       f"center_crop({int(rng.integers(1, 120))}x{int(rng.integers(1, 120))})")
        elif k == "crop":
            ops.append(f"crop({int(rng.integers(-10, 60))},{int(rng.integers(-10, 60))},"
                       f"{int(rng.integers(1, 80))},{int(rng.integers(1, 80))})")
        elif k == "pad":
            m = rng.choice(["constant", "constant", "edge", "reflect", "symmetric"])
            a = [int(v) for v in rng.integers(0, 12, 4)]
            ops.append(f"pad({a[0]},{a[1]},{a[2]},{a[3]},{int(rng.integers(0, 256))},{m})")
        elif k in ("hflip", "vflip"):
            ops.append(k)
        elif k == "grayscale":
            ops.append(f"grayscale({rng.choice([1, 3])})")
        elif k == "convert":
            ops.append(f"convert({rng.choice(['l', 'rgb', 'rgba', 'la'])})")
        else:
            ops.append("to_tensor|normalize(imagenet)|to_pil_image")
    ops.append(f"jpeg({int(rng.integers(1, 101))})" if rng.random() < 0.75 else "png")
    return "|".join(ops)


def run_spec(spec, data):
    """The spec with Pillow / torchvision; returns the expected string."""
    parts = spec.split("|")
    im = None
    i = 0
    while i < len(parts):
        op = parts[i]
        name, _, arg = op.partition("(")
        args = arg.rstrip(")").split(",") if arg else []
        if name == "decode":
            im = Image.open(io.BytesIO(data))
            m = args[0] if args else "rgb"
            if m != "native":
                im = im.convert(m.upper())
            else:
                im.load()
        elif name == "resize":
            if "x" in args[0]:
                hh, ww = (int(v) for v in args[0].split("x"))
                im = T.Resize((hh, ww))(im)
            else:
                im = T.Resize(int(args[0]), interpolation=FILTERS[args[1]] if len(args) > 1 else FILTERS["bilinear"])(im)
        elif name == "center_crop":
            if "x" in args[0]:
                im = T.CenterCrop(tuple(int(v) for v in args[0].split("x")))(im)
            else:
                im = T.CenterCrop(int(args[0]))(im)
        elif name == "crop":
            t, l, hh, ww = (int(v) for v in args)
            im = F.crop(im, t, l, hh, ww)
        elif name == "pad":
            nums = []
            while nums.__len__() < len(args) and args[len(nums)].lstrip("-").isdigit() and len(nums) < 5:
                nums.append(int(args[len(nums)]))
            mode = args[len(nums)] if len(nums) < len(args) else "constant"
            fill = nums.pop() if len(nums) == 5 else 0
            pad = nums[0] if len(nums) == 1 else nums
            im = T.Pad(pad, fill=fill, padding_mode=mode)(im)
        elif name == "hflip":
            im = F.hflip(im)
        elif name == "vflip":
            im = F.vflip(im)
        elif name == "grayscale":
            im = T.Grayscale(int(args[0]))(im)
        elif name == "convert":
            im = im.convert(args[0].upper())
        elif name == "to_tensor":
            im = T.ToPILImage()(T.Normalize(MEAN, STD)(T.ToTensor()(im)))
            i += 2
        elif name == "jpeg":
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=int(args[0]) if args else 75)
            return f"jpeg:{fnv1a64(buf.getvalue()):016x}"
        elif name == "png":
            buf = io.BytesIO()
            im.save(buf, "PNG")
            back = Image.open(io.BytesIO(buf.getvalue()))
            if back.mode == "P":
                back = back.convert("RGBA" if "transparency" in back.info else "RGB")
            elif back.mode == "1":
                back = back.convert("L")
            a = np.asarray(back)
            if a.dtype != np.uint8:
                return "skip"  # only 8-bit PNG outputs are compared
            shape = "x".join(str(v) for v in (a.shape if a.ndim == 3 else a.shape + (1,)))
            return f"png:{fnv1a64(a.tobytes()):016x}:{shape}"
        else:
            raise ValueError(op)
        i += 1
    raise ValueError("no encoder")


def expected(spec, data):
    """run_spec, with any refusal as "refuse"; Pillow 9.4's crash saving an RGB
    image that kept an int transparency key (README, documented deviations)
    is "skip": wds writes that PNG."""
    try:
        return run_spec(spec, data)
    except TypeError as e:  # noqa: BLE001
        if "cannot unpack non-iterable int object" in str(e):
            return "skip"
        return "refuse"
    except Exception:  # noqa: BLE001 - any refusal of the oracle
        return "refuse"


def curated():
    """Fixed cases for JPEG/PNG comments and palette padding (issue 12, items 1-2)."""
    rng = np.random.default_rng(12)
    inputs = []
    for k, com in enumerate([b"Created with GIMP", b"Compressed by jpeg-recompress", "caf\u00e9".encode(), b"\xff\x00\x01"]):
        im = Image.fromarray(pixels(rng, 90 + 7 * k, 70 + 5 * k, 3))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85, comment=com)
        inputs.append(("jpg", buf.getvalue()))
    for path in ("/usr/share/doc/nodejs/thin-white-stripe.jpg", "/usr/share/doc/nodejs/full-white-stripe.jpg"):
        if os.path.exists(path):  # real JPEGs from a Debian package, with a comment added by wrjpgcom
            data = open(path, "rb").read()
            inputs.append(("jpg", subprocess.run(["wrjpgcom", "-comment", "Created with GIMP"], input=data,
                                                 check=True, capture_output=True).stdout))
    two = subprocess.run(["wrjpgcom", "-comment", "second"], input=inputs[0][1], check=True, capture_output=True).stdout
    inputs.append(("jpg", two))  # two COM markers: the last one wins
    for kind in ("tEXt", "zTXt", "iTXt"):
        info = PngImagePlugin.PngInfo()
        if kind == "iTXt":
            info.add_itxt("comment", "h\u00e9llo \u4e16")
        else:
            info.add_text("comment", "caf\u00e9 png", zip=kind == "zTXt")
        buf = io.BytesIO()
        Image.fromarray(pixels(rng, 40, 30, 3)).save(buf, "PNG", pnginfo=info)
        inputs.append(("png", buf.getvalue()))
    for trns in (None, 0, 3):
        pal = Image.fromarray(pixels(rng, 33, 21, 3)).convert("P", palette=Image.ADAPTIVE, colors=16)
        p = pal.getpalette()
        p[0:3] = [200, 30, 60]  # entry 0 is not black
        pal.putpalette(p)
        buf = io.BytesIO()
        pal.save(buf, "PNG", **({} if trns is None else {"transparency": trns}))
        inputs.append(("png", buf.getvalue()))
    specs = ["decode|resize(64)|center_crop(56)|jpeg(90)", "decode|center_crop(500)|jpeg", "decode|pad(2)|jpeg",
             "decode|pad(0)|jpeg", "decode|grayscale(3)|jpeg", "decode|grayscale(1)|jpeg", "decode|hflip|vflip|jpeg",
             "decode|to_tensor|normalize(imagenet)|to_pil_image|jpeg", "decode|crop(-5,-5,20,20)|jpeg(80)",
             "decode(native)|jpeg", "decode(l)|convert(rgb)|resize(30,lanczos)|jpeg(95)", "decode|center_crop(60x10)|jpeg",
             "decode(native)|center_crop(60)|png", "decode(native)|pad(3)|png", "decode(native)|pad(1,2,3,4,7,constant)|png",
             "decode(native)|pad(2,edge)|png", "decode(native)|crop(-3,-3,30,30)|png", "decode(native)|resize(20)|png",
             "decode(native)|resize(50,bicubic)|center_crop(60)|convert(rgb)|jpeg", "decode(native)|center_crop(60)|convert(rgb)|jpeg"]
    return inputs, specs


def curated_keys():
    """Fixed cases for PNG transparency keys through convert, palette PNGs
    Pillow writes with 1/2/4-bit indices, and JPEG data that ends after the
    last row (found by the 20,000-case run; issue 12)."""
    rng = np.random.default_rng(13)
    inputs = []

    def png(im, **kw):
        buf = io.BytesIO()
        im.save(buf, "PNG", **kw)
        inputs.append(("png", buf.getvalue()))

    png(Image.fromarray(rng.integers(0, 8, (6, 7), dtype=np.uint8) * 30, "L"), transparency=60)
    png(Image.fromarray(rng.integers(0, 3, (6, 7, 3), dtype=np.uint8) * 100, "RGB"), transparency=(100, 0, 200))
    bilevel = Image.fromarray(rng.integers(0, 2, (6, 7), dtype=np.uint8) * 255, "L").convert("1")
    png(bilevel, transparency=0)
    png(bilevel, transparency=1)
    png(Image.fromarray(rng.integers(0, 4, (6, 7)).astype(np.int32) * 100, "I"), transparency=200)
    pal = Image.fromarray(rng.integers(0, 5, (6, 7), dtype=np.uint8), "P")
    pal.putpalette([10, 20, 30, 40, 50, 60, 10, 20, 30, 200, 0, 0, 0, 0, 255])
    png(pal, transparency=2)
    png(pal, transparency=bytes([255, 128, 0]))
    for n, top in ((1, 2), (2, 40), (3, 9), (9, 40), (17, 60)):  # indices past a short PLTE
        short = Image.fromarray(rng.integers(0, top, (6, 7), dtype=np.uint8), "P")
        short.putpalette(list(rng.integers(0, 256, 3 * n)))
        png(short)
    base = io.BytesIO()
    Image.fromarray(pixels(rng, 30, 26, 3)).save(base, "JPEG", quality=80)
    body = base.getvalue()[:-2]
    for end in (b"\xff\xd9", b"", b"\xff", b"\xff\xdb", b"\xff\xdb\x00", b"\xff\xd8", b"\xff\xe0", b"\xff\x00",
                b"\xff\xd0", b"\xff\x01", b"\xff\xd9junk"):
        inputs.append(("jpg", body + end))
    withcom = io.BytesIO()
    Image.fromarray(pixels(rng, 20, 12, 3)).save(withcom, "JPEG", comment=b"kept")
    app0 = bytearray(withcom.getvalue())
    app0[4:6] = b"\x00\x00"  # APP0 length 0: Pillow reads on after the length, finds the COM
    inputs.append(("jpg", bytes(app0)))
    specs = ["decode(native)|png", "decode(native)|convert(la)|png", "decode(native)|convert(rgba)|png",
             "decode(native)|convert(rgb)|convert(rgba)|png", "decode(native)|convert(l)|convert(la)|png",
             "decode(native)|hflip|convert(rgba)|png", "decode(rgb)|convert(rgba)|png", "decode(l)|convert(rgba)|png",
             "decode(native)|grayscale(1)|convert(la)|png", "decode(native)|grayscale(3)|convert(rgba)|png",
             "decode(native)|pad(1,1,1,1,0,constant)|convert(rgba)|png", "decode(native)|center_crop(4)|convert(rgba)|png",
             "decode(native)|resize(12,nearest)|convert(la)|png", "decode(native)|pad(1,1,1,1,7,constant)|png",
             "decode(native)|convert(i)|convert(la)|png", "decode(native)|center_crop(9x12)|png",
             "decode(native)|center_crop(20x9)|convert(rgb)|jpeg", "decode|jpeg(84)", "decode|hflip|png"]
    return inputs, specs


def main():
    global SMALL
    if sys.argv[1] in ("curated", "curated-keys"):
        out = sys.argv[2]
        os.makedirs(out, exist_ok=True)
        inputs, specs = curated() if sys.argv[1] == "curated" else curated_keys()
        tag = "c" if sys.argv[1] == "curated" else "k"
        lines = []
        for j, (ext, data) in enumerate(inputs):
            name = f"{tag}{j}.{ext}"
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
            for k, spec in enumerate(specs):
                want = expected(spec, data)
                lines.append(f"{sys.argv[1]}-{j}-{k}\t{name}\t{spec}\t{want}")
        with open(os.path.join(out, "cases.txt"), "a") as f:
            f.write("\n".join(lines) + "\n")
        return
    n, seed, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    SMALL = len(sys.argv) > 4 and sys.argv[4] == "small"
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        data, ext = make_input(rng)
        spec = rand_spec(rng)
        name = f"{i}.{ext}"
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        want = expected(spec, data)
        lines.append(f"{seed}-{i}\t{name}\t{spec}\t{want}")
    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
