// SPDX-License-Identifier: MIT
#pragma once

// Where a dataset's shards come from, and which of them a rank reads:
//   "dir/train-{000..099}.tar::extra.tar"  webdataset's brace/`::` syntax, ${VAR} from $WDS_VAR
//   "dir/"  or an existing directory        its *.tar / *.tar.gz / *.tgz files, sorted
//   "shards.txt" (also .list, .shards)      one URL per line ('#' comments)
//   "train.json"                            a wids shard list (sample counts included)
// Counts per shard (for equal per-rank epochs and exact resume across ranks)
// come from the wids JSON or from DALI .idx files beside local shards.

#include <wds/error.hpp>
#include <wds/index.hpp>
#include <wds/pipeline.hpp>
#include <wds/url.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>

namespace wds {

struct shard_list {
  std::vector<std::string> urls;
  std::vector<std::optional<std::uint64_t>> counts;  // samples per shard, when known

  std::size_t size() const noexcept { return urls.size(); }
  bool counts_known() const noexcept {
    return std::all_of(counts.begin(), counts.end(), [](const auto& c) { return c.has_value(); });
  }
};

// Which part of the data this process reads: webdataset's split_by_node
// (RANK, WORLD_SIZE) and split_by_worker (WORKER, NUM_WORKERS); LOCAL_RANK is
// recorded for the user (device selection), it does not change the split.
struct world_info {
  int rank = 0, world_size = 1, local_rank = 0;
  int worker = 0, num_workers = 1;

  static world_info from_env() {
    world_info w;
    auto get = [](const char* name, int def) {
      const char* v = std::getenv(name);
      if (!v || !*v) return def;
      char* end = nullptr;
      const long x = std::strtol(v, &end, 10);
      if (*end || x < 0 || x > 1 << 24)
        throw spec_error(674, {name, {}, location::unknown_offset}, std::string("bad value \"") + v + "\"");
      return static_cast<int>(x);
    };
    w.rank = get("RANK", 0);
    w.world_size = get("WORLD_SIZE", 1);
    w.local_rank = get("LOCAL_RANK", 0);
    w.worker = get("WORKER", 0);
    w.num_workers = get("NUM_WORKERS", 1);
    w.check();
    return w;
  }
  void check() const {
    if (world_size < 1 || rank < 0 || rank >= world_size || num_workers < 1 || worker < 0 || worker >= num_workers)
      throw spec_error(674, {}, "rank " + std::to_string(rank) + " of " + std::to_string(world_size) + ", worker " +
                                    std::to_string(worker) + " of " + std::to_string(num_workers) + " is not valid");
  }
  // The index of this reader among all readers (node-major, as webdataset splits).
  int reader() const noexcept { return rank * num_workers + worker; }
  int readers() const noexcept { return world_size * num_workers; }
};

namespace detail {

// webdataset's envsubst: ${NAME} -> $WDS_NAME (empty when unset), repeated.
inline std::string substitute_env(std::string s) {
  for (int round = 0; round < 10; ++round) {
    const std::size_t b = s.find("${");
    if (b == std::string::npos) break;
    const std::size_t e = s.find('}', b);
    if (e == std::string::npos) break;
    const char* v = std::getenv(("WDS_" + s.substr(b + 2, e - b - 2)).c_str());
    s.replace(b, e - b + 1, v ? v : "");
  }
  return s;
}

inline bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
inline bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

inline std::string read_url_text(const std::string& url, std::size_t max_bytes = std::size_t{64} << 20) {
  any_source in = open_url(url);
  std::string s;
  std::byte buf[65536];
  for (;;) {
    const std::size_t n = in.read(buf, sizeof buf);
    if (n == 0) break;
    if (s.size() + n > max_bytes)
      throw limit_error(530, {url, {}, location::unknown_offset}, "shard list is larger than the limit");
    s.append(reinterpret_cast<const char*>(buf), n);
  }
  return s;
}

// The sample count of a local shard from a DALI .idx beside it, if any.
inline std::optional<std::uint64_t> count_from_idx(const std::string& url) {
  if (url_kind_of(url) != url_kind::local) return std::nullopt;
  const std::string idx = dali_index_path(local_path_of(url));
  if (!is_file(idx)) return std::nullopt;
  file_source in(idx);
  char head[64] = {};
  const std::size_t n = read_full(in, reinterpret_cast<std::byte*>(head), sizeof head - 1);
  std::string_view h(head, n);
  if (h.substr(0, 5) != "v1.2 " && h.substr(0, 5) != "v1.1 ") return std::nullopt;
  std::uint64_t v = 0;
  std::size_t i = 5;
  for (; i < h.size() && h[i] >= '0' && h[i] <= '9'; ++i) v = v * 10 + std::uint64_t(h[i] - '0');
  if (i == 5) return std::nullopt;
  return v;
}

}  // namespace detail

// Resolves a shard-list spec (see the top of this file).
inline shard_list resolve_shards(const std::string& spec_in) {
  const std::string spec = detail::substitute_env(spec_in);
  shard_list out;
  const bool local = url_kind_of(spec) == url_kind::local;
  const std::string path = local ? local_path_of(spec) : spec;
  if (local && (detail::is_dir(path) || (!path.empty() && path.back() == '/'))) {
    DIR* d = ::opendir(path.c_str());
    if (!d) throw io_error(100, {path, {}, location::unknown_offset}, "cannot open directory: " + detail::errno_text(errno));
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n[0] != '.' && (ends_with(n, ".tar") || ends_with(n, ".tar.gz") || ends_with(n, ".tgz"))) names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    const std::string dir = path.back() == '/' ? path : path + "/";
    for (const auto& n : names) out.urls.push_back(dir + n);
  } else if (ends_with(path, ".json")) {
    const wids_shard_list w = parse_wids_json(detail::read_url_text(spec), path);
    for (const auto& s : w.shards) {
      out.urls.push_back(s.url);
      out.counts.emplace_back(s.nsamples);
    }
  } else if (ends_with(path, ".txt") || ends_with(path, ".list") || ends_with(path, ".shards")) {
    const std::string text = detail::read_url_text(spec);
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      std::string line = text.substr(pos, nl - pos);
      pos = nl + 1;
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
      std::size_t b = 0;
      while (b < line.size() && std::isspace(static_cast<unsigned char>(line[b]))) ++b;
      line = line.substr(b);
      if (line.empty() || line[0] == '#') continue;
      for (auto& u : expand_shard_list(line)) out.urls.push_back(std::move(u));
    }
  } else {
    out.urls = expand_shard_list(spec);
  }
  if (out.counts.size() != out.urls.size()) {
    out.counts.clear();
    for (const auto& u : out.urls) out.counts.push_back(detail::count_from_idx(u));
  }
  return out;
}

inline shard_list make_shard_list(std::vector<std::string> urls) {
  shard_list out;
  out.urls = std::move(urls);
  for (const auto& u : out.urls) out.counts.push_back(detail::count_from_idx(u));
  return out;
}

}  // namespace wds
