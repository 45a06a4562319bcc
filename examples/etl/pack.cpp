// SPDX-License-Identifier: MIT
// `wds-etl pack DIR -o PATTERN [--maxcount N] [--maxsize SIZE] [--exact-size] [--index] [--wids FILE]`
#include "commands.hpp"

#include <wds/pack.hpp>

#include <charconv>
#include <cstdio>
#include <stdexcept>
#include <string>

int wds_etl_pack(int argc, char** argv) {
  auto usage = [](const std::string& why) { return wds_etl_usage_error("pack", why); };
  std::string dir, pattern;
  wds::shard_writer_options o;
  try {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "-o" || a == "--output") pattern = value();
    else if (a == "--maxcount") {
      const std::string v = value();
      unsigned long long n = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n == 0)
        return usage("--maxcount needs a positive integer");
      o.maxcount = n;
    } else if (a == "--maxsize") o.maxsize = wds::parse_byte_size(value());
    else if (a == "--exact-size") o.exact_size = true;
    else if (a == "--index") o.dali_index = true;
    else if (a == "--wids") o.wids_json = value();
    else if (!a.empty() && a[0] == '-') return usage("unknown option " + a);
    else if (dir.empty()) dir = a;
    else return usage("only one DIR");
  }
  } catch (const std::invalid_argument& e) {
    return usage(e.what());
  }
  if (dir.empty() || pattern.empty()) return usage("needs DIR and -o PATTERN");
  const wds::pack_report r = wds::pack_directory(dir, pattern, o);
  std::fprintf(stderr, "wds-etl pack: %llu samples (%llu files, %llu skipped) in %zu shards\n",
               static_cast<unsigned long long>(r.samples), static_cast<unsigned long long>(r.files),
               static_cast<unsigned long long>(r.skipped), r.shards.size());
  return 0;
}
