// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

// A lazy, composable WebDataset loader. The Python line
//   wds.WebDataset(urls).shuffle(1000).decode("rgb").to_tuple("jpg", "cls").batched(8)
// reads in C++ as
//   auto ds = wds::dataset(urls).shuffle(1000).decode("rgb")
//                 .to_tuple<wds::tensor<float>, std::int64_t>("jpg", "cls").batched(8);
//   for (auto& [images, labels] : ds) ...   // images: {8, H, W, 3} floats, labels: 8 int64
//
// Stages and where they run:
//   shard list -> node/worker split -> shard shuffle -> read samples -> sample shuffle
//   -> equalize / with_epoch            sequential, on a reader thread (prefetching
//                                       ahead into a queue bounded in bytes)
//   -> decode / map / select / to_tuple on N worker threads
//   -> batched (collate)                on the consuming thread
// The output order is that of the sequential part, whatever the number of
// threads, so a run is a function of (shards, seed, epoch) only, and a
// cursor {seed, epoch, position} resumes it exactly (the skipped samples are
// read again but not decoded).
//
// Randomness: rng_kind::wds (default) uses wds' own engine; rng_kind::python
// reproduces webdataset's orders bit for bit (CPython random.Random seeded as
// webdataset seeds it; shard shuffle after the node/worker split as
// WebDataset does). In wds mode shards are shuffled before the split, with
// the same seed on every rank, so each shard is read once per epoch overall.

#include <wds/codec/decode.hpp>
#include <wds/error.hpp>
#include <wds/fields.hpp>
#include <wds/image.hpp>
#include <wds/limits.hpp>
#include <wds/pipeline.hpp>
#include <wds/python_random.hpp>
#include <wds/sample.hpp>
#include <wds/shard_list.hpp>
#include <wds/tensor.hpp>
#include <wds/url.hpp>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

WDS_NAMESPACE_BEGIN

enum class rng_kind { wds, python };
// Equal samples per reader (rank x worker) per epoch: none, drop the excess,
// or pad by reading the reader's own shards again.
enum class equalize_mode { none, drop, pad };
enum class error_policy { raise, skip };

// The O(1) state of a run: the next begin() resumes after `position` items of
// the sequential stream of epoch `epoch`.
struct cursor {
  std::int64_t seed = 0;
  std::uint64_t epoch = 0;
  std::uint64_t position = 0;

  std::string str() const {
    return "seed=" + std::to_string(seed) + " epoch=" + std::to_string(epoch) + " position=" + std::to_string(position);
  }
  static cursor parse(std::string_view s) {
    cursor c;
    bool got[3] = {false, false, false};
    std::size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && s[i] == ' ') ++i;
      const std::size_t eq = s.find('=', i), end = std::min(s.find(' ', i), s.size());
      if (eq == std::string_view::npos || eq > end) throw spec_error(677, {std::string(s), {}, i}, "bad cursor");
      const std::string_view k = s.substr(i, eq - i), v = s.substr(eq + 1, end - eq - 1);
      long long x = 0;
      if (!detail::brace_parser::parse_int(v, x)) throw spec_error(677, {std::string(s), {}, eq + 1}, "bad cursor number");
      if (k == "seed") c.seed = x, got[0] = true;
      else if (k == "epoch" && x >= 0) c.epoch = std::uint64_t(x), got[1] = true;
      else if (k == "position" && x >= 0) c.position = std::uint64_t(x), got[2] = true;
      else throw spec_error(677, {std::string(s), {}, i}, "bad cursor field");
      i = end;
    }
    if (!got[0] || !got[1] || !got[2]) throw spec_error(677, {std::string(s), {}, 0}, "cursor needs seed, epoch, position");
    return c;
  }
  friend bool operator==(const cursor& a, const cursor& b) {
    return a.seed == b.seed && a.epoch == b.epoch && a.position == b.position;
  }
};

// What one epoch did; dataset.report() after the loop.
struct dataset_report {
  std::uint64_t epoch = 0;
  std::uint64_t shards = 0, samples_read = 0, items = 0, batches = 0, padded = 0;
  std::uint64_t skipped_samples = 0, skipped_shards = 0;
  std::map<int, std::uint64_t> errors_by_id;  // wds::error id -> count (0: other exceptions)
  std::vector<std::string> messages;          // the first few error messages

  std::string str() const {
    std::string s = "epoch " + std::to_string(epoch) + ": " + std::to_string(shards) + " shards, " +
                    std::to_string(samples_read) + " samples read, " + std::to_string(items) + " items, " +
                    std::to_string(batches) + " batches, " + std::to_string(padded) + " padded, " +
                    std::to_string(skipped_samples) + " samples and " + std::to_string(skipped_shards) +
                    " shards skipped";
    for (const auto& [id, n] : errors_by_id) s += "; error " + std::to_string(id) + " x" + std::to_string(n);
    return s;
  }
};

namespace detail {

// The two engines behind one below(n).
class any_rng {
 public:
  explicit any_rng(python_random r) : r_(std::move(r)) {}
  explicit any_rng(random_engine r) : r_(std::move(r)) {}
  std::uint64_t below(std::uint64_t n) {
    return std::visit([n](auto& r) { return r.below(n); }, r_);
  }

 private:
  std::variant<python_random, random_engine> r_;
};

inline std::uint64_t mix_seed(std::int64_t seed, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  std::uint64_t h = static_cast<std::uint64_t>(seed) ^ 0x6a09e667f3bcc909ull;
  for (std::uint64_t v : {a, b, c}) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h = (h ^ (h >> 31)) * 0xbf58476d1ce4e5b9ull;
  }
  return h;
}

// webdataset's _shuffle/pick, pulled: while below bufsize two items enter per
// pick; once `initial` are held every step hands one out (k = randint(0, n-1),
// swap with the last, pop).
template <class T>
class buffer_shuffle {
 public:
  buffer_shuffle(std::size_t bufsize, std::size_t initial, any_rng rng)
      : bufsize_(bufsize), initial_(std::min(initial, bufsize)), rng_(std::move(rng)) {}

  template <class Next>
  std::optional<T> next(Next&& pull) {
    while (!exhausted_) {
      std::optional<T> s = pull();
      if (!s) {
        exhausted_ = true;
        break;
      }
      buf_.push_back(std::move(*s));
      if (buf_.size() < bufsize_) {
        std::optional<T> s2 = pull();
        if (s2) buf_.push_back(std::move(*s2));
        else exhausted_ = true;
      }
      if (buf_.size() >= initial_) return pick();
    }
    if (buf_.empty()) return std::nullopt;
    return pick();
  }
  std::size_t size() const noexcept { return buf_.size(); }

 private:
  T pick() {
    const auto k = static_cast<std::size_t>(rng_.below(buf_.size()));
    T out = std::move(buf_[k]);
    if (k + 1 != buf_.size()) buf_[k] = std::move(buf_.back());
    buf_.pop_back();
    return out;
  }
  std::size_t bufsize_, initial_;
  any_rng rng_;
  std::vector<T> buf_;
  bool exhausted_ = false;
};

inline std::uint64_t sample_bytes(const sample& s) noexcept {
  std::uint64_t n = 256;
  for (const auto& f : s.fields()) n += f.data.size() + f.ext.size() + 64;
  return n;
}

}  // namespace detail

struct dataset_config {
  shard_list shards;
  std::optional<world_info> world;  // unset: from the environment at begin()
  rng_kind rng = rng_kind::wds;
  std::int64_t seed = 0;
  bool reshuffle_each_epoch = true;  // seeds + epoch (webdataset's detshuffle); false: same order each epoch
  std::size_t shard_buffer = 0, shard_initial = 100;
  std::optional<std::int64_t> shard_seed;
  std::size_t sample_buffer = 0, sample_initial = 100;
  std::optional<std::int64_t> sample_seed;
  bool resampled = false;
  std::uint64_t resample_count = 0;  // shards drawn per epoch (0: as many as there are)
  equalize_mode equalize = equalize_mode::none;
  std::optional<std::uint64_t> epoch_items;  // with_epoch(n)
  std::size_t threads = 0;                   // 0: everything on the consuming thread
  std::size_t queue_bytes = std::size_t{256} << 20;
  std::size_t window = 0;  // results held ahead of the consumer (0: 4 x threads + 8)
  error_policy policy = error_policy::raise;
  std::function<bool(const std::exception&)> on_error;  // true: skip and go on; false: raise
  url_options url{};
  sample_reader_options reader{};
};

namespace detail {

// The sequential part of one epoch: the items in their final order.
class epoch_stream {
 public:
  epoch_stream(const dataset_config& cfg, std::uint64_t epoch, dataset_report& rep, std::mutex& report_mutex)
      : cfg_(cfg), epoch_(epoch), rep_(rep), report_m_(report_mutex),
        world_(cfg.world ? *cfg.world : world_info::from_env()) {
    world_.check();
    limit_ = cfg_.epoch_items;
    if (cfg_.equalize != equalize_mode::none) limit_ = equal_target();
    start_pass();
  }

  // The next item, or nullopt at the end of the epoch.
  std::optional<sample> next() {
    if (limit_ && produced_ >= *limit_) return std::nullopt;
    for (;;) {
      std::optional<sample> s = shuffle_ ? shuffle_->next([this] { return read_next(); }) : read_next();
      if (s) {
        if (pass_ > 0 && cfg_.equalize == equalize_mode::pad) ++rep_.padded;
        ++produced_;
        ++pass_items_;
        return s;
      }
      // The pass ended: another only to reach a limit, and never after an empty one.
      if (!limit_ || pass_items_ == 0) {
        if (produced_ == 0 && order_.empty())
          throw sample_error(321, {}, "no samples: reader " + std::to_string(world_.reader()) + " of " +
                                          std::to_string(world_.readers()) +
                                          " has no shards (fewer shards than ranks x workers?)");
        return std::nullopt;
      }
      ++pass_;
      start_pass();
    }
  }

  std::uint64_t produced() const noexcept { return produced_; }

  // Shards reader `w` reads in pass `pass` of this epoch (indices into cfg.shards).
  std::vector<std::size_t> shard_order(const world_info& w, std::uint64_t pass) const {
    const std::size_t n = cfg_.shards.size();
    const std::uint64_t e = cfg_.reshuffle_each_epoch ? epoch_ : 0;
    std::vector<std::size_t> idx;
    if (cfg_.resampled) {
      const std::uint64_t draws = cfg_.resample_count ? cfg_.resample_count : n;
      if (n == 0) return idx;
      // webdataset's ResampledShards(deterministic=True): make_seed(rank*1000+worker, epoch, seed).
      std::uint64_t ps = 0;
      for (std::int64_t v : {std::int64_t(w.rank) * 1000 + w.worker, std::int64_t(epoch_ + pass), cfg_.seed})
        ps = (ps * 31 + static_cast<std::uint64_t>(v)) & 0x7FFFFFFF;
      any_rng rng = cfg_.rng == rng_kind::python
                        ? any_rng(python_random(static_cast<std::int64_t>(ps)))
                        : any_rng(random_engine(mix_seed(cfg_.seed, 1, epoch_ + pass, std::uint64_t(w.reader()))));
      for (std::uint64_t i = 0; i < draws; ++i) idx.push_back(static_cast<std::size_t>(rng.below(n)));
      return idx;
    }
    for (std::size_t i = 0; i < n; ++i) idx.push_back(i);
    auto shuffle = [&](std::vector<std::size_t>& v) {
      if (cfg_.shard_buffer == 0) return;
      const std::int64_t s = cfg_.shard_seed.value_or(cfg_.seed);
      any_rng rng = cfg_.rng == rng_kind::python ? any_rng(python_random(s + static_cast<std::int64_t>(e)))
                                                 : any_rng(random_engine(mix_seed(s, 2, e, pass)));
      buffer_shuffle<std::size_t> b(cfg_.shard_buffer, cfg_.shard_initial, std::move(rng));
      std::size_t k = 0;
      std::vector<std::size_t> out;
      while (auto x = b.next([&]() -> std::optional<std::size_t> {
        if (k < v.size()) return v[k++];
        return std::nullopt;
      }))
        out.push_back(*x);
      v = std::move(out);
    };
    auto split = [&](std::vector<std::size_t>& v) {
      // islice(rank, None, world_size), then islice(worker, None, num_workers).
      std::vector<std::size_t> a, b;
      for (std::size_t i = std::size_t(w.rank); i < v.size(); i += std::size_t(w.world_size)) a.push_back(v[i]);
      for (std::size_t i = std::size_t(w.worker); i < a.size(); i += std::size_t(w.num_workers)) b.push_back(a[i]);
      v = std::move(b);
    };
    if (cfg_.rng == rng_kind::python) {
      split(idx);
      shuffle(idx);
    } else {
      shuffle(idx);
      split(idx);
    }
    return idx;
  }

 private:
  // Equal per-reader counts: the smallest (drop) or largest (pad) reader total.
  std::uint64_t equal_target() const {
    if (!cfg_.shards.counts_known())
      throw spec_error(676, {}, "equal per-rank epochs need per-shard sample counts (a wids JSON shard list, "
                                "or .idx files beside the shards: wds-etl index)");
    std::optional<std::uint64_t> target;
    for (int r = 0; r < world_.world_size; ++r)
      for (int k = 0; k < world_.num_workers; ++k) {
        world_info w = world_;
        w.rank = r;
        w.worker = k;
        std::uint64_t total = 0;
        for (std::size_t i : shard_order(w, 0)) total += *cfg_.shards.counts[i];
        if (!target) target = total;
        else target = cfg_.equalize == equalize_mode::drop ? std::min(*target, total) : std::max(*target, total);
      }
    return target.value_or(0);
  }

  void start_pass() {
    order_ = shard_order(world_, pass_);
    next_shard_ = 0;
    reader_.reset();
    pass_items_ = 0;
    shuffle_.reset();
    if (cfg_.sample_buffer > 0) {
      const std::int64_t s = cfg_.sample_seed.value_or(cfg_.seed);
      const std::uint64_t e = cfg_.reshuffle_each_epoch ? epoch_ : 0;
      any_rng rng = cfg_.rng == rng_kind::python ? any_rng(python_random(s + static_cast<std::int64_t>(e)))
                                                 : any_rng(random_engine(mix_seed(s, 3, e, pass_)));
      shuffle_.emplace(cfg_.sample_buffer, cfg_.sample_initial, std::move(rng));
    }
  }

  bool skip_error(const std::exception& e) {
    std::lock_guard<std::mutex> lk(report_m_);
    const auto* we = dynamic_cast<const wds::error*>(&e);
    ++rep_.errors_by_id[we ? we->id() : 0];
    if (rep_.messages.size() < 16) rep_.messages.push_back(e.what());
    if (cfg_.on_error) return cfg_.on_error(e);
    return cfg_.policy == error_policy::skip;
  }

  // The next sample in shard order; a failing shard is skipped (rest lost) or raised.
  std::optional<sample> read_next() {
    for (;;) {
      if (!reader_) {
        if (next_shard_ >= order_.size()) return std::nullopt;
        const std::string& url = cfg_.shards.urls[order_[next_shard_++]];
        ++rep_.shards;
        try {
          reader_.emplace(open_url(url, cfg_.url), url, cfg_.url.lim, cfg_.reader);
        } catch (const std::exception& e) {
          if (!skip_error(e)) throw;
          ++rep_.skipped_shards;
          continue;
        }
      }
      try {
        if (std::optional<sample> s = reader_->next()) {
          ++rep_.samples_read;
          return s;
        }
        reader_.reset();
      } catch (const std::exception& e) {
        reader_.reset();
        if (!skip_error(e)) throw;
        ++rep_.skipped_shards;
      }
    }
  }

  const dataset_config& cfg_;
  std::uint64_t epoch_;
  dataset_report& rep_;
  std::mutex& report_m_;
  world_info world_;
  std::optional<std::uint64_t> limit_;
  std::uint64_t pass_ = 0, produced_ = 0, pass_items_ = 0;
  std::vector<std::size_t> order_;
  std::size_t next_shard_ = 0;
  std::optional<sample_reader<any_source>> reader_;
  std::optional<buffer_shuffle<sample>> shuffle_;
};

// Runs fn over the epoch's items on N threads and hands the results back in
// stream order. One reader thread fills a queue bounded in bytes (reading on
// into the next shards: the prefetch); workers hold at most `window` results
// ahead of the consumer.
template <class T>
class ordered_runner {
 public:
  using fn_type = std::function<std::optional<T>(sample&&)>;
  struct result {
    std::optional<T> value;  // nullopt: selected out or skipped
    std::uint64_t seq = 0;
  };

  ordered_runner(const dataset_config& cfg, std::uint64_t epoch, std::uint64_t skip, fn_type fn,
                 dataset_report& rep)
      : cfg_(cfg), fn_(std::move(fn)), rep_(rep), stream_(cfg_, epoch, rep_, report_m_), skip_(skip) {
    window_ = cfg_.window ? cfg_.window : 4 * cfg_.threads + 8;
    if (cfg_.threads == 0) return;
    try {
      reader_ = std::thread([this] { read_loop(); });
      for (std::size_t i = 0; i < cfg_.threads; ++i) workers_.emplace_back([this] { work_loop(); });
    } catch (...) {
      // No thread left running on a half-built object (std::system_error
      // when the system has no threads to give).
      shut_down();
      throw;
    }
  }
  ordered_runner(const ordered_runner&) = delete;
  ordered_runner& operator=(const ordered_runner&) = delete;
  ~ordered_runner() { shut_down(); }

  // The next result in order, or nullopt at the end of the epoch.
  std::optional<result> next() {
    if (cfg_.threads == 0) {
      for (; skip_ > 0; --skip_)
        if (!stream_.next()) return std::nullopt;
      std::optional<sample> s = stream_.next();
      if (!s) return std::nullopt;
      result r;
      r.seq = seq_++;
      r.value = apply(std::move(*s));
      return r;
    }
    std::unique_lock<std::mutex> lk(m_);
    cv_.wait(lk, [&] { return done_.count(next_out_) || (input_end_ && next_out_ >= input_count_); });
    auto it = done_.find(next_out_);
    if (it == done_.end()) {
      if (input_error_) std::rethrow_exception(input_error_);
      return std::nullopt;
    }
    slot sl = std::move(it->second);
    done_.erase(it);
    ++next_out_;
    lk.unlock();
    cv_.notify_all();
    if (sl.error) std::rethrow_exception(sl.error);
    return std::move(sl.r);
  }

 private:
  struct slot {
    result r;
    std::exception_ptr error;
  };

  void shut_down() noexcept {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    cv_.notify_all();
    if (reader_.joinable()) reader_.join();
    for (auto& t : workers_) t.join();
  }

  std::optional<T> apply(sample&& s) {
    try {
      return fn_(std::move(s));
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lk(report_m_);
      const auto* we = dynamic_cast<const wds::error*>(&e);
      ++rep_.errors_by_id[we ? we->id() : 0];
      if (rep_.messages.size() < 16) rep_.messages.push_back(e.what());
      const bool skip = cfg_.on_error ? cfg_.on_error(e) : cfg_.policy == error_policy::skip;
      if (!skip) throw;
      ++rep_.skipped_samples;
      return std::nullopt;
    }
  }

  void read_loop() {
    try {
      for (; skip_ > 0; --skip_)
        if (!stream_.next()) break;
      for (;;) {
        std::optional<sample> s = stream_.next();
        if (!s) break;
        const std::uint64_t bytes = sample_bytes(*s);
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stop_ || in_.empty() || in_bytes_ + bytes <= cfg_.queue_bytes; });
        if (stop_) return;
        in_.push_back({input_count_++, bytes, std::move(*s)});
        in_bytes_ += bytes;
        lk.unlock();
        cv_.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lk(m_);
      input_error_ = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lk(m_);
      input_end_ = true;
    }
    cv_.notify_all();
  }

  void work_loop() {
    for (;;) {
      queued q;
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] {
          return stop_ || (!in_.empty() && in_.front().seq < next_out_ + window_) || (in_.empty() && input_end_);
        });
        if (stop_ || in_.empty()) return;
        q = std::move(in_.front());
        in_.pop_front();
        in_bytes_ -= q.bytes;
      }
      cv_.notify_all();
      slot sl;
      sl.r.seq = q.seq;
      try {
        sl.r.value = apply(std::move(q.s));
      } catch (...) {
        sl.error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lk(m_);
        done_.emplace(q.seq, std::move(sl));
      }
      cv_.notify_all();
    }
  }

  struct queued {
    std::uint64_t seq = 0, bytes = 0;
    sample s;
  };

  std::mutex report_m_;  // first: the stream holds a reference
  const dataset_config& cfg_;
  fn_type fn_;
  dataset_report& rep_;
  epoch_stream stream_;
  std::uint64_t skip_ = 0, seq_ = 0;
  std::size_t window_ = 8;

  std::mutex m_;
  std::condition_variable cv_;
  std::deque<queued> in_;
  std::uint64_t in_bytes_ = 0, input_count_ = 0, next_out_ = 0;
  bool input_end_ = false, stop_ = false;
  std::exception_ptr input_error_;
  std::map<std::uint64_t, slot> done_;
  std::thread reader_;
  std::vector<std::thread> workers_;
};

}  // namespace detail

// ---- decoded samples ------------------------------------------------------------

// A decoded field: raw bytes, webdataset's basic handlers (int, text, json,
// npy, tenbin), or an image decoded by a spec.
using decoded_value = std::variant<std::vector<std::byte>, std::int64_t, std::string, json, ndarray,
                                   std::vector<ndarray>, image<std::uint8_t>, tensor<float>, tensor<std::uint8_t>>;

class decoded_sample {
 public:
  decoded_sample() = default;
  decoded_sample(std::string key, std::string url) : key_(std::move(key)), url_(std::move(url)) {}
  const std::string& key() const noexcept { return key_; }
  const std::string& url() const noexcept { return url_; }
  std::vector<std::pair<std::string, decoded_value>>& fields() noexcept { return fields_; }
  const std::vector<std::pair<std::string, decoded_value>>& fields() const noexcept { return fields_; }
  const decoded_value* find(std::string_view ext) const noexcept {
    for (const auto& [e, v] : fields_)
      if (e == ext) return &v;
    return nullptr;
  }
  decoded_value* find(std::string_view ext) noexcept {
    return const_cast<decoded_value*>(static_cast<const decoded_sample&>(*this).find(ext));
  }
  // The field as T; sample_error 302 when absent, 320 when of another type.
  template <class T>
  const T& get(std::string_view ext) const {
    const decoded_value* v = find(ext);
    if (!v) throw sample_error(302, {url_, key_, location::unknown_offset}, "sample has no field \"" + std::string(ext) + "\"");
    if (const T* t = std::get_if<T>(v)) return *t;
    throw sample_error(320, {url_, key_, location::unknown_offset},
                       "field \"" + std::string(ext) + "\" holds another type (check the decode spec)");
  }
  template <class T>
  T& get(std::string_view ext) {
    return const_cast<T&>(static_cast<const decoded_sample&>(*this).get<T>(ext));
  }

 private:
  std::string key_, url_;
  std::vector<std::pair<std::string, decoded_value>> fields_;
};

// webdataset's image specs: what decode(spec) makes of image fields.
struct image_spec {
  enum class layout { hwc8, hwc_float, chw8, chw_float, keep };
  pixel_mode mode = pixel_mode::rgb;
  layout out = layout::hwc8;
  bool keep_mode = false;  // "pil": the file's own mode

  static image_spec parse(std::string_view s) {
    struct entry {
      const char* name;
      pixel_mode m;
      layout l;
    };
    static const entry table[] = {
        {"l8", pixel_mode::l, layout::hwc8},          {"rgb8", pixel_mode::rgb, layout::hwc8},
        {"rgba8", pixel_mode::rgba, layout::hwc8},    {"l", pixel_mode::l, layout::hwc_float},
        {"rgb", pixel_mode::rgb, layout::hwc_float},  {"rgba", pixel_mode::rgba, layout::hwc_float},
        {"torchl8", pixel_mode::l, layout::chw8},     {"torchrgb8", pixel_mode::rgb, layout::chw8},
        {"torchrgba8", pixel_mode::rgba, layout::chw8}, {"torchl", pixel_mode::l, layout::chw_float},
        {"torchrgb", pixel_mode::rgb, layout::chw_float}, {"torch", pixel_mode::rgb, layout::chw_float},
        {"torchrgba", pixel_mode::rgba, layout::chw_float}, {"pil", pixel_mode::rgb, layout::keep},
        {"pilrgb", pixel_mode::rgb, layout::hwc8},    {"pilrgba", pixel_mode::rgba, layout::hwc8},
    };
    for (const auto& e : table)
      if (s == e.name) {
        image_spec r;
        r.mode = e.m;
        r.out = e.l;
        r.keep_mode = e.l == layout::keep;
        if (r.keep_mode) r.out = layout::hwc8;
        return r;
      }
    throw spec_error(671, {std::string(s), {}, 0},
                       "unknown decode spec (l8 rgb8 rgba8 l rgb rgba torchl8 torchrgb8 torchrgba8 torchl torchrgb "
                       "torch torchrgba pil pilrgb pilrgba)");
  }
};

// webdataset's IMAGE_EXTENSIONS that wds can decode or recognise.
inline bool is_image_ext(std::string_view ext) noexcept {
  const std::size_t dot = ext.rfind('.');
  if (dot != std::string_view::npos) ext.remove_prefix(dot + 1);
  for (const char* e : {"jpg", "jpeg", "png", "ppm", "pgm", "pbm", "pnm", "bmp", "gif", "tif", "tiff", "webp"})
    if (ext == e) return true;
  return false;
}

// Decodes every field of a sample: images by the spec, the rest by
// webdataset's basic handlers; meta fields ("_...") stay bytes.
inline decoded_sample decode_sample(sample&& s, const image_spec& spec, const limits& lim = {}) {
  thread_local image_decoder dec;
  decoded_sample out(s.key(), s.url());
  for (auto& f : s.fields()) {
    const location where{s.url(), f.member, f.offset};
    if (!f.ext.empty() && f.ext[0] == '_') {
      out.fields().emplace_back(f.ext, std::move(f.data));
    } else if (is_image_ext(f.ext)) {
      any_image img = dec.decode(f.data.data(), f.data.size(),
                                 spec.keep_mode ? std::nullopt : std::optional<pixel_mode>(spec.mode), lim, where);
      auto* u8 = std::get_if<image<std::uint8_t>>(&img);
      if (!u8) throw decode_error(462, where, "decode spec needs an 8-bit image; this one has a 16/32-bit mode");
      const int h = u8->height(), w = u8->width(), c = u8->channels();
      const std::uint8_t* p = u8->data();
      const std::size_t n = u8->size();
      switch (spec.out) {
        case image_spec::layout::hwc8:
        case image_spec::layout::keep:
          out.fields().emplace_back(f.ext, std::move(*u8));
          break;
        case image_spec::layout::hwc_float: {
          tensor<float> t(c == 1 ? std::vector<std::size_t>{std::size_t(h), std::size_t(w)}
                                 : std::vector<std::size_t>{std::size_t(h), std::size_t(w), std::size_t(c)});
          for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<float>(p[i]) / 255.0f;
          out.fields().emplace_back(f.ext, std::move(t));
          break;
        }
        case image_spec::layout::chw8:
        case image_spec::layout::chw_float: {
          const std::size_t plane = std::size_t(h) * std::size_t(w);
          const std::vector<std::size_t> shape{std::size_t(c), std::size_t(h), std::size_t(w)};
          if (spec.out == image_spec::layout::chw8) {
            tensor<std::uint8_t> t(shape);
            for (std::size_t i = 0; i < plane; ++i)
              for (int k = 0; k < c; ++k) t[std::size_t(k) * plane + i] = p[i * std::size_t(c) + std::size_t(k)];
            out.fields().emplace_back(f.ext, std::move(t));
          } else {
            tensor<float> t(shape);
            for (std::size_t i = 0; i < plane; ++i)
              for (int k = 0; k < c; ++k)
                t[std::size_t(k) * plane + i] = static_cast<float>(p[i * std::size_t(c) + std::size_t(k)]) / 255.0f;
            out.fields().emplace_back(f.ext, std::move(t));
          }
          break;
        }
      }
    } else {
      field_value v = decode_field(f.ext, f.data, lim, where);
      out.fields().emplace_back(f.ext, std::visit([](auto&& x) -> decoded_value { return std::move(x); }, std::move(v)));
    }
  }
  return out;
}

// ---- field extraction for to_tuple -------------------------------------------

namespace detail {

// "jpg;png" -> the first of the alternatives present.
template <class Sample>
auto find_alternative(Sample& s, std::string_view alts) -> decltype(s.find(alts)) {
  std::size_t b = 0;
  for (;;) {
    const std::size_t e = std::min(alts.find(';', b), alts.size());
    if (auto* f = s.find(alts.substr(b, e - b))) return f;
    if (e >= alts.size()) return nullptr;
    b = e + 1;
  }
}

template <class T>
T extract(sample& s, const std::string& alts) {
  field* f = find_alternative(s, alts);
  if (!f) throw sample_error(302, {s.url(), s.key(), location::unknown_offset}, "to_tuple: sample has no field \"" + alts + "\"");
  const location where{s.url(), f->member, f->offset};
  if constexpr (std::is_same_v<T, std::vector<std::byte>>) return std::move(f->data);
  else if constexpr (std::is_same_v<T, std::string>) return decode_text(f->data, where);
  else if constexpr (std::is_same_v<T, std::int64_t>) return decode_cls(f->data, where);
  else if constexpr (std::is_same_v<T, json>) return json::parse(f->data.data(), f->data.size(), where);
  else static_assert(sizeof(T) == 0, "undecoded to_tuple fields are std::vector<std::byte>, std::string, std::int64_t or json");
}

template <class T>
T extract(decoded_sample& s, const std::string& alts) {
  decoded_value* v = find_alternative(s, alts);
  if (!v) throw sample_error(302, {s.url(), s.key(), location::unknown_offset}, "to_tuple: sample has no field \"" + alts + "\"");
  if (T* t = std::get_if<T>(v)) return std::move(*t);
  throw sample_error(320, {s.url(), s.key(), location::unknown_offset},
                     "to_tuple: field \"" + alts + "\" holds another type (check the decode spec)");
}

}  // namespace detail

// ---- collation --------------------------------------------------------------

// batched()'s collation: tensors and images stack into one contiguous tensor
// with a leading batch dimension, numbers and strings become vectors,
// tuples collate element-wise.
template <class T, class = void>
struct collate {
  using type = std::vector<T>;
  static type run(std::vector<T>&& items) { return std::move(items); }
};

namespace detail {
template <class V>
tensor<V> stack(const std::vector<const V*>& data, const std::vector<std::size_t>& shape, std::size_t each) {
  std::vector<std::size_t> s{data.size()};
  s.insert(s.end(), shape.begin(), shape.end());
  tensor<V> out(std::move(s));
  for (std::size_t i = 0; i < data.size(); ++i) std::memcpy(out.data() + i * each, data[i], each * sizeof(V));
  return out;
}
[[noreturn]] inline void shape_mismatch() {
  throw sample_error(322, {}, "batched: items have different shapes (resize or crop before batching)");
}
}  // namespace detail

template <class V>
struct collate<tensor<V>> {
  using type = tensor<V>;
  static type run(std::vector<tensor<V>>&& items) {
    std::vector<const V*> p;
    for (const auto& t : items) {
      if (t.shape() != items.front().shape()) detail::shape_mismatch();
      p.push_back(t.data());
    }
    return detail::stack(p, items.empty() ? std::vector<std::size_t>{} : items.front().shape(),
                         items.empty() ? 0 : items.front().size());
  }
};

template <>
struct collate<image<std::uint8_t>> {
  using type = tensor<std::uint8_t>;
  static type run(std::vector<image<std::uint8_t>>&& items) {
    std::vector<const std::uint8_t*> p;
    std::vector<std::size_t> shape;
    for (const auto& im : items) {
      std::vector<std::size_t> s{std::size_t(im.height()), std::size_t(im.width()), std::size_t(im.channels())};
      if (p.empty()) shape = s;
      else if (s != shape) detail::shape_mismatch();
      p.push_back(im.data());
    }
    return detail::stack(p, shape, items.empty() ? 0 : items.front().size());
  }
};

template <class... Ts>
struct collate<std::tuple<Ts...>> {
  using type = std::tuple<typename collate<Ts>::type...>;
  static type run(std::vector<std::tuple<Ts...>>&& items) { return run(std::move(items), std::index_sequence_for<Ts...>{}); }

 private:
  template <std::size_t... I>
  static type run(std::vector<std::tuple<Ts...>>&& items, std::index_sequence<I...>) {
    return type{column<I>(items)...};
  }
  template <std::size_t I>
  static auto column(std::vector<std::tuple<Ts...>>& items) {
    using E = std::tuple_element_t<I, std::tuple<Ts...>>;
    std::vector<E> col;
    col.reserve(items.size());
    for (auto& t : items) col.push_back(std::move(std::get<I>(t)));
    return collate<E>::run(std::move(col));
  }
};

// ---- the pipeline -----------------------------------------------------------

template <class T, bool Batched = false>
class pipeline;

namespace detail {
template <class Elem>
struct epoch_state {
  virtual ~epoch_state() = default;
  virtual std::optional<Elem> next() = 0;
};
}  // namespace detail

// Common part: configuration, epochs, cursor and report.
template <class T, bool Batched>
class pipeline {
 public:
  using item_type = T;
  using value_type = std::conditional_t<Batched, typename collate<T>::type, T>;
  using fn_type = std::function<std::optional<T>(sample&&)>;

  pipeline(dataset_config cfg, fn_type fn, std::size_t batch = 0, bool partial = true)
      : cfg_(std::make_shared<dataset_config>(std::move(cfg))), fn_(std::move(fn)), batch_(batch), partial_(partial),
        state_(std::make_shared<run_state>()) {}

  // ---- sample-level stages (sequential; apply wherever they are written) ----
  // webdataset's .shuffle(bufsize, initial=100), seeded from seed() unless given.
  pipeline& shuffle(std::size_t bufsize, std::size_t initial = 100, std::optional<std::int64_t> seed = std::nullopt) {
    cfg_->sample_buffer = bufsize;
    cfg_->sample_initial = initial;
    cfg_->sample_seed = seed;
    return *this;
  }
  // WebDataset(shardshuffle=bufsize): shuffles the shard order.
  pipeline& shard_shuffle(std::size_t bufsize = 100, std::size_t initial = 100,
                          std::optional<std::int64_t> seed = std::nullopt) {
    cfg_->shard_buffer = bufsize;
    cfg_->shard_initial = initial;
    cfg_->shard_seed = seed;
    return *this;
  }
  pipeline& seed(std::int64_t s) { return cfg_->seed = s, *this; }
  pipeline& rng(rng_kind k) { return cfg_->rng = k, *this; }
  // false: the same shuffles every epoch (webdataset's shuffle with a fixed seed).
  pipeline& reshuffle_each_epoch(bool b) { return cfg_->reshuffle_each_epoch = b, *this; }
  pipeline& split_by_node(int rank, int world_size) {
    world_info w = cfg_->world.value_or(world_info{});
    w.rank = rank;
    w.world_size = world_size;
    w.check();
    return cfg_->world = w, *this;
  }
  pipeline& split_by_worker(int worker, int num_workers) {
    world_info w = cfg_->world.value_or(world_info{});
    w.worker = worker;
    w.num_workers = num_workers;
    w.check();
    return cfg_->world = w, *this;
  }
  pipeline& world(world_info w) { return w.check(), cfg_->world = w, *this; }
  // ResampledShards: draw shards with replacement (count per epoch, 0: as many as there are).
  pipeline& resampled(std::uint64_t count = 0) {
    cfg_->resampled = true;
    cfg_->resample_count = count;
    return *this;
  }
  pipeline& equalize(equalize_mode m) { return cfg_->equalize = m, *this; }
  // Exactly n items (before batching) per epoch, reading the shards again as needed.
  pipeline& with_epoch(std::uint64_t n) { return cfg_->epoch_items = n, *this; }
  pipeline& threads(std::size_t n) { return cfg_->threads = n, *this; }
  // Bytes of undecoded samples read ahead (the reader prefetches into the next shards).
  pipeline& prefetch_bytes(std::size_t n) { return cfg_->queue_bytes = n, *this; }
  pipeline& on_error(error_policy p) { return cfg_->policy = p, *this; }
  // fn(e) -> true: count, skip the sample (or the rest of the shard) and go on; false: raise.
  pipeline& on_error(std::function<bool(const std::exception&)> fn) { return cfg_->on_error = std::move(fn), *this; }
  pipeline& cache_dir(std::string dir) { return cfg_->url.cache_dir = std::move(dir), *this; }
  pipeline& set_limits(const wds::limits& l) { return cfg_->url.lim = l, *this; }

  // ---- per-item stages (on the worker threads) ----
  template <class F>
  auto map(F f) const {
    static_assert(!Batched, "map() before batched()");
    using R = std::decay_t<std::invoke_result_t<F&, T&&>>;
    fn_type prev = fn_;
    return pipeline<R>(*cfg_, [prev, f](sample&& s) mutable -> std::optional<R> {
      std::optional<T> v = prev(std::move(s));
      if (!v) return std::nullopt;
      return f(std::move(*v));
    });
  }
  template <class P>
  pipeline select(P pred) const {
    static_assert(!Batched, "select() before batched()");
    fn_type prev = fn_;
    return pipeline(*cfg_, [prev, pred](sample&& s) mutable -> std::optional<T> {
      std::optional<T> v = prev(std::move(s));
      if (!v || !pred(std::as_const(*v))) return std::nullopt;
      return v;
    });
  }
  // webdataset's decode(spec): images by the spec, other fields by their ext.
  pipeline<decoded_sample> decode(std::string_view spec = "rgb8") const {
    static_assert(std::is_same_v<T, sample>, "decode() applies to raw samples");
    const image_spec is = image_spec::parse(spec);
    fn_type prev = fn_;
    const wds::limits lim = cfg_->url.lim;
    return pipeline<decoded_sample>(*cfg_, [prev, is, lim](sample&& s) -> std::optional<decoded_sample> {
      std::optional<sample> v = prev(std::move(s));
      if (!v) return std::nullopt;
      return decode_sample(std::move(*v), is, lim);
    });
  }
  // to_tuple<A, B>("jpg;png", "cls"): the first present alternative of each.
  template <class... Ts, class... Names>
  pipeline<std::tuple<Ts...>> to_tuple(Names... names) const {
    static_assert(sizeof...(Ts) == sizeof...(Names), "one type per field name");
    static_assert(std::is_same_v<T, sample> || std::is_same_v<T, decoded_sample>, "to_tuple() applies to samples");
    fn_type prev = fn_;
    std::array<std::string, sizeof...(Names)> keys{std::string(names)...};
    return pipeline<std::tuple<Ts...>>(*cfg_, [prev, keys](sample&& s) -> std::optional<std::tuple<Ts...>> {
      std::optional<T> v = prev(std::move(s));
      if (!v) return std::nullopt;
      return make<Ts...>(*v, keys, std::index_sequence_for<Ts...>{});
    });
  }
  // batched(n, partial): n items collated into one value (see collate).
  pipeline<T, true> batched(std::size_t n, bool partial = true) const {
    static_assert(!Batched, "batched() twice");
    if (n == 0) throw spec_error(674, {}, "batched(0)");
    return pipeline<T, true>(*cfg_, fn_, n, partial);
  }

  // ---- epochs and resumption ----
  // Each begin() runs the next epoch (0, 1, ...); set_epoch() chooses it.
  pipeline& set_epoch(std::uint64_t e) {
    state_->epoch = e;
    state_->skip = 0;
    return *this;
  }
  std::uint64_t epoch() const noexcept { return state_->epoch; }
  // Where the consumer is now: resume(cursor()) continues right after the
  // last item handed out, on any number of threads.
  wds::cursor cursor() const noexcept { return state_->pos; }
  pipeline& resume(const wds::cursor& c) {
    if (c.seed != cfg_->seed)
      throw spec_error(677, {c.str(), {}, 0}, "cursor was made with seed " + std::to_string(c.seed) +
                                                  ", this dataset has seed " + std::to_string(cfg_->seed));
    state_->epoch = c.epoch;
    state_->skip = c.position;
    return *this;
  }
  // The last epoch's counts: read them after the loop (or between items with
  // threads(0)); during a threaded epoch the loader threads are writing them.
  const dataset_report& report() const noexcept { return state_->report; }
  const dataset_config& config() const noexcept { return *cfg_; }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using difference_type = std::ptrdiff_t;
    using value_type = pipeline::value_type;
    using reference = value_type&;
    using pointer = value_type*;
    iterator() = default;
    explicit iterator(std::shared_ptr<detail::epoch_state<value_type>> run) : run_(std::move(run)) { ++*this; }
    reference operator*() const { return *cur_; }
    pointer operator->() const { return &*cur_; }
    iterator& operator++() {
      cur_ = run_->next();
      if (!cur_) run_.reset();
      return *this;
    }
    bool operator==(const iterator& o) const noexcept { return run_ == o.run_; }
    bool operator!=(const iterator& o) const noexcept { return run_ != o.run_; }

   private:
    std::shared_ptr<detail::epoch_state<value_type>> run_;
    mutable std::optional<value_type> cur_;
  };

  // Starts the next epoch (threads start here and stop with the iterator).
  iterator begin() {
    auto run = std::make_shared<epoch_run>(*this);
    return iterator(std::move(run));
  }
  iterator end() { return iterator(); }

 private:
  template <class, bool>
  friend class pipeline;

  struct run_state {
    std::uint64_t epoch = 0, skip = 0;
    wds::cursor pos;
    dataset_report report;
  };

  template <class... Ts, class S, std::size_t... I>
  static std::tuple<Ts...> make(S& s, const std::array<std::string, sizeof...(Ts)>& keys, std::index_sequence<I...>) {
    return std::tuple<Ts...>{detail::extract<Ts>(s, keys[I])...};
  }

  struct epoch_run final : detail::epoch_state<value_type> {
    explicit epoch_run(pipeline& p)
        : cfg(p.cfg_), state(p.state_), epoch(state->epoch), batch(p.batch_), partial(p.partial_) {
      state->report = dataset_report{};
      state->report.epoch = epoch;
      skipped = state->skip;
      state->pos = wds::cursor{cfg->seed, epoch, skipped};
      runner = std::make_unique<detail::ordered_runner<T>>(*cfg, epoch, state->skip, p.fn_, state->report);
      state->skip = 0;
      state->epoch = epoch + 1;  // the next begin() runs the next epoch
    }
    std::optional<value_type> next() override {
      if constexpr (Batched) {
        std::vector<T> items;
        items.reserve(batch);
        while (items.size() < batch) {
          auto r = runner->next();
          if (!r) break;
          state->pos.position = r->seq + 1 + base();
          if (r->value) items.push_back(std::move(*r->value));
        }
        if (items.empty() || (items.size() < batch && !partial)) return finish();
        ++state->report.batches;
        state->report.items += items.size();
        return collate<T>::run(std::move(items));
      } else {
        for (;;) {
          auto r = runner->next();
          if (!r) return finish();
          state->pos.position = r->seq + 1 + base();
          if (r->value) {
            ++state->report.items;
            return std::move(*r->value);
          }
        }
      }
    }
    std::uint64_t base() const noexcept { return skipped; }
    std::optional<value_type> finish() {
      // The epoch is complete: a cursor saved now resumes at the next one.
      state->pos = wds::cursor{cfg->seed, epoch + 1, 0};
      return std::nullopt;
    }
    std::shared_ptr<dataset_config> cfg;
    std::shared_ptr<run_state> state;
    std::uint64_t epoch;
    std::size_t batch;
    bool partial;
    std::uint64_t skipped = 0;
    std::unique_ptr<detail::ordered_runner<T>> runner;
  };

  std::shared_ptr<dataset_config> cfg_;
  fn_type fn_;
  std::size_t batch_ = 0;
  bool partial_ = true;
  std::shared_ptr<run_state> state_;
};

// wds::dataset(spec) or dataset(urls): the raw samples of a shard list.
class dataset : public pipeline<sample> {
 public:
  explicit dataset(const std::string& spec) : pipeline<sample>(config_for(resolve_shards(spec)), identity()) {}
  explicit dataset(const char* spec) : dataset(std::string(spec)) {}
  explicit dataset(std::vector<std::string> urls)
      : pipeline<sample>(config_for(make_shard_list(std::move(urls))), identity()) {}
  explicit dataset(shard_list shards) : pipeline<sample>(config_for(std::move(shards)), identity()) {}

 private:
  static dataset_config config_for(shard_list s) {
    dataset_config c;
    c.shards = std::move(s);
    return c;
  }
  static fn_type identity() {
    return [](sample&& s) -> std::optional<sample> { return std::move(s); };
  }
};

WDS_NAMESPACE_END
