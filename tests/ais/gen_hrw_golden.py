#!/usr/bin/env python3
# Golden values for tests/ais/test_emulator.cpp: XXH64 (seed MLCG32) from the
# xxHash C library (Debian libxxhash0), what AIStore's HRW feeds to
# xoshiro256.Hash (core/meta/hrw.go). xoshiro256.Hash is mirrored from
# cmn/xoshiro256/xoshiro.go. Run with Debian's /usr/bin/python3.
import ctypes

lib = ctypes.CDLL("libxxhash.so.0")
lib.XXH64.restype = ctypes.c_uint64
lib.XXH64.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
MLCG32 = 1103515245
M = (1 << 64) - 1


def xoshiro256_hash(seed):
    z = (seed + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    z = ((z ^ (z >> 31)) + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    z = ((z ^ (z >> 31)) * 5) & M
    return (((z << 7) | (z >> 57)) & M) * 9 & M


for s in ["", "a", "t1", "ais/@#/src/train/shard-000.tar", "ais/@#/dst/val/ä ö/shard 7.tar",
          "0123456789abcdef0123456789abcdef0123456789"]:
    b = s.encode()
    d = lib.XXH64(b, len(b), MLCG32)
    print('{"%s", 0x%016xull, 0x%016xull},' % (s, d, xoshiro256_hash(d)))
