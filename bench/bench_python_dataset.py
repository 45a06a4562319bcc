#!/usr/bin/python3
# The Python side of bench_dataset's BM_dataset, on the same shards in the same
# run: read + decode to RGB uint8 + resize to 160x160 (bilinear) + batches of 16
# collated into one array, in one process. Uses webdataset when it is
# importable (wds.WebDataset(urls).decode("rgb8").map(...).to_tuple("jpg", "cls")
# .batched(16)); otherwise the same steps written out with tarfile + Pillow +
# numpy, which is what webdataset calls underneath (it is not installable here:
# no PyPI). Prints one line:  python/dataset <samples/s> <how>
#   /usr/bin/python3 bench/bench_python_dataset.py SHARD_DIR [ROUNDS]
import glob
import io
import os
import sys
import tarfile
import time

import numpy as np
from PIL import Image

SIDE, BATCH = 160, 16


def square(img):
    return img.resize((SIDE, SIDE), Image.BILINEAR)


def samples(urls):
    # webdataset's tar_file_expander + group_by_keys: key = path up to the
    # basename's first dot, a new sample when the key changes.
    for url in urls:
        with tarfile.open(url, mode="r|*") as tf:
            key, cur = None, {}
            for m in tf:
                if not m.isfile():
                    continue
                d, base = os.path.split(m.name)
                k, _, ext = base.partition(".")
                k = os.path.join(d, k)
                data = tf.extractfile(m).read()
                if k != key:
                    if cur:
                        yield cur
                    key, cur = k, {"__key__": k}
                cur[ext.lower()] = data
            if cur:
                yield cur


def by_hand(urls):
    images, labels = [], []
    n = 0
    for s in samples(urls):
        with Image.open(io.BytesIO(s["jpg"])) as im:
            im.load()
            a = np.asarray(square(im.convert("RGB")))
        images.append(a)
        labels.append(int(s["cls"]))
        if len(labels) == BATCH:
            n += np.stack(images).shape[0]
            images, labels = [], []
    return n + len(labels)


def with_webdataset(urls):
    import webdataset as wds

    ds = (wds.WebDataset(urls, shardshuffle=False)
          .decode("rgb8")
          .map_dict(jpg=lambda a: np.asarray(square(Image.fromarray(a))))
          .to_tuple("jpg", "cls")
          .batched(BATCH))
    return sum(len(labels) for _, labels in ds)


def main():
    urls = sorted(glob.glob(os.path.join(sys.argv[1], "*.tar")))
    if not urls:
        sys.exit(f"no .tar under {sys.argv[1]}")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    try:
        import webdataset  # noqa: F401
        run, how = with_webdataset, "webdataset"
    except ImportError:
        run, how = by_hand, "tarfile+Pillow+numpy"
    best = 0.0
    for _ in range(rounds):  # best round: the least disturbed by other load
        t0 = time.perf_counter()
        n = run(urls)
        best = max(best, n / (time.perf_counter() - t0))
    print(f"python/dataset {best:.1f} {how}")


if __name__ == "__main__":
    main()
