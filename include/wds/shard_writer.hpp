// SPDX-License-Identifier: MIT
#pragma once

// webdataset's ShardWriter: samples go to "pattern % shard" tars, a new
// shard starting when the current one holds maxcount samples or maxsize
// payload bytes (both checked before a sample is written, so a shard can
// exceed maxsize by one sample; sizes count payload bytes only, as
// webdataset does). Unlike webdataset, the first shard is created lazily (an
// empty run writes nothing, webdataset issue #376), every shard is atomic
// (temporary + rename), `exact_size` counts headers, padding and the end
// blocks so a shard never exceeds maxsize, and index files can be written
// along the way (DALI .idx beside each shard, one wids JSON at close()).
//   wds::shard_writer out("out-%06d.tar", {.maxcount = 1000});   // C++20; or set fields
//   out.write(sample);
//   out.close();

#include <wds/error.hpp>
#include <wds/index.hpp>
#include <wds/io.hpp>
#include <wds/sample.hpp>
#include <wds/tar.hpp>
#include <wds/url.hpp>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <limits.h>
#include <stdlib.h>

namespace wds {

// Python's `pattern % n` for one integer conversion: %d %i %u %x %X %o with
// flags "-+ 0#" and a width, "%%" for a literal '%'. Anything else (no
// conversion, two conversions, %s...) is spec 670, as Python raises TypeError.
inline std::string format_shard_name(std::string_view pattern, std::uint64_t n) {
  std::string out;
  int conversions = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') {
      out += pattern[i];
      continue;
    }
    const std::size_t start = i++;
    if (i < pattern.size() && pattern[i] == '%') {
      out += '%';
      continue;
    }
    std::string spec = "%";
    while (i < pattern.size() && std::string_view("-+ 0#").find(pattern[i]) != std::string_view::npos) spec += pattern[i++];
    int width = 0;
    while (i < pattern.size() && pattern[i] >= '0' && pattern[i] <= '9' && width < 1000) {
      width = width * 10 + (pattern[i] - '0');
      spec += pattern[i++];
    }
    if (i >= pattern.size() || std::string_view("diuxXo").find(pattern[i]) == std::string_view::npos)
      throw spec_error(670, {std::string(pattern), {}, start},
                       "shard pattern: only one integer conversion (%d, %06d, %x, ...) is supported");
    char c = pattern[i] == 'i' || pattern[i] == 'u' ? 'd' : pattern[i];
    spec += "ll";
    spec += c;
    char buf[1100];
    std::snprintf(buf, sizeof buf, spec.c_str(), static_cast<unsigned long long>(n));
    out += buf;
    ++conversions;
  }
  if (conversions != 1)
    throw spec_error(670, {std::string(pattern), {}, 0},
                     conversions == 0 ? "shard pattern has no %d conversion (not all arguments converted)"
                                      : "shard pattern has more than one conversion");
  return out;
}

struct shard_writer_options {
  std::uint64_t maxcount = 100000;  // samples per shard
  double maxsize = 3e9;             // bytes per shard (payload only unless exact_size)
  std::uint64_t start_shard = 0;
  // Called with each shard's name once it is closed (renamed into place).
  std::function<void(const std::string&)> post;
  // Count what the file holds (headers, padding, end blocks and record
  // padding): a shard never exceeds maxsize; a sample that cannot fit even
  // alone is limit 531.
  bool exact_size = false;
  bool dali_index = false;   // write x.idx beside each (uncompressed) x.tar
  std::string wids_json;     // when set, close() writes this wids shard list
  bool gzip_by_name = true;  // ".gz"/".tgz" names are gzip-compressed
  tar_writer_options tar{};
};

class shard_writer {
 public:
  explicit shard_writer(std::string pattern, shard_writer_options opts = {})
      : pattern_(std::move(pattern)), opts_(std::move(opts)), shard_(opts_.start_shard) {
    format_shard_name(pattern_, shard_);  // a bad pattern fails here, before any sample
  }
  shard_writer(const shard_writer&) = delete;
  shard_writer& operator=(const shard_writer&) = delete;
  // Without close(), the current shard is discarded (its temporary removed).
  ~shard_writer() = default;

  // webdataset's ShardWriter.write(obj); fields starting with '_' are not written.
  void write(const sample& s) {
    if (closed_) throw tar_error(210, {current_path_, {}, location::unknown_offset}, "write() after close()");
    if (s.key().empty()) throw sample_error(303, {current_path_, {}, location::unknown_offset}, "sample without a key");
    std::vector<const field*> order;
    for (const auto& f : s.fields())
      if (!f.ext.empty() && f.ext[0] != '_') order.push_back(&f);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->ext < b->ext; });
    std::uint64_t payload = 0, exact = 0;
    for (const field* f : order) {
      payload += f->data.size();
      if (opts_.exact_size) exact += member_bytes(s.key() + "." + f->ext, f->data.size());
    }
    if (!tar_ || count_ >= opts_.maxcount || (!opts_.exact_size && static_cast<double>(size_) >= opts_.maxsize) ||
        (opts_.exact_size && count_ > 0 && !fits(tar_->bytes_written() + exact)))
      next_stream();
    if (opts_.exact_size && !fits(tar_->bytes_written() + exact))
      throw limit_error(531, {current_path_, s.key(), location::unknown_offset},
                        "sample of " + std::to_string(exact) + " tar bytes cannot fit in a shard of maxsize " +
                            std::to_string(static_cast<std::uint64_t>(opts_.maxsize)));
    for (const field* f : order) {
      const std::string name = s.key() + "." + f->ext;
      tar_->begin(name, f->data.size());
      if (index_) index_->add(name, tar_->bytes_written(), f->data.size());
      tar_->write_data(f->data.data(), f->data.size());
      tar_->end();
    }
    ++count_;
    ++total_;
    size_ += payload;
  }

  // Finishes the last shard, then writes the wids JSON if asked. Idempotent.
  void close() {
    if (closed_) return;
    finish();
    closed_ = true;
    if (!opts_.wids_json.empty()) {
      wids_shard_list list;
      const std::string dir = detail::dir_of(opts_.wids_json);
      for (shard_info s : shards_) {
        if (detail::dir_of(s.url) == dir) s.url = s.url.substr(dir.empty() ? 0 : dir.size() + 1);
        list.shards.push_back(std::move(s));
      }
      write_text_file(opts_.wids_json, wids_json_text(list));
    }
  }

  // Shards finished so far (url = the name written, nsamples, filesize, md5sum).
  const std::vector<shard_info>& shards() const noexcept { return shards_; }
  std::uint64_t total() const noexcept { return total_; }
  const std::string& current_path() const noexcept { return current_path_; }
  std::uint64_t count() const noexcept { return count_; }  // samples in the current shard
  std::uint64_t size() const noexcept { return size_; }    // its payload bytes

 private:
  bool fits(std::uint64_t written) const noexcept {
    std::uint64_t total = written + 2 * tar_block_size;
    if (const std::uint64_t r = opts_.tar.record_size) total = (total + r - 1) / r * r;
    return static_cast<double>(total) <= opts_.maxsize;
  }

  // Bytes a member takes in the archive: its headers (measured by writing
  // them to a counting sink with the same options) plus the padded payload.
  std::uint64_t member_bytes(const std::string& name, std::uint64_t size) const {
    struct counting_sink {
      void write(const std::byte*, std::size_t) {}
      void close() {}
    };
    tar_writer<counting_sink> probe(counting_sink{}, opts_.tar);
    probe.begin(name, size);
    return probe.bytes_written() + (size + tar_block_size - 1) / tar_block_size * tar_block_size;
  }

  void finish() {
    if (!tar_) return;
    tar_->finish();
    shards_.push_back(shard_info{current_path_, count_, tally_->bytes, tally_->md5.hex()});
    if (index_) write_text_file(dali_index_path(current_path_), dali_index_text(index_->samples(), current_path_));
    tar_.reset();
    index_.reset();
    if (opts_.post) opts_.post(current_path_);
  }

  void next_stream() {
    finish();
    current_path_ = format_shard_name(pattern_, shard_++);
    const bool local = url_kind_of(current_path_) != url_kind::pipe;
    const bool gzip =
        opts_.gzip_by_name && local && (ends_with(current_path_, ".gz") || ends_with(current_path_, ".tgz"));
    tally_ = std::make_shared<hash_tally>();
    // The tally sits below gzip: filesize and md5sum are the file's.
    hashing_sink<any_sink> hashed(open_url_output(current_path_, false), tally_);
    any_sink sink;
    if (gzip) {
#if WDS_HAS_ZLIB
      sink = any_sink(gzip_sink<hashing_sink<any_sink>>(std::move(hashed)));
#else
      throw io_error(115, {current_path_, {}, 0}, "gzip output requested but wds was built without zlib");
#endif
    } else {
      sink = any_sink(std::move(hashed));
    }
    tar_ = std::make_unique<tar_writer<any_sink>>(std::move(sink), opts_.tar);
    // Offsets into a compressed file mean nothing to DALI: no .idx for .gz.
    if (opts_.dali_index && local && !gzip) index_.emplace();
    count_ = 0;
    size_ = 0;
  }

  std::string pattern_;
  shard_writer_options opts_;
  std::uint64_t shard_;
  std::unique_ptr<tar_writer<any_sink>> tar_;
  std::optional<index_builder> index_;
  std::shared_ptr<hash_tally> tally_;
  bool closed_ = false;
  std::string current_path_;
  std::uint64_t count_ = 0, total_ = 0, size_ = 0;
  std::vector<shard_info> shards_;
};

}  // namespace wds
