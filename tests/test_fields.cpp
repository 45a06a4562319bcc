// SPDX-License-Identifier: MIT
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "catch.hpp"
#include "support.hpp"
#include "wds/fields.hpp"

namespace {

std::vector<std::byte> bytes_of(const std::string& s) {
  return std::vector<std::byte>(reinterpret_cast<const std::byte*>(s.data()),
                                reinterpret_cast<const std::byte*>(s.data()) + s.size());
}

std::vector<std::byte> unhex_bytes(const std::string& h) {
  std::string out;
  if (h != "-")
    for (std::size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return bytes_of(out);
}

std::vector<std::byte> file_bytes(const std::string& path) {
  std::vector<std::byte> b;
  REQUIRE_NOTHROW(b = wds_test::read_file(path));
  return b;
}

const std::string data_dir = std::string(WDS_TEST_DATA_DIR) + "/tensors/";

}  // namespace

TEST_CASE("fields: cls/index/id decode like Python's int(bytes)", "[fields]") {
  std::ifstream f(data_dir + "cls_cases.txt");
  REQUIRE(f.good());
  std::string h, verdict, value;
  int n = 0;
  while (f >> h >> verdict >> value) {
    ++n;
    const auto in = unhex_bytes(h);
    INFO("case " << h.substr(0, 60) << " python: " << verdict << " " << value);
    try {
      const std::int64_t v = wds::decode_cls(in);
      CHECK(verdict == "ok");
      if (verdict == "ok") CHECK(std::to_string(v) == value);
    } catch (const wds::limit_error& e) {
      CHECK(verdict == "limit");
      CHECK(e.id() == 523);
    } catch (const wds::decode_error& e) {
      CHECK(verdict == "reject");
      CHECK(e.id() == 490);
      CHECK(e.offset() <= in.size());
    }
  }
  CHECK(n > 30);
  CHECK(wds::encode_cls(-42) == bytes_of("-42"));
  CHECK(wds::decode_cls(wds::encode_cls(INT64_MIN)) == INT64_MIN);
}

TEST_CASE("fields: txt/text/transcript decode like bytes.decode('utf-8')", "[fields]") {
  std::ifstream f(data_dir + "text_cases.txt");
  REQUIRE(f.good());
  std::string h, verdict, pos;
  int n = 0;
  while (f >> h >> verdict >> pos) {
    ++n;
    const auto in = unhex_bytes(h);
    INFO("case " << h << " python: " << verdict << " " << pos);
    try {
      const std::string s = wds::decode_text(in);
      CHECK(verdict == "ok");
      CHECK(bytes_of(s) == in);
    } catch (const wds::decode_error& e) {
      CHECK(verdict == "reject");
      CHECK(e.id() == 491);
      CHECK(std::to_string(e.offset()) == pos);  // Python's UnicodeDecodeError.start
    }
  }
  CHECK(n > 15);
}

TEST_CASE("fields: decode_field picks the decoder by the last extension", "[fields]") {
  CHECK(wds::field_kind_of("cls") == wds::field_kind::integer);
  CHECK(wds::field_kind_of("seg.cls") == wds::field_kind::integer);
  CHECK(wds::field_kind_of("CLS") == wds::field_kind::bytes);  // case-sensitive, as in Python
  CHECK(wds::field_kind_of("class") == wds::field_kind::bytes);  // encode-only in Python
  CHECK(wds::field_kind_of("json.gz") == wds::field_kind::bytes);
  CHECK(wds::field_kind_of("transcript") == wds::field_kind::text);
  CHECK(wds::field_kind_of("jsn") == wds::field_kind::json);
  CHECK(wds::field_kind_of("tb") == wds::field_kind::tenbin);
  CHECK(wds::field_kind_of("jpg") == wds::field_kind::bytes);

  CHECK(std::get<std::int64_t>(wds::decode_field("inx", bytes_of(" 12\n"))) == 12);
  CHECK(std::get<std::string>(wds::decode_field("txt", bytes_of("caf\xc3\xa9"))) == "caf\xc3\xa9");
  CHECK(std::get<wds::json>(wds::decode_field("json", bytes_of("{\"a\": [1]}")))["a"][0].as_int() == 1);
  const auto npy = file_bytes(data_dir + "npy/uint8_1d.npy");
  CHECK(std::get<wds::ndarray>(wds::decode_field("npy", npy)).bytes() == file_bytes(data_dir + "npy/uint8_1d.raw"));
  const auto ten = file_bytes(data_dir + "tenbin/infos.ten");
  CHECK(std::get<std::vector<wds::ndarray>>(wds::decode_field("x.ten", ten)).size() == 2);
  const auto raw = bytes_of("\xff\xd8 not decoded");
  CHECK(std::get<std::vector<std::byte>>(wds::decode_field("jpg", raw)) == raw);
  try {
    (void)wds::decode_field("cls", bytes_of("12a"), {}, wds::location{"a.tar", "k.cls", 2048});
    FAIL("accepted");
  } catch (const wds::decode_error& e) {
    CHECK(e.id() == 490);
    CHECK(e.offset() == 2048 + 2);
    CHECK(e.member() == "k.cls");
  }
}
