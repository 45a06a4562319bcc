#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Golden data for wds's npy, tenbin, json and field decoders.

Run with Debian's /usr/bin/python3 (numpy 1.24, Pillow 9.4, Python 3.11):
    /usr/bin/python3 tests/golden/gen_tensors.py
It rewrites tests/data/tensors/. The C++ tests read these files; they never
run Python.

- npy/: files written by numpy.save / numpy.lib.format.write_array, with the
  expected C-ordered little-endian elements next to each (.raw) and a manifest.
- tenbin/: webdataset is not installed here (and PyPI is unreachable), so the
  tenbin writer below is a faithful re-implementation of
  webdataset/tenbin.py (encode_header, encode_list, encode_chunks,
  str64, roundup) as read from github.com/webdataset/webdataset; the layout
  is: chunks of b"~TenBin~", int64 length ("@q", little endian here),
  payload zero-padded to a multiple of 64; per array a header chunk of int64s
  [str64(short dtype), str64(info), ndim, *shape] and a data chunk.
- json_cases.txt, cls_cases.txt, text_cases.txt: inputs with the verdict of
  json.loads(bytes), int(bytes) and bytes.decode("utf-8").
- float16: numpy's float16 <-> float32 conversions.
"""
import io
import json
import os
import struct
import sys

import numpy as np
import PIL.Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "tensors")

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
          "uint64", "float16", "float32", "float64", "complex64", "complex128"]


def values(dtype, n, seed):
    """Deterministic values that exercise the range of each dtype."""
    rng = np.random.RandomState(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.randint(0, 2, n).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        base = [info.min, info.max, 0, 1]
        rest = rng.randint(-(2**31) if dt.kind == "i" else 0, 2**31, n, dtype=np.int64)
        v = (base + list(rest))[:n] if n >= 4 else base[:n]
        return np.array([int(x) % (info.max - info.min + 1) + info.min if not (info.min <= int(x) <= info.max) else int(x) for x in v], dtype=dt)
    if dt.kind == "f":
        special = [np.nan, np.inf, -np.inf, -0.0, np.finfo(dt).tiny / 4, np.finfo(dt).max, 1.0 / 3]
        v = list(special) + list(rng.standard_normal(max(n, 0)) * 1000)
        return np.array(v[:n], dtype=dt)
    if dt.kind == "c":
        re = values("float64", n, seed)
        im = values("float64", n, seed + 1)[::-1]
        return (re + 1j * im).astype(dt)
    raise ValueError(dtype)


def raw_c_le(a):
    a = np.ascontiguousarray(a)
    return a.astype(a.dtype.newbyteorder("<")).tobytes(order="C")


def gen_npy():
    d = os.path.join(OUT, "npy")
    os.makedirs(d, exist_ok=True)
    manifest = []

    def save(name, a, version=None, fortran=None):
        buf = io.BytesIO()
        if version is None:
            np.save(buf, a)
        else:
            np.lib.format.write_array(buf, a, version=version)
        data = buf.getvalue()
        with open(os.path.join(d, name + ".npy"), "wb") as f:
            f.write(data)
        with open(os.path.join(d, name + ".raw"), "wb") as f:
            f.write(raw_c_le(a))
        hdr = np.lib.format.read_magic(io.BytesIO(data))
        order = "F" if (a.flags.f_contiguous and not a.flags.c_contiguous) else "C"
        bo = ">" if a.dtype.byteorder == ">" else "<"
        shape = ",".join(str(x) for x in a.shape) if a.ndim else "-"
        manifest.append(f"{name} {a.dtype.name} {order} {bo} {hdr[0]} {shape}")

    for i, dt in enumerate(DTYPES):
        save(f"{dt}_1d", values(dt, 7, i))
        save(f"{dt}_3d", values(dt, 24, i + 100).reshape(2, 3, 4))
        save(f"{dt}_0d", values(dt, 1, i + 200).reshape(()))
        save(f"{dt}_empty", values(dt, 0, i).reshape(0))
        save(f"{dt}_fortran", np.asfortranarray(values(dt, 24, i + 300).reshape(2, 3, 4)))
        if np.dtype(dt).itemsize > 1:
            save(f"{dt}_big", values(dt, 6, i + 400).reshape(2, 3).astype(np.dtype(dt).newbyteorder(">")))
    save("f4_empty_3d", np.zeros((2, 0, 3), np.float32))
    save("f4_fortran_2d", np.asfortranarray(values("float32", 12, 7).reshape(3, 4)))
    save("f8_big_fortran", np.asfortranarray(values("float64", 24, 8).reshape(4, 3, 2)).astype(">f8"))
    save("u1_long", (np.arange(123456) % 251).astype(np.uint8))
    save("i2_digits", np.arange(10 * 3, dtype=np.int16).reshape(10, 3))
    save("i4_5d", np.arange(2 * 1 * 3 * 1 * 2, dtype=np.int32).reshape(2, 1, 3, 1, 2))
    save("f4_v2", values("float32", 6, 9).reshape(2, 3), version=(2, 0))
    save("c16_v2_fortran", np.asfortranarray(values("complex128", 6, 10).reshape(2, 3)), version=(2, 0))
    save("u2_v3", np.arange(5, dtype=np.uint16), version=(3, 0))
    with open(os.path.join(d, "manifest.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")


def gen_images():
    """np.save(np.asarray(PIL image)) for the modes wds images hold."""
    d = os.path.join(OUT, "image_npy")
    os.makedirs(d, exist_ok=True)
    rng = np.random.RandomState(5)
    w, h = 5, 4
    manifest = []
    for mode, dt, c in [("L", np.uint8, 1), ("LA", np.uint8, 2), ("RGB", np.uint8, 3),
                        ("RGBA", np.uint8, 4), ("I;16", np.uint16, 1), ("I", np.int32, 1),
                        ("F", np.float32, 1)]:
        if dt == np.uint8:
            raw = rng.randint(0, 256, h * w * c).astype(np.uint8)
        elif dt == np.uint16:
            raw = rng.randint(0, 65536, h * w).astype("<u2")
        elif dt == np.int32:
            raw = rng.randint(-2**31, 2**31, h * w, dtype=np.int64).astype("<i4")
        else:
            raw = rng.standard_normal(h * w).astype("<f4")
        img = PIL.Image.frombytes(mode, (w, h), raw.tobytes(), "raw", mode)
        a = np.asarray(img)
        name = mode.replace(";", "_")
        buf = io.BytesIO()
        np.save(buf, a)
        with open(os.path.join(d, name + ".npy"), "wb") as f:
            f.write(buf.getvalue())
        with open(os.path.join(d, name + ".raw"), "wb") as f:
            f.write(raw.tobytes())
        manifest.append(f"{name} {a.dtype.name} {w} {h} {c}")
    with open(os.path.join(d, "manifest.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")


# --- tenbin: re-implementation of webdataset/tenbin.py's writer -------------
LONG_TO_SHORT = {"float16": "f2", "float32": "f4", "float64": "f8", "int8": "i1",
                 "int16": "i2", "int32": "i4", "int64": "i8", "uint8": "u1",
                 "uint16": "u2", "unit32": "u4", "uint64": "u8"}  # sic: tenbin.py's typo


def str64(s):
    s = s + "\0" * (8 - len(s))
    return struct.unpack("@q", s.encode("ascii"))[0]


def encode_header(a, info=""):
    if a.ndim >= 10:
        raise ValueError("too many dimensions")
    if a.dtype.name not in LONG_TO_SHORT:
        raise ValueError("unsupported array type")
    header = [str64(LONG_TO_SHORT[a.dtype.name]), str64(info), len(a.shape)] + list(a.shape)
    return np.array(header, dtype="i8").data


def encode_list(arrays, infos=None):
    if infos is None:
        infos = [""]
    result = []
    for i, a in enumerate(arrays):
        result += [encode_header(a, infos[i % len(infos)]), a.data]
    return result


def roundup(n, k=64):
    return k * ((n + k - 1) // k)


def encode_chunks(chunks):
    size = sum(16 + roundup(b.nbytes) for b in chunks)
    result = bytearray(size)
    offset = 0
    for b in chunks:
        result[offset:offset + 8] = b"~TenBin~"
        offset += 8
        result[offset:offset + 8] = struct.pack("@q", b.nbytes)
        offset += 8
        result[offset:offset + b.nbytes] = b
        offset += roundup(b.nbytes)
    return result


def gen_tenbin():
    assert sys.byteorder == "little"
    d = os.path.join(OUT, "tenbin")
    os.makedirs(d, exist_ok=True)
    cases = {
        "single_f4": ([values("float32", 12, 1).reshape(3, 4)], None),
        "mixed": ([values("uint8", 10, 2).reshape(2, 5), values("int64", 3, 3),
                   values("float16", 8, 4).reshape(2, 2, 2), values("float64", 65, 5),
                   values("int16", 1, 6), values("uint16", 9, 7).reshape(3, 3),
                   values("int8", 4, 8), values("int32", 6, 9).reshape(1, 6),
                   values("uint64", 2, 10)], None),
        "infos": ([values("float32", 4, 11), values("int32", 4, 12)], ["img", "label123"]),
        "empty_array": ([np.zeros((0, 3), np.float32), np.arange(3, dtype=np.uint8)], None),
        "rank9": ([np.arange(2 * 1 * 1 * 2 * 1 * 1 * 1 * 1 * 3, dtype=np.int32)
                   .reshape(2, 1, 1, 2, 1, 1, 1, 1, 3)], None),
        "none": ([], None),
    }
    manifest = []
    for name, (arrays, infos) in cases.items():
        buf = bytes(encode_chunks(encode_list(arrays, infos)))
        with open(os.path.join(d, name + ".ten"), "wb") as f:
            f.write(buf)
        for i, a in enumerate(arrays):
            with open(os.path.join(d, f"{name}.{i}.raw"), "wb") as f:
                f.write(raw_c_le(a))
            shape = ",".join(str(x) for x in a.shape) if a.ndim else "-"
            info = infos[i % len(infos)] if infos else ""
            manifest.append(f"{name} {i} {a.dtype.name} {shape} {info or '-'}")
        if not arrays:
            manifest.append(f"{name} - - - -")
    with open(os.path.join(d, "manifest.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")


# --- json.loads verdicts ------------------------------------------------------
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1


def canon(v):
    """Typed dump that the C++ test rebuilds from a wds::json value."""
    if v is None:
        return "n"
    if v is True:
        return "t"
    if v is False:
        return "f"
    if isinstance(v, int):
        if INT64_MIN <= v <= INT64_MAX:
            return "i%d" % v
        return "d" + struct.pack(">d", float(v)).hex()  # wds: outside int64 -> double
    if isinstance(v, float):
        return "d" + struct.pack(">d", v).hex()
    if isinstance(v, str):
        return "s" + v.encode("utf-8", "surrogatepass").hex()
    if isinstance(v, list):
        return "[" + ",".join(canon(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(canon(k) + ":" + canon(x) for k, x in v.items()) + "}"
    raise TypeError(v)


def representable(v):
    if isinstance(v, bool) or v is None:
        return True
    if isinstance(v, int):
        if INT64_MIN <= v <= INT64_MAX:
            return True
        try:
            float(v)
            return True
        except OverflowError:
            return False
    if isinstance(v, list):
        return all(representable(x) for x in v)
    if isinstance(v, dict):
        return all(representable(x) for x in v.values())
    return True


JSON_CASES = [
    b'{"a": 1, "b": [true, false, null], "c": "x"}', b"[]", b"{}", b"0", b"-0", b"-0.0", b"1.5",
    b"1e5", b"1E+2", b"1e-2", b"123456789012345678", b"9223372036854775807",
    b"-9223372036854775808", b"9223372036854775808", b"-9223372036854775809",
    b"18446744073709551616", b"1" * 300, b"1" * 400, b"1" * 4300, b"1" * 4301, b"-" + b"9" * 400,
    b"1e400", b"-1e400", b"1e-400", b"4.9e-324", b"2.5e-324", b"0." + b"0" * 400 + b"1",
    b"1" * 5000 + b".0", b"0.1", b"3.141592653589793238462643383279",
    b"NaN", b"Infinity", b"-Infinity", b"[NaN, Infinity, -Infinity]", b"nan", b"inf", b"-NaN",
    b"+1", b"01", b"-", b"1.", b".5", b"1e", b"1e+", b"0x10", b"1_000", b"- 1", b"--1",
    b'"abc"', b'"\\u00e9\\n\\t\\"\\\\\\/\\b\\f\\r"', b'"\\ud83d\\ude00"', b'"\\ud800"', b'"\\udc00x"',
    b'"\\ud800\\u0041"', b'"\\uD83D\\uDE00"', b'"\\u12"', b'"\\u12G4"', b'"\\x41"', b'"\\a"',
    b'"\\\'"', b'"tab\there"', b'"nl\nx"', b'"\x7f"', b'"\x1f"', b'"unterminated',
    "\"caf\u00e9 \u2028 \U0001f600\"".encode(), b'"\xff"', b'"\xc3\x28"', b'"\xed\xa0\x80"',
    b'"\xed\xb0\x80\xed\xa0\x80"', b'"\xf4\x90\x80\x80"', b'"\xc0\xaf"', b'"\xe0\x80\xaf"',
    b'"\xf0\x9f\x98"', b'\xef\xbb\xbf{"bom": 1}', b'\xef\xbb\xbf\xef\xbb\xbf1',
    '{"a": [1, 2]}'.encode("utf-16"), '{"a": [1, 2]}'.encode("utf-16-le"),
    '{"a": [1, 2]}'.encode("utf-16-be"), '["\U0001f600"]'.encode("utf-32"),
    '["x"]'.encode("utf-32-le"), '["x"]'.encode("utf-32-be"), b"1\x00", b"\x001", b"\x00\x00\x00\x31",
    b'"\x00"', b'{"a":1}\x00', b"\x00", b"[1,\x00 2]", b'"a\x00b"', b"\xff\xfe1\x00",
    b"\xff\xfe\x00\xd8", b"\xff\xfe\x00\xd8\x00\xdc", b'\xff\xfe"\x00\x00\xd8"\x00',
    b"\xfe\xff\x001", b"\xff\xfe\x00\x001\x00\x00\x00", b"\xff\xfe\x00\x00\x00\x00\x11\x00",
    b"\x31\x00\x00", b"\xff\xfe1",
    b"", b" ", b" \t\r\n1 \n", b"\x0c1", b"1 2", b"[1,]", b"[,1]", b'{"a":1,}', b'{"a" 1}',
    b'{a:1}', b"{'a':1}", b'{"a":1 "b":2}', b'{1:2}', b"[1 2]", b"[", b"]", b"{", b'{"a"',
    b'{"a":', b"[1,", b"true", b"false", b"null", b"True", b"nul", b"truex", b"[true]x",
    b'{"a": 1, "a": 2, "b": 3}', b'{"b": 1, "a": 2, "b": 3}', b'{"": 0}',
    b'[1, 2.0, "3", [4], {"5": 5}]', b"[" * 900 + b"]" * 900, b"[" * 1000 + b"]" * 1000,
    b'{"a":' * 500 + b"1" + b"}" * 500, b"[" * 5000, b"[1]]", b"// c\n1", b"1 # c",
]


def ints(v):
    if isinstance(v, bool):
        return []
    if isinstance(v, int):
        return [v]
    if isinstance(v, list):
        return [x for e in v for x in ints(e)]
    if isinstance(v, dict):
        return [x for e in v.values() for x in ints(e)]
    return []


FLOATS_TO_DUMP = [0.1, 1e16, 1e15, 123456789012345678.0, 1e-4, 1e-5, 0.00012, 1.5e300, -2.5e-300,
                  5e-324, 1.7976931348623157e308, 100.0, 1234.5, -0.0, 0.0, 2.0**53, 1 / 3, 9.999999999999999e15,
                  float("nan"), float("inf"), float("-inf"), 1e22, 1.0e-7, 123e-20]


def gen_json():
    lines = []
    for case in JSON_CASES:
        try:
            v = json.loads(case)
        except (ValueError, RecursionError):
            lines.append((case.hex() or "-") + " reject - -")
            continue
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(20000)  # only for our own walk of deep results
        try:
            if not representable(v):
                lines.append(case.hex() + " limit - -")
            else:
                # json.dumps of the same value, when wds holds it exactly
                exact = all(INT64_MIN <= x <= INT64_MAX for x in ints(v))
                dumped = json.dumps(v).encode("utf-8", "surrogatepass").hex() if exact else "-"
                lines.append(case.hex() + " ok " + canon(v) + " " + (dumped or "-"))
        finally:
            sys.setrecursionlimit(limit)
    for x in FLOATS_TO_DUMP:
        text = json.dumps(x).encode()
        lines.append(text.hex() + " ok " + canon(json.loads(text)) + " " + text.hex())
    mixed = {"k\u00e9y": ["\x7f\x00\x1f\u2028\U0001f600\ud800", -7, True, None, {}], "": []}
    text = json.dumps(mixed).encode()
    lines.append(text.hex() + " ok " + canon(json.loads(text)) + " " + text.hex())
    with open(os.path.join(OUT, "json_cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


CLS_CASES = [b"0", b"7", b"-7", b"+7", b" 12 ", b"\t\n12\r\n", b"\x0b5\x0c", b"007", b"1_000",
             b"1__0", b"_1", b"1_", b"-_1", b"", b" ", b"+", b"-", b"1 2", b"1.0", b"0x10",
             b"1e3", b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808",
             b"0" * 4300 + b"1", b"0" * 4299 + b"1", b"\x001", b"1\x00", b"\xd9\xa1", b"\x1c1",
             b"12\n\n", b"--1", b"- 1", b"one"]


def gen_cls():
    lines = []
    for case in CLS_CASES:
        try:
            v = int(case)
        except ValueError:
            lines.append((case.hex() or "-") + " reject -")
            continue
        if INT64_MIN <= v <= INT64_MAX:
            lines.append((case.hex() or "-") + " ok %d" % v)
        else:
            lines.append((case.hex() or "-") + " limit -")
    with open(os.path.join(OUT, "cls_cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


TEXT_CASES = [b"", b"hello", "caf\u00e9 \U0001f600 \u2028".encode(), b"\xff", b"ab\xc3", b"\xc3\x28",
              b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x9f\x98",
              b"a\x00b", b"\xef\xbb\xbfx", b"\xf4\x8f\xbf\xbf", b"\xee\x80\x80", b"x\x80",
              b"\xf8\x88\x80\x80\x80", b"ok\xe2\x82"]


def gen_text():
    lines = []
    for case in TEXT_CASES:
        try:
            case.decode("utf-8")
            lines.append((case.hex() or "-") + " ok -")
        except UnicodeDecodeError as e:
            lines.append((case.hex() or "-") + " reject %d" % e.start)
    with open(os.path.join(OUT, "text_cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def gen_float16():
    halves = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    with open(os.path.join(OUT, "half_to_float.raw"), "wb") as f:
        f.write(halves.astype("<f4").tobytes())
    rng = np.random.RandomState(16)
    bits = list(rng.randint(0, 2**32, 20000, dtype=np.int64).astype(np.uint32))
    # ties, rounding into subnormals and into inf, tiny and huge values
    for h in range(0, 65536, 7):
        f32 = np.array([h], np.uint16).view(np.float16).astype(np.float32).view(np.uint32)[0]
        bits += [f32, f32 + 0x1000, f32 + 0xfff, f32 + 0x1001, f32 - 0x1000]
    floats = np.array(bits, dtype=np.uint32)
    with open(os.path.join(OUT, "float_to_half.raw"), "wb") as f:
        f.write(floats.astype("<u4").tobytes())
        f.write(floats.view(np.float32).astype(np.float16).view(np.uint16).astype("<u2").tobytes())


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    gen_npy()
    gen_images()
    gen_tenbin()
    gen_json()
    gen_cls()
    gen_text()
    gen_float16()
