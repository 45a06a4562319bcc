// SPDX-License-Identifier: MIT
#pragma once

// Random access to samples by global index (wids' ShardListDataset, without
// downloading whole shards): each shard's DALI .idx gives every member's data
// offset, so ds[i] reads only that sample's bytes, with pread() on local
// files and one HTTP Range request on remote ones.
//   wds::indexed_dataset ds("train.json");        // wids shard list (or any shard spec)
//   wds::sample s = ds[12345];                     // key, url, fields as the stream reader gives
//   for (auto i : wds::index_sampler{ds.size(), 7}.rank_indices(epoch, rank, world)) use(ds[i]);
// Index files: x.idx beside x.tar (wds-etl index / shard_writer's dali_index);
// a local shard without one is scanned once in memory; a remote one needs it.

#include <wds/config.hpp>
#include <wds/dataset.hpp>
#include <wds/error.hpp>
#include <wds/index.hpp>
#include <wds/io.hpp>
#include <wds/python_random.hpp>
#include <wds/sample.hpp>
#include <wds/shard_list.hpp>
#include <wds/url.hpp>

#include <algorithm>
#include <cstdint>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

WDS_NAMESPACE_BEGIN

class indexed_dataset {
 public:
  explicit indexed_dataset(const std::string& spec, url_options opts = {})
      : indexed_dataset(resolve_shards(spec), std::move(opts)) {}
  explicit indexed_dataset(shard_list shards, url_options opts = {})
      : shards_(std::move(shards)), opts_(std::move(opts)), state_(shards_.size()) {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      if (!shards_.counts[i]) shards_.counts[i] = load(i).size();
      total += *shards_.counts[i];
      cum_.push_back(total);
    }
  }
  indexed_dataset(const indexed_dataset&) = delete;
  indexed_dataset& operator=(const indexed_dataset&) = delete;
  ~indexed_dataset() {
    for (auto& s : state_)
      if (s.fd >= 0) ::close(s.fd);
  }

  std::uint64_t size() const noexcept { return cum_.empty() ? 0 : cum_.back(); }
  std::size_t shards() const noexcept { return shards_.size(); }

  // wids' lookup: shard = searchsorted(cumulative counts, i, side="right").
  std::pair<std::size_t, std::uint64_t> locate(std::uint64_t i) const {
    if (i >= size())
      throw sample_error(323, {}, "index " + std::to_string(i) + " out of range (size " + std::to_string(size()) + ")");
    const std::size_t s = static_cast<std::size_t>(std::upper_bound(cum_.begin(), cum_.end(), i) - cum_.begin());
    return {s, s == 0 ? i : i - cum_[s - 1]};
  }

  // Sample i, reading only its members' bytes. Thread-safe.
  sample operator[](std::uint64_t i) { return get(i); }
  sample get(std::uint64_t i) {
    const auto [s, k] = locate(i);
    const std::vector<index_sample>& idx = load(s);
    const std::string& url = shards_.urls[s];
    if (k >= idx.size())
      throw spec_error(672, {url, {}, location::unknown_offset},
                       "index has " + std::to_string(idx.size()) + " samples, the shard list says " +
                           std::to_string(*shards_.counts[s]));
    const index_sample& e = idx[static_cast<std::size_t>(k)];
    sample out(e.key, url);
    if (e.members.empty()) return out;
    std::uint64_t begin = e.members.front().data_offset, end = begin;
    for (const auto& m : e.members) {
      begin = std::min(begin, m.data_offset);
      end = std::max(end, m.data_offset + m.size);
    }
    if (end - begin > opts_.lim.max_member_size * std::max<std::size_t>(e.members.size(), 1))
      throw limit_error(500, {url, e.key, begin}, "sample is larger than the member size limit");
    std::vector<std::byte> bytes = read_range(s, begin, end);
    for (const auto& m : e.members) {
      const auto* p = bytes.data() + (m.data_offset - begin);
      field f{detail::lower_ext(m.ext), std::vector<std::byte>(p, p + m.size), m.name, location::unknown_offset};
      out.fields().push_back(std::move(f));
    }
    return out;
  }

  // Bytes fetched so far (for checking that only samples were read).
  std::uint64_t bytes_read() const noexcept { return bytes_read_; }

 private:
  struct shard_state {
    std::once_flag loaded;
    std::vector<index_sample> idx;
    int fd = -1;
    std::once_flag opened;
  };

  const std::vector<index_sample>& load(std::size_t s) {
    shard_state& st = state_[s];
    std::call_once(st.loaded, [&] {
      const std::string& url = shards_.urls[s];
      const url_kind kind = url_kind_of(url);
      if (kind == url_kind::local) {
        const std::string path = local_path_of(url);
        const std::string idx = dali_index_path(path);
        st.idx = detail::is_file(idx) ? parse_dali_index(read_text_file(idx), idx) : index_shard(path, opts_.lim).samples;
      } else if (kind == url_kind::http || kind == url_kind::ais) {
        const std::string q = url.substr(0, url.find('?'));
        const std::string idx = dali_index_path(q) + (q.size() < url.size() ? url.substr(q.size()) : "");
        st.idx = parse_dali_index(detail::read_url_text(idx), idx);
      } else {
        throw io_error(152, {url, {}, location::unknown_offset}, "random access needs a local file or an http(s)/ais URL");
      }
    });
    return st.idx;
  }

  std::vector<std::byte> read_range(std::size_t s, std::uint64_t begin, std::uint64_t end) {
    const std::string& url = shards_.urls[s];
    std::vector<std::byte> out(static_cast<std::size_t>(end - begin));
    if (url_kind_of(url) == url_kind::local) {
      shard_state& st = state_[s];
      std::call_once(st.opened, [&] {
        st.fd = ::open(local_path_of(url).c_str(), O_RDONLY | O_CLOEXEC);
        if (st.fd < 0) throw io_error(100, {url, {}, location::unknown_offset}, "cannot open for reading: " + detail::errno_text(errno));
      });
      std::size_t got = 0;
      while (got < out.size()) {
        const ssize_t n = ::pread(st.fd, out.data() + got, out.size() - got, static_cast<off_t>(begin + got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw io_error(101, {url, {}, begin + got}, "read failed: " + detail::errno_text(errno));
        if (n == 0) throw io_error(156, {url, {}, begin + got}, "shard is shorter than its index says");
        got += static_cast<std::size_t>(n);
      }
    } else {
      const std::string target = url_kind_of(url) == url_kind::ais ? ais_http_url(url) : url;
      http_get_result r = detail::http_get(target, url, opts_,
                                           {{"Range", "bytes=" + std::to_string(begin) + "-" + std::to_string(end - 1)}});
      if (r.status != 206)
        throw io_error(156, {url, {}, begin}, "server ignored the Range request (HTTP " + std::to_string(r.status) +
                                                  "); refusing to download the whole shard");
      const std::size_t got = read_full(r.body, out.data(), out.size());
      if (got != out.size()) throw io_error(156, {url, {}, begin + got}, "range response is shorter than requested");
    }
    bytes_read_ += out.size();
    return out;
  }

  shard_list shards_;
  url_options opts_;
  std::vector<shard_state> state_;
  std::vector<std::uint64_t> cum_;
  std::atomic<std::uint64_t> bytes_read_{0};  // atomic: bytes_read() may run while get() runs on other threads
};

// The order of an indexed dataset's samples in an epoch, and each rank's
// share of it. The global order depends only on (size, seed, epoch), so a
// global position saved as {seed, epoch, position} resumes on any number of
// ranks: rank r of W takes positions start + r, start + r + W, ...; drop/pad
// make every rank's count equal.
struct index_sampler {
  std::uint64_t size = 0;
  std::int64_t seed = 0;
  bool shuffle = true;
  rng_kind rng = rng_kind::wds;

  std::vector<std::uint64_t> order(std::uint64_t epoch) const {
    std::vector<std::uint64_t> v(static_cast<std::size_t>(size));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = i;
    if (!shuffle) return v;
    if (rng == rng_kind::python) {
      python_random r(seed + static_cast<std::int64_t>(epoch));
      r.shuffle(v);
    } else {
      random_engine r(detail::mix_seed(seed, 4, epoch, 0));
      for (std::size_t i = v.size(); i-- > 1;) std::swap(v[i], v[static_cast<std::size_t>(r.below(i + 1))]);
    }
    return v;
  }

  std::vector<std::uint64_t> rank_indices(std::uint64_t epoch, int rank = 0, int world = 1,
                                          equalize_mode mode = equalize_mode::none, std::uint64_t start = 0) const {
    if (world < 1 || rank < 0 || rank >= world) throw spec_error(674, {}, "bad rank/world");
    std::vector<std::uint64_t> g = order(epoch);
    const std::uint64_t left = start < g.size() ? g.size() - start : 0, w = std::uint64_t(world);
    std::uint64_t n = left;
    if (mode == equalize_mode::drop) n = left / w * w;
    if (mode == equalize_mode::pad) n = (left + w - 1) / w * w;
    std::vector<std::uint64_t> out;
    for (std::uint64_t j = std::uint64_t(rank); j < n; j += w) out.push_back(g[static_cast<std::size_t>((start + j) % std::max<std::uint64_t>(g.size(), 1))]);
    return out;
  }
};

WDS_NAMESPACE_END
