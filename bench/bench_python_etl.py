#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The Python reference ETL (webdataset 1.0.2 semantics + Pillow 9.4 +
torchvision 0.14, one torch thread) over a shard, timed: the baseline that
bench/run_all.sh puts next to bench_etl's reference pipeline on the same shard.

  /usr/bin/python3 bench/bench_python_etl.py SHARD [ROUNDS]

Prints "python_etl <samples/s of CPU time, median of the rounds>" and the
wall-clock rate. The pipeline itself is tests/golden/gen_reference_etl.py's
reference_etl, i.e. the code the golden data comes from.
"""
import importlib.util
import os
import statistics
import sys
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("ref", os.path.join(here, "..", "tests", "golden", "gen_reference_etl.py"))
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

torch.set_num_threads(1)
shard = open(sys.argv[1], "rb").read()
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
samples = sum(1 for _ in ref.read_samples(shard))
ref.reference_etl(shard)  # warm-up (imports, allocator)
cpu, wall = [], []
for _ in range(rounds):
    c0, w0 = time.process_time(), time.perf_counter()
    ref.reference_etl(shard)
    cpu.append(samples / (time.process_time() - c0))
    wall.append(samples / (time.perf_counter() - w0))
print(f"python_etl {statistics.median(cpu):.1f}")
print(f"python_etl_wall {statistics.median(wall):.1f}")
print(f"python_etl_samples {samples}")
