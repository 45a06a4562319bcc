#!/usr/bin/python3
# Pillow's Image.resize on the sizes of bench_transforms (the baseline for
# wds::resize, which matches it bit for bit). Prints one line per case:
#   pillow/<case> <MP/s of output>
# Run with Debian's /usr/bin/python3 (Pillow 9.4); bench/run_all.sh runs it
# next to bench_transforms so the ratios come from the same run.
import sys
import time

import numpy as np
from PIL import Image

SHAPES = {"down": ((1000, 750), (341, 256)), "up": ((180, 240), (256, 341))}
FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS, "box": Image.BOX}
CASES = [("down", "bilinear"), ("down", "bicubic"), ("down", "lanczos"), ("down", "box"),
         ("up", "bilinear"), ("up", "bicubic"), ("up", "lanczos")]
# (case, mode, channels) for the down_bilinear_rgba / _gray benchmarks
MODE_CASES = [("down_bilinear_rgba", "RGBA", 4), ("down_bilinear_gray", "L", 1)]


def rate(img, size, flt, min_time):
    img.resize(size, flt)  # warm up
    best = float("inf")
    for _ in range(5):  # best of 5 rounds: the least disturbed by other load
        n, t0 = 0, time.perf_counter()
        while True:
            img.resize(size, flt)
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_time / 5:
                break
        best = min(best, dt / n)
    return size[0] * size[1] / best / 1e6


def main():
    min_time = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    rng = np.random.default_rng(1)
    for shape, flt in CASES:
        (iw, ih), out = SHAPES[shape]
        img = Image.fromarray(rng.integers(0, 256, (ih, iw, 3), dtype=np.uint8), "RGB")
        print(f"pillow/{shape}_{flt} {rate(img, out, FILTERS[flt], min_time):.1f}")
    (iw, ih), out = SHAPES["down"]
    for name, mode, channels in MODE_CASES:
        pixels = rng.integers(0, 256, (ih, iw, channels), dtype=np.uint8)
        img = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode)
        print(f"pillow/{name} {rate(img, out, Image.BILINEAR, min_time):.1f}")


if __name__ == "__main__":
    main()
