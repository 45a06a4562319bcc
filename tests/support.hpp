// Small helpers shared by the test files.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "paths.hpp"
#include "wds/error.hpp"
#include "wds/image.hpp"
#include "wds/io.hpp"

namespace wds_test {

inline std::string data_path(const std::string& rel) { return std::string(WDS_TEST_DATA_DIR) + "/" + rel; }

inline std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open test file " + path);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) out[i] = static_cast<std::byte>(c[i]);
  return out;
}

inline void write_file(const std::string& path, const std::vector<std::byte>& data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write test file " + path);
}

inline std::vector<std::byte> bytes(std::string_view s) {
  auto p = reinterpret_cast<const std::byte*>(s.data());
  return std::vector<std::byte>(p, p + s.size());
}

inline std::string text(const std::vector<std::byte>& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

inline std::string from_hex(std::string_view h) {
  if (h == "-") return {};
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16));
  return out;
}

// A fresh directory under /tmp, removed with its contents at scope exit.
struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/wds-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string operator/(const std::string& rel) const { return path + "/" + rel; }
};

// A file's bytes as a string ("" when it cannot be read).
inline std::string slurp_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

struct cmd_result {
  int status = -1;  // exit status, -1 when killed by a signal
  std::string out, err;
};

// Runs `sh -c cmd` with stdout and stderr captured in files of `dir`.
inline cmd_result run_captured(const temp_dir& dir, const std::string& cmd) {
  const std::string o = dir / ".stdout", e = dir / ".stderr";
  const int rc = std::system(("( " + cmd + " ) >'" + o + "' 2>'" + e + "'").c_str());
  cmd_result r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = slurp_text(o);
  r.err = slurp_text(e);
  std::remove(o.c_str());
  std::remove(e.c_str());
  return r;
}

// Runs a shell command, returning its stdout; exit status in `status`.
inline std::string run(const std::string& cmd, int* status = nullptr) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  if (status) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

inline bool have_command(const std::string& name) {
  int st = 0;
  run("command -v " + name + " >/dev/null 2>&1", &st);
  return st == 0;
}

// A golden .npy file as numpy wrote it, read without the library's npy.hpp so
// the tests do not check the library against itself.
struct npy_array {
  std::string descr;  // e.g. "|u1", "<u2", "<i4", "<f4"
  std::vector<std::size_t> shape;
  std::vector<std::byte> bytes;  // C order, exactly prod(shape) * item size
};

// Parses .npy format versions 1 and 2 (C order only); `what` names the source
// in errors. Throws std::runtime_error on anything unexpected.
inline npy_array parse_npy(const std::vector<std::byte>& raw, const std::string& what) {
  const auto fail = [&](const std::string& why) { return std::runtime_error("npy " + what + ": " + why); };
  const auto u8 = [&](std::size_t i) { return static_cast<std::size_t>(std::to_integer<unsigned char>(raw[i])); };
  if (raw.size() < 10 || std::memcmp(raw.data(), "\x93NUMPY", 6) != 0) throw fail("no npy magic");
  std::size_t hlen = 0, hoff = 0;
  if (u8(6) == 1) {
    hlen = u8(8) | (u8(9) << 8);
    hoff = 10;
  } else if (u8(6) == 2) {
    if (raw.size() < 12) throw fail("truncated header");
    for (std::size_t i = 0; i < 4; ++i) hlen |= u8(8 + i) << (8 * i);
    hoff = 12;
  } else {
    throw fail("unsupported format version " + std::to_string(u8(6)));
  }
  if (hlen > raw.size() - hoff) throw fail("truncated header");
  const std::string h(reinterpret_cast<const char*>(raw.data()) + hoff, hlen);
  // The value after 'key': in the header dict.
  const auto value_at = [&](const char* key) {
    const auto k = h.find(std::string("'") + key + "':");
    if (k == std::string::npos) throw fail(std::string("no ") + key + " in header");
    const auto v = h.find_first_not_of(' ', k + std::strlen(key) + 3);
    if (v == std::string::npos) throw fail(std::string("no value for ") + key);
    return v;
  };
  npy_array a;
  const auto d = value_at("descr");
  const auto d_end = h.find('\'', d + 1);
  if (h[d] != '\'' || d_end == std::string::npos) throw fail("bad descr");
  a.descr = h.substr(d + 1, d_end - d - 1);
  if (h.compare(value_at("fortran_order"), 5, "False") != 0) throw fail("not C order");
  const auto p0 = value_at("shape"), p1 = h.find(')', p0);
  if (h[p0] != '(' || p1 == std::string::npos) throw fail("bad shape");
  const std::string dims = h.substr(p0 + 1, p1 - p0 - 1);
  std::size_t count = 1;
  for (std::size_t i = 0; i < dims.size();) {
    const auto comma = std::min(dims.find(',', i), dims.size());
    const std::string tok = dims.substr(i, comma - i);
    const auto t0 = tok.find_first_not_of(' ');
    if (t0 != std::string::npos) {
      const auto t1 = tok.find_last_not_of(' ');
      const std::string num = tok.substr(t0, t1 - t0 + 1);
      if (num.find_first_not_of("0123456789") != std::string::npos) throw fail("bad dimension '" + num + "'");
      a.shape.push_back(std::stoul(num));
      count *= a.shape.back();
    }
    i = comma + 1;
  }
  const std::string itemsize = a.descr.size() > 2 ? a.descr.substr(2) : std::string();
  if (a.descr.size() < 3 || std::string("<>|=").find(a.descr[0]) == std::string::npos ||
      itemsize.find_first_not_of("0123456789") != std::string::npos)
    throw fail("unsupported descr '" + a.descr + "'");
  const std::size_t data_off = hoff + hlen;
  if (raw.size() - data_off != count * std::stoul(itemsize)) throw fail("data size does not match shape and descr");
  a.bytes.assign(raw.begin() + static_cast<std::ptrdiff_t>(data_off), raw.end());
  return a;
}

inline npy_array read_npy(const std::string& path) { return parse_npy(read_file(path), path); }

// Pillow's mode names as the golden manifests spell them; "-" is "no mode".
inline std::optional<wds::pixel_mode> parse_pillow_mode(const std::string& m) {
  using M = wds::pixel_mode;
  if (m == "-") return std::nullopt;
  if (m == "L") return M::l;
  if (m == "LA") return M::la;
  if (m == "RGB") return M::rgb;
  if (m == "RGBA") return M::rgba;
  if (m == "CMYK") return M::cmyk;
  if (m == "I;16") return M::i16;
  if (m == "I") return M::i;
  if (m == "F") return M::f;
  throw std::runtime_error("unknown Pillow mode " + m);
}

// 64-bit FNV-1a, as tests/golden/gen_codecs.py hashes large golden outputs.
inline std::uint64_t fnv1a64(const void* p, std::size_t n) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001B3ull;
  return h;
}

// Sources for the decompressor tests (test_compress.cpp, test_gzip_parallel.cpp).
// The input a few bytes at a time (1 to 37): headers and trailers arrive split.
class trickle_source {
 public:
  explicit trickle_source(const std::vector<std::byte>& in) : in_(&in) {}
  std::size_t read(std::byte* dst, std::size_t n) {
    n = std::min({n, std::size_t(1 + (calls_++ * 7) % 37), in_->size() - pos_});
    std::copy(in_->begin() + static_cast<std::ptrdiff_t>(pos_), in_->begin() + static_cast<std::ptrdiff_t>(pos_ + n), dst);
    pos_ += n;
    return n;
  }

 private:
  const std::vector<std::byte>* in_;
  std::size_t pos_ = 0, calls_ = 0;
};

// The input read in place a few bytes at a time, as memory_source's read_view
// does with whole MiBs: the decompressing loop's no-copy path, with magics and
// headers split between views (read() is what it gathers those with).
class trickle_view_source {
 public:
  explicit trickle_view_source(const std::vector<std::byte>& in) : in_(&in) {}
  wds::byte_view read_view(std::size_t n) {
    n = std::min({n, std::size_t(1 + (calls_++ * 5) % 29), in_->size() - pos_});
    wds::byte_view v(in_->data() + pos_, n);
    pos_ += n;
    return v;
  }
  std::size_t read(std::byte* dst, std::size_t n) {
    const wds::byte_view v = read_view(n);
    std::copy(v.begin(), v.end(), dst);
    return v.size();
  }

 private:
  const std::vector<std::byte>* in_;
  std::size_t pos_ = 0, calls_ = 0;
};

// Whole reads into the decompressor's own buffer (memory_source without read_view):
// the copying path that file and pipe sources take.
class copied_source {
 public:
  explicit copied_source(const std::vector<std::byte>& in) : in_(in) {}
  std::size_t read(std::byte* dst, std::size_t n) { return in_.read(dst, n); }

 private:
  wds::memory_source in_;
};
static_assert(wds::detail::has_read_view<wds::memory_source>::value);
static_assert(wds::detail::has_read_view<trickle_view_source>::value);
static_assert(!wds::detail::has_read_view<copied_source>::value);

// Everything a decompressing source yields, with its end verified.
template <class Source>
std::vector<std::byte> drain_verified(Source& src) {
  std::vector<std::byte> out;
  std::vector<std::byte> buf(7777);  // odd size: reads straddle stream boundaries
  while (std::size_t k = src.read(buf.data(), buf.size())) out.insert(out.end(), buf.begin(), buf.begin() + k);
  src.verify_end();
  return out;
}

// "ok <bytes> <hash>" or "error <id>" for one decoder over one input, read through to
// the end (and verify_end, as the tar reader does after the end marker).
template <class Source, class Input = wds::memory_source, class... Args>
std::string decode_outcome(const std::vector<std::byte>& in, Args&&... args) {
  try {
    Source src(Input(in), "x.gz", args...);
    const auto out = drain_verified(src);
    return "ok " + std::to_string(out.size()) + " " + std::to_string(fnv1a64(out.data(), out.size()));
  } catch (const wds::error& e) {
    return "error " + std::to_string(e.id());
  }
}

}  // namespace wds_test
