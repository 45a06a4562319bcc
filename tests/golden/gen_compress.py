#!/usr/bin/python3
"""Golden data for compressed shards (.tar.bz2, .tar.xz, .tar.zst).

Run from the repo root with Debian's python3 (3.11), bzip2 1.0.8, xz 5.4, zstd 1.5:
    /usr/bin/python3 tests/golden/gen_compress.py
Writes tests/data/compress/. The C++ suite only reads the outputs.

- py.tar and py.tar.bz2 / py.tar.xz: the same members written by Python's tarfile in
  modes "w", "w:bz2" and "w:xz" (pax format, fixed mtime), so decompressing either
  compressed file must give py.tar byte for byte.
- cli.tar.{bz2,xz,zst}: py.tar compressed by the real tools at their defaults;
  cat.tar.*: py.tar split at byte 3000 and each part compressed alone, then
  concatenated (the tools decode that as one stream); skip.tar.zst: a skippable
  frame before and between frames; pad.tar.xz: xz stream padding (4 zero bytes).
- members.txt: Python tarfile's view of py.tar (tarfile.open(mode="r:*") on each
  compressed file gives the same list): hex name and size per regular member.
- bomb-dict.xz: a tiny xz stream declaring a 1 GiB dictionary; bomb-window.zst a zstd
  frame declaring a 2 GiB window (both over the default max_decoder_memory).
"""
import io, os, subprocess, tarfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "compress")


def content(i, size):
    return bytes(((j * 31 + i * 7) & 255) for j in range(size))


MEMBERS = [("a.txt", 5), ("a.json", 511), ("b.jpg", 512), ("b.cls", 513), ("c/d.e.bin", 4000),
           ("été.txt", 3), ("long/" + "x" * 120 + ".bin", 20000)]


def make(mode):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for i, (name, size) in enumerate(MEMBERS):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = size, 1700000000, 0o444
            tf.addfile(ti, io.BytesIO(content(i, size)))
    return buf.getvalue()


def tool(cmd, data):
    return subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True).stdout


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    plain = make("w")
    write("py.tar", plain)
    write("py.tar.bz2", make("w:bz2"))
    write("py.tar.xz", make("w:xz"))
    tools = {"bz2": ["bzip2", "-c"], "xz": ["xz", "-c"], "zst": ["zstd", "-q", "-c"]}
    for ext, cmd in tools.items():
        write("cli.tar." + ext, tool(cmd, plain))
        write("cat.tar." + ext, tool(cmd, plain[:3000]) + tool(cmd, plain[3000:]))
    skippable = bytes([0x50, 0x2a, 0x4d, 0x18]) + (5).to_bytes(4, "little") + b"hello"
    write("skip.tar.zst", skippable + tool(tools["zst"], plain[:3000]) + skippable + tool(tools["zst"], plain[3000:]))
    write("pad.tar.xz", tool(tools["xz"], plain) + b"\0" * 4)
    with open(os.path.join(OUT, "members.txt"), "w") as f:
        for src in ("py.tar.bz2", "py.tar.xz"):
            with tarfile.open(os.path.join(OUT, src), mode="r:*") as tf:
                listing = [(m.name, m.size) for m in tf if m.isreg()]
            assert listing == [(n, s) for n, s in MEMBERS], listing
        for name, size in MEMBERS:
            f.write("%s %d\n" % (name.encode().hex(), size))
    write("bomb-dict.xz", tool(["xz", "-c", "--lzma2=dict=1GiB"], b"small"))
    write("bomb-window.zst", tool(["zstd", "-q", "-c", "--long=31"], b"small" * 100))


if __name__ == "__main__":
    main()
