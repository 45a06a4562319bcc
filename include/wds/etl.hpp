// SPDX-License-Identifier: MIT
#pragma once

// Shard-to-shard ETL, shared by the wds-etl CLI and the AIStore ETL server.
//
//   wds::etl::options opt;                      // the reference pipeline
//   wds::file_source in("pets-000.tar");
//   wds::file_sink out("out/pets-000.tar");     // atomic: temporary + rename
//   wds::etl::stats st = wds::etl::transform_shard(in, out, opt);
//
// The default ("reference") pipeline reproduces, byte for byte, the Python
// ETL of AIStore's WebDataset post (webdataset 1.0.2 + Pillow 9.4 +
// torchvision 0.14): per sample, `image.jpg` -> RGB -> CenterCrop(350) ->
// ToTensor -> Normalize(ImageNet) -> ToPILImage -> JPEG (Pillow defaults);
// `trimap.png` -> CenterCrop(350) -> RGB -> JPEG, still named trimap.png;
// other fields copied; members written as webdataset's TarWriter writes them
// (sorted by ext, '_' fields dropped). `options::maps` replaces it with
// run-time wds::compose specs per ext.

#include <wds/compose.hpp>
#include <wds/config.hpp>
#include <wds/error.hpp>
#include <wds/image.hpp>
#include <wds/io.hpp>
#include <wds/limits.hpp>
#include <wds/open.hpp>
#include <wds/url.hpp>
#include <wds/sample.hpp>
#include <wds/tar.hpp>
#include <wds/transforms.hpp>

#if WDS_HAS_JPEG
#include <wds/codec/jpeg.hpp>
#endif
#if WDS_HAS_PNG
#include <wds/codec/png.hpp>
#endif
#if WDS_HAS_JPEG && WDS_HAS_PNG
#include <wds/codec/decode.hpp>
#include <wds/convert.hpp>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

WDS_NAMESPACE_BEGIN
namespace etl {

// What to do with a sample the pipeline cannot process (missing field,
// corrupt image). A malformed tar always fails the shard: the stream is lost.
enum class error_policy { fail, skip };

struct field_map {
  // The field's whole ext, case-insensitive: "jpg" matches "x.jpg" but not
  // "x.image.jpg". "*.jpg" matches on the last dot-part of the ext (webdataset's
  // decoder rule), so it matches both. A field goes through the first match.
  std::string ext;
  std::string spec;  // wds::compose spec, e.g. "decode|resize(256)|jpeg(90)"
};
struct field_rename {
  std::string from, to;
};

struct options {
  error_policy on_error = error_policy::fail;
  // Member mtime; fixed so that output bytes are reproducible.
  std::int64_t mtime = 0;
  // Empty: the reference pipeline. Otherwise only these fields are transformed.
  std::vector<field_map> maps;
  std::vector<field_rename> renames;
  wds::limits limits{};
  // Name used in error messages when the source has none.
  std::string shard_name;
  // Checked between samples; when set the shard fails with etl error 803.
  const std::atomic<bool>* cancel = nullptr;
  // A map that transformed no field in the whole shard fails it (etl error
  // 810) instead of only showing 0 in stats::map_fields.
  bool strict_maps = false;
  // A 0-byte shard is an empty shard instead of tar error 208.
  bool allow_empty = false;
  // Threads transforming ONE shard (the calling thread counts; 0 = all
  // cores). Samples are transformed in parallel and written in input order:
  // the output bytes, the stats and the error raised are those of 1 thread.
  unsigned threads = 1;
  // Bytes of samples read but not yet written (inputs, and outputs once
  // transformed) above which reading pauses; 0 = 4 MiB per thread. One
  // sample is always admitted, however large.
  std::size_t max_inflight_bytes = 0;
};

struct stats {
  std::uint64_t samples = 0;    // written
  std::uint64_t skipped = 0;    // dropped by error_policy::skip
  std::uint64_t fields = 0;     // members written
  std::uint64_t bytes_in = 0;   // tar bytes read (uncompressed)
  std::uint64_t bytes_out = 0;  // tar bytes written (uncompressed)
  std::vector<std::string> skip_reasons;  // the first few, for the summary
  std::vector<std::uint64_t> map_fields;  // fields transformed, per options::maps entry

  static constexpr std::size_t max_reasons = 8;
  void add(const stats& o) {
    samples += o.samples;
    skipped += o.skipped;
    fields += o.fields;
    bytes_in += o.bytes_in;
    bytes_out += o.bytes_out;
    for (const auto& r : o.skip_reasons)
      if (skip_reasons.size() < max_reasons) skip_reasons.push_back(r);
    if (map_fields.size() < o.map_fields.size()) map_fields.resize(o.map_fields.size());
    for (std::size_t i = 0; i < o.map_fields.size(); ++i) map_fields[i] += o.map_fields[i];
  }
};

// etl errors: `[wds.etl.8xx]`.
inline error etl_error(int id, location where, std::string_view reason) {
  return error("etl", id, std::move(where), reason);
}

namespace detail {

// Non-owning adapters: tar_reader / tar_writer own their source / sink by value.
template <class Source>
class source_ref {
 public:
  explicit source_ref(Source& s, std::string name) : s_(&s), name_(std::move(name)) {}
  std::size_t read(std::byte* dst, std::size_t n) { return s_->read(dst, n); }
  void verify_end() { wds::verify_end(*s_); }
  const std::string& name() const noexcept { return name_; }

 private:
  Source* s_;
  std::string name_;
};
template <class Sink>
class sink_ref {
 public:
  explicit sink_ref(Sink& s) : s_(&s), name_(name_of(s)) {}
  void write(const std::byte* p, std::size_t n) { s_->write(p, n); }
  void close() { s_->close(); }
  const std::string& name() const noexcept { return name_; }

 private:
  Sink* s_;
  std::string name_;
};

// torchvision CenterCrop along one axis: the source offset (Python's round()
// of (size - target) / 2, half to even), the offset in the output (zero
// padding of (target - size) // 2 before), and the number of pixels copied.
struct crop_axis {
  int src = 0, dst = 0, len = 0;
};
inline crop_axis center_crop_axis(int size, int target) noexcept {
  if (size >= target) {
    const int d = size - target, q = d / 2;
    return {(d % 2 == 0 || q % 2 == 0) ? q : q + 1, 0, target};
  }
  return {0, (target - size) / 2, size};
}

inline bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
inline bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
inline std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}
inline std::string dir_name(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}
inline std::string real_path(const std::string& path) {
  char* p = ::realpath(path.c_str(), nullptr);
  if (!p) return path;
  std::string out(p);
  std::free(p);
  return out;
}

}  // namespace detail

// ---- the reference pipeline -------------------------------------------------

// The per-sample work of the reference pipeline, with decoder/encoder objects
// and buffers reused across samples. One per thread.
class reference_pipeline {
 public:
  static constexpr int crop_size = 350;

  reference_pipeline() : lut_(imagenet_mean(), imagenet_std()) {
    // Zero padding goes through the same table: (228, 249, 52).
    for (int k = 0; k < 3; ++k) pad_rgb_[k] = lut_.table(k)[0];
    pad_row_.resize(std::size_t(crop_size) * 3);
    for (std::size_t i = 0; i < pad_row_.size(); ++i) pad_row_[i] = pad_rgb_[i % 3];
  }

  // RGB colour of the padding of images smaller than the crop.
  std::array<std::uint8_t, 3> padding_color() const noexcept { return pad_rgb_; }

#if WDS_HAS_JPEG && WDS_HAS_PNG
  // image.jpg: decode the crop window only, map it through the table, pad, encode.
  // Like Pillow, the content decides the format: a PNG named .jpg is decoded whole.
  void process_image(const std::byte* data, std::size_t size, std::vector<std::byte>& out,
                     const limits& lim, const location& where) {
    if (sniff_image_format(data, size) != image_format::jpeg) {
      any_image img = decode_image(data, size, pixel_mode::rgb, unlimited_png(lim), where);
      const auto& im = std::get<image<std::uint8_t>>(img);
      const auto ax = detail::center_crop_axis(im.width(), crop_size);
      const auto ay = detail::center_crop_axis(im.height(), crop_size);
      normalize_into_canvas(im.view().subview(ax.src, ay.src, ax.len, ay.len), ax, ay);
      enc_.encode(canvas_.view(), jpeg_options{}, out);
      return;
    }
    const jpeg_info info = dec_.read_info(data, size, where);
    const auto ax = detail::center_crop_axis(info.width, crop_size);
    const auto ay = detail::center_crop_axis(info.height, crop_size);
    jpeg_decode_options opt;
    opt.mode = pixel_mode::rgb;
    opt.check_rest = true;  // a truncated file fails as Pillow's full decode does
    // One column more than needed when the image has it: libjpeg-turbo's
    // cropped fancy upsampling treats the crop's right edge as the image
    // edge, which changes the last column when the edge is even.
    const int extra = ax.src + ax.len < info.width ? 1 : 0;
    // Each decoded row goes through the table into the padded output row and
    // on to the encoder: no image of the crop is ever held.
    const auto unexpected = [&] { return etl_error(804, where, "JPEG region decode returned an unexpected size"); };
    enc_.begin_rows(crop_size, crop_size, 3);
    row_ = pad_row_;
    for (int y = 0; y < ay.dst; ++y) enc_.write_row(pad_row_.data());
    int rows = 0;
    const jpeg_rows_info got = dec_.decode_region_rows(
        data, size, jpeg_region{ax.src, ay.src, ax.len + extra, ay.len}, opt, lim, where,
        [&](image_view<const std::uint8_t> row, int) {
          if (row.width() != ax.len + extra || row.channels() != 3 || rows == ay.len) throw unexpected();
          normalize_row(row.origin(), row_.data() + std::ptrdiff_t(ax.dst) * 3, ax.len);
          enc_.write_row(row_.data());
          ++rows;
        });
    if (got.height != ay.len || rows != ay.len) throw unexpected();
    for (int y = ay.dst + ay.len; y < crop_size; ++y) enc_.write_row(pad_row_.data());
    enc_.finish_rows(out);
  }

  // trimap.png: decode (native mode), CenterCrop(350) with zero padding,
  // convert("RGB"), encode as an RGB JPEG.
  void process_trimap(const std::byte* data, std::size_t size, std::vector<std::byte>& out,
                      const limits& lim, const location& where) {
    const bool is_png = sniff_image_format(data, size) == image_format::png;
    any_image img = is_png ? png_.decode(data, size, std::nullopt, unlimited_png(lim), where)
                           : decode_image(data, size, std::nullopt, unlimited_png(lim), where);
    // Padding is a zero pixel of the native mode; converted to RGB that is
    // black for every mode but CMYK (white) and P (palette entry 0), so pad
    // after converting.
    std::array<std::uint8_t, 3> pad{0, 0, 0};
    if (auto* u8 = std::get_if<image<std::uint8_t>>(&img); u8 && u8->mode() == pixel_mode::cmyk) {
      image<std::uint8_t> zero(1, 1, 4, 0);
      image<std::uint8_t> z = convert(zero.view(), pixel_mode::cmyk, pixel_mode::rgb);
      pad = {z(0, 0, 0), z(0, 0, 1), z(0, 0, 2)};
    }
    if (is_png && png_.palette()) pad = {(*png_.palette())[0][0], (*png_.palette())[0][1], (*png_.palette())[0][2]};
    // Pillow's crop keeps info["comment"] and the JPEG save writes it; padding
    // makes a new image without it.
    std::optional<std::string> comment = is_png ? png_.comment() : jpeg_comment(data, size);
    if (!std::holds_alternative<image<std::uint8_t>>(img)) img = convert(img, pixel_mode::rgb);
    const auto& im = std::get<image<std::uint8_t>>(img);
    const auto ax = detail::center_crop_axis(im.width(), crop_size);
    const auto ay = detail::center_crop_axis(im.height(), crop_size);
    if (ax.len < crop_size || ay.len < crop_size) comment.reset();
    jpeg_options jo;
    if (comment) jo.comment = std::move(*comment);
    image_view<const std::uint8_t> window = im.view().subview(ax.src, ay.src, ax.len, ay.len);
    if (im.channels() == 1) {
      // convert("RGB") of a gray image is (v, v, v): written from the gray
      // plane itself (the same bytes, half the encoder's work).
      if (ax.len == crop_size && ay.len == crop_size) return enc_.encode_gray_as_rgb(window, jo, out);
      if (gray_canvas_.width() != crop_size) gray_canvas_ = image<std::uint8_t>(crop_size, crop_size, 1);
      std::fill(gray_canvas_.data(), gray_canvas_.data() + gray_canvas_.size(), pad[0]);  // pad is black here
      for (int y = 0; y < ay.len; ++y)
        std::copy(window.row(y), window.row(y) + ax.len, gray_canvas_.row(ay.dst + y) + ax.dst);
      return enc_.encode_gray_as_rgb(gray_canvas_.view(), jo, out);
    }
    prepare_canvas(ax, ay, pad);
    image<std::uint8_t> rgb = im.mode() == pixel_mode::rgb ? materialize(window)
                                                            : convert(window, im.mode(), pixel_mode::rgb);
    for (int y = 0; y < ay.len; ++y)
      std::copy(rgb.row(y), rgb.row(y) + std::size_t(ax.len) * 3,
                canvas_.row(ay.dst + y) + std::ptrdiff_t(ax.dst) * 3);
    enc_.encode(canvas_.view(), jo, out);
  }
#endif

  // Transforms one sample in place (fields keep their exts).
  void operator()(sample& s, const limits& lim) {
#if WDS_HAS_JPEG && WDS_HAS_PNG
    // Same order and errors as the reference's map_dict: image first.
    for (const char* ext : {"image.jpg", "trimap.png"}) {
      field* f = s.find(ext);
      if (!f)
        throw sample_error(302, {s.url(), s.key(), location::unknown_offset},
                           std::string("sample has no field \"") + ext +
                               "\" (the reference pipeline needs image.jpg and trimap.png)");
      location where{s.url(), f->member, f->offset};
      if (ext[0] == 'i')
        process_image(f->data.data(), f->data.size(), scratch_, lim, where);
      else
        process_trimap(f->data.data(), f->data.size(), scratch_, lim, where);
      std::swap(f->data, scratch_);
    }
#else
    (void)lim;
    throw etl_error(805, {s.url(), s.key(), location::unknown_offset},
                    "the reference pipeline needs JPEG and PNG support (wds built without libjpeg/libspng)");
#endif
  }

 private:
#if WDS_HAS_JPEG && WDS_HAS_PNG
  // 0 means unlimited in wds::limits; the PNG decoder compares against it.
  static limits unlimited_png(const limits& lim) {
    limits l = lim;
    if (l.max_decompressed_size == 0) l.max_decompressed_size = ~std::uint64_t{0};
    return l;
  }
#endif

  // Maps an RGB window through the table into the canvas; the rest is padding.
  void normalize_into_canvas(image_view<const std::uint8_t> window, detail::crop_axis ax, detail::crop_axis ay) {
    prepare_canvas(ax, ay, pad_rgb_);
    for (int y = 0; y < ay.len; ++y)
      normalize_row(window.row(y), canvas_.row(ay.dst + y) + std::ptrdiff_t(ax.dst) * 3, ax.len);
  }

  // n packed RGB pixels through the table.
  void normalize_row(const std::uint8_t* src, std::uint8_t* d, int n) const noexcept {
    const auto& t0 = lut_.table(0);
    const auto& t1 = lut_.table(1);
    const auto& t2 = lut_.table(2);
    for (int x = 0; x < n; ++x, src += 3, d += 3) {
      d[0] = t0[src[0]];
      d[1] = t1[src[1]];
      d[2] = t2[src[2]];
    }
  }

  // A crop_size^2 RGB canvas whose border outside the copied window is `fill`.
  void prepare_canvas(detail::crop_axis ax, detail::crop_axis ay, std::array<std::uint8_t, 3> fill) {
    if (canvas_.width() != crop_size) canvas_ = image<std::uint8_t>(crop_size, crop_size, 3);
    if (ax.len == crop_size && ay.len == crop_size) return;  // fully overwritten
    for (int y = 0; y < crop_size; ++y) {
      std::uint8_t* d = canvas_.row(y);
      for (int x = 0; x < crop_size; ++x, d += 3) {
        d[0] = fill[0];
        d[1] = fill[1];
        d[2] = fill[2];
      }
    }
  }

  normalize_lut lut_;
  std::array<std::uint8_t, 3> pad_rgb_{};
  image<std::uint8_t> canvas_;
  std::vector<std::uint8_t> pad_row_, row_;  // image.jpg: one output row of padding; the row being written
  image<std::uint8_t> gray_canvas_;  // the trimap's padded crop when it is gray
  std::vector<std::byte> scratch_;
#if WDS_HAS_JPEG && WDS_HAS_PNG
  jpeg_decoder dec_;
  jpeg_encoder enc_;
  png_decoder png_;
#endif
};

// ---- shard transformer ------------------------------------------------------

namespace detail {
inline std::string lower_ascii(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// A compiled field_map: `ext` lower-cased, without the "*." of a suffix rule.
struct compiled_map {
  std::string ext;
  bool last_part = false;  // "*.EXT": compare the last dot-part of the field's ext
  compiled_pipeline pipeline;

  bool matches(std::string_view field_ext) const noexcept {
    if (last_part) {
      const auto dot = field_ext.rfind('.');
      if (dot != std::string_view::npos) field_ext.remove_prefix(dot + 1);
    }
    return field_ext == ext;
  }
};
}  // namespace detail

// Transforms shards one after the other, reusing its codec state. Building it
// compiles the --map specs, so a bad spec fails before any input is read.
class shard_transformer {
 public:
  explicit shard_transformer(options opt) : opt_(std::move(opt)) {
    for (auto& r : opt_.renames) {
      r.from = detail::lower_ascii(r.from);
      if (r.from.empty() || r.to.empty())
        throw etl_error(806, {}, "--rename needs EXT=NEWEXT with both sides non-empty");
    }
    for (const auto& m : opt_.maps) {
      const bool last_part = m.ext.compare(0, 2, "*.") == 0;
      std::string ext = detail::lower_ascii(last_part ? m.ext.substr(2) : m.ext);
      if (ext.empty() || (last_part && ext.find('.') != std::string::npos))
        throw etl_error(806, {}, "--map needs EXT=SPEC or *.EXT=SPEC with a non-empty EXT (*.EXT: one dot-part)");
      maps_.push_back({std::move(ext), last_part, compose(m.spec, pipeline_input::bytes, opt_.limits)});
    }
    map_counts_.assign(maps_.size(), 0);
  }

  const options& opts() const noexcept { return opt_; }

  // Reads a whole shard from `in`, writes the transformed shard to `out` and
  // closes `out` (which commits a file_sink). On an exception `out` is left
  // unclosed: a file_sink then never creates its target. With
  // options::threads > 1 the samples are transformed by a pool (this thread
  // included) and written in input order; everything observable is as with 1.
  template <class Source, class Sink>
  stats run(Source& in, Sink& out) {
    std::string name = name_of(in);
    if (name.empty()) name = opt_.shard_name;
    sample_reader_options ro;
    ro.allow_empty = opt_.allow_empty;
    sample_reader reader(detail::source_ref<Source>(in, name), name, opt_.limits, ro);
    std::fill(map_counts_.begin(), map_counts_.end(), 0);
    tar_writer_options wo;
    wo.mtime = opt_.mtime;
    tar_writer writer(detail::sink_ref<Sink>(out), wo);
    stats st;
    unsigned threads = opt_.threads ? opt_.threads : std::max(1u, std::thread::hardware_concurrency());
    if (threads > 1) {
      for (auto& h : helpers_) std::fill(h->map_counts_.begin(), h->map_counts_.end(), 0);
      run_ordered(reader, writer, st, threads, name);
      for (auto& h : helpers_)  // helpers count the fields they transformed
        for (std::size_t i = 0; i < map_counts_.size(); ++i) map_counts_[i] += h->map_counts_[i];
    } else {
      while (auto s = reader.next()) {
        if (opt_.cancel && opt_.cancel->load(std::memory_order_relaxed))
          throw etl_error(803, {name, {}, reader.tar().offset()}, "interrupted");
        std::exception_ptr err;
        try {
          transform(*s);
        } catch (const error&) {
          if (opt_.on_error == error_policy::fail) throw;
          err = std::current_exception();
        }
        emit(reader, writer, st, std::move(*s), err);
      }
    }
    st.bytes_in = reader.tar().offset();
    st.map_fields = map_counts_;
    if (opt_.strict_maps)
      for (std::size_t i = 0; i < maps_.size(); ++i)
        if (map_counts_[i] == 0)  // before finish(): the output is not committed
          throw etl_error(810, {name, {}, location::unknown_offset},
                          "map \"" + opt_.maps[i].ext + "\" matched no field in the shard");
    writer.finish();
    st.bytes_out = writer.bytes_written();
    return st;
  }

  // The per-sample step alone (fields replaced in place, renames applied).
  void transform(sample& s) {
    if (maps_.empty()) {
      reference_(s, opt_.limits);
    } else {
      for (auto& f : s.fields())
        for (std::size_t i = 0; i < maps_.size(); ++i)
          if (maps_[i].matches(f.ext)) {
            f.data = maps_[i].pipeline.apply(f.data.data(), f.data.size(), location{s.url(), f.member, f.offset});
            ++map_counts_[i];
            break;
          }
    }
    for (const auto& r : opt_.renames) {
      field* f = s.find(r.from);
      if (!f) continue;
      if (s.find(r.to))
        throw etl_error(801, {s.url(), f->member, f->offset},
                        "renaming \"" + r.from + "\" to \"" + r.to + "\" collides with an existing field");
      f->ext = r.to;
    }
  }

  // Bytes a sample holds (payloads; names are noise).
  static std::size_t sample_bytes(const sample& s) noexcept {
    std::size_t n = 0;
    for (const auto& f : s.fields()) n += f.data.size();
    return n;
  }

 private:
  // Writes a transformed sample, or counts it as skipped when `err` is set
  // (a wds::error under error_policy::skip).
  template <class Reader, class Writer>
  void emit(Reader& reader, Writer& writer, stats& st, sample&& s, const std::exception_ptr& err) {
    if (err) {
      ++st.skipped;
      if (st.skip_reasons.size() < stats::max_reasons) {
        try {
          std::rethrow_exception(err);
        } catch (const std::exception& e) {
          st.skip_reasons.push_back(e.what());
        }
      }
    } else {
      for (const auto& f : s.fields())
        if (!f.ext.empty() && f.ext[0] != '_') ++st.fields;
      writer.write_sample(s);
      ++st.samples;
    }
    reader.recycle(std::move(s));
  }

  // One sample in flight through the ordered pool.
  struct job {
    sample s;
    std::exception_ptr err;
    bool fatal = false;  // err must propagate (fail policy, or not a wds::error)
    bool done = false;   // guarded by the pool mutex
    std::size_t bytes = 0;
  };

  // Ordered parallel run: this thread reads, writes in input order and
  // transforms whatever is queued when it would otherwise wait; `threads - 1`
  // helpers transform. Reading stops when the window holds max_inflight_bytes
  // or 4 samples per thread. A reader error (or a cancel) becomes the end of
  // the window: the samples before it are written first, so the outcome,
  // including which error is raised, is the single-threaded one.
  template <class Reader, class Writer>
  void run_ordered(Reader& reader, Writer& writer, stats& st, unsigned threads, const std::string& name) {
    while (helpers_.size() + 1 < threads) {
      options o = opt_;
      o.threads = 1;
      helpers_.push_back(std::make_unique<shard_transformer>(std::move(o)));
    }
    const std::size_t max_bytes =
        opt_.max_inflight_bytes ? opt_.max_inflight_bytes : std::size_t(threads) * (std::size_t(4) << 20);
    const std::size_t max_items = std::size_t(threads) * 4;

    std::mutex mu;
    std::condition_variable work_cv, done_cv;
    std::deque<job*> queue;  // read, not yet taken by a thread
    bool stop = false;
    std::size_t inflight = 0;  // guarded by mu

    auto process = [this](shard_transformer& t, job& j) {
      try {
        t.transform(j.s);
      } catch (const error&) {
        j.err = std::current_exception();
        j.fatal = opt_.on_error == error_policy::fail;
      } catch (...) {
        j.err = std::current_exception();
        j.fatal = true;
      }
    };
    auto finish = [&](job& j) {  // under mu
      j.done = true;
      const std::size_t out = j.err ? 0 : sample_bytes(j.s);
      if (out > j.bytes) {
        inflight += out - j.bytes;
        j.bytes = out;
      }
    };
    auto helper = [&](shard_transformer& t) {
      std::unique_lock<std::mutex> lock(mu);
      for (;;) {
        work_cv.wait(lock, [&] { return stop || !queue.empty(); });
        if (stop) return;
        job* j = queue.front();
        queue.pop_front();
        lock.unlock();
        process(t, *j);
        lock.lock();
        finish(*j);
        done_cv.notify_one();
      }
    };
    // Declared before the joiner: helpers may hold a job until they are joined.
    std::deque<std::unique_ptr<job>> window;  // input order; this thread only
    std::exception_ptr end_error;             // the reader's, after the window
    bool at_end = false;
    std::vector<std::thread> pool;
    struct joiner {  // stops the helpers on every exit path
      std::mutex& mu;
      std::condition_variable& cv;
      bool& stop;
      std::vector<std::thread>& pool;
      ~joiner() {
        {
          std::lock_guard<std::mutex> lock(mu);
          stop = true;
        }
        cv.notify_all();
        for (auto& t : pool) t.join();
      }
    } join_on_exit{mu, work_cv, stop, pool};
    for (auto& h : helpers_) pool.emplace_back(helper, std::ref(*h));

    for (;;) {
      // Read while the window has room.
      while (!at_end && window.size() < max_items) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!window.empty() && inflight >= max_bytes) break;
        }
        try {
          if (opt_.cancel && opt_.cancel->load(std::memory_order_relaxed))
            throw etl_error(803, {name, {}, reader.tar().offset()}, "interrupted");
          auto s = reader.next();
          if (!s) {
            at_end = true;
            break;
          }
          auto j = std::make_unique<job>();
          j->s = std::move(*s);
          j->bytes = sample_bytes(j->s);
          std::lock_guard<std::mutex> lock(mu);
          inflight += j->bytes;
          queue.push_back(j.get());
          window.push_back(std::move(j));
        } catch (...) {
          end_error = std::current_exception();
          at_end = true;
          break;
        }
        work_cv.notify_one();
      }
      // Write what is done, in order.
      bool wrote = false;
      for (;;) {
        job* head = window.empty() ? nullptr : window.front().get();
        if (!head) break;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!head->done) break;
          inflight -= head->bytes;
        }
        if (head->fatal) std::rethrow_exception(head->err);
        emit(reader, writer, st, std::move(head->s), head->err);
        window.pop_front();
        wrote = true;
      }
      if (window.empty() && at_end) break;
      if (wrote) continue;
      // Help with the oldest queued sample, or wait for the head.
      std::unique_lock<std::mutex> lock(mu);
      if (!queue.empty()) {
        job* j = queue.front();
        queue.pop_front();
        lock.unlock();
        process(*this, *j);
        lock.lock();
        finish(*j);
      } else {
        job* head = window.front().get();
        done_cv.wait(lock, [&] { return head->done || !queue.empty(); });
      }
    }
    if (end_error) std::rethrow_exception(end_error);
  }

  options opt_;
  reference_pipeline reference_;
  std::vector<detail::compiled_map> maps_;
  std::vector<std::uint64_t> map_counts_;  // fields transformed per map, this shard
  std::vector<std::unique_ptr<shard_transformer>> helpers_;  // per-thread state of run_ordered
};

// One shard, `in` to `out` (see shard_transformer::run).
template <class Source, class Sink>
stats transform_shard(Source& in, Sink& out, const options& opt = {}) {
  shard_transformer t(opt);
  return t.run(in, out);
}

// ---- listing (wds-etl ls) ----------------------------------------------------

// JSON string literal of arbitrary bytes: invalid UTF-8 becomes U+FFFD (one
// per maximal invalid subsequence start byte), control characters \u-escaped.
inline void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    if (std::size_t n = wds::detail::utf8_sequence(s, i)) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    }
  }
  out.push_back('"');
}

// `{"__key__": "k", "fields": {"ext": size, ...}}`, fields in tar order.
inline std::string sample_json_line(const sample& s) {
  std::string out = "{\"__key__\": ";
  append_json_string(out, s.key());
  out += ", \"fields\": {";
  bool first = true;
  for (const auto& f : s.fields()) {
    if (!first) out += ", ";
    first = false;
    append_json_string(out, f.ext);
    out += ": ";
    out += std::to_string(f.data.size());
  }
  out += "}}";
  return out;
}

// ---- many shards (offline / directory mode) ---------------------------------

struct shard_result {
  enum class status { not_started, done, exists, failed };
  std::string input, output;
  status state = status::not_started;
  stats counts;
  std::string error;  // one line, when failed
};

struct progress {
  std::size_t shards = 0, finished = 0, done = 0, existing = 0, failed = 0;
  stats counts;
  double seconds = 0;
};

struct batch_report {
  std::vector<shard_result> results;  // input order
  progress totals;
  // Every shard is done or was already complete.
  bool ok() const noexcept { return totals.failed == 0 && totals.finished == totals.shards; }
};

// Where an input's output goes in `outdir` (same file name).
inline std::string output_path_for(const std::string& input, const std::string& outdir) {
  std::string dir = outdir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + "/" + detail::base_name(input);
}

namespace detail {
// Removes temporaries an interrupted (killed) run left for `output`
// (file_sink names them ".NAME.XXXXXX.tmp" beside the target).
inline void remove_stale_temporaries(const std::string& output) {
  const std::string dir = dir_name(output), prefix = "." + base_name(output) + ".";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    if (n.size() == prefix.size() + 10 && n.compare(0, prefix.size(), prefix) == 0 &&
        n.compare(n.size() - 4, 4, ".tmp") == 0)
      ::unlink((dir + "/" + std::string(n)).c_str());
  }
  ::closedir(d);
}
}  // namespace detail

// Transforms every input into outdir/<same name> with `jobs` threads in all (0 = all
// cores; options::threads is ignored). Outputs that already exist are skipped (resume); each output is
// written to a temporary and renamed when complete. A failing shard is
// recorded and does not stop the others. `on_update` (called under a lock
// after every shard) may draw progress. When options::cancel is set, running
// shards fail with etl error 803 and the others stay not_started. Throws (before any work) etl 802 when
// two inputs share a file name or an input lies in outdir itself, and etl 807
// when outdir is not a directory.
inline batch_report transform_shards(const std::vector<std::string>& inputs, const std::string& outdir,
                                     const options& opt, unsigned jobs = 0,
                                     const std::function<void(const progress&, const shard_result&)>& on_update = {}) {
  if (!detail::is_directory(outdir))
    throw etl_error(807, {outdir, {}, location::unknown_offset}, "output directory does not exist");
  const std::string out_real = detail::real_path(outdir);
  batch_report rep;
  rep.results.resize(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    rep.results[i].input = inputs[i];
    rep.results[i].output = output_path_for(inputs[i], outdir);
    if (detail::real_path(detail::dir_name(inputs[i])) == out_real)
      throw etl_error(802, {inputs[i], {}, location::unknown_offset},
                      "input is in the output directory (outputs keep the input names)");
    for (std::size_t j = 0; j < i; ++j)
      if (rep.results[j].output == rep.results[i].output)
        throw etl_error(802, {inputs[i], {}, location::unknown_offset},
                        "two inputs have the same file name \"" + detail::base_name(inputs[i]) + "\"");
  }
  shard_transformer check(opt);  // compiles specs once up front: errors before any I/O
  (void)check;

  if (jobs == 0) jobs = std::max(1u, std::thread::hardware_concurrency());
  // `jobs` is the whole thread budget: one runner per shard up to it, and the
  // threads left over shared among the runners (one shard gets them all).
  const unsigned runners = static_cast<unsigned>(std::min<std::size_t>(jobs, std::max<std::size_t>(1, inputs.size())));
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  rep.totals.shards = inputs.size();
  const auto t0 = std::chrono::steady_clock::now();

  auto worker = [&](unsigned threads) {
    options o = opt;
    o.threads = threads;
    shard_transformer t(std::move(o));
    for (;;) {
      const std::size_t i = next.fetch_add(1);
      if (i >= inputs.size()) break;
      shard_result& r = rep.results[i];
      if (opt.cancel && opt.cancel->load()) break;  // leaves the rest not_started
      try {
        if (detail::is_regular_file(r.output)) {
          r.state = shard_result::status::exists;
        } else {
          detail::remove_stale_temporaries(r.output);
          url_options uo;
          uo.lim = opt.limits;
          any_source in = open_url(r.input, uo);
          any_sink out = open_output(r.output);
          r.counts = t.run(in, out);
          r.state = shard_result::status::done;
        }
      } catch (const std::exception& e) {
        r.state = shard_result::status::failed;
        r.error = e.what();
      }
      std::lock_guard<std::mutex> lock(mu);
      auto& p = rep.totals;
      ++p.finished;
      if (r.state == shard_result::status::done) ++p.done;
      if (r.state == shard_result::status::exists) ++p.existing;
      if (r.state == shard_result::status::failed) ++p.failed;
      p.counts.add(r.counts);
      p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (on_update) on_update(p, r);
    }
  };
  std::vector<std::thread> pool;
  auto share = [&](unsigned k) { return jobs / runners + (k < jobs % runners ? 1u : 0u); };
  for (unsigned k = 1; k < runners; ++k) pool.emplace_back(worker, share(k));
  worker(share(0));
  for (auto& th : pool) th.join();
  rep.totals.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace etl
WDS_NAMESPACE_END
