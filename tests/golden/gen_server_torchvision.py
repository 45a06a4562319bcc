#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Reference outputs of AIStore's torchvision_preprocess transformer for
tests/test_server.cpp ("TRANSFORM on a plain JPEG object").

The transformer (NVIDIA/ais-etl transformers/torchvision_preprocess) does, per
object: PIL.Image.open(bytes) -> torchvision.transforms.Compose([getattr(T, k)(**v)
for k, v in TRANSFORM.items()]) -> image.save(format=FORMAT or etl_args["format"]).
This script does exactly that with the Debian packages (Pillow 9.4,
torchvision 0.14): run it with /usr/bin/python3 from the repository root.

Input: a crop of scikit-image's rocket.jpg (NASA, public domain), re-saved by
Pillow at quality 90; Pillow 9.4 keeps the source's JPEG comment, so the input
carries a COM segment, which the transformer copies into its JPEG outputs
unless an op builds a new image (Grayscale(3), Pad, ToTensor/ToPILImage).
"""
import io
import json
import os
import warnings

from PIL import Image
from torchvision import transforms as T

warnings.filterwarnings("ignore")
OUT = os.path.join("tests", "data", "server")
SOURCE = "/usr/lib/python3/dist-packages/skimage/data/rocket.jpg"

# name -> (TRANSFORM, FORMAT); keep in sync with tests/test_server.cpp.
CASES = {
    "resize-crop": ({"Resize": {"size": [64, 64]}, "CenterCrop": {"size": 48}}, "JPEG"),
    "resize-crop-png": ({"Resize": {"size": [64, 64]}, "CenterCrop": {"size": 48}}, "PNG"),
    "short-side-bicubic": ({"Resize": {"size": 50, "interpolation": 3}}, "JPEG"),
    "gray3-flip": ({"Grayscale": {"num_output_channels": 3}, "RandomHorizontalFlip": {"p": 1.0}}, "JPEG"),
    "normalize-chain": ({"CenterCrop": {"size": [90, 70]}, "ToTensor": {},
                         "Normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
                         "ToPILImage": {}}, "JPEG"),
}


def transformer(data, transform, fmt):
    pipeline = T.Compose([getattr(T, k)(**v) for k, v in transform.items()])
    image = pipeline(Image.open(io.BytesIO(data)))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def main():
    os.makedirs(OUT, exist_ok=True)
    src = Image.open(SOURCE)
    crop = src.crop((180, 40, 300, 130))  # 120x90, keeps im.info (the comment)
    buf = io.BytesIO()
    crop.save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    assert b"\xff\xfe" in data[:64], "input should carry a JPEG comment"
    with open(os.path.join(OUT, "rocket-crop.jpg"), "wb") as f:
        f.write(data)
    manifest = {}
    for name, (transform, fmt) in CASES.items():
        ext = "png" if fmt == "PNG" else "jpg"
        with open(os.path.join(OUT, f"{name}.{ext}"), "wb") as f:
            f.write(transformer(data, transform, fmt))
        manifest[name] = {"TRANSFORM": json.dumps(transform), "FORMAT": fmt}
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
