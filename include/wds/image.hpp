// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

#include <cassert>
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

WDS_NAMESPACE_BEGIN

// Pillow's image modes that wds produces. The channel type follows the mode:
// l/la/rgb/rgba/cmyk/p -> uint8_t, i16 -> uint16_t, i -> int32_t, f -> float.
enum class pixel_mode : std::uint8_t { l, la, rgb, rgba, cmyk, i16, i, f };

inline constexpr int channels_of(pixel_mode m) noexcept {
  switch (m) {
    case pixel_mode::la: return 2;
    case pixel_mode::rgb: return 3;
    case pixel_mode::rgba:
    case pixel_mode::cmyk: return 4;
    default: return 1;
  }
}

// The mode an image of sample type T with `channels` channels has unless told
// otherwise (4 channels of uint8_t are RGBA, not CMYK).
template <class T>
constexpr pixel_mode default_mode_of(int channels) noexcept {
  using U = std::remove_const_t<T>;
  if constexpr (std::is_same_v<U, std::uint16_t>) return pixel_mode::i16;
  else if constexpr (std::is_same_v<U, std::int32_t>) return pixel_mode::i;
  else if constexpr (std::is_floating_point_v<U>) return pixel_mode::f;
  else {
    switch (channels) {
      case 2: return pixel_mode::la;
      case 3: return pixel_mode::rgb;
      case 4: return pixel_mode::rgba;
      default: return pixel_mode::l;
    }
  }
}

// Non-owning HWC view. Steps are in elements and may be negative, so crop and
// flip are O(1) views (Boost.GIL's subimage_view / flipped_left_right_view).
template <class T>
class image_view {
 public:
  using value_type = std::remove_const_t<T>;

  image_view() = default;
  image_view(T* origin, int width, int height, int channels, std::ptrdiff_t x_step,
             std::ptrdiff_t y_step) noexcept
      : origin_(origin), width_(width), height_(height), channels_(channels),
        x_step_(x_step), y_step_(y_step) {}
  // Packed rows: x_step = channels, y_step = width * channels (or a given stride).
  image_view(T* data, int width, int height, int channels) noexcept
      : image_view(data, width, height, channels, channels,
                   static_cast<std::ptrdiff_t>(width) * channels) {}

  // Views of non-const convert to views of const.
  template <class U, class = std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
  image_view(const image_view<U>& o) noexcept  // NOLINT(google-explicit-constructor)
      : image_view(o.origin(), o.width(), o.height(), o.channels(), o.x_step(), o.y_step()) {
    if (o.has_mode()) set_mode(o.mode());
  }

  // Pillow mode of the pixels: the one set by with_mode()/image::view(), else
  // the default for T and the channel count (see default_mode_of).
  pixel_mode mode() const noexcept { return has_mode_ ? mode_ : default_mode_of<T>(channels_); }
  bool has_mode() const noexcept { return has_mode_; }
  image_view with_mode(pixel_mode m) const noexcept {
    image_view v = *this;
    v.set_mode(m);
    return v;
  }
  void set_mode(pixel_mode m) noexcept {
    mode_ = m;
    has_mode_ = true;
  }

  int width() const noexcept { return width_; }
  int height() const noexcept { return height_; }
  int channels() const noexcept { return channels_; }
  bool empty() const noexcept { return width_ <= 0 || height_ <= 0; }
  std::ptrdiff_t x_step() const noexcept { return x_step_; }
  std::ptrdiff_t y_step() const noexcept { return y_step_; }
  T* origin() const noexcept { return origin_; }
  // Rows are packed left to right (a memcpy of width*channels per row is valid).
  bool rows_packed() const noexcept { return x_step_ == channels_; }
  bool packed() const noexcept {
    return rows_packed() && y_step_ == static_cast<std::ptrdiff_t>(width_) * channels_;
  }

  T* row(int y) const noexcept { return origin_ + y * y_step_; }
  T* pixel(int x, int y) const noexcept { return origin_ + y * y_step_ + x * x_step_; }
  T& operator()(int x, int y, int c = 0) const noexcept { return pixel(x, y)[c]; }

  // O(1) sub-rectangle; the caller guarantees it lies inside this view.
  image_view subview(int x, int y, int w, int h) const noexcept {
    assert(x >= 0 && y >= 0 && w >= 0 && h >= 0 && x + w <= width_ && y + h <= height_);
    return same_mode(image_view(pixel(x, y), w, h, channels_, x_step_, y_step_));
  }
  image_view flipped_left_right() const noexcept {
    if (empty()) return *this;
    return same_mode(image_view(pixel(width_ - 1, 0), width_, height_, channels_, -x_step_, y_step_));
  }
  image_view flipped_up_down() const noexcept {
    if (empty()) return *this;
    return same_mode(image_view(row(height_ - 1), width_, height_, channels_, x_step_, -y_step_));
  }

 private:
  image_view same_mode(image_view v) const noexcept {
    v.mode_ = mode_;
    v.has_mode_ = has_mode_;
    return v;
  }

  T* origin_ = nullptr;
  int width_ = 0, height_ = 0, channels_ = 0;
  std::ptrdiff_t x_step_ = 0, y_step_ = 0;
  pixel_mode mode_ = pixel_mode::l;
  bool has_mode_ = false;
};

// Owning, packed HWC image. The buffer is left uninitialized on construction
// (decoders overwrite it), use fill() or the value constructor to clear it.
template <class T>
class image {
  static_assert(std::is_arithmetic_v<T>, "image<T> holds arithmetic samples");

 public:
  using value_type = T;

  image() = default;
  image(int width, int height, int channels)
      : width_(width), height_(height), channels_(channels),
        data_(size_of(width, height, channels) ? new T[size_of(width, height, channels)] : nullptr) {}
  image(int width, int height, int channels, T value) : image(width, height, channels) {
    fill(value);
  }
  image(const image& o) : image(o.width_, o.height_, o.channels_) {
    mode_ = o.mode_;
    std::copy(o.data(), o.data() + o.size(), data());
  }
  image& operator=(const image& o) {
    if (this != &o) *this = image(o);
    return *this;
  }
  image(image&&) noexcept = default;
  image& operator=(image&&) noexcept = default;

  int width() const noexcept { return width_; }
  int height() const noexcept { return height_; }
  int channels() const noexcept { return channels_; }
  bool empty() const noexcept { return size() == 0; }
  std::size_t size() const noexcept { return size_of(width_, height_, channels_); }
  std::size_t size_bytes() const noexcept { return size() * sizeof(T); }
  T* data() noexcept { return data_.get(); }
  const T* data() const noexcept { return data_.get(); }
  T* row(int y) noexcept { return data() + static_cast<std::ptrdiff_t>(y) * width_ * channels_; }
  const T* row(int y) const noexcept {
    return data() + static_cast<std::ptrdiff_t>(y) * width_ * channels_;
  }
  T& operator()(int x, int y, int c = 0) noexcept { return row(y)[x * channels_ + c]; }
  const T& operator()(int x, int y, int c = 0) const noexcept { return row(y)[x * channels_ + c]; }

  // Pillow mode this image holds; defaults from the channel count.
  pixel_mode mode() const noexcept { return mode_ ? *mode_ : default_mode(); }
  void set_mode(pixel_mode m) noexcept { mode_ = m; }

  void fill(T value) noexcept { std::fill(data(), data() + size(), value); }

  image_view<T> view() noexcept {
    image_view<T> v(data(), width_, height_, channels_);
    if (mode_) v.set_mode(*mode_);
    return v;
  }
  image_view<const T> view() const noexcept {
    image_view<const T> v(data(), width_, height_, channels_);
    if (mode_) v.set_mode(*mode_);
    return v;
  }
  operator image_view<T>() noexcept { return view(); }              // NOLINT
  operator image_view<const T>() const noexcept { return view(); }  // NOLINT

 private:
  static std::size_t size_of(int w, int h, int c) noexcept {
    return (w > 0 && h > 0 && c > 0) ? std::size_t(w) * std::size_t(h) * std::size_t(c) : 0;
  }
  pixel_mode default_mode() const noexcept { return default_mode_of<T>(channels_); }

  int width_ = 0, height_ = 0, channels_ = 0;
  std::unique_ptr<T[]> data_;
  struct opt_mode {  // std::optional without the header cost in every TU
    bool set = false;
    pixel_mode m{};
    explicit operator bool() const noexcept { return set; }
    pixel_mode operator*() const noexcept { return m; }
    opt_mode& operator=(pixel_mode v) noexcept { set = true; m = v; return *this; }
  } mode_;
};

// Copies any view (including flipped or cropped ones) into a packed image.
template <class T>
image<std::remove_const_t<T>> materialize(image_view<T> v) {
  image<std::remove_const_t<T>> out(v.width(), v.height(), v.channels());
  if (v.has_mode()) out.set_mode(v.mode());
  const std::size_t row_len = std::size_t(std::max(v.width(), 0)) * std::size_t(v.channels());
  for (int y = 0; y < v.height(); ++y) {
    auto* dst = out.row(y);
    if (v.rows_packed()) {
      std::copy(v.row(y), v.row(y) + row_len, dst);
    } else {
      for (int x = 0; x < v.width(); ++x)
        for (int c = 0; c < v.channels(); ++c) dst[x * v.channels() + c] = v(x, y, c);
    }
  }
  return out;
}

// A decoded image of whichever sample type its mode needs (codecs return this
// for native-mode decodes; see pixel_mode).
using any_image = std::variant<image<std::uint8_t>, image<std::uint16_t>, image<std::int32_t>,
                               image<float>>;

WDS_NAMESPACE_END
