// SPDX-License-Identifier: MIT
// Offline bucket-to-bucket throughput (objects/s) through 1, 2 and 3 emulated
// AIStore targets, each with its own `wds-etl serve` pod (tests/ais/
// b2b_simulation.hpp): HRW placement, etl_fqn, direct put to the destination
// target. The binary is the one this build made, or $WDS_ETL_BINARY.
//   build/bench/bench_ais --benchmark_counters_tabular=true
#include "ais/b2b_simulation.hpp"

#include <benchmark/benchmark.h>

#include <wds/config.hpp>

#if WDS_HAS_JPEG

namespace {

using namespace wds_ais;

void b2b(benchmark::State& state, comm mode) {
  const auto pods = static_cast<std::size_t>(state.range(0));
  const auto objs = b2b_objects(48);
  std::vector<std::string> inputs;
  for (const auto& o : objs) inputs.push_back(o.data);
  const auto want = cli_transform(inputs, test_map_args());
  b2b_cluster::options opt;
  opt.targets = pods;
  b2b_cluster cluster(opt);
  cluster.load(objs);
  for (auto _ : state) {
    const auto errors = cluster.run(mode);
    if (!errors.empty()) {
      state.SkipWithError(("object failed: " + errors.front()).c_str());
      break;
    }
  }
  if (const auto problems = cluster.verify(want); !problems.empty())
    state.SkipWithError(("wrong result: " + problems.front()).c_str());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * objs.size()));
  state.counters["pods"] = static_cast<double>(pods);
  state.counters["objects/s"] =
      benchmark::Counter(static_cast<double>(objs.size()), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_b2b_hpush(benchmark::State& s) { b2b(s, comm::hpush); }
void BM_b2b_hpull(benchmark::State& s) { b2b(s, comm::hpull); }
void BM_b2b_ws(benchmark::State& s) { b2b(s, comm::ws); }

BENCHMARK(BM_b2b_hpush)->DenseRange(1, 3)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_b2b_hpull)->DenseRange(1, 3)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_b2b_ws)->DenseRange(1, 3)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

}  // namespace

#endif

BENCHMARK_MAIN();
