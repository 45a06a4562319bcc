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
#include <cstddef>
#include <cstdint>
#include <cstdio>
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

namespace wds {
namespace etl {

// What to do with a sample the pipeline cannot process (missing field,
// corrupt image). A malformed tar always fails the shard: the stream is lost.
enum class error_policy { fail, skip };

struct field_map {
  std::string ext;   // full lower-cased ext ("jpg" does not match "image.jpg")
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
};

struct stats {
  std::uint64_t samples = 0;    // written
  std::uint64_t skipped = 0;    // dropped by error_policy::skip
  std::uint64_t fields = 0;     // members written
  std::uint64_t bytes_in = 0;   // tar bytes read (uncompressed)
  std::uint64_t bytes_out = 0;  // tar bytes written (uncompressed)
  std::vector<std::string> skip_reasons;  // the first few, for the summary

  static constexpr std::size_t max_reasons = 8;
  void add(const stats& o) {
    samples += o.samples;
    skipped += o.skipped;
    fields += o.fields;
    bytes_in += o.bytes_in;
    bytes_out += o.bytes_out;
    for (const auto& r : o.skip_reasons)
      if (skip_reasons.size() < max_reasons) skip_reasons.push_back(r);
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
    jpeg_region_image r = dec_.decode_region(
        data, size, jpeg_region{ax.src, ay.src, ax.len + extra, ay.len}, opt, lim, where);
    if (r.pixels.width() != ax.len + extra || r.pixels.height() != ay.len || r.pixels.channels() != 3)
      throw etl_error(804, where, "JPEG region decode returned an unexpected size");
    normalize_into_canvas(r.pixels.view().subview(0, 0, ax.len, ay.len), ax, ay);
    enc_.encode(canvas_.view(), jpeg_options{}, out);
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
    prepare_canvas(ax, ay, pad);
    image_view<const std::uint8_t> window = im.view().subview(ax.src, ay.src, ax.len, ay.len);
    if (im.channels() == 1) {
      for (int y = 0; y < ay.len; ++y) {
        const std::uint8_t* src = window.row(y);
        std::uint8_t* d = canvas_.row(ay.dst + y) + std::ptrdiff_t(ax.dst) * 3;
        for (int x = 0; x < ax.len; ++x, d += 3) d[0] = d[1] = d[2] = src[x];
      }
    } else {
      image<std::uint8_t> rgb = im.mode() == pixel_mode::rgb ? materialize(window)
                                                              : convert(window, im.mode(), pixel_mode::rgb);
      for (int y = 0; y < ay.len; ++y)
        std::copy(rgb.row(y), rgb.row(y) + std::size_t(ax.len) * 3,
                  canvas_.row(ay.dst + y) + std::ptrdiff_t(ax.dst) * 3);
    }
    jpeg_options jo;
    if (comment) jo.comment = std::move(*comment);
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
    const auto& t0 = lut_.table(0);
    const auto& t1 = lut_.table(1);
    const auto& t2 = lut_.table(2);
    for (int y = 0; y < ay.len; ++y) {
      const std::uint8_t* src = window.row(y);
      std::uint8_t* d = canvas_.row(ay.dst + y) + std::ptrdiff_t(ax.dst) * 3;
      for (int x = 0; x < ax.len; ++x, src += 3, d += 3) {
        d[0] = t0[src[0]];
        d[1] = t1[src[1]];
        d[2] = t2[src[2]];
      }
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
      if (m.ext.empty()) throw etl_error(806, {}, "--map needs EXT=SPEC with a non-empty EXT");
      maps_.emplace_back(detail::lower_ascii(m.ext), compose(m.spec, pipeline_input::bytes, opt_.limits));
    }
  }

  const options& opts() const noexcept { return opt_; }

  // Reads a whole shard from `in`, writes the transformed shard to `out` and
  // closes `out` (which commits a file_sink). On an exception `out` is left
  // unclosed: a file_sink then never creates its target.
  template <class Source, class Sink>
  stats run(Source& in, Sink& out) {
    std::string name = name_of(in);
    if (name.empty()) name = opt_.shard_name;
    sample_reader reader(detail::source_ref<Source>(in, name), name, opt_.limits);
    tar_writer_options wo;
    wo.mtime = opt_.mtime;
    tar_writer writer(detail::sink_ref<Sink>(out), wo);
    stats st;
    while (auto s = reader.next()) {
      if (opt_.cancel && opt_.cancel->load(std::memory_order_relaxed))
        throw etl_error(803, {name, {}, reader.tar().offset()}, "interrupted");
      try {
        transform(*s);
      } catch (const error& e) {
        if (opt_.on_error == error_policy::fail) throw;
        ++st.skipped;
        if (st.skip_reasons.size() < stats::max_reasons) st.skip_reasons.push_back(e.what());
        reader.recycle(std::move(*s));
        continue;
      }
      for (const auto& f : s->fields())
        if (!f.ext.empty() && f.ext[0] != '_') ++st.fields;
      writer.write_sample(*s);
      ++st.samples;
      reader.recycle(std::move(*s));
    }
    st.bytes_in = reader.tar().offset();
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
        for (auto& m : maps_)
          if (f.ext == m.first) {
            f.data = m.second.apply(f.data.data(), f.data.size(), location{s.url(), f.member, f.offset});
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

 private:
  options opt_;
  reference_pipeline reference_;
  std::vector<std::pair<std::string, compiled_pipeline>> maps_;
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

// Transforms every input into outdir/<same name> with `jobs` threads (0 = all
// cores). Outputs that already exist are skipped (resume); each output is
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
  jobs = static_cast<unsigned>(std::min<std::size_t>(jobs, std::max<std::size_t>(1, inputs.size())));
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  rep.totals.shards = inputs.size();
  const auto t0 = std::chrono::steady_clock::now();

  auto worker = [&] {
    shard_transformer t(opt);
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
          any_source in = open_input(r.input, opt.limits);
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
  for (unsigned k = 1; k < jobs; ++k) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  rep.totals.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace etl
}  // namespace wds
