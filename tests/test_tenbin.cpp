// SPDX-License-Identifier: MIT
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "support.hpp"
#include "wds/tenbin.hpp"

namespace {

// wds_test::read_file, kept as one assertion per file read.
std::vector<std::byte> read_bytes(const std::string& path) {
  std::vector<std::byte> b;
  REQUIRE_NOTHROW(b = wds_test::read_file(path));
  return b;
}

const std::string tdir = std::string(WDS_TEST_DATA_DIR) + "/tensors/tenbin/";

struct expected_array {
  std::string dtype, info;
  std::vector<std::size_t> shape;
  std::vector<std::byte> raw;
};

std::map<std::string, std::vector<expected_array>> tenbin_manifest() {
  std::ifstream f(tdir + "manifest.txt");
  REQUIRE(f.good());
  std::map<std::string, std::vector<expected_array>> out;
  std::string name, index, dtype, shape, info;
  while (f >> name >> index >> dtype >> shape >> info) {
    auto& v = out[name];
    if (index == "-") continue;
    expected_array a;
    a.dtype = dtype;
    a.info = info == "-" ? "" : info;
    if (shape != "-") {
      std::istringstream s(shape);
      std::string d;
      while (std::getline(s, d, ',')) a.shape.push_back(std::stoul(d));
    }
    a.raw = read_bytes(tdir + name + "." + index + ".raw");
    v.push_back(a);
  }
  return out;
}

template <class F>
int error_id(F&& f) {
  try {
    f();
  } catch (const wds::error& e) {
    INFO(e.what());
    CHECK(e.offset() != wds::location::unknown_offset);
    return e.id();
  }
  return 0;
}

}  // namespace

TEST_CASE("tenbin: buffers written by webdataset's tenbin are decoded", "[tenbin]") {
  const auto m = tenbin_manifest();
  REQUIRE(m.size() == 6);
  for (const auto& [name, arrays] : m) {
    INFO(name);
    const auto bytes = read_bytes(tdir + name + ".ten");
    const auto entries = wds::tenbin_decode_entries(bytes.data(), bytes.size());
    REQUIRE(entries.size() == arrays.size());
    for (std::size_t i = 0; i < arrays.size(); ++i) {
      CHECK(wds::dtype_name(entries[i].array.dtype()) == arrays[i].dtype);
      CHECK(entries[i].array.shape() == arrays[i].shape);
      CHECK(entries[i].array.bytes() == arrays[i].raw);
      CHECK(entries[i].info == arrays[i].info);
    }
    CHECK(wds::tenbin_decode(bytes).size() == arrays.size());
  }
}

TEST_CASE("tenbin: tenbin_encode is byte-identical to webdataset's encode_buffer", "[tenbin]") {
  for (const auto& [name, arrays] : tenbin_manifest()) {
    INFO(name);
    std::vector<wds::ndarray> in;
    std::vector<std::string> infos;
    bool any_info = false;
    for (const auto& a : arrays) {
      wds::dtype t = wds::dtype::float32;
      wds::byte_order o = wds::byte_order::little;
      REQUIRE(wds::parse_dtype(a.dtype, t, o));
      in.emplace_back(t, a.shape, a.raw);
      infos.push_back(a.info);
      any_info = any_info || !a.info.empty();
    }
    const auto got = any_info ? wds::tenbin_encode(in, infos) : wds::tenbin_encode(in);
    CHECK(got == read_bytes(tdir + name + ".ten"));
  }
}

TEST_CASE("tenbin: uint32 and 0-d arrays round-trip (Python's tenbin cannot)", "[tenbin]") {
  wds::tensor<std::uint32_t> u({3}, {0u, 7u, 4294967295u});
  wds::tensor<double> s(std::vector<std::size_t>{}, {2.5});
  const auto bytes = wds::tenbin_encode({wds::ndarray(u), wds::ndarray(s)});
  const auto back = wds::tenbin_decode(bytes);
  REQUIRE(back.size() == 2);
  CHECK(back[0].as<std::uint32_t>().values() == u.values());
  CHECK(back[1].rank() == 0);
  CHECK(back[1].as<double>()[0] == 2.5);
  CHECK(bytes.size() % 64 == 0);
}

TEST_CASE("tenbin: what it cannot encode", "[tenbin]") {
  auto id = [](auto&& f) {
    try {
      f();
    } catch (const wds::error& e) {
      return e.id();
    }
    return 0;
  };
  CHECK(id([] { (void)wds::tenbin_encode({wds::ndarray(wds::dtype::bool_, {2})}); }) == 485);
  CHECK(id([] { (void)wds::tenbin_encode({wds::ndarray(wds::dtype::complex64, {2})}); }) == 485);
  CHECK(id([] { (void)wds::tenbin_encode({wds::ndarray(wds::dtype::uint8, std::vector<std::size_t>(10, 1))}); }) == 485);
  CHECK(id([] { (void)wds::tenbin_encode({wds::ndarray(wds::dtype::uint8, {1})}, {"123456789"}); }) == 485);
  CHECK(id([] { (void)wds::tenbin_encode({wds::ndarray(wds::dtype::uint8, {1})}, {"a", "b"}); }) == 485);
}

TEST_CASE("tenbin: bad input gives errors with offsets", "[tenbin]") {
  const auto good = read_bytes(tdir + "mixed.ten");
  // Every truncation that cuts into a chunk is an error. tenbin has no
  // array count, so a cut at an array boundary or inside the last padding
  // is a shorter, valid payload (tenbin.py reads it the same way): then the
  // arrays read must be a prefix of the full list.
  const auto full = wds::tenbin_decode(good);
  std::size_t accepted = 0;
  for (std::size_t n = 1; n < good.size(); ++n) {
    try {
      const auto part = wds::tenbin_decode(good.data(), n);
      ++accepted;
      REQUIRE(part.size() <= full.size());
      for (std::size_t i = 0; i < part.size(); ++i) CHECK(part[i].bytes() == full[i].bytes());
    } catch (const wds::decode_error& e) {
      CHECK(e.id() >= 480);
      CHECK(e.id() <= 484);
    }
  }
  CHECK(accepted < good.size() / 4);
  auto with = [&](std::size_t at, std::uint64_t v) {
    auto b = good;
    for (int i = 0; i < 8; ++i) b[at + i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
    return b;
  };
  auto decode = [](const std::vector<std::byte>& b) { return [&b] { (void)wds::tenbin_decode(b); }; };
  // chunk 0: magic at 0, length at 8, header payload at 16: dtype, info, ndim at 32, dims at 40
  CHECK(error_id(decode(with(0, 0x1234))) == 480);
  CHECK(error_id(decode(with(8, ~std::uint64_t{0}))) == 481);             // negative length
  CHECK(error_id(decode(with(8, std::uint64_t{1} << 40))) == 481);        // lying length
  CHECK(error_id(decode(with(8, 20))) == 482);                            // not int64s
  CHECK(error_id(decode(with(16, 0x6362))) == 483);                       // "bc"
  CHECK(error_id(decode(with(32, 3))) == 482);                            // rank past the header
  CHECK(error_id(decode(with(40, std::uint64_t{1} << 62))) == 475);       // shape overflow
  CHECK(error_id(decode(with(40, std::uint64_t{1} << 63))) == 482);       // negative dim
  CHECK(error_id(decode(with(40, 3))) == 484);                            // data chunk too short
  {
    wds::limits lim;
    lim.max_member_size = 4;
    CHECK(error_id([&] { (void)wds::tenbin_decode(good, lim); }) == 522);
  }
  {
    // a header chunk without its data chunk
    const auto one = wds::tenbin_encode({wds::ndarray(wds::dtype::uint8, {1})});
    CHECK(error_id([&] { (void)wds::tenbin_decode(one.data(), 80); }) == 484);
  }
}

TEST_CASE("tenbin: corrupted buffers never crash", "[tenbin]") {
  const auto good = read_bytes(tdir + "mixed.ten");
  std::uint64_t state = 777;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::size_t>(state >> 33);
  };
  for (int round = 0; round < 3000; ++round) {
    auto b = good;
    for (int k = 0, n = 1 + static_cast<int>(next() % 4); k < n; ++k)
      b[next() % b.size()] = static_cast<std::byte>(next() & 0xff);
    b.resize(b.size() - next() % 100);
    try {
      for (const auto& a : wds::tenbin_decode(b)) CHECK(a.nbytes() == a.size() * a.itemsize());
    } catch (const wds::error& e) {
      CHECK(e.offset() <= b.size());
    }
  }
}
