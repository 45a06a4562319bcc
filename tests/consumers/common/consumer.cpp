// SPDX-License-Identifier: MIT
// The program every packaging consumer builds (CMake find_package, add_subdirectory,
// FetchContent, meson subproject, pkg-config, single header). It uses only the
// umbrella header, writes a small shard in memory, reads it back both as tar
// members and as samples, and round-trips through each codec the build enabled.
// Exit status: 0 when everything matches, 1 otherwise (one line per mismatch).
#include <wds/wds.hpp>
#ifndef WDS_SINGLE_INCLUDE_WDS_HPP_
// Multi-header install: the codec headers are named explicitly (no-ops when the
// umbrella already has them). The single header has whatever the umbrella has,
// and run.sh enables only those codecs for it.
#if WDS_HAS_ZLIB
#include <wds/codec/gzip.hpp>
#endif
#if WDS_HAS_JPEG
#include <wds/codec/jpeg.hpp>
#endif
#if WDS_HAS_PNG
#include <wds/codec/png.hpp>
#endif
#endif

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <variant>
#include <vector>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "consumer: FAILED: %s\n", what);
    ++failures;
  }
}

// True when a byte range (vector, wds::byte_view, ...) holds exactly the text s.
template <class Bytes>
bool holds(const Bytes& b, const std::string& s) {
  return b.size() == s.size() && (s.empty() || std::memcmp(b.data(), s.data(), s.size()) == 0);
}

void tar_round_trip() {
  wds::tar_writer writer{wds::memory_sink{}};
  for (int i = 0; i < 3; ++i) {
    wds::sample s("sample" + std::to_string(i));
    s.set("cls", std::to_string(i));
    s.set("txt", "caption number " + std::to_string(i));
    writer.write_sample(s);
  }
  writer.finish();
  const std::vector<std::byte> shard = writer.sink().bytes();
  check(shard.size() % 512 == 0 && shard.size() >= 6 * 1024, "tar size is whole blocks");

  std::vector<std::string> names;
  wds::tar_reader members(wds::memory_source(shard), "memory.tar");
  while (const wds::tar_member* m = members.next()) {
    names.push_back(m->name);
    check(members.payload().size() == m->size, "payload size matches header");
  }
  check(names.size() == 6, "six members");
  check(!names.empty() && names.front() == "sample0.cls", "first member is sample0.cls");

  int count = 0;
  wds::sample_reader samples(wds::memory_source(shard), "memory.tar");
  while (auto s = samples.next()) {
    const std::string key = "sample" + std::to_string(count);
    check(s->key() == key, "sample key");
    check(s->size() == 2, "two fields per sample");
    check(s->contains("cls") && holds(s->at("cls"), std::to_string(count)), "cls field");
    check(s->contains("txt") && holds(s->at("txt"), "caption number " + std::to_string(count)),
          "txt field");
    ++count;
  }
  check(count == 3, "three samples");

  // A truncated shard must throw a wds::error, not crash.
  bool threw = false;
  try {
    std::vector<std::byte> cut(shard.begin(), shard.begin() + 700);
    wds::tar_reader bad(wds::memory_source(cut), "cut.tar");
    while (bad.next()) {
    }
  } catch (const wds::error& e) {
    threw = std::strstr(e.what(), "[wds.") != nullptr;
  }
  check(threw, "truncated shard throws wds::error");
}

// Any type with write() and close() is a sink; this one appends to a vector it does not own.
struct vector_sink {
  std::vector<std::byte>* out;
  void write(const std::byte* p, std::size_t n) { out->insert(out->end(), p, p + n); }
  void close() {}
};

#if WDS_HAS_JPEG || WDS_HAS_PNG
// A small RGB gradient (smooth, so a lossy round trip stays close).
wds::image<std::uint8_t> gradient(int w, int h) {
  wds::image<std::uint8_t> img(w, h, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      std::uint8_t* p = img.row(y) + 3 * x;
      p[0] = static_cast<std::uint8_t>(x * 8);
      p[1] = static_cast<std::uint8_t>(y * 8);
      p[2] = 128;
    }
  return img;
}

#endif

void codec_round_trips() {
#if WDS_HAS_JPEG || WDS_HAS_PNG
  const wds::image<std::uint8_t> img = gradient(16, 12);
#endif
#if WDS_HAS_JPEG
  {
    wds::jpeg_options opt;
    opt.quality = 95;
    const std::vector<std::byte> jpg = wds::encode_jpeg(img.view(), opt);
    check(jpg.size() > 2 && jpg[0] == std::byte{0xFF} && jpg[1] == std::byte{0xD8}, "JPEG SOI marker");
    const wds::image<std::uint8_t> back = wds::decode_jpeg(jpg.data(), jpg.size());
    check(back.width() == 16 && back.height() == 12 && back.channels() == 3, "JPEG size");
    int worst = 0;
    for (std::size_t i = 0; i < back.size() && back.size() == img.size(); ++i)
      worst = std::max(worst, std::abs(int(back.data()[i]) - int(img.data()[i])));
    check(back.size() == img.size() && worst <= 16, "JPEG q95 round trip within 16 levels");
  }
#endif
#if WDS_HAS_PNG
  {
    const std::vector<std::byte> png = wds::encode_png(img.view());
    const wds::any_image back = wds::decode_png(png.data(), png.size());
    const auto* rgb = std::get_if<wds::image<std::uint8_t>>(&back);
    check(rgb && rgb->width() == 16 && rgb->height() == 12 && rgb->channels() == 3 &&
              std::equal(rgb->data(), rgb->data() + rgb->size(), img.data()),
          "PNG round trip is lossless");
  }
#endif
#if WDS_HAS_ZLIB
  {
    std::vector<std::byte> gz;
    wds::tar_writer writer{wds::gzip_sink<vector_sink>{vector_sink{&gz}}};
    writer.write("a.txt", std::string("gzip shard"));
    writer.finish();
    check(gz.size() > 2 && gz[0] == std::byte{0x1f} && gz[1] == std::byte{0x8b}, "gzip magic");
    wds::tar_reader reader(wds::gzip_source<wds::memory_source>(wds::memory_source(gz)), "a.tar.gz");
    const wds::tar_member* m = reader.next();
    check(m && m->name == "a.txt" && holds(reader.payload(), "gzip shard"), "gzip shard round trip");
  }
#endif
}

}  // namespace

int main() {
  try {
    tar_round_trip();
    codec_round_trips();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: unexpected exception: %s\n", e.what());
    return 1;
  }
  std::printf("consumer: wds %d.%d.%d zlib=%d jpeg=%d png=%d: %s\n", wds::config::version_major,
              wds::config::version_minor, wds::config::version_patch, WDS_HAS_ZLIB, WDS_HAS_JPEG,
              WDS_HAS_PNG, failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
