// SPDX-License-Identifier: MIT
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "support.hpp"
#include "wds/npy.hpp"

namespace {

// wds_test::read_file, kept as one assertion per file read.
std::vector<std::byte> read_file(const std::string& path) {
  std::vector<std::byte> b;
  REQUIRE_NOTHROW(b = wds_test::read_file(path));
  return b;
}

const std::string dir = std::string(WDS_TEST_DATA_DIR) + "/tensors/";

struct npy_case {
  std::string name, dtype, order, byteorder;
  int version;
  std::vector<std::size_t> shape;
};

std::vector<npy_case> manifest() {
  std::ifstream f(dir + "npy/manifest.txt");
  REQUIRE(f.good());
  std::vector<npy_case> out;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    std::istringstream ss(line);
    npy_case c;
    std::string shape;
    ss >> c.name >> c.dtype >> c.order >> c.byteorder >> c.version >> shape;
    if (shape != "-") {
      std::istringstream s2(shape);
      std::string d;
      while (std::getline(s2, d, ',')) c.shape.push_back(std::stoul(d));
    }
    out.push_back(c);
  }
  return out;
}

wds::dtype dtype_named(const std::string& n) {
  wds::dtype t = wds::dtype::float32;
  wds::byte_order o = wds::byte_order::little;
  REQUIRE(wds::parse_dtype(n, t, o));
  return t;
}

template <class F>
void expect_error(int id, F&& f) {
  try {
    f();
    FAIL("no error thrown, expected id " << id);
  } catch (const wds::error& e) {
    CHECK(e.id() == id);
    INFO(e.what());
    CHECK(e.offset() != wds::location::unknown_offset);
  }
}

}  // namespace

TEST_CASE("npy: files written by numpy.save are read back exactly", "[npy]") {
  const auto cases = manifest();
  REQUIRE(cases.size() > 80);
  for (const auto& c : cases) {
    INFO(c.name);
    const auto bytes = read_file(dir + "npy/" + c.name + ".npy");
    const auto raw = read_file(dir + "npy/" + c.name + ".raw");  // C order, little endian
    const wds::ndarray a = wds::npy_decode(bytes);
    CHECK(wds::dtype_name(a.dtype()) == c.dtype);
    CHECK(a.shape() == c.shape);
    CHECK(a.bytes() == raw);
    const wds::npy_header h = wds::npy_decode_header(bytes.data(), bytes.size());
    CHECK(h.major_version == c.version);
    CHECK(h.fortran_order == (c.order == "F"));
    CHECK(h.data_offset % 64 == 0);
  }
}

TEST_CASE("npy: npy_encode is byte-identical to numpy.save", "[npy]") {
  for (const auto& c : manifest()) {
    INFO(c.name);
    const auto bytes = read_file(dir + "npy/" + c.name + ".npy");
    const auto raw = read_file(dir + "npy/" + c.name + ".raw");
    wds::npy_options opt;
    opt.fortran_order = c.order == "F";
    opt.order = c.byteorder == ">" ? wds::byte_order::big : wds::byte_order::little;
    opt.version = c.version == 1 ? 0 : c.version;  // numpy.save picks 1.0 by itself
    const wds::ndarray a(dtype_named(c.dtype), c.shape, raw);
    CHECK(wds::npy_encode(a, opt) == bytes);
  }
}

TEST_CASE("npy: typed access and safe casts", "[npy]") {
  const auto a = wds::npy_decode(read_file(dir + "npy/int16_3d.npy"));
  const wds::tensor<std::int16_t> t = a.as<std::int16_t>();
  REQUIRE(t.shape() == std::vector<std::size_t>{2, 3, 4});
  CHECK(t[0] == -32768);
  CHECK(t[1] == 32767);
  const auto f = a.to_tensor<float>();  // int16 -> float32 is safe
  for (std::size_t i = 0; i < t.size(); ++i) CHECK(f[i] == static_cast<float>(t[i]));
  try {
    (void)a.as<float>();
    FAIL("as<float> on int16");
  } catch (const wds::decode_error& e) {
    CHECK(e.id() == 478);
  }
  try {
    (void)a.to_tensor<std::int8_t>();
    FAIL("unsafe cast");
  } catch (const wds::decode_error& e) {
    CHECK(e.id() == 478);
  }
  const auto b = wds::npy_decode(read_file(dir + "npy/bool_1d.npy")).as<bool>();
  const auto braw = read_file(dir + "npy/bool_1d.raw");
  for (std::size_t i = 0; i < b.size(); ++i) CHECK(b.values()[i] == (braw[i] != std::byte{0}));
  const auto h = wds::npy_decode(read_file(dir + "npy/float16_1d.npy")).to_tensor<double>();
  CHECK(std::isnan(h[0]));
  CHECK(std::isinf(h[1]));
  CHECK(std::fabs(h[6] - 0.333251953125) < 1e-12);  // float16(1/3)
  // tensor -> npy -> ndarray round trip
  wds::tensor<double> d({2, 2}, {1.5, -2, 3, 4});
  const auto back = wds::npy_decode(wds::npy_encode(d)).as<double>();
  CHECK(back.values() == d.values());
}

TEST_CASE("npy: images encode like np.save(np.asarray(PIL image))", "[npy]") {
  std::ifstream f(dir + "image_npy/manifest.txt");
  std::string name, dt;
  int w, h, c, n = 0;
  while (f >> name >> dt >> w >> h >> c) {
    INFO(name);
    ++n;
    const auto expected = read_file(dir + "image_npy/" + name + ".npy");
    auto raw = read_file(dir + "image_npy/" + name + ".raw");
    std::vector<std::byte> got;
    if (dt == "uint8") {
      wds::image_view<const std::uint8_t> v(reinterpret_cast<const std::uint8_t*>(raw.data()), w, h, c);
      got = wds::npy_encode(v);
      // a flipped view is copied in view order
      const auto flipped = wds::npy_decode(wds::npy_encode(v.flipped_left_right())).as<std::uint8_t>();
      CHECK(flipped[0] == std::to_integer<std::uint8_t>(raw[static_cast<std::size_t>((w - 1) * c)]));
    } else if (dt == "uint16") {
      std::vector<std::uint16_t> px(raw.size() / 2);
      std::memcpy(px.data(), raw.data(), raw.size());
      got = wds::npy_encode(wds::image_view<const std::uint16_t>(px.data(), w, h, c));
    } else if (dt == "int32") {
      std::vector<std::int32_t> px(raw.size() / 4);
      std::memcpy(px.data(), raw.data(), raw.size());
      got = wds::npy_encode(wds::image_view<const std::int32_t>(px.data(), w, h, c));
    } else {
      wds::image<float> img(w, h, 1);
      std::memcpy(img.data(), raw.data(), raw.size());
      got = wds::npy_encode(img);
    }
    CHECK(got == expected);
  }
  CHECK(n == 7);
}

TEST_CASE("npy: bad input gives errors with offsets", "[npy]") {
  const auto good = read_file(dir + "npy/float32_3d.npy");
  // every truncation
  for (std::size_t n = 0; n < good.size(); ++n) {
    try {
      (void)wds::npy_decode(good.data(), n);
      FAIL("truncated to " << n << " bytes was accepted");
    } catch (const wds::decode_error& e) {
      CHECK((e.id() == 470 || e.id() == 472 || e.id() == 473));
    }
  }
  auto edit = [&](const std::string& from, const std::string& to) {
    std::string s(reinterpret_cast<const char*>(good.data()), good.size());
    const auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    std::string padded = to;
    if (padded.size() < from.size()) padded.append(from.size() - padded.size(), ' ');  // keep the length
    s.replace(at, from.size(), padded);
    return std::vector<std::byte>(reinterpret_cast<const std::byte*>(s.data()),
                                  reinterpret_cast<const std::byte*>(s.data()) + s.size());
  };
  auto check = [&](int id, const std::vector<std::byte>& b) {
    expect_error(id, [&] { (void)wds::npy_decode(b); });
  };
  check(474, edit("'<f4'", "'<U4'"));
  check(474, edit("'<f4'", "'O'  "));
  check(473, edit("'shape'", "'shap' "));
  check(473, edit("False", "0    "));
  check(473, edit("(2, 3, 4)", "[2, 3, 4]"));
  check(475, edit("(2, 3, 4)", "(2,-3, 4)"));
  check(472, edit("(2, 3, 4)", "(2, 3, 5)"));  // lying shape: data too short
  check(475, edit("(2, 3, 4)", "(99999999999, 99999999999, 4)"));
  check(475, edit("(2, 3, 4)", "(0, 9999999999999999999999, 4)"));
  check(475, edit("(2, 3, 4)", "(0,4611686018427387904,5)"));  // zero-sized but overflowing
  check(473, edit("(2, 3, 4)", "(24)     "));
  check(471, edit(std::string("\x01\x00", 2), std::string("\x04\x00", 2)));
  check(470, edit("NUMPY", "NUMPZ"));
  {
    auto b = good;
    b[8] = std::byte{0xff};  // header length 0x..ff beyond the data
    b[9] = std::byte{0x7f};
    check(520, b);
  }
  {
    wds::limits lim;
    lim.max_member_size = 64;
    expect_error(522, [&] { (void)wds::npy_decode(good, lim); });
  }
  // Equivalent spellings numpy accepts are accepted.
  const auto same = wds::npy_decode(edit("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }",
                                         "{\"shape\":(2,3,4,),'fortran_order':False,'descr':'float32'}"));
  CHECK(same.bytes() == wds::npy_decode(good).bytes());
  // location offsets are added to the caller's offset
  try {
    wds::location where{"shard.tar", "x.npy", 1000};
    (void)wds::npy_decode(edit("NUMPY", "NUMPZ"), {}, where);
    FAIL("accepted");
  } catch (const wds::error& e) {
    CHECK(e.offset() == 1000);
    CHECK(std::string(e.what()).find("shard.tar") != std::string::npos);
  }
}

TEST_CASE("npy: float16 conversions match numpy", "[npy]") {
  const auto h2f = read_file(dir + "half_to_float.raw");
  REQUIRE(h2f.size() == 65536 * 4);
  for (std::uint32_t i = 0; i < 65536; ++i) {
    wds::float16 h;
    h.bits = static_cast<std::uint16_t>(i);
    const float f = h.to_float();
    std::uint32_t got, want;
    std::memcpy(&got, &f, 4);
    std::memcpy(&want, h2f.data() + 4 * i, 4);
    if (got != want) FAIL("half " << i << " -> " << got << " want " << want);
  }
  const auto f2h = read_file(dir + "float_to_half.raw");
  const std::size_t n = f2h.size() / 6;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    float f;
    std::uint16_t want;
    std::memcpy(&f, f2h.data() + 4 * i, 4);
    std::memcpy(&want, f2h.data() + 4 * n + 2 * i, 2);
    if (wds::float16::from_float(f).bits != want) ++bad;
  }
  CHECK(bad == 0);
}

TEST_CASE("npy: corrupted files never crash", "[npy]") {
  const auto good = read_file(dir + "npy/c16_v2_fortran.npy");
  std::uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::size_t>(state >> 33);
  };
  std::size_t errors = 0;
  for (int round = 0; round < 3000; ++round) {
    auto b = good;
    for (int k = 0, n = 1 + static_cast<int>(next() % 4); k < n; ++k)
      b[next() % 140] = static_cast<std::byte>(next() & 0xff);  // hit magic, length and header
    b.resize(b.size() - next() % 8);
    try {
      const auto a = wds::npy_decode(b);
      CHECK(a.nbytes() == a.size() * a.itemsize());
    } catch (const wds::error& e) {
      ++errors;
      CHECK(e.offset() <= b.size());
    }
  }
  CHECK(errors > 0);
}
