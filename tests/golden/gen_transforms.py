#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Golden data for tests/test_{resize,transforms,image}.cpp.

Run with Debian's python3 (Pillow 9.4, torch 1.13, torchvision 0.14, numpy):
    /usr/bin/python3 tests/golden/gen_transforms.py
Writes tests/data/transforms/: inputs and outputs as .npy (uint8 HWC, float32
CHW) and cases.txt, one case per line:
    <op> <input.npy> <output.npy> key=value ...
plus params.txt (torchvision size and random-parameter logic, text only).
"""
import math
import os
import sys

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision.transforms import InterpolationMode
import torchvision.transforms as T
import torchvision.transforms.functional as F

assert PIL.__version__ == "9.4.0", PIL.__version__
assert torchvision.__version__.startswith("0.14"), torchvision.__version__

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "transforms")
SK = "/usr/lib/python3/dist-packages/skimage/data"
os.makedirs(OUT, exist_ok=True)
for f in os.listdir(OUT):
    if f.endswith(".npy") or (f.endswith(".txt") and f != "LICENSE.txt"):
        os.remove(os.path.join(OUT, f))

cases = []
counter = [0]


def save_u8(name, img):
    a = np.asarray(img, dtype=np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    np.save(os.path.join(OUT, name), np.ascontiguousarray(a))


def save_f32(name, t):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(np.asarray(t, dtype=np.float32)))


def add(op, inp, result, **kw):
    counter[0] += 1
    out = f"o{counter[0]:04d}.npy"
    if isinstance(result, torch.Tensor):
        save_f32(out, result.numpy())
    else:
        save_u8(out, result)
    args = " ".join(f"{k}={v}" for k, v in kw.items())
    cases.append(f"{op} {inp} {out} {args}".rstrip())


# ---- inputs: crops of public-domain skimage photos + synthetic edge cases ----
inputs = {}


def add_input(name, img):
    inputs[name] = img
    save_u8(name + ".npy", img)
    cases.append(f"input {name}.npy {name}.npy mode={img.mode}")


chelsea = Image.open(f"{SK}/chelsea.png").convert("RGB")
add_input("chelsea_rgb", chelsea.crop((120, 30, 203, 91)))  # 83x61
coffee = Image.open(f"{SK}/coffee.png").convert("RGB")
add_input("coffee_rgb", coffee.crop((200, 100, 241, 167)))  # 41x67
camera = Image.open(f"{SK}/camera.png").convert("L")
add_input("camera_l", camera.crop((180, 60, 257, 119)))  # 77x59
astro = Image.open(f"{SK}/astronaut.png").convert("RGB").crop((150, 30, 203, 75))  # 53x45
alpha = Image.fromarray(
    np.fromfunction(lambda y, x: (x * 255 // 52 + (y * 37) % 90) % 256, (45, 53)).astype(np.uint8), "L"
)
rgba = astro.copy()
rgba.putalpha(alpha)
add_input("astro_rgba", rgba)
la = astro.convert("L")
la.putalpha(alpha)
add_input("astro_la", la)
rng = np.random.RandomState(1234)
add_input("one_rgb", Image.fromarray(rng.randint(0, 256, (1, 1, 3), dtype=np.uint8), "RGB"))
add_input("one_l", Image.fromarray(rng.randint(0, 256, (1, 1), dtype=np.uint8), "L"))
add_input("row_l", Image.fromarray(rng.randint(0, 256, (1, 7), dtype=np.uint8), "L"))
add_input("odd_rgba", Image.fromarray(rng.randint(0, 256, (5, 3, 4), dtype=np.uint8), "RGBA"))
add_input("noise_rgb", Image.fromarray(rng.randint(0, 256, (13, 17, 3), dtype=np.uint8), "RGB"))

FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}

# ---- resize (Pillow Image.resize, exact (w, h)) ----
for name, img in inputs.items():
    w, h = img.size
    up = (w * 2 + 1, h * 3 // 2 + 1) if w * h <= 1000 else (w * 5 // 4, h + 3)
    sizes = {(max(1, w // 3), max(1, h // 2)), up, (1, 1), (max(1, w - 1), h),
             (w, max(1, h // 4)), (5, h * 2 // 3 + 1)}
    for (ow, oh) in sorted(sizes):
        for fname, f in FILTERS.items():
            add("resize", name + ".npy", img.resize((ow, oh), f), width=ow, height=oh, filter=fname)

# ---- resize of 32-bit modes I (int32) and F (float32) ----
cam = np.asarray(inputs["camera_l"], dtype=np.int64)[:40, :50]
img_i = Image.fromarray((cam * 1000 - 60000).astype(np.int32), "I")
img_f = Image.fromarray((cam.astype(np.float32) / 7.3 - 11.1).astype(np.float32), "F")
for tag, img, dt in (("i", img_i, np.int32), ("f", img_f, np.float32)):
    name = f"camera_{tag}.npy"
    np.save(os.path.join(OUT, name), np.asarray(img, dtype=dt)[:, :, None])
    w, h = img.size
    for (ow, oh) in ((17, 13), (w + 9, h + 3), (1, 1), (w, 11), (7, h)):
        for fname, f in FILTERS.items():
            out = f"o{counter[0] + 1:04d}.npy"
            counter[0] += 1
            np.save(os.path.join(OUT, out), np.asarray(img.resize((ow, oh), f), dtype=dt)[:, :, None])
            cases.append(f"resize_{tag} {name} {out} width={ow} height={oh} filter={fname}")

# ---- torchvision Resize(int / max_size) on the photos ----
for name in ("chelsea_rgb", "camera_l", "astro_rgba"):
    img = inputs[name]
    for size, max_size, interp in ((32, None, "bilinear"), (50, None, "bicubic"), (20, 41, "bilinear"),
                                   (64, None, "lanczos"), (7, None, "nearest")):
        mode = getattr(InterpolationMode, interp.upper())
        out = F.resize(img, [size], mode, max_size=max_size)
        add("tv_resize", name + ".npy", out, size=size, max_size=max_size or 0, filter=interp)

# ---- center_crop / crop / pad / flips ----
for name, img in inputs.items():
    w, h = img.size
    for ch, cw in ((h // 2, w // 2), (h - 1, w - 3), (h + 1, w + 4), (h + 7, w // 2), (h, w), (1, 1),
                   (h // 2 + 1, w + 1)):
        if ch < 1 or cw < 1:
            continue
        add("center_crop", name + ".npy", F.center_crop(img, [ch, cw]), height=ch, width=cw)
    for top, left, ch, cw in ((0, 0, 1, 1), (1, 2, h - 1, w - 2), (-2, -3, h + 5, w + 1), (h - 1, w - 1, 3, 2)):
        if ch < 1 or cw < 1:
            continue
        add("crop", name + ".npy", F.crop(img, top, left, ch, cw), top=top, left=left, height=ch, width=cw)
    add("hflip", name + ".npy", F.hflip(img))
    add("vflip", name + ".npy", F.vflip(img))
    for mode in ("constant", "edge", "reflect", "symmetric"):
        big = (w + 3, 2 * h + 1, 2, 3 * w + 2) if w * h <= 200 else (w // 2 + 1, 3, 2, w + 2)
        all_pads = ((1, 2, 3, 4), (0, 0, 0, 0), big, (5, 0, 0, 1))
        if w * h > 200:  # big photos: the cases that differ between modes only
            all_pads = ((1, 2, 3, 4), big)
        for pads in all_pads:
            fill = 7 if mode == "constant" else 0
            add("pad", name + ".npy", F.pad(img, list(pads), fill=fill, padding_mode=mode),
                left=pads[0], top=pads[1], right=pads[2], bottom=pads[3], mode=mode, fill=fill)

# ---- grayscale / convert ----
for name, img in inputs.items():
    for n in (1, 3):
        add("grayscale", name + ".npy", F.to_grayscale(img, n), channels=n)
    for to in ("L", "RGB", "LA"):
        add("convert", name + ".npy", img.convert(to), to=to)

# ---- to_tensor / normalize / to_pil_image ----
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
for name, img in inputs.items():
    t = F.to_tensor(img)
    add("to_tensor", name + ".npy", t)
    c = t.shape[0]
    mean = (IMAGENET[0] * 2)[:c]
    std = (IMAGENET[1] * 2)[:c]
    n = F.normalize(t.clone(), mean, std)
    add("normalize", name + ".npy", n, mean=",".join(map(repr, mean)), std=",".join(map(repr, std)))
    add("to_pil_image", name + ".npy", F.to_pil_image(n), mean=",".join(map(repr, mean)),
        std=",".join(map(repr, std)))

# to_pil_image on chosen float values, out-of-range and non-finite included.
special = np.array([0.0, 1.0, 0.5, -0.001, 1.001, -2.1, 1.5, 2.64, 255.0, -255.0, 1e6, -1e6, 3.0e10,
                    -3.0e10, 1e30, -1e30, np.inf, -np.inf, np.nan, 0.998, 0.999, 1 / 255, 2 / 255 - 1e-7,
                    -0.5, 100.3, 7.77], dtype=np.float32)
sp = torch.from_numpy(special.reshape(1, 2, 13).copy())
save_f32("special_in.npy", sp.numpy())
add("to_pil_image_raw", "special_in.npy", F.to_pil_image(sp))

# Fused LUT reference: all 256 values per channel through the torch chain.
ramp = torch.arange(256, dtype=torch.uint8).view(1, 16, 16).expand(3, 16, 16).permute(1, 2, 0).numpy()
ramp_img = Image.fromarray(np.ascontiguousarray(ramp), "RGB")
save_u8("ramp_rgb.npy", ramp_img)
cases.append("input ramp_rgb.npy ramp_rgb.npy mode=RGB")
for mean, std in (IMAGENET, ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]), ([0.1, 0.9, 0.3], [0.07, 1.3, 0.001])):
    out = F.to_pil_image(F.normalize(F.to_tensor(ramp_img), mean, std))
    add("to_pil_image", "ramp_rgb.npy", out, mean=",".join(map(repr, mean)), std=",".join(map(repr, std)))

with open(os.path.join(OUT, "cases.txt"), "w") as f:
    f.write("\n".join(cases) + "\n")

# ---- parameters: torchvision sizes and random draws (text) ----
params = []
from torchvision.transforms.functional import _compute_resized_output_size as cro

for h in (1, 2, 3, 7, 100, 224, 256, 333, 375, 500, 1000, 4032):
    for w in (1, 5, 99, 224, 257, 500, 640, 3024):
        for size in (1, 7, 224, 256, 320):
            for max_size in (0, 300, 1000):
                if max_size and max_size <= size:
                    continue
                oh, ow = cro((h, w), [size], max_size or None)
                params.append(f"resized_size {h} {w} {size} {max_size} {oh} {ow}")

for seed in range(64):
    torch.manual_seed(seed)
    vals = [torch.rand(1).item() for _ in range(3)]
    params.append("rand %d %s" % (seed, " ".join(float(v).hex() for v in vals)))
    torch.manual_seed(seed)
    vals = [torch.randint(0, n, size=(1,)).item() for n in (1, 2, 3, 100, 1000001)]
    params.append("randint %d %s" % (seed, " ".join(map(str, vals))))

dims = ((375, 500), (500, 375), (224, 224), (33, 1000), (1000, 33), (1, 1), (7, 3))
for (h, w) in dims:
    img = Image.new("L", (w, h))
    for seed in range(40):
        for scale, ratio in (((0.08, 1.0), (3 / 4, 4 / 3)), ((0.5, 0.9), (0.2, 5.0)), ((0.9, 1.0), (3.0, 4.0))):
            torch.manual_seed(seed)
            i, j, ch, cw = T.RandomResizedCrop.get_params(img, list(scale), list(ratio))
            params.append(f"rrc {seed} {h} {w} {scale[0]!r} {scale[1]!r} {ratio[0]!r} {ratio[1]!r} {i} {j} {ch} {cw}")
        for (th, tw) in ((h, w), (max(1, h // 2), max(1, w // 3)), (1, 1)):
            torch.manual_seed(seed)
            i, j, ch, cw = T.RandomCrop.get_params(img, (th, tw))
            params.append(f"random_crop {seed} {h} {w} {th} {tw} {i} {j}")
        torch.manual_seed(seed)
        flipped = int(torch.rand(1) < 0.5)
        params.append(f"random_hflip {seed} 0.5 {flipped}")

with open(os.path.join(OUT, "params.txt"), "w") as f:
    f.write("\n".join(params) + "\n")

total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
print(f"{len(cases)} cases, {len(params)} params, {total} bytes in {OUT}", file=sys.stderr)
