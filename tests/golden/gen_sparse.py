#!/usr/bin/python3
"""Golden data for GNU sparse members.

Run from the repo root with Debian's python3 (3.11) and GNU tar 1.34, on a file
system with holes (SEEK_HOLE):
    /usr/bin/python3 tests/golden/gen_sparse.py
Writes tests/data/sparse/: <fmt>.tar.gz, the same two sparse files archived by
`tar --sparse --format=gnu` (old GNU 'S' headers, with extension blocks for the
30-chunk file) and `--format=posix --sparse-version=0.0|0.1|1.0`, gzipped to keep
the repository small; expected.txt: Python tarfile's view of each, one line per
regular member: "<fmt> <hex name> <size> <FNV-1a 64 of extractfile().read()>".
"""
import gzip, os, subprocess, tarfile, tempfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "sparse")


def fnv1a64(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, "sparse.bin"), "wb") as f:  # three chunks, a hole at the end
        f.seek(40000); f.write(b"A" * 3000); f.seek(120000); f.write(b"B" * 10); f.seek(200000); f.write(b"end")
        f.truncate(300000)
    with open(os.path.join(tmp, "many.bin"), "wb") as f:  # 30 chunks: old GNU needs extension blocks
        for i in range(30):
            f.seek(i * 8192); f.write(b"x%d" % i)
        f.truncate(30 * 8192 + 100)
    with open(os.path.join(tmp, "plain.txt"), "wb") as f:
        f.write(b"not sparse")
    fixed = ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "--sparse"]
    formats = {"gnu": ["--format=gnu"]}
    for v in ("0.0", "0.1", "1.0"):
        formats["pax" + v] = ["--format=posix", "--sparse-version=" + v, "--pax-option=delete=atime,delete=ctime"]
    lines = []
    for fmt, opts in formats.items():
        raw = subprocess.run(["tar", *fixed, *opts, "-cf", "-", "many.bin", "plain.txt", "sparse.bin"], cwd=tmp,
                             stdout=subprocess.PIPE, check=True).stdout
        with open(os.path.join(OUT, fmt + ".tar.gz"), "wb") as f:
            f.write(gzip.compress(raw, mtime=0))
        with tarfile.open(fileobj=__import__("io").BytesIO(raw), mode="r|") as tf:
            n_sparse = 0
            for m in tf:
                if not m.isreg():
                    continue
                n_sparse += m.issparse()
                data = tf.extractfile(m).read()
                lines.append("%s %s %d %016x" % (fmt, m.name.encode().hex(), m.size, fnv1a64(data)))
            assert n_sparse == 2, (fmt, n_sparse)
    with open(os.path.join(OUT, "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
