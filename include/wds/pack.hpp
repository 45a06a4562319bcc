// SPDX-License-Identifier: MIT
#pragma once

// Folder to shards: every regular file under a directory becomes a member,
// grouped into samples by webdataset's key rule (path relative to the
// directory, up to the basename's first '.'), samples in byte-wise key order,
// members KEY.EXT, written through a shard_writer:
//   wds::pack_directory("photos/", "out-%06d.tar");   // like `wds-etl pack photos -o out-%06d.tar`
// Hidden files and directories (".x") and names without an ext are skipped
// and counted.

#include <wds/error.hpp>
#include <wds/io.hpp>
#include <wds/sample.hpp>
#include <wds/shard_writer.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>

namespace wds {

struct pack_report {
  std::uint64_t samples = 0, files = 0, skipped = 0;
  std::vector<shard_info> shards;
};

namespace detail {
inline void list_files(const std::string& root, const std::string& rel, std::vector<std::string>& out,
                       std::uint64_t& skipped, int depth) {
  if (depth > 256) throw io_error(100, {root + "/" + rel, {}, location::unknown_offset}, "directory nesting too deep");
  const std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw io_error(100, {dir, {}, location::unknown_offset}, "cannot open directory: " + errno_text(errno));
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    names.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : names) {
    const std::string r = rel.empty() ? n : rel + "/" + n;
    struct stat st {};
    if (::stat((root + "/" + r).c_str(), &st) != 0) continue;
    if (n[0] == '.') {
      ++skipped;
      continue;
    }
    if (S_ISDIR(st.st_mode)) list_files(root, r, out, skipped, depth + 1);
    else if (S_ISREG(st.st_mode)) out.push_back(r);
  }
}

inline std::vector<std::byte> slurp(const std::string& path) {
  file_source in(path);
  std::vector<std::byte> data;
  std::byte buf[1 << 16];
  for (;;) {
    const std::size_t n = in.read(buf, sizeof buf);
    if (n == 0) break;
    data.insert(data.end(), buf, buf + n);
  }
  return data;
}
}  // namespace detail

inline pack_report pack_directory(std::string dir, const std::string& pattern, shard_writer_options opts = {}) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  pack_report rep;
  std::vector<std::string> files;
  detail::list_files(dir, {}, files, rep.skipped, 0);
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> by_key;  // std::string orders byte-wise
  for (const auto& f : files) {
    std::string_view key, ext;
    if (!split_key_ext(f, key, ext)) {
      ++rep.skipped;
      continue;
    }
    by_key[std::string(key)].emplace_back(std::string(ext), f);
  }
  shard_writer w(pattern, std::move(opts));
  for (auto& [key, members] : by_key) {
    sample s(key);
    for (auto& [ext, rel] : members) {
      s.set(ext, detail::slurp(dir + "/" + rel));
      ++rep.files;
    }
    w.write(s);
    ++rep.samples;
  }
  w.close();
  rep.shards = w.shards();
  return rep;
}

// Parses a size like webdataset's maxsize: "3e9", "1000000", "500M", "1.5G", "64KiB".
inline double parse_byte_size(const std::string& text) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  double mul = 1;
  if (unit.empty() || unit == "B") mul = 1;
  else if (unit == "K" || unit == "KB") mul = 1e3;
  else if (unit == "M" || unit == "MB") mul = 1e6;
  else if (unit == "G" || unit == "GB") mul = 1e9;
  else if (unit == "T" || unit == "TB") mul = 1e12;
  else if (unit == "KiB") mul = 1024.0;
  else if (unit == "MiB") mul = 1024.0 * 1024;
  else if (unit == "GiB") mul = 1024.0 * 1024 * 1024;
  else used = 0;
  if (used == 0 || !(v > 0))
    throw spec_error(674, {text, {}, 0}, "not a size (e.g. 3e9, 500M, 1GiB)");
  return v * mul;
}

}  // namespace wds
