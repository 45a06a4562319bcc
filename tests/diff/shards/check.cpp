// Differential checker, shard half: reads a corpus written by gen.py (cases of
// archive bytes plus the Python oracle's canonical result), runs wds's tar
// reader and webdataset grouping on each, and prints
//   diff: K/N identical
// plus one line per mismatch with the command that reproduces it.
//   wds_diff_shards CORPUS [CORPUS...]     (a corpus may be compressed)
//   wds_diff_shards --deviations CORPUS    every case must be README's documented
//     deviation: Python ends quietly at a cut/invalid header, wds refuses (tar.201-204)
//     after yielding a prefix of Python's samples.
#include <wds/open.hpp>
#include <wds/sample.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace {

std::uint64_t fnv1a64(const std::vector<std::byte>& b) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::byte x : b) h = (h ^ static_cast<unsigned char>(x)) * 0x100000001b3ull;
  return h;
}

std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) out += d[c >> 4], out += d[c & 15];
  return out;
}

// The same canonical line as gen.py's oracle().
int last_error_id = 0;

std::string ours(const std::vector<std::byte>& archive) {
  last_error_id = 0;
  std::string out;
  bool failed = false;
  try {
    wds::any_source src = wds::decompress_by_magic(wds::memory_source(archive), "case");
    wds::sample_reader r(std::move(src), "case", wds::limits{}, wds::sample_reader_options{});
    bool first = true;
    while (auto s = r.next()) {
      if (!first) out += ';';
      first = false;
      out += hex(s->key()) + "|";
      bool f1 = true;
      for (const auto& f : s->fields()) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "=%zu:%016llx", f.data.size(), static_cast<unsigned long long>(fnv1a64(f.data)));
        out += (f1 ? "" : ",") + hex(f.ext) + buf;
        f1 = false;
      }
    }
  } catch (const wds::error& e) {
    failed = true;
    last_error_id = e.id();
  }
  return out + (failed ? "!" : "");
}

std::vector<std::byte> slurp(const std::string& path) {
  wds::any_source in = wds::open_input(path);
  std::vector<std::byte> out(std::size_t{1} << 20);
  std::size_t n = 0;
  for (;;) {
    if (n == out.size()) out.resize(out.size() * 2);
    std::size_t k = in.read(out.data() + n, out.size() - n);
    if (k == 0) break;
    n += k;
  }
  out.resize(n);
  return out;
}

std::string line_at(const std::vector<std::byte>& b, std::size_t& pos) {
  std::string s;
  while (pos < b.size() && b[pos] != std::byte{'\n'}) s += static_cast<char>(b[pos++]);
  ++pos;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: wds_diff_shards CORPUS...\n");
    return 2;
  }
  std::size_t total = 0, same = 0;
  int first = 1;
  const bool deviations = std::string(argv[1]) == "--deviations";
  if (deviations) ++first;
  for (int a = first; a < argc; ++a) {
    const auto corpus = slurp(argv[a]);
    std::size_t pos = 0;
    while (pos < corpus.size()) {
      const std::string head = line_at(corpus, pos);  // "case SEED:I KIND"
      const std::string size = line_at(corpus, pos);  // "size N"
      if (head.rfind("case ", 0) != 0 || size.rfind("size ", 0) != 0) {
        std::fprintf(stderr, "wds_diff_shards: %s: malformed corpus at byte %zu\n", argv[a], pos);
        return 2;
      }
      const std::size_t n = std::stoull(size.substr(5));
      std::vector<std::byte> archive(corpus.begin() + static_cast<std::ptrdiff_t>(pos),
                                     corpus.begin() + static_cast<std::ptrdiff_t>(pos + n));
      pos += n + 1;
      const std::string expect = line_at(corpus, pos).substr(7);  // "expect ..."
      ++total;
      const std::string got = ours(archive);
      if (deviations) {
        const std::string prefix = got.substr(0, got.size() - 1);
        if ((expect.empty() || expect.back() != '!') && !got.empty() && got.back() == '!' &&
            last_error_id >= 201 && last_error_id <= 208 && last_error_id != 205 && last_error_id != 206 && expect.compare(0, prefix.size(), prefix) == 0)
          ++same;
        else
          std::printf("not the documented deviation: %s\n", head.c_str());
        continue;
      }
      if (got == expect) {
        ++same;
        continue;
      }
      const std::string id = head.substr(5, head.find(' ', 5) - 5);
      const std::string seed = id.substr(0, id.find(':')), index = id.substr(id.find(':') + 1);
      std::printf("mismatch %s (%s): python %s | wds %s | repro: /usr/bin/python3 tests/diff/shards/gen.py --seed %s "
                  "--only %s --out /tmp/wds-diff && %s /tmp/wds-diff/corpus.bin\n",
                  id.c_str(), head.substr(head.find(' ', 5) + 1).c_str(), expect.substr(0, 200).c_str(),
                  got.substr(0, 200).c_str(), seed.c_str(), index.c_str(), argv[0]);
    }
  }
  std::printf("diff: %zu/%zu identical\n", same, total);
  return same == total ? 0 : 1;
}
