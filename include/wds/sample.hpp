// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

// Samples: consecutive tar members sharing a key, grouped with exactly the
// rules of Python webdataset 1.0 (tariterators.base_plus_ext/group_by_keys).

#include <wds/error.hpp>
#include <wds/limits.hpp>
#include <wds/tar.hpp>
#include <wds/unicode.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

WDS_NAMESPACE_BEGIN

// One member of a sample: "cat_01.image.jpg" -> ext "image.jpg".
struct field {
  std::string ext;
  std::vector<std::byte> data;
  std::string member;              // the tar member name it came from (empty if made in memory)
  std::uint64_t offset = location::unknown_offset;  // its header's byte offset in the shard

  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
  }
};

class sample {
 public:
  using field_type = field;

  sample() = default;
  explicit sample(std::string key, std::string url = {}) : key_(std::move(key)), url_(std::move(url)) {}

  // webdataset's __key__ and __url__.
  const std::string& key() const noexcept { return key_; }
  const std::string& url() const noexcept { return url_; }
  void set_key(std::string k) { key_ = std::move(k); }
  void set_url(std::string u) { url_ = std::move(u); }

  // Fields in tar order.
  const std::vector<field>& fields() const noexcept { return fields_; }
  std::vector<field>& fields() noexcept { return fields_; }
  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }

  field* find(std::string_view ext) noexcept {
    for (auto& f : fields_)
      if (f.ext == ext) return &f;
    return nullptr;
  }
  const field* find(std::string_view ext) const noexcept { return const_cast<sample*>(this)->find(ext); }
  bool contains(std::string_view ext) const noexcept { return find(ext) != nullptr; }

  // The field's bytes; a sample_error (id 302) when the sample has no such field.
  const std::vector<std::byte>& at(std::string_view ext) const {
    if (const field* f = find(ext)) return f->data;
    throw sample_error(302, {url_, key_, location::unknown_offset},
                       "sample has no field \"" + std::string(ext) + "\"");
  }
  std::vector<std::byte>& at(std::string_view ext) {
    return const_cast<std::vector<std::byte>&>(static_cast<const sample&>(*this).at(ext));
  }

  // Sets (replacing in place) or appends a field.
  field& set(std::string ext, std::vector<std::byte> data) {
    if (field* f = find(ext)) {
      f->data = std::move(data);
      return *f;
    }
    fields_.push_back(field{std::move(ext), std::move(data), {}, location::unknown_offset});
    return fields_.back();
  }
  field& set(std::string ext, std::string_view text) {
    auto p = reinterpret_cast<const std::byte*>(text.data());
    return set(std::move(ext), std::vector<std::byte>(p, p + text.size()));
  }
  bool erase(std::string_view ext) {
    for (auto it = fields_.begin(); it != fields_.end(); ++it)
      if (it->ext == ext) {
        fields_.erase(it);
        return true;
      }
    return false;
  }
  // Renames a field's ext; false when absent.
  bool rename(std::string_view from, std::string to) {
    if (field* f = find(from)) {
      f->ext = std::move(to);
      return true;
    }
    return false;
  }

 private:
  std::string key_, url_;
  std::vector<field> fields_;
};

// webdataset's base_plus_ext, i.e. re.match(r"^((?:.*/|)[^.]+)[.]([^/]*)$"):
// the key runs to the first '.' of the basename, the ext is the rest. When the
// basename starts with '.', the regex backtracks into the parent directory
// ("p/q/.hid.txt" -> key "p/q/", ext "hid.txt"). Returns false when no match.
inline bool split_key_ext(std::string_view path, std::string_view& key, std::string_view& ext) noexcept {
  const std::size_t last_slash = path.rfind('/');
  // Candidates for the end of the directory part, longest first (greedy .*/),
  // then the empty alternative. `.` does not match '\n'; `[^.]` and `[^/]` do.
  std::size_t j = last_slash;
  for (;;) {
    const std::size_t base = (j == std::string_view::npos) ? 0 : j + 1;
    if (j != std::string_view::npos && path.substr(0, j).find('\n') != std::string_view::npos) {
      // .*/ cannot span a newline: only shorter candidates can work, and they
      // would too contain it, so only the empty alternative is left.
      j = std::string_view::npos;
      continue;
    }
    const std::size_t dot = path.find('.', base);
    if (dot != std::string_view::npos && dot > base &&
        (last_slash == std::string_view::npos || dot > last_slash)) {
      key = path.substr(0, dot);
      ext = path.substr(dot + 1);
      return true;
    }
    if (j == std::string_view::npos) return false;
    j = (j == 0) ? std::string_view::npos : path.rfind('/', j - 1);
  }
}

// webdataset's meta-file test: "__*__" at the top level, or re.match(r"__[^/]*__($|/)").
inline bool is_meta_name(std::string_view name) noexcept {
  if (name.size() < 2 || name.compare(0, 2, "__") != 0) return false;
  const std::size_t slash = name.find('/');
  if (slash == std::string_view::npos) {
    if (name.size() >= 2 && name.compare(name.size() - 2, 2, "__") == 0) return true;
    // `$` also matches before a final newline.
    return name.size() >= 5 && name.back() == '\n' && name.compare(name.size() - 3, 2, "__") == 0;
  }
  return slash >= 4 && name.compare(slash - 2, 2, "__") == 0;
}

namespace detail {
// webdataset's lcase: Python's str.lower() (wds/unicode.hpp).
inline std::string lower_ext(std::string_view s) { return unicode::lower(s); }
}  // namespace detail

// A field of a borrowed_sample: `data` points into the tar reader's buffer
// when the member lies in it, else into `own`; valid until the next call on
// the sample_reader that returned it.
struct borrowed_field {
  std::string ext;
  byte_view data;
  std::string member;
  std::uint64_t offset = location::unknown_offset;
  std::vector<std::byte> own;

  std::string_view text() const noexcept { return {reinterpret_cast<const char*>(data.data()), data.size()}; }
};

// A sample whose payloads are not copied (sample_reader::next_borrowed).
class borrowed_sample {
 public:
  const std::string& key() const noexcept { return key_; }
  const std::string& url() const noexcept { return url_; }
  // Fields in tar order.
  const borrowed_field* begin() const noexcept { return fields_.data(); }
  const borrowed_field* end() const noexcept { return fields_.data() + size_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const borrowed_field* find(std::string_view ext) const noexcept {
    for (const auto& f : *this)
      if (f.ext == ext) return &f;
    return nullptr;
  }
  // An owning copy, for a sample to keep.
  sample to_sample() const {
    sample s(key_, url_);
    for (const auto& f : *this)
      s.fields().push_back(field{f.ext, std::vector<std::byte>(f.data.begin(), f.data.end()), f.member, f.offset});
    return s;
  }

 private:
  template <class>
  friend class sample_reader;
  std::string key_, url_;
  std::vector<borrowed_field> fields_;  // the first size_ are in use; the rest keep their capacity
  std::size_t size_ = 0;
};

struct sample_reader_options {
  bool lowercase_ext = true;        // webdataset's lcase=True
  bool skip_meta = true;            // drop "__*__" members (webdataset's skip_meta)
  std::vector<std::string> suffixes;  // when not empty, keep only these exts (webdataset's `suffixes`)
  bool allow_empty = false;         // a 0-byte shard is empty, not tar error 208 (tar_reader_options)
};

// Groups a tar_reader's members into samples, one at a time:
//   wds::sample_reader samples(wds::file_source("shard.tar"), "shard.tar");
//   while (auto s = samples.next()) use(s->key(), s->at("jpg"));
// or `for (wds::sample& s : samples) ...`.
template <class Source>
class sample_reader {
 public:
  explicit sample_reader(Source src, std::string url = {}, limits lim = {}, sample_reader_options opts = {})
      : tar_(std::move(src), std::move(url), lim, tar_reader_options{opts.allow_empty}), opts_(std::move(opts)) {}

  // The next sample in tar order, or nullopt at the end of the shard.
  std::optional<sample> next() {
    for (;;) {
      if (!pending_) fetch();
      if (!pending_) {
        if (!current_) return std::nullopt;
        std::optional<sample> out = take();
        if (out) return out;
        continue;
      }
      if (!current_ || pending_key_ != current_->key()) {
        std::optional<sample> out;
        if (current_) out = take();
        current_.emplace(pending_key_, tar_.shard_name());
        // Hand out the finished sample first: an error in the pending member
        // (a duplicate __key__, say) comes after it, as in webdataset.
        if (out) return out;
      }
      add_pending();
    }
  }

  // The next sample without copying its payloads (the fast path when the
  // caller does not keep them): fields that lie in the tar reader's buffer
  // alias it, others are read into reused buffers. Valid until the next call
  // on this reader; nullptr at the end. Same samples, order and errors as
  // next(); do not mix the two on one reader.
  const borrowed_sample* next_borrowed() {
    borrowing_ = true;
    tar_.set_refill_hook(&rescue_borrowed, this);  // every call: the reader may have moved
    if (returned_) {  // the sample handed out last time is over
      returned_ = false;
      borrowed_.size_ = 0;
      have_borrowed_ = false;
    }
    for (;;) {
      if (!pending_) fetch();
      if (!pending_) {
        if (!have_borrowed_) return nullptr;
        if (const borrowed_sample* out = take_borrowed()) return out;
        continue;
      }
      if (have_borrowed_ && pending_key_ != borrowed_.key_) {
        // Hand out the finished sample first (see next()); the pending member
        // starts the next one on the next call.
        if (const borrowed_sample* out = take_borrowed()) return out;
      }
      if (!have_borrowed_) {
        borrowed_.key_ = pending_key_;
        borrowed_.url_ = tar_.shard_name();
        borrowed_.size_ = 0;
        have_borrowed_ = true;
      }
      add_pending_borrowed();
    }
  }

  // Hands a finished sample's buffers back for reuse by later members.
  void recycle(sample&& s) {
    for (auto& f : s.fields())
      if (spare_.size() < 64 && f.data.capacity() > 0) spare_.push_back(std::move(f.data));
    s.fields().clear();
  }

  tar_reader<Source>& tar() noexcept { return tar_; }
  const std::string& url() const noexcept { return tar_.shard_name(); }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = sample;
    using difference_type = std::ptrdiff_t;
    using pointer = sample*;
    using reference = sample&;
    iterator() = default;
    explicit iterator(sample_reader* r) : r_(r) { ++*this; }
    reference operator*() const { return *s_; }
    pointer operator->() const { return &*s_; }
    iterator& operator++() {
      s_ = r_->next();
      if (!s_) r_ = nullptr;
      return *this;
    }
    bool operator==(const iterator& o) const noexcept { return r_ == o.r_; }
    bool operator!=(const iterator& o) const noexcept { return r_ != o.r_; }

   private:
    sample_reader* r_ = nullptr;
    mutable std::optional<sample> s_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  // The finished sample, unless webdataset's valid_sample() drops it: a
  // non-empty "__bad__" field is truthy there.
  std::optional<sample> take() {
    sample s = std::move(*current_);
    current_.reset();
    if (const field* bad = s.find("__bad__"); bad && !bad->data.empty()) {
      recycle(std::move(s));
      return std::nullopt;
    }
    return s;
  }

  // The finished borrowed sample, or nullptr when __bad__ drops it.
  const borrowed_sample* take_borrowed() {
    have_borrowed_ = false;
    if (const borrowed_field* bad = borrowed_.find("__bad__"); bad && bad->data.size() != 0) {
      borrowed_.size_ = 0;
      return nullptr;
    }
    returned_ = true;
    return &borrowed_;
  }

  // Reads members until one belongs in a sample (or the shard ends).
  void fetch() {
    while (const tar_member* m = tar_.next()) {
      if (opts_.skip_meta && is_meta_name(m->name)) continue;
      std::string_view key, ext;
      if (!split_key_ext(m->name, key, ext)) continue;
      pending_ext_ = opts_.lowercase_ext ? detail::lower_ext(ext) : std::string(ext);
      // A filtered-out field still starts a new sample: webdataset groups before filtering.
      pending_skip_ = !opts_.suffixes.empty() &&
                      std::find(opts_.suffixes.begin(), opts_.suffixes.end(), pending_ext_) == opts_.suffixes.end();
      pending_key_.assign(key);
      pending_member_ = m->name;
      pending_offset_ = m->header_offset;
      pending_ = true;
      // Read now, before the previous sample is handed out: webdataset reads
      // each file before grouping it, so a truncated member fails the shard
      // without yielding the sample before it.
      if (!pending_skip_) read_pending_payload();
      return;
    }
  }

  void read_pending_payload() {
    pending_aliases_ = false;
    // Borrowing: view the payload in the tar buffer when it lies there (not a
    // sparse member: its expansion is dropped at the next header).
    if (borrowing_ && tar_.payload_buffered() && !tar_.current()->is_sparse) {
      pending_view_ = tar_.payload();
      pending_aliases_ = true;
      return;
    }
    pending_data_.clear();
    if (!spare_.empty()) {  // best fit, so recycled buffers rarely reallocate
      const std::uint64_t need = tar_.remaining();
      std::size_t best = 0;
      for (std::size_t i = 1; i < spare_.size(); ++i) {
        const std::size_t c = spare_[i].capacity(), b = spare_[best].capacity();
        if (b < need ? c > b : (c >= need && c < b)) best = i;
      }
      pending_data_ = std::move(spare_[best]);
      spare_[best] = std::move(spare_.back());
      spare_.pop_back();
    }
    tar_.read_payload(pending_data_);
    pending_view_ = byte_view(pending_data_.data(), pending_data_.size());
  }

  // webdataset's checks before the pending member joins a sample (owned or
  // borrowed): its sample dict starts with "__key__" and "__url__" ("duplicate
  // file name"), a duplicate ext, too many fields. False: the member is
  // filtered out by `suffixes` (it still took part in the grouping).
  template <class Fields>
  bool admit_pending(const std::string& key, const Fields& fields, std::size_t size) const {
    if (pending_ext_ == "__key__" || pending_ext_ == "__url__")
      throw sample_error(303, {tar_.shard_name(), pending_member_, pending_offset_},
                         "duplicate file name: field \"" + pending_ext_ + "\" in sample \"" + key +
                             "\" clashes with webdataset's " + pending_ext_);
    for (const auto& f : fields)
      if (f.ext == pending_ext_)
        throw sample_error(301, {tar_.shard_name(), pending_member_, pending_offset_},
                           "duplicate ext \"" + pending_ext_ + "\" in sample \"" + key + "\" (first member \"" +
                               f.member + "\")");
    if (pending_skip_) return false;
    if (size >= tar_.limits().max_sample_fields)
      throw limit_error(503, {tar_.shard_name(), pending_member_, pending_offset_},
                        "sample \"" + key + "\" has more than " + std::to_string(tar_.limits().max_sample_fields) +
                            " fields");
    return true;
  }

  void add_pending() {
    pending_ = false;
    sample& s = *current_;
    if (!admit_pending(s.key(), s.fields(), s.size())) return;
    s.fields().push_back(
        field{std::move(pending_ext_), std::move(pending_data_), std::move(pending_member_), pending_offset_});
  }

  void add_pending_borrowed() {
    pending_ = false;
    borrowed_sample& s = borrowed_;
    if (!admit_pending(s.key(), s, s.size())) return;
    if (s.size_ == s.fields_.size()) s.fields_.emplace_back();
    borrowed_field& f = s.fields_[s.size_];
    f.ext.swap(pending_ext_);
    f.member.swap(pending_member_);
    f.offset = pending_offset_;
    if (pending_aliases_) {
      f.data = pending_view_;
      pending_aliases_ = false;
    } else {
      f.own.swap(pending_data_);  // the slot's old buffer is reused for the next member
      f.data = byte_view(f.own.data(), f.own.size());
    }
    ++s.size_;
  }

  // The tar buffer is about to be overwritten: copy out what views it (the
  // fields of the sample being built or handed out, and the read-ahead member).
  static void rescue_borrowed(void* self) {
    auto& r = *static_cast<sample_reader*>(self);
    auto& s = r.borrowed_;
    for (std::size_t i = 0; i < s.size_; ++i) {
      borrowed_field& f = s.fields_[i];
      if (f.data.size() == 0 || f.data.data() == f.own.data()) continue;
      f.own.assign(f.data.begin(), f.data.end());
      f.data = byte_view(f.own.data(), f.own.size());
    }
    if (r.pending_aliases_) {
      r.pending_data_.assign(r.pending_view_.begin(), r.pending_view_.end());
      r.pending_view_ = byte_view(r.pending_data_.data(), r.pending_data_.size());
      r.pending_aliases_ = false;
    }
  }

  tar_reader<Source> tar_;
  sample_reader_options opts_;
  borrowed_sample borrowed_;
  bool borrowing_ = false;      // next_borrowed() in use: read-ahead payloads may alias the tar buffer
  bool have_borrowed_ = false;  // borrowed_ holds a sample being built
  bool returned_ = false;       // borrowed_ was handed out by the last call
  std::optional<sample> current_;
  bool pending_ = false, pending_skip_ = false;
  std::string pending_key_, pending_ext_, pending_member_;
  std::vector<std::byte> pending_data_;
  byte_view pending_view_;        // the read-ahead payload: pending_data_ or, borrowing, the tar buffer
  bool pending_aliases_ = false;  // pending_view_ points into the tar buffer
  std::uint64_t pending_offset_ = 0;
  std::vector<std::vector<std::byte>> spare_;
};

template <class Source>
sample_reader(Source, std::string = {}, limits = {}, sample_reader_options = {}) -> sample_reader<Source>;

// The type-erased sample reader (over open_input()'s any_source).
using any_sample_reader = sample_reader<any_source>;

WDS_NAMESPACE_END
