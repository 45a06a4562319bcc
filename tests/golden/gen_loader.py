#!/usr/bin/python3
"""Golden data for the loading side (tests/test_python_random.cpp, test_shard_writer.cpp, test_dataset*.cpp).

Run with Debian's python3 (any CPython 3 works; only the standard library is used):
    /usr/bin/python3 tests/golden/gen_loader.py
webdataset is not installable here, so its ShardWriter/TarWriter, _shuffle/pick and
SimpleShardList + shard-shuffle semantics are re-implemented below, line for line from
webdataset/webdataset@e0953f9 src/webdataset/{writer.py,filters.py,compat.py}.
"""
import io, json, os, random, tarfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "loader")
os.makedirs(OUT, exist_ok=True)

# ---- CPython random.Random --------------------------------------------------
rng_golden = []
for seed in [0, 1, 42, 12345, 2**32 + 5, 123456789012345, -7]:
    r = random.Random(seed)
    g = {"seed": seed}
    g["u32"] = [r.getrandbits(32) for _ in range(5)]
    g["bits"] = [r.getrandbits(k) for k in (1, 7, 31, 33, 64)]
    g["randint9"] = [r.randint(0, 9) for _ in range(10)]
    g["randint999"] = [r.randint(0, 999) for _ in range(5)]
    x = list(range(20)); r.shuffle(x); g["shuffle20"] = x
    g["random"] = [repr(r.random()) for _ in range(3)]
    rng_golden.append(g)
with open(os.path.join(OUT, "python_random.json"), "w") as f:
    json.dump(rng_golden, f, indent=1)

# ---- webdataset's buffer shuffle (filters._shuffle, pick) --------------------
def pick(buf, rng):
    k = rng.randint(0, len(buf) - 1)
    sample = buf[k]
    buf[k] = buf[-1]
    buf.pop()
    return sample

def wds_shuffle(data, bufsize=1000, initial=100, seed=None):
    rng = random.Random(seed)
    initial = min(initial, bufsize)
    data = iter(data)
    buf = []
    for sample in data:
        buf.append(sample)
        if len(buf) < bufsize:
            try:
                buf.append(next(data))
            except StopIteration:
                pass
        if len(buf) >= initial:
            yield pick(buf, rng)
    while len(buf) > 0:
        yield pick(buf, rng)

shuffle_golden = []
for (n, bufsize, initial, seed) in [(50, 10, 3, 0), (200, 1000, 100, 42), (100, 7, 7, 5), (33, 1, 1, 9),
                                    (1000, 100, 20, 2024), (20, 100, 100, 77)]:
    shuffle_golden.append({"n": n, "bufsize": bufsize, "initial": initial, "seed": seed,
                           "order": list(wds_shuffle(range(n), bufsize, initial, seed))})

# WebDataset(urls, shardshuffle=S, seed=seed).shuffle(B, initial=I, seed=seed2): shard
# order is _shuffle(shards, S, 100, seed); samples of each shard follow in tar order.
def wds_dataset_order(nshards, per_shard, shardshuffle, seed, bufsize, initial, seed2, detshuffle_epoch=None):
    urls = ["shard-%03d.tar" % i for i in range(nshards)]
    s = seed if detshuffle_epoch is None else seed + detshuffle_epoch
    order = list(wds_shuffle(urls, shardshuffle, 100, s))
    samples = [(u, "%s/%02d" % (u[6:9], k)) for u in order for k in range(per_shard)]
    return order, [k for _, k in wds_shuffle(samples, bufsize, initial, seed2)]

dataset_golden = []
for (nshards, per, ss, seed, b, i, seed2) in [(10, 5, 100, 1, 20, 5, 2), (30, 3, 8, 7, 50, 10, 8), (4, 25, 100, 0, 1000, 100, 0)]:
    order, samples = wds_dataset_order(nshards, per, ss, seed, b, i, seed2)
    dataset_golden.append({"nshards": nshards, "per_shard": per, "shardshuffle": ss, "seed": seed,
                           "bufsize": b, "initial": i, "seed2": seed2, "shards": order, "samples": samples})
with open(os.path.join(OUT, "shuffle_orders.json"), "w") as f:
    json.dump({"shuffle": shuffle_golden, "dataset": dataset_golden}, f, indent=1)

# ---- webdataset's ShardWriter / TarWriter ------------------------------------
class TarWriter:
    def __init__(self, fileobj, user="bigdata", group="bigdata", mode=0o444, mtime=None):
        self.tarstream = tarfile.open(fileobj=fileobj, mode="w|")
        self.user, self.group, self.mode, self.mtime = user, group, mode, mtime
        self.fileobj = fileobj
    def close(self):
        self.tarstream.close()
        self.fileobj.close()
    def write(self, obj):
        total = 0
        key = obj["__key__"]
        for k in sorted(obj.keys()):
            if k == "__key__" or k.startswith("_"):
                continue
            v = obj[k]
            if isinstance(v, str):
                v = v.encode("utf-8")
            ti = tarfile.TarInfo(key + "." + k)
            ti.size = len(v)
            ti.mtime = self.mtime
            ti.mode = self.mode
            ti.uname = self.user
            ti.gname = self.group
            self.tarstream.addfile(ti, io.BytesIO(v))
            total += ti.size
        return total

class ShardWriter:
    def __init__(self, pattern, maxcount=100000, maxsize=3e9, start_shard=0, **kw):
        self.kw, self.maxcount, self.maxsize = kw, maxcount, maxsize
        self.tarstream = None
        self.shard, self.pattern, self.total = start_shard, pattern, 0
        self.count, self.size, self.fname = 0, 0, None
        self.names = []
        self.next_stream()
    def next_stream(self):
        self.finish()
        self.fname = self.pattern % self.shard
        self.shard += 1
        self.tarstream = TarWriter(open(self.fname, "wb"), **self.kw)
        self.names.append(os.path.basename(self.fname))
        self.count = 0
        self.size = 0
    def write(self, obj):
        if self.tarstream is None or self.count >= self.maxcount or self.size >= self.maxsize:
            self.next_stream()
        size = self.tarstream.write(obj)
        self.count += 1
        self.total += 1
        self.size += size
    def finish(self):
        if self.tarstream is not None:
            self.tarstream.close()
            self.tarstream = None
    def close(self):
        self.finish()

def samples():
    rnd = random.Random(3)
    out = []
    for i in range(40):
        key = "s%04d" % i
        if i == 17:
            key = "d" * 110 + "/long%04d" % i  # pax path record: .idx offsets must skip it
        n = rnd.randint(100, 3000)
        out.append({"__key__": key, "cls": str(i % 7), "txt": "x" * (i % 13) + "é",
                    "bin": bytes(rnd.randrange(256) for _ in range(n)), "seg.png": bytes([i]) * (i % 5)})
    return out

writer_golden = []
for (name, maxcount, maxsize, start) in [("count", 7, 3e9, 0), ("size", 100000, 9000, 3), ("both", 5, 6000, 0)]:
    pattern = os.path.join(OUT, "py-" + name + "-%03d.tar")
    w = ShardWriter(pattern, maxcount=maxcount, maxsize=maxsize, start_shard=start, mtime=0)
    for s in samples():
        w.write(s)
    w.close()
    writer_golden.append({"name": name, "maxcount": maxcount, "maxsize": maxsize, "start_shard": start,
                          "shards": w.names})
    # What Python reads back: keys per shard, in order.
    for shard in w.names:
        with tarfile.open(os.path.join(OUT, shard)) as t:
            keys = []
            for m in t.getmembers():
                k = m.name[: m.name.find(".", m.name.rfind("/") + 1)]
                if not keys or keys[-1] != k:
                    keys.append(k)
        writer_golden[-1].setdefault("keys", []).append(keys)
with open(os.path.join(OUT, "shard_writer.json"), "w") as f:
    json.dump(writer_golden, f, indent=1)
