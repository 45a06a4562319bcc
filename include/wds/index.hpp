// SPDX-License-Identifier: MIT
#pragma once

// Shard index files:
// - DALI's `.idx` v1.2 (fn.readers.webdataset index_paths): "v1.2 N\n", then
//   one line per sample of "ext data_offset size filename" groups, data_offset
//   being the member's first payload byte. Offsets come from the tar reader or
//   writer itself, so they are right for pax and GNU long-name members too.
// - wids shard lists (JSON, wids_version 1): url, nsamples, filesize, md5sum
//   per shard.
// Grouping follows webdataset: consecutive regular members with the same key
// (dir + basename up to its first '.') form a sample; "__*__" meta members,
// names without a '.' in their basename and hidden files (".x") are left out.
// Exts are kept as stored (DALI is case-sensitive).
//   auto idx = wds::index_shard("shard-000000.tar");     // scan an existing shard
//   wds::write_text_file("shard-000000.idx", wds::dali_index_text(idx.samples));

#include <wds/error.hpp>
#include <wds/io.hpp>
#include <wds/json.hpp>
#include <wds/md5.hpp>
#include <wds/sample.hpp>
#include <wds/tar.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wds {

struct index_member {
  std::string ext;
  std::uint64_t data_offset = 0;  // first payload byte in the (uncompressed) tar
  std::uint64_t size = 0;
  std::string name;  // the member name
};

struct index_sample {
  std::string key;
  std::vector<index_member> members;
};

// One shard of a wids shard list.
struct shard_info {
  std::string url;
  std::uint64_t nsamples = 0;
  std::uint64_t filesize = 0;
  std::string md5sum;  // hex; empty when unknown
};

// Groups members into index samples as they arrive (reader or writer side).
class index_builder {
 public:
  // Adds a regular member; returns false when it is not part of a sample.
  bool add(std::string_view name, std::uint64_t data_offset, std::uint64_t size) {
    if (is_meta_name(name)) return false;
    const std::size_t slash = name.rfind('/');
    const std::size_t base = slash == std::string_view::npos ? 0 : slash + 1;
    const std::size_t dot = name.find('.', base);
    if (dot == std::string_view::npos || dot == base) return false;
    std::string_view key = name.substr(0, dot);
    if (samples_.empty() || samples_.back().key != key) samples_.push_back(index_sample{std::string(key), {}});
    samples_.back().members.push_back(
        index_member{std::string(name.substr(dot + 1)), data_offset, size, std::string(name)});
    return true;
  }
  const std::vector<index_sample>& samples() const noexcept { return samples_; }
  std::vector<index_sample> take() noexcept { return std::move(samples_); }

 private:
  std::vector<index_sample> samples_;
};

// DALI's v1.2 text. DALI tokenises on whitespace, so a name or ext with
// whitespace cannot be indexed (spec 675); an empty index is refused by DALI
// ("Webdataset Tar File empty"), so it is written as "v1.2 0\n" only.
inline std::string dali_index_text(const std::vector<index_sample>& samples, const std::string& shard = {}) {
  std::string out = "v1.2 " + std::to_string(samples.size()) + "\n";
  for (const auto& s : samples) {
    bool first = true;
    for (const auto& m : s.members) {
      for (char c : m.name)
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')
          throw spec_error(675, {shard, m.name, m.data_offset},
                           "member name contains whitespace, which DALI's .idx format cannot hold");
      if (!first) out += ' ';
      first = false;
      out.append(m.ext).append(" ").append(std::to_string(m.data_offset)).append(" ");
      out.append(std::to_string(m.size)).append(" ").append(m.name);
    }
    out += '\n';
  }
  return out;
}

// Parses a DALI .idx (v1.1 or v1.2) as DALI's ParseIndexFile does: the
// version, the sample count, then per line "ext offset size [name]" groups;
// offsets must be multiples of 512. Errors: spec 672 with the line number.
inline std::vector<index_sample> parse_dali_index(std::string_view text, const std::string& where = {}) {
  std::size_t pos = 0, line_no = 0;
  auto next_line = [&](std::string_view& line) {
    if (pos >= text.size()) return false;
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    return true;
  };
  auto tokens = [](std::string_view line) {
    std::vector<std::string_view> t;
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      std::size_t j = i;
      while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
      if (j > i) t.push_back(line.substr(i, j - i));
      i = j;
    }
    return t;
  };
  auto fail = [&](const std::string& why) -> void {
    throw spec_error(672, {where, {}, location::unknown_offset}, "line " + std::to_string(line_no) + ": " + why);
  };
  auto number = [&](std::string_view s) {
    std::uint64_t v = 0;
    if (s.empty() || s.size() > 19) fail("bad number \"" + std::string(s) + "\"");
    for (char c : s) {
      if (c < '0' || c > '9') fail("bad number \"" + std::string(s) + "\"");
      v = v * 10 + std::uint64_t(c - '0');
    }
    return v;
  };
  std::string_view line;
  if (!next_line(line)) fail("empty index file");
  auto head = tokens(line);
  if (head.size() != 2 || (head[0] != "v1.1" && head[0] != "v1.2")) fail("unsupported version of the index file");
  const bool names = head[0] == "v1.2";
  const std::uint64_t n = number(head[1]);
  std::vector<index_sample> out;
  out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(n, 1u << 20)));
  const std::size_t group = names ? 4 : 3;
  for (std::uint64_t i = 0; i < n; ++i) {
    if (!next_line(line)) fail("index ends after " + std::to_string(i) + " of " + std::to_string(n) + " samples");
    auto t = tokens(line);
    if (t.empty() || t.size() % group) fail("malformed sample line");
    index_sample s;
    for (std::size_t k = 0; k < t.size(); k += group) {
      index_member m{std::string(t[k]), number(t[k + 1]), number(t[k + 2]), names ? std::string(t[k + 3]) : ""};
      if (m.data_offset % tar_block_size) fail("tar offset is not a multiple of tar block size");
      s.members.push_back(std::move(m));
    }
    if (names && !s.members.empty()) {
      const std::string& nm = s.members.front().name;
      const std::size_t slash = nm.rfind('/');
      s.key = nm.substr(0, nm.find('.', slash == std::string::npos ? 0 : slash + 1));
    }
    out.push_back(std::move(s));
  }
  return out;
}

// Counts bytes and hashes them on their way through (filesize and md5sum).
template <class Inner>
class hashing_source {
 public:
  explicit hashing_source(Inner in) : in_(std::move(in)), name_(name_of(in_)) {}
  std::size_t read(std::byte* dst, std::size_t n) {
    const std::size_t got = in_.read(dst, n);
    md5_.update(dst, got);
    bytes_ += got;
    return got;
  }
  const std::string& name() const noexcept { return name_; }
  std::uint64_t bytes() const noexcept { return bytes_; }
  wds::md5& hash() noexcept { return md5_; }
  Inner& inner() noexcept { return in_; }

 private:
  Inner in_;
  std::string name_;
  wds::md5 md5_;
  std::uint64_t bytes_ = 0;
};

// Same for a sink; the tally lives in shared state so that it can be read
// after the sink disappeared into a type-erased chain (tar_writer, gzip).
struct hash_tally {
  wds::md5 md5;
  std::uint64_t bytes = 0;
};
template <class Inner>
class hashing_sink {
 public:
  hashing_sink(Inner out, std::shared_ptr<hash_tally> tally)
      : out_(std::move(out)), tally_(std::move(tally)), name_(name_of(out_)) {}
  void write(const std::byte* src, std::size_t n) {
    out_.write(src, n);
    tally_->md5.update(src, n);
    tally_->bytes += n;
  }
  void close() { out_.close(); }
  const std::string& name() const noexcept { return name_; }

 private:
  Inner out_;
  std::shared_ptr<hash_tally> tally_;
  std::string name_;
};

struct shard_index {
  shard_info info;                    // url = the path given, nsamples, filesize, md5sum
  std::vector<index_sample> samples;  // for the .idx (the tar must be uncompressed)
};

// Scans an uncompressed tar shard: the index samples, their webdataset count,
// the file's size and MD5. Gzip shards: tar_error from the reader (their
// offsets would be meaningless).
inline shard_index index_shard(const std::string& path, const limits& lim = {}) {
  tar_reader<hashing_source<file_source>> tar(hashing_source<file_source>(file_source(path)), path, lim);
  index_builder b;
  std::uint64_t nsamples = 0;
  std::string last_key;
  bool any = false;
  while (const tar_member* m = tar.next()) {
    if (!m->is_regular()) continue;
    b.add(m->name, m->data_offset, m->size);
    // webdataset's own count (split_key_ext), which can differ from DALI's
    // grouping only for hidden-file names.
    std::string_view key, ext;
    if (is_meta_name(m->name) || !split_key_ext(m->name, key, ext)) continue;
    if (!any || key != last_key) ++nsamples;
    any = true;
    last_key.assign(key);
  }
  auto& src = tar.source();
  std::vector<std::byte> rest(1 << 16);
  while (src.read(rest.data(), rest.size()) > 0) {
  }
  shard_index out;
  out.info = shard_info{path, nsamples, src.bytes(), src.hash().hex()};
  out.samples = b.take();
  return out;
}

// DALI's default index path: the archive path cut at the first '.' of its
// basename, plus ".idx" ("d/x.tar" -> "d/x.idx").
inline std::string dali_index_path(const std::string& tar_path) {
  const std::size_t slash = tar_path.rfind('/');
  const std::size_t base = slash == std::string::npos ? 0 : slash + 1;
  const std::size_t dot = tar_path.find('.', base + 1);
  return (dot == std::string::npos ? tar_path : tar_path.substr(0, dot)) + ".idx";
}

// Writes text atomically (temporary + rename).
inline void write_text_file(const std::string& path, std::string_view text) {
  file_sink out(path);
  out.write(reinterpret_cast<const std::byte*>(text.data()), text.size());
  out.close();
}

inline std::string read_text_file(const std::string& path, std::size_t max_bytes = std::size_t{1} << 30) {
  file_source in(path);
  std::string s;
  std::byte buf[65536];
  for (;;) {
    const std::size_t n = in.read(buf, sizeof buf);
    if (n == 0) break;
    if (s.size() + n > max_bytes)
      throw limit_error(530, {path, {}, location::unknown_offset}, "index file is larger than the limit");
    s.append(reinterpret_cast<const char*>(buf), n);
  }
  return s;
}

// ---- wids shard lists ---------------------------------------------------------

struct wids_shard_list {
  std::string name;
  std::string base;  // shard urls are relative to it
  std::vector<shard_info> shards;
};

// widsindex's JSON (indent 2), shards in the order given.
inline std::string wids_json_text(const wids_shard_list& list) {
  auto str = [](const std::string& s) { return json(s).dump(); };
  std::string out = "{\n  \"__kind__\": \"wids-shard-index-v1\",\n  \"wids_version\": 1,\n";
  if (!list.name.empty()) out += "  \"name\": " + str(list.name) + ",\n";
  if (!list.base.empty()) out += "  \"base\": " + str(list.base) + ",\n";
  out += "  \"shardlist\": [";
  bool first = true;
  for (const auto& s : list.shards) {
    out += first ? "\n" : ",\n";
    first = false;
    out += "    {\n      \"url\": " + str(s.url) + ",\n      \"nsamples\": " + std::to_string(s.nsamples);
    if (s.filesize) out += ",\n      \"filesize\": " + std::to_string(s.filesize);
    if (!s.md5sum.empty()) out += ",\n      \"md5sum\": " + str(s.md5sum);
    out += "\n    }";
  }
  out += list.shards.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return out;
}

namespace detail {
// wids' urlmerge: an absolute path or URL stays, anything else joins base.
inline std::string url_merge(const std::string& base, const std::string& url) {
  if (base.empty() || url.empty() || url[0] == '/' || url.find("://") != std::string::npos ||
      url.rfind("pipe:", 0) == 0)
    return url;
  return base.back() == '/' ? base + url : base + "/" + url;
}
inline std::string dir_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}
}  // namespace detail

// Parses a wids shard list; shard urls are resolved against "base", else the
// JSON's own directory (json_url). Inline "datasets" with their own
// shardlists are flattened in order; "source_url" indirection is refused
// (spec 673, as are a missing wids_version 1, url or nsamples).
inline wids_shard_list parse_wids_json(std::string_view text, const std::string& json_url = {}) {
  const location where{json_url, {}, location::unknown_offset};
  json doc = json::parse(text, where);
  auto fail = [&](const std::string& why) -> void { throw spec_error(673, where, "wids shard list: " + why); };
  if (!doc.is_object()) fail("not a JSON object");
  const json* v = doc.find("wids_version");
  if (!v || !v->is_integer() || v->as_int() != 1) fail("wids_version must be 1");
  wids_shard_list out;
  if (const json* n = doc.find("name"); n && n->is_string()) out.name = n->as_string();
  const std::string default_base = detail::dir_of(json_url);
  auto read_list = [&](const json& holder, const std::string& outer_base) {
    std::string base = outer_base;
    if (const json* b = holder.find("base"); b && b->is_string()) base = detail::url_merge(outer_base, b->as_string());
    const json* sl = holder.find("shardlist");
    if (!sl || !sl->is_array()) fail("no shardlist array");
    for (const json& s : sl->as_array()) {
      if (!s.is_object()) fail("shard entry is not an object");
      const json* u = s.find("url");
      const json* n = s.find("nsamples");
      if (!u || !u->is_string()) fail("shard without a url");
      if (!n || !n->is_integer() || n->as_int() < 0) fail("shard \"" + u->as_string() + "\" without nsamples");
      shard_info info{detail::url_merge(base, u->as_string()), static_cast<std::uint64_t>(n->as_int()), 0, {}};
      if (const json* f = s.find("filesize"); f && f->is_integer()) info.filesize = static_cast<std::uint64_t>(f->as_int());
      if (const json* m = s.find("md5sum"); m && m->is_string()) info.md5sum = m->as_string();
      out.shards.push_back(std::move(info));
    }
  };
  if (doc.find("shardlist")) read_list(doc, default_base);
  if (const json* ds = doc.find("datasets"); ds && ds->is_array()) {
    for (const json& d : ds->as_array()) {
      if (!d.is_object()) fail("dataset entry is not an object");
      if (d.find("source_url") && !d.find("shardlist")) fail("source_url indirection is not supported; inline the shardlist");
      read_list(d, default_base);
    }
  }
  if (!doc.find("shardlist") && !doc.find("datasets")) fail("no shardlist");
  return out;
}

}  // namespace wds
