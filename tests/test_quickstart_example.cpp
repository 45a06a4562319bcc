// SPDX-License-Identifier: MIT
// The README's first example (examples/quickstart/main.cpp), run as the README
// says: from the repo root, on the shard shipped in tests/data/etl/.
#include "catch.hpp"
#include "support.hpp"

#include <wds/config.hpp>

#if defined(WDS_QUICKSTART_EXAMPLE_BINARY) && WDS_HAS_JPEG

#include <wds/codec/jpeg.hpp>
#include <wds/io.hpp>
#include <wds/sample.hpp>

#include <string>
#include <vector>

TEST_CASE("quickstart example: resizes every image.jpg of the shipped shard to 224x224", "[examples]") {
  wds_test::temp_dir root;  // stands in for the repo root: the example opens repo paths
  const std::string shard = wds_test::data_path("etl/pets-small.tar");
  int st = -1;
  wds_test::run("mkdir -p '" + root / "tests/data/etl" + "' && cp '" + shard + "' '" +
                    root / "tests/data/etl/" + "' && cd '" + root.path + "' && '" +
                    WDS_QUICKSTART_EXAMPLE_BINARY + "' 2>&1",
                &st);
  REQUIRE(st == 0);

  wds::sample_reader before{wds::file_source(shard), "in"};
  wds::sample_reader after{wds::file_source(root / "pets-small-224.tar"), "out"};
  std::size_t samples = 0;
  while (auto a = before.next()) {
    auto b = after.next();
    REQUIRE(b);
    CHECK(b->key() == a->key());
    REQUIRE(a->find("image.jpg"));
    const auto& out = b->at("image.jpg");
    CHECK(out != a->at("image.jpg"));  // the shard really changed
    const wds::jpeg_info in_info = wds::read_jpeg_info(a->at("image.jpg").data(), a->at("image.jpg").size());
    const wds::jpeg_info info = wds::read_jpeg_info(out.data(), out.size());
    CHECK(in_info.width != 224);
    CHECK(info.width == 224);
    CHECK(info.height == 224);
    for (const char* ext : {"trimap.png", "cls", "json"}) CHECK(b->at(ext) == a->at(ext));  // untouched
    ++samples;
  }
  CHECK(!after.next());
  CHECK(samples == 11);
}

#endif
