#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Golden data for tests/test_etl.cpp and tests/test_cli.cpp (wds-etl).

Builds a small pets-like input shard from public-domain / CC0 photos shipped
with python3-skimage, runs the *reference* ETL pipeline of the AIStore
WebDataset post over it, and writes the reference output shards.

The reference pipeline is webdataset 1.0.2 + Pillow 9.4 + torchvision 0.14.
webdataset is not installed here (no PyPI), so the parts of it that the
pipeline uses are re-implemented below with the standard library, after
reading webdataset 1.0.2's src/webdataset/tariterators.py (tar_file_iterator,
base_plus_ext, group_by_keys) and src/webdataset/writer.py (TarWriter.write):
  * reading: tarfile "r|*", only regular members, names matching
    r"__[^/]*__($|/)" skipped, key/ext split at the first '.' of the basename,
    ext lower-cased, consecutive members with the same key form a sample,
    a repeated ext raises;
  * writing: tarfile.open(fileobj, "w|") -- TarWriter 1.0.2 computes a
    `format` but never passes it on, so Python's default (PAX) format is used;
    with an integer mtime and short ASCII names that is a plain ustar header --
    one member per field in sorted() order of the ext, '_'-prefixed fields
    (__key__, __url__) dropped, mode 0o444, uname/gname "bigdata", mtime fixed.
Pixels and JPEG bytes come from the real Pillow/torchvision.

Run from the repo root:  /usr/bin/python3 tests/golden/gen_reference_etl.py
"""
import io
import json
import os
import re
import sys
import tarfile

import numpy as np
import PIL
from PIL import Image, ImageDraw
import torchvision
from torchvision import transforms as T

assert PIL.__version__.startswith("9.4"), PIL.__version__
assert torchvision.__version__.startswith("0.14"), torchvision.__version__

SKIMAGE = os.environ.get("WDS_SKIMAGE_DATA", "/usr/lib/python3/dist-packages/skimage/data")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "etl")
MTIME = 0  # wds-etl's default fixed mtime


# ---------------------------------------------------------------- reference
def base_plus_ext(path):
    m = re.match(r"^((?:.*/|)[^.]+)[.]([^/]*)$", path)
    if not m:
        return None, None
    return m.group(1), m.group(2)


def read_samples(data, url="shard.tar"):
    """webdataset.tariterators: tar_file_iterator + group_by_keys."""
    stream = tarfile.open(fileobj=io.BytesIO(data), mode="r|*")
    current = None
    for ti in stream:
        fname = ti.name
        if not ti.isreg():
            continue
        if "/" not in fname and fname.startswith("__") and fname.endswith("__"):
            continue
        if re.match(r"__[^/]*__($|/)", fname):
            continue
        value = stream.extractfile(ti).read()
        stream.members = []
        prefix, suffix = base_plus_ext(fname)
        if prefix is None:
            continue
        suffix = suffix.lower()
        if current is None or prefix != current["__key__"]:
            if current is not None and len(current) > 0:
                yield current
            current = dict(__key__=prefix, __url__=url)
        if suffix in current:
            raise ValueError(f"{fname}: duplicate file name in tar file {suffix}")
        current[suffix] = value
    if current is not None:
        yield current


def img_to_bytes(img):
    buf = io.BytesIO()
    img = img.convert("RGB")
    img.save(buf, format="JPEG")
    return buf.getvalue()


def process_trimap(trimap_bytes):
    image = Image.open(io.BytesIO(trimap_bytes))
    return T.Compose([T.CenterCrop(350), T.Lambda(img_to_bytes)])(image)


def process_image(image_bytes):
    image = Image.open(io.BytesIO(image_bytes)).convert("RGB")
    return T.Compose([
        T.CenterCrop(350),
        T.ToTensor(),
        T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        T.ToPILImage(),
        T.Lambda(img_to_bytes),
    ])(image)


def map_dict(sample):
    """dataset.map_dict(**{"image.jpg": process_image, "trimap.png": process_trimap})"""
    sample = dict(sample)
    sample["image.jpg"] = process_image(sample["image.jpg"])   # KeyError if missing
    sample["trimap.png"] = process_trimap(sample["trimap.png"])
    return sample


def write_samples(samples, mtime=MTIME):
    """webdataset.writer.TarWriter(fileobj=BytesIO, mtime=mtime).write(sample) for each."""
    buf = io.BytesIO()
    tar = tarfile.open(fileobj=buf, mode="w|")
    for obj in samples:
        key = obj["__key__"]
        for k in sorted(obj.keys()):
            if k == "__key__" or k[0] == "_":
                continue
            v = obj[k]
            ti = tarfile.TarInfo(key + "." + k)
            ti.size = len(v)
            ti.mtime = mtime
            ti.mode = 0o444
            ti.uname = "bigdata"
            ti.gname = "bigdata"
            tar.addfile(ti, io.BytesIO(v))
    tar.close()
    return buf.getvalue()


def reference_etl(data, skip_bad=False, mtime=MTIME):
    out, skipped = [], 0
    for s in read_samples(data):
        try:
            out.append(map_dict(s))
        except Exception:
            if not skip_bad:
                raise
            skipped += 1
    return write_samples(out, mtime), skipped


# ---------------------------------------------------------------- inputs
def photo(name, box=None, size=None, mode="RGB"):
    im = Image.open(os.path.join(SKIMAGE, name)).convert("RGB")
    if box:
        im = im.crop(box)
    if size:
        im = im.resize(size, Image.BICUBIC)
    return im.convert(mode)


def jpeg(im, **kw):
    buf = io.BytesIO()
    im.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def trimap(w, h, seed):
    """Oxford-pets-like trimap: 1 = pet, 2 = background, 3 = border (mode L)."""
    im = Image.new("L", (w, h), 2)
    d = ImageDraw.Draw(im)
    rng = np.random.RandomState(seed)
    x0, y0 = int(w * rng.uniform(0.1, 0.3)), int(h * rng.uniform(0.1, 0.3))
    x1, y1 = int(w * rng.uniform(0.7, 0.9)), int(h * rng.uniform(0.7, 0.9))
    d.ellipse((x0, y0, x1, y1), fill=1, outline=3, width=3)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


# (key, photo, crop box, resize, mode, jpeg kwargs, trimap size or None = image size)
SPECS = [
    ("Abyssinian_1", "chelsea.png", None, (500, 333), "RGB", dict(), None),
    ("Abyssinian_2", "astronaut.png", None, (375, 500), "RGB", dict(quality=90), None),
    ("Bengal_3", "coffee.png", (100, 20, 451, 373), None, "RGB", dict(subsampling=0, quality=85), None),
    ("Bengal_4", "rocket.jpg", (130, 10, 487, 365), None, "RGB", dict(subsampling=1), None),
    ("Birman_5", "hubble_deep_field.jpg", (0, 0, 300, 200), None, "RGB", dict(), None),
    ("Birman_6", "coffee.png", (50, 40, 451, 339), None, "RGB", dict(quality=95), (401, 299)),
    ("Bombay_7", "coins.png", (0, 0, 360, 303), None, "L", dict(), None),
    ("Bombay_8", "chelsea.png", (0, 0, 451, 300), (480, 360), "RGB", dict(progressive=True), None),
    ("Persian_9", "astronaut.png", (100, 80, 449, 431), None, "RGB", dict(subsampling=0), (349, 351)),
    ("Persian_10", "rocket.jpg", None, None, "RGB", dict(quality=75, subsampling=1, progressive=True), (640, 427)),
    ("Sphynx_11", "coffee.png", (0, 0, 355, 357), None, "L", dict(progressive=True), (200, 500)),
]


def make_sample(spec, i):
    key, src, box, size, mode, kw, tsize = spec
    im = photo(src, box, size, mode)
    w, h = tsize or im.size
    return key, [
        ("image.jpg", jpeg(im, **kw)),
        ("trimap.png", trimap(w, h, i)),
        ("cls", str(1 + i % 3).encode()),
        ("json", json.dumps({"class": key.rsplit("_", 1)[0], "width": im.size[0],
                             "height": im.size[1], "mode": mode}).encode()),
    ]


def write_input(samples, extra=()):
    """An input shard as a user's tool would make it (GNU-tar-like order, not sorted)."""
    buf = io.BytesIO()
    tar = tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT)
    for key, fields in samples:
        for ext, data in fields:
            ti = tarfile.TarInfo(key + "." + ext)
            ti.size = len(data)
            ti.mtime = 1700000000
            ti.mode = 0o644
            tar.addfile(ti, io.BytesIO(data))
    for name, data in extra:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    tar.close()
    return buf.getvalue()


def save(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    print(f"{name}: {len(data)} bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    samples = [make_sample(s, i) for i, s in enumerate(SPECS)]
    # An upper-case ext and a meta member: the reader lower-cases / skips them.
    k, f = samples[3]
    samples[3] = (k, [("IMAGE.JPG" if e == "image.jpg" else e, d) for e, d in f])
    samples[5][1].append(("txt", "plain text passes through\n".encode()))

    good = write_input(samples, extra=[("__meta__", b"skipped by the reader")])
    save("pets-small.tar", good)
    out, _ = reference_etl(good)
    save("pets-small.expected.tar", out)

    # Bad shards: the reference fails them; with skip they lose the bad sample only.
    few = samples[:3]
    missing = [few[0], (few[1][0], [(e, d) for e, d in few[1][1] if e != "trimap.png"]), few[2]]
    bad = write_input(missing)
    save("bad-missing-trimap.tar", bad)
    try:
        reference_etl(bad)
        raise SystemExit("reference should fail on a missing trimap")
    except KeyError:
        pass
    out, skipped = reference_etl(bad, skip_bad=True)
    assert skipped == 1
    save("bad-missing-trimap.skip.expected.tar", out)

    jpg = bytearray(dict(few[1][1])["image.jpg"])
    corrupt = [few[0], (few[1][0], [(e, bytes(jpg[: len(jpg) // 2]) if e == "image.jpg" else d)
                                    for e, d in few[1][1]]), few[2]]
    bad = write_input(corrupt)
    save("bad-truncated-jpeg.tar", bad)
    try:
        reference_etl(bad)
        raise SystemExit("reference should fail on a truncated JPEG")
    except OSError:
        pass
    out, skipped = reference_etl(bad, skip_bad=True)
    assert skipped == 1
    save("bad-truncated-jpeg.skip.expected.tar", out)

    # Trimaps in other PNG modes: the reference opens them natively, pads with
    # 0 in that mode and converts to RGB. (A palette PNG that needs padding is
    # a documented difference, so the P one here is cropped only.)
    base = photo("chelsea.png", (0, 0, 451, 300), (361, 352))
    small = photo("coffee.png", (0, 0, 600, 400), (201, 150))
    def png_bytes(im, **kw):
        buf = io.BytesIO()
        im.save(buf, format="PNG", **kw)
        return buf.getvalue()
    modes = [
        ("m_la", small.convert("LA")),
        ("m_rgb", small),
        ("m_rgba", small.convert("RGBA")),
        ("m_i16", Image.fromarray((np.asarray(small.convert("L"), dtype=np.uint16) * 3).astype(np.uint16))),
        ("m_p", base.convert("P", palette=Image.ADAPTIVE, colors=16)),
        ("m_1bit", small.convert("1")),
        ("m_l", small.convert("L")),
    ]
    jpg = jpeg(photo("astronaut.png", None, (120, 100)))
    mode_samples = []
    for key, im in modes:
        mode_samples.append((key, [("image.jpg", jpg), ("trimap.png", png_bytes(im))]))
    # Pillow picks the decoder from the content, not the name.
    mode_samples.append(("x_png_named_jpg", [("image.jpg", png_bytes(photo("chelsea.png", None, (300, 260)))),
                                             ("trimap.png", jpeg(small.convert("L")))]))
    mode_samples.append(("x_cmyk_jpeg_trimap", [("image.jpg", jpg),
                                                ("trimap.png", jpeg(small.convert("CMYK")))]))
    data = write_input(mode_samples)
    save("trimap-modes.tar", data)
    out, _ = reference_etl(data)
    save("trimap-modes.expected.tar", out)

    # --map jpg='decode|resize(256)|center_crop(224)|jpeg(90)' --rename cls=label:
    # only fields whose whole ext is "jpg" change; image.jpg and samples
    # without a jpg field pass through.
    def map_jpg(b):
        im = Image.open(io.BytesIO(b)).convert("RGB")
        im = T.CenterCrop(224)(T.Resize(256)(im))
        # Pillow 9.4 re-saves a source JPEG's COM comment (im.info survives
        # convert/resize/crop), and so does wds.
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=90)
        return buf.getvalue()
    mapped_in = []
    for i, (key, fields) in enumerate(samples[:4]):
        f = {e.lower(): d for e, d in fields}
        if i == 2:
            mapped_in.append((key, [("cls", f["cls"]), ("txt", b"no jpg here")]))
        else:
            mapped_in.append((key, [("jpg", f["image.jpg"]), ("image.jpg", f["image.jpg"]),
                                    ("cls", f["cls"])]))
    data = write_input(mapped_in)
    save("map-input.tar", data)
    out = []
    for s in read_samples(data):
        if "jpg" in s:
            s["jpg"] = map_jpg(s["jpg"])
        if "cls" in s:
            s["label"] = s.pop("cls")
        out.append(s)
    save("map-input.expected.tar", write_samples(out))

    # ToTensor|Normalize|ToPILImage of every u8 value per channel (torch itself).
    import torch
    u = torch.arange(256, dtype=torch.uint8).repeat(3, 1).reshape(3, 1, 256)
    x = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])(u.float().div(255))
    lut = np.asarray(T.ToPILImage()(x))  # 1 x 256 x 3
    save("normalize-lut.bin", lut.transpose(2, 0, 1).reshape(-1).tobytes())

    with open(os.path.join(OUT, "LICENSE.txt"), "w") as f:
        f.write(
            "The photos inside the *.tar files here are crops/rescales of images shipped with\n"
            "scikit-image (python3-skimage, skimage/data):\n"
            "  chelsea.png    CC0, Stefan van der Walt\n"
            "  coffee.png     CC0, Rachel Michetti\n"
            "  astronaut.png  public domain (NASA)\n"
            "  rocket.jpg     public domain (SpaceX)\n"
            "  hubble_deep_field.jpg  public domain (NASA)\n"
            "  coins.png      no known copyright restrictions (Walters Art Museum)\n"
            "Trimaps, cls and json fields are synthetic. Generated by tests/golden/gen_reference_etl.py.\n")


if __name__ == "__main__":
    sys.exit(main())
