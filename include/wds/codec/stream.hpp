// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

// The streaming loop shared by the bzip2, xz and zstd codecs (wds/codec/bzip2.hpp,
// xz.hpp, zstd.hpp): decompressing_source<Source, Decoder> and
// compressing_sink<Sink, Encoder>. Needs no library itself; each codec header
// supplies a small Decoder/Encoder over its C library.
//
// Stream rules, the same for every codec (gzip_source follows them too):
//   - concatenated streams decode as one, as `bzip2 -d`, `xz -d`, `zstd -d` do;
//   - every stream's own integrity check (CRC, checksum) is verified;
//   - a stream that ends early is io.111, corrupt data io.112;
//   - after the last stream, bytes that start no stream are "trailing garbage":
//     io.112 while the tar reader still wants data (they are inside the archive),
//     a counted warning (wds::trailing_garbage_warnings()) once it has seen the
//     end marker, as Python's tarfile and webdataset never read that far.

#include <wds/error.hpp>
#include <wds/io.hpp>
#include <wds/limits.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

WDS_NAMESPACE_BEGIN

namespace detail {

// What one decoder or encoder call did.
struct codec_step {
  std::size_t consumed = 0, produced = 0;
  bool stream_end = false;
};

// Thrown by a Decoder/Encoder; the source or sink adds the location.
struct codec_failure {
  int id;  // io.110 (init/memory), io.112 (corrupt), io.114 (encoder), limit.505 (memory limit)
  std::string why;
};

// A Decoder that reads ahead past its stream's end (the parallel gzip decoder)
// has `std::vector<std::byte> take_overread()`, called after each stream end.
template <class D, class = void>
struct has_overread : std::false_type {};
template <class D>
struct has_overread<D, std::void_t<decltype(std::declval<D&>().take_overread())>> : std::true_type {};

}  // namespace detail

// Decoder concept (see codec/bzip2.hpp for one):
//   explicit Decoder(const limits&);                        // may throw codec_failure
//   codec_step step(const std::byte* in, size_t in_n, std::byte* out, size_t out_n);
//   void reset();                                           // ready for the next stream
//   static bool is_magic(const std::byte* p, size_t n);     // n >= magic_size
//   static constexpr std::size_t magic_size, padding_unit;  // padding: zero bytes allowed
//                                                           // between streams in multiples of it (0: none)
//   static constexpr const char* format;                    // "bzip2", "xz", "zstd"
template <class Source, class Decoder>
class decompressing_source {
 public:
  static constexpr std::size_t in_size = std::size_t{256} << 10;
  // Input taken per call from a source with read_view() (memory_source): no copy.
  static constexpr std::size_t view_size = std::size_t{1} << 20;

  explicit decompressing_source(Source src, std::string name = {}, limits lim = {})
      : src_(std::move(src)), name_(std::move(name)), limits_(lim) {
    init([&] { return std::make_unique<Decoder>(limits_); });
  }
  // For a Decoder that takes options too (Decoder(limits, options)).
  template <class Options>
  decompressing_source(Source src, std::string name, limits lim, const Options& options)
      : src_(std::move(src)), name_(std::move(name)), limits_(lim) {
    init([&] { return std::make_unique<Decoder>(limits_, options); });
  }
  decompressing_source(decompressing_source&&) noexcept = default;
  decompressing_source(const decompressing_source&) = delete;
  decompressing_source& operator=(const decompressing_source&) = delete;
  decompressing_source& operator=(decompressing_source&&) = delete;

  std::size_t read(std::byte* dst, std::size_t n) {
    if (n == 0 || finished_) return 0;
    std::size_t got = 0;
    while (got == 0) {
      if (ended_ && !start_next_stream()) return 0;
      if (pos_ == len_ && !eof_) refill();
      // Called with no input too: a decoder may still hold output.
      detail::codec_step s;
      try {
        s = dec_->step(data_ + pos_, len_ - pos_, dst, n);
      } catch (const detail::codec_failure& f) {
        if (f.id >= 500) throw limit_error(f.id, {name_, {}, out_total_}, f.why);
        throw io_error(f.id, {name_, {}, out_total_}, f.why);
      }
      pos_ += s.consumed;
      got = s.produced;
      ended_ = s.stream_end;
      if constexpr (detail::has_overread<Decoder>::value)
        if (ended_) give_back(dec_->take_overread());
      if (!ended_ && got == 0 && s.consumed == 0) {
        if (pos_ == len_ && eof_)
          throw io_error(111, {name_, {}, out_total_}, std::string("truncated ") + Decoder::format + " stream");
        if (pos_ < len_)
          throw io_error(112, {name_, {}, out_total_}, std::string(Decoder::format) + " decoder made no progress");
      }
    }
    out_total_ += got;
    if (limits_.max_decompressed_size && out_total_ > limits_.max_decompressed_size)
      throw limit_error(504, {name_, {}, out_total_},
                        std::string(Decoder::format) + " stream decompresses past the limit of " +
                            std::to_string(limits_.max_decompressed_size) + " bytes");
    return got;
  }

  // Called once the tar reader has seen the end marker: drains the rest
  // (bounded) so every stream's check is verified; trailing garbage is a warning.
  void verify_end() {
    draining_ = true;
    std::unique_ptr<std::byte[]> scratch(new std::byte[std::size_t{64} << 10]);
    std::uint64_t drained = 0;
    while (std::size_t k = read(scratch.get(), std::size_t{64} << 10)) {
      drained += k;
      if (drained > (std::uint64_t{1} << 20))
        throw io_error(113, {name_, {}, out_total_},
                       std::string("more than 1 MiB of data after the end of the archive in the ") +
                           Decoder::format + " stream");
    }
  }

  const std::string& name() const noexcept { return name_; }
  std::uint64_t decompressed_bytes() const noexcept { return out_total_; }

 private:
  template <class Make>
  void init(Make make) {
    if constexpr (!detail::has_read_view<Source>::value) data_ = buffer();
    if (name_.empty()) name_ = name_of(src_);
    try {
      dec_ = make();
    } catch (const detail::codec_failure& f) {
      throw io_error(f.id, {name_, {}, 0}, f.why);
    }
  }

  // Bytes a decoder took past its stream's end go back in front of the unread input.
  void give_back(std::vector<std::byte> back) {
    if (back.empty()) return;
    back.insert(back.end(), data_ + pos_, data_ + len_);
    back_ = std::move(back);
    data_ = back_.data();
    pos_ = 0;
    len_ = back_.size();
  }

  void refill() {
    pos_ = 0;
    if constexpr (detail::has_read_view<Source>::value) {
      const byte_view v = src_.read_view(view_size);
      len_ = v.size();
      if (len_) data_ = v.data();
    } else {
      data_ = buffer();  // back_ may have been the unread input
      len_ = src_.read(in_.get(), in_size);
    }
    if (len_ == 0) eof_ = true;
  }

  // Ensures at least `want` unread bytes are buffered unless the input ends first
  // (into in_, also for a source read by views: the rare magic split between two).
  void buffer_at_least(std::size_t want) {
    if (len_ - pos_ >= want || eof_) return;
    std::byte* in = buffer();
    std::copy(data_ + pos_, data_ + len_, in);
    data_ = in;
    len_ -= pos_;
    pos_ = 0;
    while (len_ < want) {
      std::size_t k = src_.read(in_.get() + len_, in_size - len_);
      if (k == 0) {
        eof_ = true;
        break;
      }
      len_ += k;
    }
  }

  // After a stream's end: another stream, allowed zero padding, the end of the input, or garbage.
  bool start_next_stream() {
    std::uint64_t zeros = 0;
    for (;;) {
      while (pos_ < len_ && data_[pos_] == std::byte{0} && Decoder::padding_unit) {
        ++pos_;
        ++zeros;
      }
      if (pos_ == len_) {
        if (!eof_) refill();
        if (pos_ == len_) {
          if (Decoder::padding_unit && zeros % Decoder::padding_unit) return garbage();
          return stop();
        }
        continue;
      }
      break;
    }
    buffer_at_least(Decoder::magic_size);
    if ((Decoder::padding_unit && zeros % Decoder::padding_unit) || len_ - pos_ < Decoder::magic_size ||
        !Decoder::is_magic(data_ + pos_, len_ - pos_))
      return garbage();
    dec_->reset();
    ended_ = false;
    return true;
  }

  std::byte* buffer() {
    if (!in_) in_.reset(new std::byte[in_size]);
    return in_.get();
  }
  // Never null (decoders are handed data_ + pos_ even with nothing to read), and
  // not a member, which a move would leave data_ pointing into.
  static const std::byte* no_input() noexcept {
    static const std::byte none{};
    return &none;
  }

  bool stop() {
    finished_ = true;
    return false;
  }
  bool garbage() {
    if (!draining_)
      throw io_error(112, {name_, {}, out_total_},
                     std::string("trailing garbage after the ") + Decoder::format + " stream, inside the archive");
    detail::trailing_garbage_counter().fetch_add(1, std::memory_order_relaxed);
    return stop();
  }

  Source src_;
  std::string name_;
  limits limits_;
  std::unique_ptr<Decoder> dec_;
  std::unique_ptr<std::byte[]> in_;       // the input buffer (allocated on first use for a view source)
  std::vector<std::byte> back_;           // input a decoder handed back (see give_back)
  const std::byte* data_ = no_input();    // the unread input: in_ or the source's last view
  std::size_t pos_ = 0, len_ = 0;
  std::uint64_t out_total_ = 0;
  bool ended_ = false, eof_ = false, finished_ = false, draining_ = false;
};

// Encoder concept:
//   explicit Encoder(int level);                            // may throw codec_failure
//   codec_step step(const std::byte* in, size_t in_n, std::byte* out, size_t out_n, bool finish);
//     (stream_end once finish was asked and everything is out)
template <class Sink, class Encoder>
class compressing_sink {
 public:
  static constexpr std::size_t out_size = std::size_t{256} << 10;

  explicit compressing_sink(Sink sink, int level = Encoder::default_level)
      : sink_(std::move(sink)), out_(new std::byte[out_size]) {
    try {
      enc_ = std::make_unique<Encoder>(level);
    } catch (const detail::codec_failure& f) {
      throw io_error(f.id, {name_of(sink_), {}, 0}, f.why);
    }
  }
  compressing_sink(compressing_sink&&) noexcept = default;
  compressing_sink(const compressing_sink&) = delete;
  compressing_sink& operator=(const compressing_sink&) = delete;
  compressing_sink& operator=(compressing_sink&&) = delete;

  void write(const std::byte* src, std::size_t n) {
    while (n > 0) {
      detail::codec_step s = step(src, n, false);
      src += s.consumed;
      n -= s.consumed;
    }
  }
  void close() {
    if (closed_) return;
    while (!step(nullptr, 0, true).stream_end) {
    }
    closed_ = true;
    sink_.close();
  }
  std::string name() const { return name_of(sink_); }
  Sink& inner() noexcept { return sink_; }

 private:
  detail::codec_step step(const std::byte* src, std::size_t n, bool finish) {
    detail::codec_step s;
    try {
      s = enc_->step(src, n, out_.get(), out_size, finish);
    } catch (const detail::codec_failure& f) {
      throw io_error(f.id, {name_of(sink_), {}, 0}, f.why);
    }
    if (s.produced) sink_.write(out_.get(), s.produced);
    return s;
  }

  Sink sink_;
  std::unique_ptr<Encoder> enc_;
  std::unique_ptr<std::byte[]> out_;
  bool closed_ = false;
};

WDS_NAMESPACE_END
