// SPDX-License-Identifier: MIT
// `wds-etl index SHARD... [-o wids.json]`: x.idx (DALI v1.2) beside each x.tar,
// and one wids shard list for all of them.
#include "commands.hpp"

#include <wds/index.hpp>

#include <cstdio>
#include <string>
#include <vector>

int wds_etl_index(int argc, char** argv) {
  std::string out = "shardindex.json";  // widsindex's default
  std::vector<std::string> shards;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-o") {
      if (i + 1 >= argc) return wds_etl_usage_error("index", "-o needs a value");
      out = argv[++i];
    } else if (a.size() > 1 && a[0] == '-') {
      return wds_etl_usage_error("index", "unknown option " + a);
    } else {
      shards.push_back(a);
    }
  }
  if (shards.empty()) return wds_etl_usage_error("index", "no shards");
  wds::wids_shard_list list;
  const std::string dir = out.rfind('/') == std::string::npos ? "" : out.substr(0, out.rfind('/'));
  for (const auto& s : shards) {
    wds::shard_index idx = wds::index_shard(s);
    wds::write_text_file(wds::dali_index_path(s), wds::dali_index_text(idx.samples, s));
    // Shard urls are relative to the JSON's directory when they are inside it.
    if (!dir.empty() && s.compare(0, dir.size() + 1, dir + "/") == 0) idx.info.url = s.substr(dir.size() + 1);
    else if (dir.empty() || s[0] == '/') idx.info.url = s;
    list.shards.push_back(std::move(idx.info));
  }
  wds::write_text_file(out, wds::wids_json_text(list));
  std::fprintf(stderr, "wds-etl index: %zu shards, wids shard list %s\n", shards.size(), out.c_str());
  return 0;
}
