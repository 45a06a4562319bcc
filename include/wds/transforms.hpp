// SPDX-License-Identifier: MIT
#pragma once

// Image transforms matching torchvision 0.14 on PIL images (Pillow 9.4).
//
//  * free functions in wds:: work on views (like torchvision.transforms.functional):
//    crop, center_crop, pad, hflip, vflip, grayscale, to_tensor, normalize,
//    to_pil_image, random_*_params;
//  * value types in wds::transforms:: (like torchvision.transforms.*) compose with
//    `|` into a pipeline type at compile time; random ones take the RNG at call:
//        using namespace wds::transforms;
//        auto train = random_resized_crop{224} | random_hflip{} | to_tensor{} |
//                     normalize::imagenet();
//        std::mt19937 rng(seed);
//        wds::tensor<float> t = train(img.view(), rng);
//
// Crop and flip return O(1) views; only ops that change pixels allocate.

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "wds/convert.hpp"
#include "wds/error.hpp"
#include "wds/image.hpp"
#include "wds/resize.hpp"
#include "wds/tensor.hpp"

namespace wds {

// ---------------------------------------------------------------------------
// A view that may own its pixels: crops inside the image borrow, crops that
// reach outside (zero-filled, as PIL's crop) own. Moving keeps the view valid.
template <class T>
class image_ref {
 public:
  image_ref(image_view<const T> v) : view_(v) {}  // NOLINT(google-explicit-constructor)
  image_ref(image<T> img)                         // NOLINT(google-explicit-constructor)
      : owned_(std::move(img)), view_(owned_.view()), owns_(true) {}
  image_ref(image_ref&& o) noexcept
      : owned_(std::move(o.owned_)), view_(o.view_), owns_(o.owns_) {}
  image_ref& operator=(image_ref&& o) noexcept {
    owned_ = std::move(o.owned_);
    view_ = o.view_;
    owns_ = o.owns_;
    return *this;
  }
  image_ref(const image_ref&) = delete;
  image_ref& operator=(const image_ref&) = delete;

  image_view<const T> view() const noexcept { return view_; }
  bool owns() const noexcept { return owns_; }
  // The pixels as an owned image (moves when owned, copies a borrowed view).
  image<T> take() && {
    if (owns_) return std::move(owned_);
    return materialize(view_);
  }

 private:
  image<T> owned_;
  image_view<const T> view_;
  bool owns_ = false;
};

// ---------------------------------------------------------------------------
// Geometry (torchvision.transforms.functional on PIL)

namespace detail {
[[noreturn]] inline void throw_arg(int id, const std::string& reason) {
  throw spec_error(id, location{}, reason);
}
// Python's round() on x / 2 for an integer x: half to even.
inline int half_even_half(long long x) noexcept {
  const long long q = x / 2, r = x % 2;  // x >= 0 here
  if (r == 0) return int(q);
  return int(q % 2 == 0 ? q : q + 1);
}
}  // namespace detail

// A fill value per channel (padding a palette image writes a palette entry,
// so its channels differ); the scalar overloads use the same value for all.
template <class T>
using pixel_fill = std::array<T, 4>;

namespace detail {
template <class U>
void fill_pixels(image<U>& im, const pixel_fill<U>& fill) {
  const int c = im.channels();
  bool same = true;
  for (int k = 1; k < c && k < 4; ++k) same = same && fill[std::size_t(k)] == fill[0];
  if (same) return im.fill(fill[0]);
  U* p = im.data();
  for (std::size_t i = 0, n = std::size_t(im.width()) * std::size_t(im.height()); i < n; ++i, p += c)
    for (int k = 0; k < c; ++k) p[k] = fill[std::size_t(k & 3)];
}
template <class U>
pixel_fill<U> same_fill(U v) noexcept { return {v, v, v, v}; }
}  // namespace detail

// F.crop / PIL Image.crop((left, top, left + width, top + height)): pixels
// outside the image are `fill` (0 in torchvision). A box inside is a view.
template <class T>
image_ref<std::remove_const_t<T>> crop(image_view<T> src, int top, int left, int height, int width,
                                       const pixel_fill<std::remove_const_t<T>>& fill) {
  using U = std::remove_const_t<T>;
  if (height < 0 || width < 0) detail::throw_arg(637, "crop: negative size");
  image_view<const U> s = src;
  if (top >= 0 && left >= 0 && (long long)top + height <= s.height() &&
      (long long)left + width <= s.width())
    return image_ref<U>(s.subview(left, top, width, height));
  image<U> out(width, height, s.channels());
  detail::fill_pixels(out, fill);
  if (s.has_mode()) out.set_mode(s.mode());
  const int y0 = std::max(0, -top), y1 = int(std::min<long long>(height, (long long)s.height() - top));
  const int x0 = std::max(0, -left), x1 = int(std::min<long long>(width, (long long)s.width() - left));
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x)
      for (int c = 0; c < s.channels(); ++c) out(x, y, c) = s(x + left, y + top, c);
  return image_ref<U>(std::move(out));
}

template <class T>
image_ref<std::remove_const_t<T>> crop(image_view<T> src, int top, int left, int height, int width,
                                       std::remove_const_t<T> fill = 0) {
  return crop(src, top, left, height, width, detail::same_fill(fill));
}

// How pad() fills the border (numpy.pad modes, as torchvision uses them).
enum class pad_mode : std::uint8_t { constant, edge, reflect, symmetric };

inline constexpr std::string_view pad_mode_name(pad_mode m) noexcept {
  switch (m) {
    case pad_mode::constant: return "constant";
    case pad_mode::edge: return "edge";
    case pad_mode::reflect: return "reflect";
    case pad_mode::symmetric: return "symmetric";
  }
  return "?";
}

namespace detail {
// Source index for padded index i (may be < 0 or >= n), numpy.pad semantics
// (repeated reflection for pads wider than the image; reflect of one pixel
// repeats it, as numpy does).
inline int pad_source_index(long long i, int n, pad_mode m) noexcept {
  if (i >= 0 && i < n) return int(i);
  switch (m) {
    case pad_mode::edge: return i < 0 ? 0 : n - 1;
    case pad_mode::reflect: {
      if (n == 1) return 0;
      const long long p = 2LL * (n - 1);
      long long k = i % p;
      if (k < 0) k += p;
      return int(k >= n ? p - k : k);
    }
    case pad_mode::symmetric: {
      const long long p = 2LL * n;
      long long k = i % p;
      if (k < 0) k += p;
      return int(k >= n ? p - 1 - k : k);
    }
    default: return -1;
  }
}
}  // namespace detail

// F.pad(img, [left, top, right, bottom], fill, padding_mode) on a PIL image.
// Negative amounts crop, as in torchvision. `fill` goes to every channel.
template <class T>
image<std::remove_const_t<T>> pad(image_view<T> src, int left, int top, int right, int bottom,
                                  pad_mode mode, const pixel_fill<std::remove_const_t<T>>& fill) {
  using U = std::remove_const_t<T>;
  image_view<const U> s = src;
  if (left < 0 || top < 0 || right < 0 || bottom < 0) {  // crop first, pad the rest
    const int cl = std::max(0, -left), ct = std::max(0, -top);
    const int cw = s.width() - cl - std::max(0, -right), ch = s.height() - ct - std::max(0, -bottom);
    if (cw < 0 || ch < 0) detail::throw_arg(638, "pad: negative padding larger than the image");
    return pad(s.subview(cl, ct, cw, ch), std::max(0, left), std::max(0, top), std::max(0, right),
               std::max(0, bottom), mode, fill);
  }
  const long long w = (long long)s.width() + left + right, h = (long long)s.height() + top + bottom;
  if (w > (1 << 30) || h > (1 << 30) || (unsigned long long)(w * h) > (1ULL << 34))
    detail::throw_arg(639, "pad: output too large");
  if (mode != pad_mode::constant && s.empty() && (w > 0 && h > 0))
    detail::throw_arg(638, "pad: cannot " + std::string(pad_mode_name(mode)) + "-pad an empty image");
  image<U> out(int(w), int(h), s.channels());
  if (s.has_mode()) out.set_mode(s.mode());
  const int c = s.channels();
  if (mode == pad_mode::constant) {
    detail::fill_pixels(out, fill);
    for (int y = 0; y < s.height(); ++y)
      for (int x = 0; x < s.width(); ++x)
        for (int k = 0; k < c; ++k) out(x + left, y + top, k) = s(x, y, k);
    return out;
  }
  std::vector<int> xs(static_cast<std::size_t>(w));
  for (long long x = 0; x < w; ++x) xs[std::size_t(x)] = detail::pad_source_index(x - left, s.width(), mode);
  for (int y = 0; y < int(h); ++y) {
    const int sy = detail::pad_source_index((long long)y - top, s.height(), mode);
    U* o = out.row(y);
    for (int x = 0; x < int(w); ++x) {
      const U* p = s.pixel(xs[std::size_t(x)], sy);
      for (int k = 0; k < c; ++k) o[x * c + k] = p[k];
    }
  }
  return out;
}

template <class T>
image<std::remove_const_t<T>> pad(image_view<T> src, int left, int top, int right, int bottom,
                                  pad_mode mode = pad_mode::constant,
                                  std::remove_const_t<T> fill = 0) {
  return pad(src, left, top, right, bottom, mode, detail::same_fill(fill));
}

// F.center_crop: a crop larger than the image pads first with `fill` ((d)//2
// before, (d+1)//2 after; 0, or entry 0 of a palette image's palette); the
// offset is round((H - h) / 2) with half to even.
template <class T>
image_ref<std::remove_const_t<T>> center_crop(image_view<T> src, int height, int width,
                                              const pixel_fill<std::remove_const_t<T>>& fill) {
  using U = std::remove_const_t<T>;
  if (height < 1 || width < 1) detail::throw_arg(640, "center_crop: size must be >= 1");
  image_view<const U> s = src;
  if (width > s.width() || height > s.height()) {
    const int dl = width > s.width() ? (width - s.width()) / 2 : 0;
    const int dt = height > s.height() ? (height - s.height()) / 2 : 0;
    const int dr = width > s.width() ? (width - s.width() + 1) / 2 : 0;
    const int db = height > s.height() ? (height - s.height() + 1) / 2 : 0;
    image<U> padded = pad(s, dl, dt, dr, db, pad_mode::constant, fill);
    if (padded.width() == width && padded.height() == height) return image_ref<U>(std::move(padded));
    const int top = detail::half_even_half((long long)padded.height() - height);
    const int left = detail::half_even_half((long long)padded.width() - width);
    return image_ref<U>(std::move(crop(padded.view(), top, left, height, width)).take());
  }
  const int top = detail::half_even_half((long long)s.height() - height);
  const int left = detail::half_even_half((long long)s.width() - width);
  return image_ref<U>(s.subview(left, top, width, height));
}

template <class T>
image_ref<std::remove_const_t<T>> center_crop(image_view<T> src, int height, int width) {
  return center_crop(src, height, width, detail::same_fill(std::remove_const_t<T>(0)));
}

// Whether center_crop(src, height, width) pads, i.e. makes a new image (Pillow
// drops info, such as the comment, of padded images; crops keep it).
inline bool center_crop_pads(int src_width, int src_height, int height, int width) noexcept {
  return width > src_width || height > src_height;
}

template <class T>
image_view<T> hflip(image_view<T> src) noexcept { return src.flipped_left_right(); }
template <class T>
image_view<T> vflip(image_view<T> src) noexcept { return src.flipped_up_down(); }

// ---------------------------------------------------------------------------
// Colour

// F.to_grayscale on PIL: Pillow's convert("L") (fixed-point ITU-R 601-2 luma,
// rounded, not torchvision's tensor path), replicated to 3 channels if asked.
inline image<std::uint8_t> grayscale(image_view<const std::uint8_t> src, int channels = 1) {
  if (channels != 1 && channels != 3) detail::throw_arg(641, "grayscale: channels must be 1 or 3");
  const pixel_mode from = src.mode();
  image<std::uint8_t> l = from == pixel_mode::l ? materialize(src) : convert(src, from, pixel_mode::l);
  l.set_mode(pixel_mode::l);
  if (channels == 1) return l;
  return convert(l.view(), pixel_mode::l, pixel_mode::rgb);
}

// ---------------------------------------------------------------------------
// Tensors

// F.to_tensor: HWC uint8 -> CHW float32, each value float(u) / 255.
inline tensor<float> to_tensor(image_view<const std::uint8_t> src) {
  const int c = src.channels(), h = src.height(), w = src.width();
  tensor<float> t({std::size_t(c), std::size_t(h), std::size_t(w)});
  std::array<float, 256> lut{};
  for (int u = 0; u < 256; ++u) lut[std::size_t(u)] = float(u) / 255.0f;
  float* out = t.data();
  const std::size_t plane = std::size_t(h) * std::size_t(w);
  for (int y = 0; y < h; ++y) {
    const std::uint8_t* row = src.row(y);
    const std::ptrdiff_t xs = src.x_step();
    for (int k = 0; k < c; ++k) {
      float* o = out + std::size_t(k) * plane + std::size_t(y) * std::size_t(w);
      for (int x = 0; x < w; ++x) o[x] = lut[row[x * xs + k]];
    }
  }
  return t;
}

// F.normalize on a CHW float tensor, in float32: (x - mean) / std. mean/std
// have one value per channel or a single value for all.
inline tensor<float> normalize(tensor<float> t, const std::vector<float>& mean,
                               const std::vector<float>& std_dev) {
  if (t.rank() != 3) detail::throw_arg(642, "normalize: expected a CHW tensor");
  const std::size_t c = t.dim(0), plane = t.dim(1) * t.dim(2);
  auto pick = [&](const std::vector<float>& v, std::size_t k) {
    if (v.size() == 1) return v[0];
    if (v.size() != c) detail::throw_arg(643, "normalize: mean/std size differs from the channel count");
    return v[k];
  };
  for (std::size_t k = 0; k < c; ++k) {
    const float m = pick(mean, k), s = pick(std_dev, k);
    if (s == 0.0f) detail::throw_arg(644, "normalize: std is zero");
    float* p = t.data() + k * plane;
    for (std::size_t i = 0; i < plane; ++i) {
      const float d = p[i] - m;
      p[i] = d / s;
    }
  }
  return t;
}

// torch's float -> uint8 of `x.mul(255).byte()`: truncate to int64, keep the
// low 8 bits (wraps modulo 256: -2.1 -> 233, 1.5 -> 126). Values that do not
// fit an int64 (and NaN) give 0, what x86-64's conversion yields.
inline std::uint8_t float_to_byte_like_torch(float x) noexcept {
  const float s = x * 255.0f;
  if (!(s > -9.2233715e18f && s < 9.2233715e18f)) return 0;
  return static_cast<std::uint8_t>(static_cast<std::uint64_t>(static_cast<std::int64_t>(s)));
}

// F.to_pil_image on a CHW float tensor: mode L, LA, RGB or RGBA by channel count.
inline image<std::uint8_t> to_pil_image(const tensor<float>& t) {
  if (t.rank() != 3 || t.dim(0) < 1 || t.dim(0) > 4)
    detail::throw_arg(645, "to_pil_image: expected a CHW tensor with 1 to 4 channels");
  if (t.dim(1) > (1u << 30) || t.dim(2) > (1u << 30)) detail::throw_arg(645, "to_pil_image: tensor too large");
  const int c = int(t.dim(0)), h = int(t.dim(1)), w = int(t.dim(2));
  image<std::uint8_t> out(w, h, c);
  const std::size_t plane = std::size_t(h) * std::size_t(w);
  for (int k = 0; k < c; ++k) {
    const float* p = t.data() + std::size_t(k) * plane;
    for (int y = 0; y < h; ++y) {
      std::uint8_t* o = out.row(y);
      for (int x = 0; x < w; ++x) o[x * c + k] = float_to_byte_like_torch(p[std::size_t(y) * std::size_t(w) + std::size_t(x)]);
    }
  }
  return out;
}

// to_tensor | normalize | to_pil_image on uint8 pixels, as one 256-entry
// table per channel: u -> byte(((u / 255f - mean) / std) * 255f), the same
// float32 operations in the same order, so it equals the chain bit for bit.
class normalize_lut {
 public:
  normalize_lut() = default;
  normalize_lut(const std::vector<float>& mean, const std::vector<float>& std_dev) {
    if (mean.empty() || mean.size() > 4 || mean.size() != std_dev.size())
      detail::throw_arg(643, "normalize: mean and std need 1 to 4 values each, the same count");
    channels_ = int(mean.size());
    for (int k = 0; k < channels_; ++k) {
      if (std_dev[std::size_t(k)] == 0.0f) detail::throw_arg(644, "normalize: std is zero");
      for (int u = 0; u < 256; ++u) {
        const float x = float(u) / 255.0f;
        const float d = x - mean[std::size_t(k)];
        const float n = d / std_dev[std::size_t(k)];
        table_[std::size_t(k)][std::size_t(u)] = float_to_byte_like_torch(n);
      }
    }
  }
  int channels() const noexcept { return channels_; }
  const std::array<std::uint8_t, 256>& table(int channel) const noexcept {
    return table_[std::size_t(channels_ == 1 ? 0 : channel)];
  }

  image<std::uint8_t> operator()(image_view<const std::uint8_t> src) const {
    const int c = src.channels();
    if (channels_ != 1 && channels_ != c)
      detail::throw_arg(643, "normalize: mean/std size differs from the channel count");
    image<std::uint8_t> out(src.width(), src.height(), c);
    out.set_mode(default_mode_of<std::uint8_t>(c));  // what to_pil_image yields
    switch (c) {
      case 1: apply<1>(src, out); break;
      case 2: apply<2>(src, out); break;
      case 3: apply<3>(src, out); break;
      case 4: apply<4>(src, out); break;
      default: detail::throw_arg(643, "normalize: 1 to 4 channels supported");
    }
    return out;
  }

 private:
  template <int C>
  void apply(image_view<const std::uint8_t> src, image<std::uint8_t>& out) const {
    const std::uint8_t* t[C];
    for (int k = 0; k < C; ++k) t[k] = table(k).data();
    const std::ptrdiff_t xs = src.x_step();
    for (int y = 0; y < src.height(); ++y) {
      const std::uint8_t* in = src.row(y);
      std::uint8_t* o = out.row(y);
      const int w = src.width();
      if (xs == C) {
        for (int x = 0; x < w; ++x, in += C, o += C)
          for (int k = 0; k < C; ++k) o[k] = t[k][in[k]];
      } else {
        for (int x = 0; x < w; ++x, in += xs, o += C)
          for (int k = 0; k < C; ++k) o[k] = t[k][in[k]];
      }
    }
  }

  int channels_ = 0;
  std::array<std::array<std::uint8_t, 256>, 4> table_{};
};

inline const std::vector<float>& imagenet_mean() {
  static const std::vector<float> v{0.485f, 0.456f, 0.406f};
  return v;
}
inline const std::vector<float>& imagenet_std() {
  static const std::vector<float> v{0.229f, 0.224f, 0.225f};
  return v;
}

// ---------------------------------------------------------------------------
// Random parameters, drawn exactly as torch 1.13's CPU generator draws them.
//
// torch's default generator is an mt19937 (seeded like std::mt19937 by
// torch.manual_seed(s)); torch.rand / uniform_ take one 32-bit output r and
// compute (r & 0xffffff) * 2^-24 * (to - from) + from in float32; torch.randint
// (low, high) takes one output r (two when high - low >= 2^32) and returns
// low + r % (high - low). So a std::mt19937(s) passed here draws what
// torch.manual_seed(s) followed by the same torchvision get_params draws.
// Any generator with 32-bit outputs works (g() in [0, 2^32)).

template <class URBG>
float torch_uniform(URBG& g, float from, float to) {
  const std::uint32_t r = static_cast<std::uint32_t>(g());
  const float x = float(r & 0xffffffu) * (1.0f / 16777216.0f);
  volatile float scaled = x * (to - from);  // keep a*b+c unfused (see resize.hpp)
  return scaled + from;
}

template <class URBG>
std::int64_t torch_randint(URBG& g, std::int64_t low, std::int64_t high) {
  if (high <= low) detail::throw_arg(646, "randint: empty range");
  const std::uint64_t range = std::uint64_t(high) - std::uint64_t(low);
  std::uint64_t r;
  if (range >= (std::uint64_t{1} << 32)) {
    const std::uint64_t hi = static_cast<std::uint32_t>(g());
    const std::uint64_t lo = static_cast<std::uint32_t>(g());
    r = (hi << 32) | lo;
  } else {
    r = static_cast<std::uint32_t>(g());
  }
  return low + std::int64_t(r % range);
}

struct crop_box {
  int top = 0, left = 0, height = 0, width = 0;
  friend bool operator==(const crop_box& a, const crop_box& b) noexcept {
    return a.top == b.top && a.left == b.left && a.height == b.height && a.width == b.width;
  }
};

// transforms.RandomCrop.get_params.
template <class URBG>
crop_box random_crop_params(int height, int width, int crop_height, int crop_width, URBG& g) {
  if (height < crop_height || width < crop_width)
    detail::throw_arg(647, "random_crop: crop size larger than the image");
  if (height == crop_height && width == crop_width) return {0, 0, height, width};
  const int i = int(torch_randint(g, 0, height - crop_height + 1));
  const int j = int(torch_randint(g, 0, width - crop_width + 1));
  return {i, j, crop_height, crop_width};
}

// transforms.RandomResizedCrop.get_params (10 tries, then the clamped centre).
template <class URBG>
crop_box random_resized_crop_params(int height, int width, std::array<double, 2> scale,
                                    std::array<double, 2> ratio, URBG& g) {
  if (height < 1 || width < 1) detail::throw_arg(648, "random_resized_crop: empty image");
  const double area = double(height) * double(width);
  const float log_r0 = std::log(float(ratio[0])), log_r1 = std::log(float(ratio[1]));
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * double(torch_uniform(g, float(scale[0]), float(scale[1])));
    const double aspect = double(std::exp(torch_uniform(g, log_r0, log_r1)));
    const double wf = std::nearbyint(std::sqrt(target_area * aspect));  // round half even
    const double hf = std::nearbyint(std::sqrt(target_area / aspect));
    if (wf > 0 && wf <= width && hf > 0 && hf <= height) {
      const int w = int(wf), h = int(hf);
      const int i = int(torch_randint(g, 0, height - h + 1));
      const int j = int(torch_randint(g, 0, width - w + 1));
      return {i, j, h, w};
    }
  }
  const double in_ratio = double(width) / double(height);
  const double rmin = std::min(ratio[0], ratio[1]), rmax = std::max(ratio[0], ratio[1]);
  int w = width, h = height;
  if (in_ratio < rmin) {
    h = int(std::nearbyint(double(w) / rmin));
  } else if (in_ratio > rmax) {
    w = int(std::nearbyint(double(h) * rmax));
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

// ---------------------------------------------------------------------------
// Composable value types (torchvision.transforms.*)

namespace transforms {

// Marks a type as a transform for operator|.
struct transform_base {};

// Resize(size) = shorter side (long side truncated, optional max_size), or
// Resize((h, w)). Builds its resize_plan per call; keep a resize_plan
// yourself for a hot loop over equal-sized images.
struct resize : transform_base {
  int size = 0;            // shorter side when > 0
  int height = 0, width = 0;  // exact size when size == 0
  resample_filter filter = resample_filter::bilinear;
  std::optional<int> max_size;

  explicit resize(int shorter_side, resample_filter f = resample_filter::bilinear,
                  std::optional<int> max = std::nullopt)
      : size(shorter_side), filter(f), max_size(max) {
    if (size < 1) detail::throw_arg(631, "resize: size must be >= 1");
    if (max_size && *max_size <= size)
      detail::throw_arg(630, "resize: max_size must be greater than size");
  }
  resize(int h, int w, resample_filter f = resample_filter::bilinear)
      : height(h), width(w), filter(f) {
    if (h < 1 || w < 1) detail::throw_arg(631, "resize: size must be >= 1");
  }

  image_size output_size(int in_height, int in_width) const {
    if (size > 0) return resized_size(in_height, in_width, size, max_size);
    return {height, width};
  }
  image_ref<std::uint8_t> operator()(image_view<const std::uint8_t> src) const {
    const image_size o = output_size(src.height(), src.width());
    if (o.height == src.height() && o.width == src.width()) return src;  // torchvision returns img
    return resize_plan(src.width(), src.height(), o.width, o.height, filter)(src);
  }
};

struct center_crop : transform_base {
  int height, width;
  explicit center_crop(int size) : center_crop(size, size) {}
  center_crop(int h, int w) : height(h), width(w) {
    if (h < 1 || w < 1) detail::throw_arg(640, "center_crop: size must be >= 1");
  }
  template <class T>
  image_ref<std::remove_const_t<T>> operator()(image_view<T> src) const {
    return wds::center_crop(src, height, width);
  }
};

struct crop : transform_base {
  int top, left, height, width;
  crop(int t, int l, int h, int w) : top(t), left(l), height(h), width(w) {
    if (h < 1 || w < 1) detail::throw_arg(637, "crop: size must be >= 1");
  }
  template <class T>
  image_ref<std::remove_const_t<T>> operator()(image_view<T> src) const {
    return wds::crop(src, top, left, height, width);
  }
};

struct pad : transform_base {
  int left = 0, top = 0, right = 0, bottom = 0;
  pad_mode mode = pad_mode::constant;
  int fill = 0;
  pad(int all, pad_mode m = pad_mode::constant, int fill_value = 0)
      : pad(all, all, all, all, m, fill_value) {}
  pad(int l, int t, int r, int b, pad_mode m = pad_mode::constant, int fill_value = 0)
      : left(l), top(t), right(r), bottom(b), mode(m), fill(fill_value) {}
  template <class T>
  image<std::remove_const_t<T>> operator()(image_view<T> src) const {
    return wds::pad(src, left, top, right, bottom, mode, std::remove_const_t<T>(fill));
  }
};

struct hflip : transform_base {
  template <class T>
  image_view<T> operator()(image_view<T> src) const noexcept { return src.flipped_left_right(); }
};
struct vflip : transform_base {
  template <class T>
  image_view<T> operator()(image_view<T> src) const noexcept { return src.flipped_up_down(); }
};

struct grayscale : transform_base {
  int channels = 1;
  explicit grayscale(int n = 1) : channels(n) {
    if (n != 1 && n != 3) detail::throw_arg(641, "grayscale: channels must be 1 or 3");
  }
  image<std::uint8_t> operator()(image_view<const std::uint8_t> src) const {
    return wds::grayscale(src, channels);
  }
};

// Image.convert(mode) between the 8-bit modes.
struct convert_to : transform_base {
  pixel_mode mode;
  explicit convert_to(pixel_mode m) : mode(m) {}
  image_ref<std::uint8_t> operator()(image_view<const std::uint8_t> src) const {
    if (src.mode() == mode) return src;
    return wds::convert(src, src.mode(), mode);
  }
};

struct to_tensor : transform_base {
  tensor<float> operator()(image_view<const std::uint8_t> src) const { return wds::to_tensor(src); }
};

struct normalize : transform_base {
  std::vector<float> mean, std_dev;
  normalize(std::vector<float> m, std::vector<float> s) : mean(std::move(m)), std_dev(std::move(s)) {
    if (mean.empty() || mean.size() != std_dev.size())
      detail::throw_arg(643, "normalize: mean and std need the same number of values");
    for (float v : std_dev)
      if (v == 0.0f) detail::throw_arg(644, "normalize: std is zero");
  }
  static normalize imagenet() { return normalize(imagenet_mean(), imagenet_std()); }
  tensor<float> operator()(tensor<float> t) const { return wds::normalize(std::move(t), mean, std_dev); }
};

struct to_pil_image : transform_base {
  image<std::uint8_t> operator()(const tensor<float>& t) const { return wds::to_pil_image(t); }
};

// to_tensor | normalize | to_pil_image as one lookup table (uint8 -> uint8).
struct normalize_u8 : transform_base {
  normalize_lut lut;
  normalize_u8(const std::vector<float>& mean, const std::vector<float>& s) : lut(mean, s) {}
  static normalize_u8 imagenet() { return normalize_u8(imagenet_mean(), imagenet_std()); }
  image<std::uint8_t> operator()(image_view<const std::uint8_t> src) const { return lut(src); }
};

struct random_hflip : transform_base {
  double p = 0.5;
  random_hflip() = default;
  explicit random_hflip(double probability) : p(probability) {}
  template <class T, class URBG>
  image_view<T> operator()(image_view<T> src, URBG& g) const {
    return torch_uniform(g, 0.0f, 1.0f) < float(p) ? src.flipped_left_right() : src;
  }
};

struct random_crop : transform_base {
  int height, width;
  int pad_left = 0, pad_top = 0, pad_right = 0, pad_bottom = 0;
  bool pad_if_needed = false;
  pad_mode mode = pad_mode::constant;
  int fill = 0;
  explicit random_crop(int size) : random_crop(size, size) {}
  random_crop(int h, int w) : height(h), width(w) {
    if (h < 1 || w < 1) detail::throw_arg(647, "random_crop: size must be >= 1");
  }
  template <class V, class URBG>
  image_ref<std::remove_const_t<V>> operator()(image_view<V> in, URBG& g) const {
    using T = std::remove_const_t<V>;
    image_ref<T> cur{image_view<const T>(in)};
    if (pad_left || pad_top || pad_right || pad_bottom)
      cur = image_ref<T>(wds::pad(cur.view(), pad_left, pad_top, pad_right, pad_bottom, mode, T(fill)));
    if (pad_if_needed && cur.view().width() < width) {
      const int d = width - cur.view().width();
      cur = image_ref<T>(wds::pad(cur.view(), d, 0, d, 0, mode, T(fill)));
    }
    if (pad_if_needed && cur.view().height() < height) {
      const int d = height - cur.view().height();
      cur = image_ref<T>(wds::pad(cur.view(), 0, d, 0, d, mode, T(fill)));
    }
    const crop_box b = random_crop_params(cur.view().height(), cur.view().width(), height, width, g);
    if (!cur.owns()) return image_ref<T>(cur.view().subview(b.left, b.top, b.width, b.height));
    return image_ref<T>(materialize(cur.view().subview(b.left, b.top, b.width, b.height)));
  }
};

struct random_resized_crop : transform_base {
  int height, width;
  std::array<double, 2> scale{0.08, 1.0};
  std::array<double, 2> ratio{3.0 / 4.0, 4.0 / 3.0};
  resample_filter filter = resample_filter::bilinear;
  explicit random_resized_crop(int size) : random_resized_crop(size, size) {}
  random_resized_crop(int h, int w) : height(h), width(w) {
    if (h < 1 || w < 1) detail::throw_arg(648, "random_resized_crop: size must be >= 1");
  }
  template <class URBG>
  image_ref<std::uint8_t> operator()(image_view<const std::uint8_t> src, URBG& g) const {
    const crop_box b = random_resized_crop_params(src.height(), src.width(), scale, ratio, g);
    image_view<const std::uint8_t> c = src.subview(b.left, b.top, b.width, b.height);
    if (b.height == height && b.width == width) return c;
    return resize_plan(b.width, b.height, width, height, filter)(c);
  }
};

// ---- composition -----------------------------------------------------------

template <class... Ops>
class pipeline;

template <class T>
struct is_transform : std::is_base_of<transform_base, T> {};
template <class... Ops>
struct is_transform<pipeline<Ops...>> : std::true_type {};

namespace detail {
// What flows from one op to the next: images as const views, tensors by move.
template <class T>
image_view<const T> pass(image<T>& v) noexcept { return v.view(); }
template <class T>
image_view<const T> pass(image_view<T>& v) noexcept { return v; }
template <class T>
image_view<const T> pass(image_ref<T>& v) noexcept { return v.view(); }
template <class T>
tensor<T>&& pass(tensor<T>& v) noexcept { return std::move(v); }

// What a pipeline returns: always owned.
template <class T>
image<T> finish(image<T>&& v) { return std::move(v); }
template <class T>
image<std::remove_const_t<T>> finish(image_view<T>&& v) { return materialize(v); }
template <class T>
image<T> finish(image_ref<T>&& v) { return std::move(v).take(); }
template <class T>
tensor<T> finish(tensor<T>&& v) { return std::move(v); }

template <class Op, class In, class... G>
decltype(auto) call(const Op& op, In&& in, G&... g) {
  if constexpr (sizeof...(G) > 0 && std::is_invocable_v<const Op&, In, G&...>)
    return op(std::forward<In>(in), g...);
  else
    return op(std::forward<In>(in));
}
}  // namespace detail

// a | b | c: runs the ops in order with no virtual calls; views flow between
// crop/flip ops without copies, the result is owned (image<T> or tensor<float>).
// Adjacent to_tensor | normalize | to_pil_image run as one normalize_lut.
template <class... Ops>
class pipeline : public transform_base {
 public:
  explicit pipeline(Ops... ops) : ops_(std::move(ops)...) {}
  explicit pipeline(std::tuple<Ops...> ops) : ops_(std::move(ops)) {}
  const std::tuple<Ops...>& ops() const noexcept { return ops_; }

  template <class T, class... G>
  auto operator()(image_view<T> in, G&... g) const {
    return run<0>(image_view<const std::remove_const_t<T>>(in), g...);
  }
  template <class T, class... G>
  auto operator()(const image<T>& in, G&... g) const {
    return run<0>(in.view(), g...);
  }
  template <class T, class... G>
  auto operator()(tensor<T> in, G&... g) const {
    return run<0>(std::move(in), g...);
  }

 private:
  template <std::size_t I>
  static constexpr bool fusable_at() noexcept {
    if constexpr (I + 2 < sizeof...(Ops))
      return std::is_same_v<std::tuple_element_t<I, std::tuple<Ops...>>, to_tensor> &&
             std::is_same_v<std::tuple_element_t<I + 1, std::tuple<Ops...>>, normalize> &&
             std::is_same_v<std::tuple_element_t<I + 2, std::tuple<Ops...>>, to_pil_image>;
    else
      return false;
  }

  template <std::size_t I, class V, class... G>
  auto run(V&& v, G&... g) const {
    if constexpr (fusable_at<I>()) {
      // to_tensor | normalize | to_pil_image: the bit-identical lookup table.
      const normalize& n = std::get<I + 1>(ops_);
      if (n.mean.size() <= 4) {
        auto r = normalize_lut(n.mean, n.std_dev)(std::forward<V>(v));
        if constexpr (I + 3 == sizeof...(Ops))
          return r;
        else
          return run<I + 3>(detail::pass(r), g...);
      }
    }
    auto r = detail::call(std::get<I>(ops_), std::forward<V>(v), g...);
    if constexpr (I + 1 == sizeof...(Ops))
      return detail::finish(std::move(r));
    else
      return run<I + 1>(detail::pass(r), g...);
  }
  std::tuple<Ops...> ops_;
};

namespace detail {
template <class T>
std::tuple<T> as_tuple(T t) { return std::tuple<T>(std::move(t)); }
template <class... Ops>
std::tuple<Ops...> as_tuple(pipeline<Ops...> p) { return p.ops(); }
template <class... A, class... B>
pipeline<A..., B...> join(std::tuple<A...> a, std::tuple<B...> b) {
  return pipeline<A..., B...>(std::tuple_cat(std::move(a), std::move(b)));
}
}  // namespace detail

template <class A, class B,
          class = std::enable_if_t<is_transform<std::decay_t<A>>::value && is_transform<std::decay_t<B>>::value>>
auto operator|(A a, B b) {
  return detail::join(detail::as_tuple(std::move(a)), detail::as_tuple(std::move(b)));
}

}  // namespace transforms
}  // namespace wds
