#!/usr/bin/python3
"""Golden data for Python's str.lower() as webdataset applies it to exts.

Run from the repo root with Debian's python3 (3.11, Unicode 14.0):
    /usr/bin/python3 tests/golden/gen_unicode.py
Writes tests/data/unicode/ (the C++ suite only reads it):
- lower_all.txt: every code point c (surrogates excluded) with chr(c).lower() != chr(c),
  as "<hex c> <hex of the UTF-8 of the result>"; every other code point maps to itself.
- strings.txt: "<hex in> <hex out>" for named cases (αβγ, łódź, İmg, ß, ǅ, ...) and
  4000 seeded random strings around U+03A3 (final sigma context: cased letters,
  case-ignorable marks and punctuation, uncased characters, invalid UTF-8 bytes),
  where in/out are bytes and the string is bytes.decode("utf-8", "surrogateescape")
  as tarfile decodes member names.
"""
import os, random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "unicode")


def lower_bytes(b):
    return b.decode("utf-8", "surrogateescape").lower().encode("utf-8", "surrogateescape")


NAMED = ["αβγ", "ΑΒΓ", "łódź", "ŁÓDŹ", "İmg", "İMG", "ß", "ẞ", "ǆ", "ǅ", "Ǆ", "JPG", "Jpg.Json", "ΣΑΣ", "ΌΣΟΣ",
         "Σ", "aΣ", "aΣb", "aΣ'", "a'Σ", "aΣ'b", "ΣΣ", "aΣΣ", "Ω", "Ωmega", "ǈǉǊ", "Ⅻ", "Ⓐ", "𐐀", "Ꭰ", "ꭰ",
         "\u1e9e\u0130\u03a3", "ﬀ", "ŉ", "KELVIN\u212a", "\u2126"]
POOL = ["Σ", "Σ", "Σ", "A", "a", "é", "Ω", "ǅ", "İ", "'", ".", ":", "\u0301", "\u00ad", "\u02b0", "\u0345",
        "1", "-", "_", "日", "\u2160", "\U00010400", b"\xff", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf"]


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "lower_all.txt"), "w") as f:
        for c in range(0x110000):
            if 0xD800 <= c <= 0xDFFF:
                continue
            lo = chr(c).lower()
            if lo != chr(c):
                f.write("%x %s\n" % (c, lo.encode().hex()))
    rng = random.Random(12)
    cases = [s.encode() for s in NAMED]
    for _ in range(4000):
        parts = [rng.choice(POOL) for _ in range(rng.randint(1, 7))]
        cases.append(b"".join(p if isinstance(p, bytes) else p.encode() for p in parts))
    with open(os.path.join(OUT, "strings.txt"), "w") as f:
        for b in cases:
            f.write("%s %s\n" % (b.hex(), lower_bytes(b).hex()))


if __name__ == "__main__":
    main()
