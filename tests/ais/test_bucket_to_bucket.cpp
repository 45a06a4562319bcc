// SPDX-License-Identifier: MIT
// Offline bucket-to-bucket transform through 3 emulated targets, each with its
// own `wds-etl serve` pod: objects placed by HRW, each sent through its local
// pod, direct put to the destination's HRW target. Every destination object
// must be byte-identical to the CLI's output for it, present once, on the
// right target, written exactly once.
#include "catch.hpp"

#include "ais/b2b_simulation.hpp"

#include <wds/config.hpp>

using namespace wds_ais;

#if WDS_HAS_JPEG

namespace {

std::string listed(const std::vector<std::string>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < 20; ++i) s += "\n  " + v[i];
  if (v.size() > 20) s += "\n  ... and " + std::to_string(v.size() - 20) + " more";
  return s;
}

}  // namespace

TEST_CASE("ais b2b: 3 targets, 3 pods, HRW placement, direct put (hpush, hpull, ws)", "[ais][b2b]") {
  const auto objs = b2b_objects(36);
  std::vector<std::string> inputs;
  for (const auto& o : objs) inputs.push_back(o.data);
  const auto want = cli_transform(inputs, test_map_args());

  b2b_cluster::options opt;
  opt.pass_fqn = GENERATE(true, false);
  b2b_cluster cluster(opt);
  cluster.load(objs);
  // The placement spreads the work, and some objects stay on their target
  // (the pod answers the bytes) while others move (direct put).
  std::size_t moving = 0;
  std::vector<int> per(cluster.size());
  for (const auto& o : objs) {
    ++per[cluster.owner("src", o.name)];
    moving += cluster.owner("src", o.name) != cluster.owner("dst", o.name);
  }
  for (int n : per) CHECK(n > 0);
  CHECK(moving > 0);
  CHECK(moving < objs.size());

  for (comm mode : {comm::hpush, comm::hpull, comm::ws}) {
    INFO(to_string(mode) << (opt.pass_fqn ? " with etl_fqn" : " with the object in the body"));
    const auto errors = cluster.run(mode);
    INFO("errors:" << listed(errors));
    CHECK(errors.empty());
    const auto problems = cluster.verify(want);
    INFO("problems:" << listed(problems));
    CHECK(problems.empty());
  }
}

#else
TEST_CASE("ais b2b: skipped (no JPEG codec)", "[ais][b2b]") { WARN("the b2b simulation needs WDS_HAS_JPEG"); }
#endif
