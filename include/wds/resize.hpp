// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

// Pillow 9.4's resampler (Image.resize on 8-bit images), bit for bit: the
// two-pass separable convolution with 22-bit fixed-point coefficients for the
// antialiasing filters, and the affine nearest-neighbour scaler for NEAREST.
// Plus torchvision 0.14's output-size rule for Resize(int) / max_size.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "wds/error.hpp"
#include "wds/image.hpp"

#if WDS_X86_AVX2
#include <immintrin.h>
#endif

WDS_NAMESPACE_BEGIN

// PIL.Image.Resampling / torchvision InterpolationMode on PIL images.
enum class resample_filter : std::uint8_t { nearest, box, bilinear, hamming, bicubic, lanczos };

inline constexpr std::string_view filter_name(resample_filter f) noexcept {
  switch (f) {
    case resample_filter::nearest: return "nearest";
    case resample_filter::box: return "box";
    case resample_filter::bilinear: return "bilinear";
    case resample_filter::hamming: return "hamming";
    case resample_filter::bicubic: return "bicubic";
    case resample_filter::lanczos: return "lanczos";
  }
  return "?";
}

inline std::optional<resample_filter> parse_filter(std::string_view name) noexcept {
  for (auto f : {resample_filter::nearest, resample_filter::box, resample_filter::bilinear,
                 resample_filter::hamming, resample_filter::bicubic, resample_filter::lanczos})
    if (filter_name(f) == name) return f;
  if (name == "antialias") return resample_filter::lanczos;  // Pillow's old alias
  return std::nullopt;
}

namespace detail {

constexpr double pi = 3.14159265358979323846;  // M_PI, which is not standard C++

// Every multiply-add in the coefficient math goes through these so that FMA
// contraction (-ffp-contract=fast, -march=native) cannot change a bit: the
// volatile store forces the product to be rounded to double, as in Pillow's
// own (non-FMA) build.
inline double rounded_mul(double a, double b) noexcept {
  volatile double p = a * b;
  return p;
}

inline double filter_box(double x) noexcept { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }
inline double filter_bilinear(double x) noexcept {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}
inline double filter_hamming(double x) noexcept {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = rounded_mul(x, pi);
  // Pillow writes 0.54f/0.46f: float constants promoted to double.
  const double window = double(0.54f) + rounded_mul(double(0.46f), std::cos(x));
  return rounded_mul(std::sin(x) / x, window);
}
inline double filter_bicubic(double x) noexcept {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) {
    const double t = rounded_mul(a + 2.0, x) - (a + 3.0);
    return rounded_mul(rounded_mul(t, x), x) + 1;
  }
  if (x < 2.0) {
    const double t1 = rounded_mul(x - 5, x) + 8;
    const double t2 = rounded_mul(t1, x) - 4;
    return rounded_mul(t2, a);
  }
  return 0.0;
}
inline double sinc(double x) noexcept {
  if (x == 0.0) return 1.0;
  x = rounded_mul(x, pi);
  return std::sin(x) / x;
}
inline double filter_lanczos(double x) noexcept {
  if (-3.0 <= x && x < 3.0) return rounded_mul(sinc(x), sinc(x / 3));
  return 0.0;
}

inline double filter_support(resample_filter f) noexcept {
  switch (f) {
    case resample_filter::box: return 0.5;
    case resample_filter::bilinear:
    case resample_filter::hamming: return 1.0;
    case resample_filter::bicubic: return 2.0;
    case resample_filter::lanczos: return 3.0;
    default: return 0.0;
  }
}
inline double filter_eval(resample_filter f, double x) noexcept {
  switch (f) {
    case resample_filter::box: return filter_box(x);
    case resample_filter::bilinear: return filter_bilinear(x);
    case resample_filter::hamming: return filter_hamming(x);
    case resample_filter::bicubic: return filter_bicubic(x);
    case resample_filter::lanczos: return filter_lanczos(x);
    default: return 0.0;
  }
}

constexpr int resample_precision_bits = 22;  // 32 - 8 - 2, as Pillow

inline std::uint8_t clip_fixed(std::int32_t v) noexcept {
  const std::int32_t s = v >> resample_precision_bits;  // arithmetic shift
  return static_cast<std::uint8_t>(s < 0 ? 0 : (s > 255 ? 255 : s));
}

[[noreturn]] inline void throw_resize_error(int id, const char* reason) {
  throw spec_error(id, location{}, reason);
}

}  // namespace detail

// The 1-D half of a resize: for each output index, the first input index, the
// tap count and `taps` fixed-point weights (Pillow's precompute_coeffs +
// normalize_coeffs_8bpc, for the source span [0, in_size)).
struct resample_axis {
  int in_size = 0;
  int out_size = 0;
  int taps = 0;                      // coefficients stored per output index
  std::vector<int> first;            // first input index per output index
  std::vector<int> count;            // used taps per output index
  std::vector<std::int32_t> coeffs;  // out_size * taps, 22-bit fixed point (8-bit images)
  std::vector<double> weights;       // out_size * taps, normalized (I and F images)
  // AVX2 tables for _mm256_madd_epi16, which multiplies 16-bit pairs: each
  // 22-bit coefficient k is split as k = hi * 2^15 + lo (lo in [0, 2^15)),
  // and the 32-bit sums of both halves recombine modulo 2^32 into exactly the
  // scalar sum.
  // Horizontal: output pixels in pairs (2p in the low 128-bit lane, 2p + 1
  // in the high one); a lane holds 8 words, (tap t, tap t + 1) pairs for each
  // of P = 1, 2 or 4 channels (layouts for 1, 2 and 3-4 channel rows). A
  // step covers T = 16 / P taps as the vectors hi(first half), hi(second
  // half), lo(first), lo(second). An odd last pixel has a zero-weight partner.
  struct output_pair {
    int first0, first1;  // first input pixel of each lane
    int steps;           // the longer of the two
  };
  struct pair_table {
    std::vector<output_pair> pairs;
    std::vector<std::int16_t> coeffs;  // 64 per step, in pair order
  };
  pair_table pair_tables[3];  // P = 1, 2, 4
  static constexpr int pair_layout(int channels) noexcept { return channels == 1 ? 0 : channels == 2 ? 1 : 2; }
  // Vertical: per output row, tap pairs (t, t+1) as two int16 in one int32:
  // hi halves, then lo halves; a missing odd tap has weight 0.
  int vtap_pairs = 0;
  std::vector<std::int32_t> vcoeffs_hi, vcoeffs_lo;  // out_size * vtap_pairs

  static void split_coeff(std::int32_t k, std::int16_t& hi, std::int16_t& lo) noexcept {
    const std::int32_t l = k & 0x7fff;
    hi = std::int16_t((k - l) / 0x8000);
    lo = std::int16_t(l);
  }
  // Every coefficient is within +-2^22 by a small margin; the split needs
  // |hi| < 2^15, checked rather than assumed.
  bool splittable() const noexcept {
    for (const std::int32_t k : coeffs)
      if (k <= -(std::int32_t{1} << 29) || k >= (std::int32_t{1} << 29)) return false;
    return true;
  }
  void build_pairs() {
    if (!splittable()) return;
    for (int layout = 0; layout < 3; ++layout) {
      const int P = 1 << layout, T = 16 / P;
      pair_table& table = pair_tables[layout];
      table.pairs.resize(std::size_t(out_size + 1) / 2);
      std::size_t total = 0;
      std::vector<std::size_t> begin(table.pairs.size());
      for (std::size_t p = 0; p < table.pairs.size(); ++p) {
        const std::size_t a = 2 * p, b = std::min(2 * p + 1, std::size_t(out_size) - 1);
        const int n = std::max(count[a], b == a ? 0 : count[b]);
        table.pairs[p] = output_pair{first[a], first[b], (n + T - 1) / T};
        begin[p] = total;
        total += std::size_t(table.pairs[p].steps);
      }
      table.coeffs.assign(total * 64, 0);
      for (int xx = 0; xx < out_size; ++xx) {
        const std::size_t p = std::size_t(xx) / 2, lane = std::size_t(xx) % 2;
        for (int t = 0; t < count[std::size_t(xx)]; ++t) {
          std::int16_t hi, lo;
          split_coeff(coeffs[std::size_t(xx) * std::size_t(taps) + std::size_t(t)], hi, lo);
          const int u = t % T, half = u / (T / 2), g = (u % (T / 2)) / 2, j = u % 2;
          std::int16_t* v = &table.coeffs[(begin[p] + std::size_t(t / T)) * 64 + lane * 8];
          for (int c = 0; c < P; ++c) {
            const int word = g * 2 * P + c * 2 + j;
            v[half * 16 + word] = hi;
            v[(2 + half) * 16 + word] = lo;
          }
        }
      }
    }
  }
  void build_vertical_pairs() {
    if (!splittable()) return;
    vtap_pairs = (taps + 1) / 2;
    vcoeffs_hi.assign(std::size_t(out_size) * std::size_t(vtap_pairs), 0);
    vcoeffs_lo.assign(std::size_t(out_size) * std::size_t(vtap_pairs), 0);
    for (int yy = 0; yy < out_size; ++yy)
      for (int t = 0; t < count[std::size_t(yy)]; ++t) {
        std::int16_t hi, lo;
        split_coeff(coeffs[std::size_t(yy) * std::size_t(taps) + std::size_t(t)], hi, lo);
        const std::size_t i = std::size_t(yy) * std::size_t(vtap_pairs) + std::size_t(t / 2);
        const int shift = 16 * (t % 2);
        vcoeffs_hi[i] = std::int32_t(std::uint32_t(vcoeffs_hi[i]) | (std::uint32_t(std::uint16_t(hi)) << shift));
        vcoeffs_lo[i] = std::int32_t(std::uint32_t(vcoeffs_lo[i]) | (std::uint32_t(std::uint16_t(lo)) << shift));
      }
  }

  resample_axis() = default;
  resample_axis(int in, int out, resample_filter f) : in_size(in), out_size(out) {
    if (in < 1 || out < 1) detail::throw_resize_error(632, "resize: sizes must be >= 1");
    const double support_1 = detail::filter_support(f);
    const float in0 = 0.f, in1 = float(in);
    const double scale = double(in1 - in0) / out;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = support_1 * filterscale;
    const double k = std::ceil(support) * 2 + 1;
    if (k > 1e6 || double(out) * k > 1e9)
      detail::throw_resize_error(633, "resize: coefficient table too large");
    taps = int(k);
    first.resize(std::size_t(out));
    count.resize(std::size_t(out));
    coeffs.assign(std::size_t(out) * std::size_t(taps), 0);
    weights.assign(std::size_t(out) * std::size_t(taps), 0.0);
    std::vector<double> w(static_cast<std::size_t>(taps));
    const double ss = 1.0 / filterscale;
    for (int xx = 0; xx < out; ++xx) {
      const double center = double(in0) + detail::rounded_mul(xx + 0.5, scale);
      int xmin = int(center - support + 0.5);
      if (xmin < 0) xmin = 0;
      int xmax = int(center + support + 0.5);
      if (xmax > in) xmax = in;
      xmax -= xmin;
      double ww = 0.0;
      for (int x = 0; x < xmax; ++x) {
        const double v = detail::filter_eval(f, detail::rounded_mul(x + xmin - center + 0.5, ss));
        w[std::size_t(x)] = v;
        ww += v;
      }
      std::int32_t* kk = &coeffs[std::size_t(xx) * std::size_t(taps)];
      double* kd = &weights[std::size_t(xx) * std::size_t(taps)];
      for (int x = 0; x < xmax; ++x) {
        double v = w[std::size_t(x)];
        if (ww != 0.0) v /= ww;
        kd[x] = v;
        const double scaled = detail::rounded_mul(v, double(1 << detail::resample_precision_bits));
        kk[x] = v < 0 ? std::int32_t(-0.5 + scaled) : std::int32_t(0.5 + scaled);
      }
      first[std::size_t(xx)] = xmin;
      count[std::size_t(xx)] = xmax;
    }
  }
};

// Pillow's nearest scaler (ImagingScaleAffine): source index per output index
// by accumulating the step in double; -1 where it falls outside (left zero).
inline std::vector<int> nearest_indices(int in, int out) {
  std::vector<int> idx(std::size_t(out > 0 ? out : 0));
  const double step = double(float(in)) / out;
  double pos = 0.0 + detail::rounded_mul(step, 0.5);
  for (int x = 0; x < out; ++x) {
    const int i = pos < 0.0 ? -1 : int(pos);
    idx[std::size_t(x)] = (i >= 0 && i < in) ? i : -1;
    pos += step;
  }
  return idx;
}

namespace detail {

// Horizontal pass of rows [y0, y0 + rows) of src into dst (rows x out width).
// XS is the source pixel step when known at compile time (packed rows), else 0.
template <int C, int XS>
void resample_rows_impl(image_view<const std::uint8_t> src, int y0, int rows,
                        const resample_axis& ax, std::uint8_t* dst, std::ptrdiff_t dst_stride) {
  const int out_w = ax.out_size;
  const std::size_t taps = std::size_t(ax.taps);
  const std::ptrdiff_t xs = XS ? XS : src.x_step();
  const int* first = ax.first.data();
  const int* count = ax.count.data();
  for (int y = 0; y < rows; ++y) {
    const std::uint8_t* in = src.row(y0 + y);
    std::uint8_t* out = dst + y * dst_stride;
    const std::int32_t* k = ax.coeffs.data();
    for (int xx = 0; xx < out_w; ++xx, k += taps) {
      const int n = count[xx];
      const std::uint8_t* p = in + first[xx] * xs;
      // Two partial sums per channel (even/odd taps) for instruction-level
      // parallelism; integer addition makes the order irrelevant.
      std::int32_t acc[C], acc2[C];
      for (int c = 0; c < C; ++c) {
        acc[c] = 1 << (resample_precision_bits - 1);
        acc2[c] = 0;
      }
      int x = 0;
      for (; x + 1 < n; x += 2) {
        const std::int32_t w0 = k[x], w1 = k[x + 1];
        const std::uint8_t* q = p + x * xs;
        for (int c = 0; c < C; ++c) {
          acc[c] += std::int32_t(q[c]) * w0;
          acc2[c] += std::int32_t(q[c + xs]) * w1;
        }
      }
      if (x < n) {
        const std::int32_t w0 = k[x];
        const std::uint8_t* q = p + x * xs;
        for (int c = 0; c < C; ++c) acc[c] += std::int32_t(q[c]) * w0;
      }
      for (int c = 0; c < C; ++c) out[xx * C + c] = clip_fixed(acc[c] + acc2[c]);
    }
  }
}

// The same horizontal pass for packed rows, vectorized: a tile of R rows is
// transposed (column-major), so each output column is a straight multiply-
// accumulate over R*C contiguous lanes with one coefficient per tap.
template <int C>
void resample_rows_tiled(image_view<const std::uint8_t> src, int y0, int rows, const resample_axis& ax,
                         std::uint8_t* dst, std::ptrdiff_t dst_stride, std::vector<std::uint8_t>& tile) {
  constexpr int R = 16;
  constexpr int L = R * C;
  const int in_w = ax.in_size, out_w = ax.out_size;
  const std::size_t taps = std::size_t(ax.taps);
  tile.assign(std::size_t(in_w) * L, 0);
  for (int yb = 0; yb < rows; yb += R) {
    const int rn = std::min(R, rows - yb);
    for (int r = 0; r < rn; ++r) {
      const std::uint8_t* in = src.row(y0 + yb + r);
      std::uint8_t* t = tile.data() + r * C;
      for (int x = 0; x < in_w; ++x, t += L, in += C)
        for (int c = 0; c < C; ++c) t[c] = in[c];
    }
    const std::int32_t* k = ax.coeffs.data();
    for (int xx = 0; xx < out_w; ++xx, k += taps) {
      const int n = ax.count[std::size_t(xx)];
      const std::uint8_t* col = tile.data() + std::size_t(ax.first[std::size_t(xx)]) * L;
      std::int32_t acc[L];
      for (int i = 0; i < L; ++i) acc[i] = std::int32_t{1} << (resample_precision_bits - 1);
      for (int t = 0; t < n; ++t, col += L) {
        const std::int32_t w = k[t];
        for (int i = 0; i < L; ++i) acc[i] += std::int32_t(col[i]) * w;
      }
      for (int r = 0; r < rn; ++r)
        for (int c = 0; c < C; ++c) dst[(yb + r) * dst_stride + xx * C + c] = clip_fixed(acc[r * C + c]);
    }
  }
}


#if WDS_X86_AVX2
// ---- AVX2 kernels: the same integer sums as the scalar code modulo 2^32,
// so the same bytes (_mm256_madd_epi16 on the 16-bit halves of each weight,
// see resample_axis; the clip is the same saturation). ----

// The 32-bit sum from the hi and lo partial sums (see resample_axis), then
// >> 22 and the clip, all modulo 2^32 as the scalar int32 sum.
__attribute__((target("avx2"))) inline __m256i combine_split(__m256i hi, __m256i lo) {
  return _mm256_srai_epi32(_mm256_add_epi32(_mm256_slli_epi32(hi, 15), lo), resample_precision_bits);
}

// One step of rows_pairs_avx2 for R rows: the step's taps of both lanes; q
// is the step's byte offset from a, b.
template <int C, int R>
__attribute__((target("avx2"), always_inline)) inline void pair_step_avx2(const std::uint8_t* const* in, std::ptrdiff_t a,
                                                                         std::ptrdiff_t b, const __m256i* k,
                                                                         std::ptrdiff_t q, __m256i taps01,
                                                                         __m256i taps23, __m256i* hi, __m256i* lo) {
  const __m256i kh01 = _mm256_loadu_si256(k), kh23 = _mm256_loadu_si256(k + 1);
  const __m256i kl01 = _mm256_loadu_si256(k + 2), kl23 = _mm256_loadu_si256(k + 3);
  for (int r = 0; r < R; ++r) {
    const __m256i px = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in[r] + q + a))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(in[r] + q + b)), 1);
    const __m256i t01 = _mm256_shuffle_epi8(px, taps01), t23 = _mm256_shuffle_epi8(px, taps23);
    hi[r] = _mm256_add_epi32(hi[r], _mm256_madd_epi16(t01, kh01));
    lo[r] = _mm256_add_epi32(lo[r], _mm256_madd_epi16(t01, kl01));
    hi[r] = _mm256_add_epi32(hi[r], _mm256_madd_epi16(t23, kh23));
    lo[r] = _mm256_add_epi32(lo[r], _mm256_madd_epi16(t23, kl23));
  }
}

// The byte shuffle of one step's 16 loaded bytes to the words of half h of
// resample_axis::pair_tables (word g * 2P + 2c + j: tap 2g + j of the half,
// channel c), the same in both 128-bit lanes; zero for the 4th channel of RGB.
template <int C>
__attribute__((target("avx2"))) inline __m256i pair_taps_mask(int h) {
  constexpr int P = C == 3 ? 4 : C, T = 16 / P;
  alignas(32) std::int8_t m[32];
  for (int w = 0; w < 8; ++w) {
    const int g = w / (2 * P), c = (w / 2) % P, j = w % 2;
    const int byte = (h * T / 2 + 2 * g + j) * C + c;
    m[2 * w] = m[2 * w + 16] = std::int8_t(c < C ? byte : -1);
    m[2 * w + 1] = m[2 * w + 17] = -1;
  }
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(m));
}

// Horizontal pass with _mm256_madd_epi16: two output pixels per vector (one
// per 128-bit lane), 16 / P taps per step from one 16-byte load per lane
// (12 bytes used for RGB); R rows at a time share the weight loads. Pixel x
// of row r is at in[r] + x * C - shift; out[r] is the output row.
template <int C, int R>
__attribute__((target("avx2"))) inline void rows_pairs_avx2(const std::uint8_t* const* rows_in, std::ptrdiff_t shift,
                                                            std::uint8_t* const* rows_out, int out_w,
                                                            const resample_axis::output_pair* pr, int p_begin,
                                                            int p_end, const __m256i* k) {
  constexpr int P = C == 3 ? 4 : C, T = 16 / P;
  constexpr char z = -1;
  const __m256i taps01 = pair_taps_mask<C>(0), taps23 = pair_taps_mask<C>(1);
  // After the packs: pixel 2p at bytes 0.., pixel 2p + 1 at bytes 8.. .
  const __m128i gather = C == 1   ? _mm_setr_epi8(0, 8, z, z, z, z, z, z, z, z, z, z, z, z, z, z)
                         : C == 2 ? _mm_setr_epi8(0, 1, 8, 9, z, z, z, z, z, z, z, z, z, z, z, z)
                         : C == 3 ? _mm_setr_epi8(0, 1, 2, 8, 9, 10, z, z, z, z, z, z, z, z, z, z)
                                  : _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, z, z, z, z, z, z, z, z);
  // The rounding term once per channel: in the first P dwords of each lane.
  constexpr std::int32_t h = std::int32_t{1} << (resample_precision_bits - 1);
  const __m256i round = _mm256_setr_epi32(h, P > 1 ? h : 0, P > 2 ? h : 0, P > 2 ? h : 0,  //
                                          h, P > 1 ? h : 0, P > 2 ? h : 0, P > 2 ? h : 0);
  // Local copies: the byte stores below could alias the callers' arrays.
  const std::uint8_t* in[R];
  std::uint8_t* out[R];
  for (int r = 0; r < R; ++r) {
    in[r] = rows_in[r];
    out[r] = rows_out[r];
  }
  for (int p = p_begin; p < p_end; ++p) {
    const std::ptrdiff_t a = std::ptrdiff_t(pr[p].first0) * C - shift, b = std::ptrdiff_t(pr[p].first1) * C - shift;
    __m256i hi[R], lo[R];
    for (int r = 0; r < R; ++r) {
      hi[r] = _mm256_setzero_si256();
      lo[r] = round;
    }
    // Straight-line code for the short filters (a loop-carried accumulator
    // costs GCC a register copy per step).
    const int steps = pr[p].steps;
    if (steps <= 3) {
      pair_step_avx2<C, R>(in, a, b, k, 0, taps01, taps23, hi, lo);
      if (steps >= 2) pair_step_avx2<C, R>(in, a, b, k + 4, T * C, taps01, taps23, hi, lo);
      if (steps == 3) pair_step_avx2<C, R>(in, a, b, k + 8, 2 * T * C, taps01, taps23, hi, lo);
    } else {
      for (int s = 0; s < steps; ++s) pair_step_avx2<C, R>(in, a, b, k + 4 * s, s * T * C, taps01, taps23, hi, lo);
    }
    k += 4 * steps;
    const int x = 2 * p;
    for (int r = 0; r < R; ++r) {
      // The 32-bit sums modulo 2^32, then the dwords of one channel (4 / P
      // of them per lane) added.
      __m256i sum = _mm256_add_epi32(_mm256_slli_epi32(hi[r], 15), lo[r]);
      if constexpr (P <= 2) sum = _mm256_add_epi32(sum, _mm256_shuffle_epi32(sum, _MM_SHUFFLE(1, 0, 3, 2)));
      if constexpr (P == 1) sum = _mm256_add_epi32(sum, _mm256_shuffle_epi32(sum, _MM_SHUFFLE(2, 3, 0, 1)));
      const __m256i w = _mm256_packs_epi32(_mm256_srai_epi32(sum, resample_precision_bits), _mm256_setzero_si256());
      const __m128i v =
          _mm_shuffle_epi8(_mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)), gather);
      std::uint8_t* o = out[r] + x * C;
      if (__builtin_expect(std::ptrdiff_t(out_w - x) * C >= 8, 1)) {
        _mm_storel_epi64(reinterpret_cast<__m128i*>(o), v);  // bytes past 2C: rewritten by the next pairs
      } else {
        alignas(16) std::uint8_t bytes[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(bytes), v);
        std::memcpy(o, bytes, std::size_t(std::min(2, out_w - x)) * C);
      }
    }
  }
}

// The horizontal pass of rows [y0, y0 + rows) of packed src into dst, two
// rows at a time. The pairs whose loads could pass the end of the row read a
// zero-padded copy of the row's end.
template <int C>
__attribute__((target("avx2"))) void resample_rows_avx2_pairs(image_view<const std::uint8_t> src, int y0, int rows,
                                                               const resample_axis& ax, std::uint8_t* dst,
                                                               std::ptrdiff_t dst_stride) {
  constexpr int P = C == 3 ? 4 : C, T = 16 / P;
  const resample_axis::pair_table& table = ax.pair_tables[resample_axis::pair_layout(C)];
  const int out_w = ax.out_size;
  const int pairs = int(table.pairs.size());
  const resample_axis::output_pair* pr = table.pairs.data();
  const __m256i* k0 = reinterpret_cast<const __m256i*>(table.coeffs.data());
  const std::ptrdiff_t row_bytes = std::ptrdiff_t(ax.in_size) * C;
  auto reach = [&](const resample_axis::output_pair& q) {  // end of the last load
    return std::ptrdiff_t(std::max(q.first0, q.first1)) * C + std::ptrdiff_t(q.steps - 1) * T * C + 16;
  };
  // Pairs [0, direct) read only inside the row; the weights of pair
  // `direct` start at k_tail.
  int direct = 0;
  const __m256i* k_tail = k0;
  for (; direct < pairs && reach(pr[direct]) <= row_bytes; ++direct) k_tail += 4 * pr[direct].steps;
  // The tail reads bytes [tail_begin, tail_end) of the row, past its end
  // where a lane has fewer taps than its partner (zero weights there).
  std::ptrdiff_t tail_begin = row_bytes, tail_end = row_bytes;
  for (int p = direct; p < pairs; ++p) {
    tail_begin = std::min(tail_begin, std::ptrdiff_t(std::min(pr[p].first0, pr[p].first1)) * C);
    tail_end = std::max(tail_end, reach(pr[p]));
  }
  const std::size_t tail_len = std::size_t(row_bytes - tail_begin);
  const std::size_t tail_size = std::size_t(tail_end - tail_begin);
  std::vector<std::uint8_t> tail(direct < pairs ? 2 * tail_size : 0);
  std::uint8_t* tail_row[2] = {tail.data(), tail.data() + tail_size};
  auto run = [&](auto rows_at_once, int y) {
    constexpr int n = decltype(rows_at_once)::value;
    const std::uint8_t* in[n];
    std::uint8_t* out[n];
    for (int r = 0; r < n; ++r) {
      in[r] = src.row(y0 + y + r);
      out[r] = dst + (y + r) * dst_stride;
    }
    rows_pairs_avx2<C, n>(in, 0, out, out_w, pr, 0, direct, k0);
    if (direct < pairs) {
      for (int r = 0; r < n; ++r) {
        std::memcpy(tail_row[r], in[r] + tail_begin, tail_len);
        in[r] = tail_row[r];
      }
      rows_pairs_avx2<C, n>(in, tail_begin, out, out_w, pr, direct, pairs, k_tail);
    }
  };
  int y = 0;
  for (; y + 2 <= rows; y += 2) run(std::integral_constant<int, 2>{}, y);
  if (y < rows) run(std::integral_constant<int, 1>{}, y);
}

// Vertical pass over packed rows with _mm256_madd_epi16: two source rows at a
// time, interleaved byte by byte and widened to (row t, row t + 1) word
// pairs. One output row yy, columns [i, i + 32): in at column i of the first
// tap's row; khi/klo the tap pairs' weights (resample_axis::vcoeffs_*).
__attribute__((target("avx2"))) inline void columns_block32_avx2(const std::uint8_t* in, std::ptrdiff_t stride,
                                                                 int taps, const std::int32_t* khi,
                                                                 const std::int32_t* klo, std::uint8_t* out) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i round = _mm256_set1_epi32(std::int32_t{1} << (resample_precision_bits - 1));
  __m256i h0 = zero, h1 = zero, h2 = zero, h3 = zero, l0 = round, l1 = round, l2 = round, l3 = round;
  for (int t = 0; t < taps; t += 2, in += 2 * stride) {
    const __m256i ra = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in));
    const __m256i rb = t + 1 < taps ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + stride)) : zero;
    const __m256i ilo = _mm256_unpacklo_epi8(ra, rb), ihi = _mm256_unpackhi_epi8(ra, rb);
    // Columns 0-3 | 16-19, 4-7 | 20-23, 8-11 | 24-27, 12-15 | 28-31.
    const __m256i x0 = _mm256_unpacklo_epi8(ilo, zero), x1 = _mm256_unpackhi_epi8(ilo, zero);
    const __m256i x2 = _mm256_unpacklo_epi8(ihi, zero), x3 = _mm256_unpackhi_epi8(ihi, zero);
    const __m256i wh = _mm256_set1_epi32(khi[t / 2]), wl = _mm256_set1_epi32(klo[t / 2]);
    h0 = _mm256_add_epi32(h0, _mm256_madd_epi16(x0, wh));
    h1 = _mm256_add_epi32(h1, _mm256_madd_epi16(x1, wh));
    h2 = _mm256_add_epi32(h2, _mm256_madd_epi16(x2, wh));
    h3 = _mm256_add_epi32(h3, _mm256_madd_epi16(x3, wh));
    l0 = _mm256_add_epi32(l0, _mm256_madd_epi16(x0, wl));
    l1 = _mm256_add_epi32(l1, _mm256_madd_epi16(x1, wl));
    l2 = _mm256_add_epi32(l2, _mm256_madd_epi16(x2, wl));
    l3 = _mm256_add_epi32(l3, _mm256_madd_epi16(x3, wl));
  }
  // packs(0-3|16-19, 4-7|20-23) = 0-7|16-23; with 8-15|24-31, packus gives
  // 0-15 | 16-31: in order.
  const __m256i w01 = _mm256_packs_epi32(combine_split(h0, l0), combine_split(h1, l1));
  const __m256i w23 = _mm256_packs_epi32(combine_split(h2, l2), combine_split(h3, l3));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_packus_epi16(w01, w23));
}

// The same for 8 columns.
__attribute__((target("avx2"))) inline void columns_block8_avx2(const std::uint8_t* in, std::ptrdiff_t stride,
                                                                int taps, const std::int32_t* khi,
                                                                const std::int32_t* klo, std::uint8_t* out) {
  __m256i h = _mm256_setzero_si256(), l = _mm256_set1_epi32(std::int32_t{1} << (resample_precision_bits - 1));
  for (int t = 0; t < taps; t += 2, in += 2 * stride) {
    const __m128i ra = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(in));
    const __m128i rb =
        t + 1 < taps ? _mm_loadl_epi64(reinterpret_cast<const __m128i*>(in + stride)) : _mm_setzero_si128();
    const __m256i x = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(ra, rb));  // columns 0-3 | 4-7
    h = _mm256_add_epi32(h, _mm256_madd_epi16(x, _mm256_set1_epi32(khi[t / 2])));
    l = _mm256_add_epi32(l, _mm256_madd_epi16(x, _mm256_set1_epi32(klo[t / 2])));
  }
  const __m256i s = combine_split(h, l);
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packus_epi16(w, w));
}

// Vertical pass: 32 columns per step, then 8, and a last 8 that overlaps the
// step before it (it rewrites the same bytes); under 8 columns is scalar.
inline void resample_columns_avx2(const std::uint8_t* src, std::ptrdiff_t src_stride, std::size_t n, int row0,
                                  const resample_axis& ax, image_view<std::uint8_t> dst) {
  for (int yy = 0; yy < ax.out_size; ++yy) {
    const std::int32_t* khi = &ax.vcoeffs_hi[std::size_t(yy) * std::size_t(ax.vtap_pairs)];
    const std::int32_t* klo = &ax.vcoeffs_lo[std::size_t(yy) * std::size_t(ax.vtap_pairs)];
    const std::uint8_t* base = src + std::ptrdiff_t(ax.first[std::size_t(yy)] - row0) * src_stride;
    const int taps = ax.count[std::size_t(yy)];
    std::uint8_t* out = dst.row(yy);
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) columns_block32_avx2(base + i, src_stride, taps, khi, klo, out + i);
    for (; i + 8 <= n; i += 8) columns_block8_avx2(base + i, src_stride, taps, khi, klo, out + i);
    if (i < n && n >= 8) {
      columns_block8_avx2(base + n - 8, src_stride, taps, khi, klo, out + n - 8);
    } else {
      const std::int32_t* k = &ax.coeffs[std::size_t(yy) * std::size_t(ax.taps)];
      for (; i < n; ++i) {
        std::int32_t a = std::int32_t{1} << (resample_precision_bits - 1);
        for (int t = 0; t < taps; ++t) a += std::int32_t(base[t * src_stride + std::ptrdiff_t(i)]) * k[t];
        out[i] = clip_fixed(a);
      }
    }
  }
}
#endif  // WDS_X86_AVX2

template <int C>
void resample_rows(image_view<const std::uint8_t> src, int y0, int rows, const resample_axis& ax,
                   std::uint8_t* dst, std::ptrdiff_t dst_stride, std::vector<std::uint8_t>& tile, bool simd) {
#if WDS_X86_AVX2
  if (simd && src.x_step() == C && !ax.pair_tables[0].pairs.empty() && cpu_has_avx2())
    return resample_rows_avx2_pairs<C>(src, y0, rows, ax, dst, dst_stride);
#else
  (void)simd;
#endif
  if (src.x_step() == C && rows >= 8)
    resample_rows_tiled<C>(src, y0, rows, ax, dst, dst_stride, tile);
  else if (src.x_step() == C)
    resample_rows_impl<C, C>(src, y0, rows, ax, dst, dst_stride);
  else
    resample_rows_impl<C, 0>(src, y0, rows, ax, dst, dst_stride);
}

// Vertical pass: dst row yy = sum of src rows (first[yy] - row0 ...) * k.
// Integer sums are order-independent, so taps go in the outer loop and each
// row is a straight multiply-accumulate the compiler vectorizes.
inline void resample_columns(const std::uint8_t* src, std::ptrdiff_t src_stride,
                             std::ptrdiff_t src_x_step, int channels, int width, int row0,
                             const resample_axis& ax, image_view<std::uint8_t> dst,
                             std::vector<std::int32_t>& acc, bool simd) {
  const std::size_t n = std::size_t(width) * std::size_t(channels);
  const bool packed = src_x_step == channels;
#if WDS_X86_AVX2
  if (simd && packed && ax.vtap_pairs > 0 && cpu_has_avx2())
    return resample_columns_avx2(src, src_stride, n, row0, ax, dst);
#else
  (void)simd;
#endif
  for (int yy = 0; yy < ax.out_size; ++yy) {
    const std::int32_t* k = &ax.coeffs[std::size_t(yy) * std::size_t(ax.taps)];
    const int y_first = ax.first[std::size_t(yy)] - row0;
    const int taps = ax.count[std::size_t(yy)];
    if (!packed) acc.resize(n);
    std::uint8_t* out = dst.row(yy);
    if (packed) {
      // Fixed-size blocks in a local array: no aliasing, a constant trip
      // count, so even -O2's cheap vectorizer turns this into SIMD.
      constexpr std::size_t block = 64;
      std::size_t i0 = 0;
      for (; i0 + block <= n; i0 += block) {
        std::int32_t a[block];
        for (std::size_t i = 0; i < block; ++i) a[i] = std::int32_t{1} << (resample_precision_bits - 1);
        for (int t = 0; t < taps; ++t) {
          const std::uint8_t* in = src + (y_first + t) * src_stride + i0;
          const std::int32_t w = k[t];
          for (std::size_t i = 0; i < block; ++i) a[i] += std::int32_t(in[i]) * w;
        }
        for (std::size_t i = 0; i < block; ++i) out[i0 + i] = clip_fixed(a[i]);
      }
      for (std::size_t i = i0; i < n; ++i) {
        std::int32_t a = std::int32_t{1} << (resample_precision_bits - 1);
        for (int t = 0; t < taps; ++t) a += std::int32_t(src[(y_first + t) * src_stride + std::ptrdiff_t(i)]) * k[t];
        out[i] = clip_fixed(a);
      }
      continue;
    }
    std::int32_t* a = acc.data();
    std::fill(a, a + n, std::int32_t{1} << (resample_precision_bits - 1));
    for (int t = 0; t < taps; ++t) {
      const std::uint8_t* in = src + (y_first + t) * src_stride;
      const std::int32_t w = k[t];
      for (int x = 0; x < width; ++x)
        for (int c = 0; c < channels; ++c)
          a[std::size_t(x) * std::size_t(channels) + std::size_t(c)] += std::int32_t(in[x * src_x_step + c]) * w;
    }
    for (std::size_t i = 0; i < n; ++i) out[i] = clip_fixed(a[i]);
  }
}

// Pillow's 32-bit paths (modes I and F): double weights, sums in tap order
// from 0.0; I rounds half away from zero (ROUND_UP), F stores the double as
// float. Every product is rounded before the add (no FMA), as in Pillow.
template <class T>
T store_32bpc(double ss) noexcept {
  if constexpr (std::is_same_v<T, float>) {
    return static_cast<float>(ss);
  } else {
    const double r = ss >= 0.0 ? ss + double(0.5f) : ss - double(0.5f);
    // (int) of a double out of range is undefined in C; x86 gives INT_MIN.
    if (!(r > -2147483649.0 && r < 2147483648.0)) return std::numeric_limits<std::int32_t>::min();
    return static_cast<std::int32_t>(r);
  }
}

template <class T>
void resample_rows_32bpc(image_view<const T> src, int y0, int rows, const resample_axis& ax, T* dst,
                         std::ptrdiff_t dst_stride) {
  const int c_n = src.channels();
  const std::size_t taps = std::size_t(ax.taps);
  for (int y = 0; y < rows; ++y) {
    const T* in = src.row(y0 + y);
    T* out = dst + y * dst_stride;
    for (int xx = 0; xx < ax.out_size; ++xx) {
      const double* k = &ax.weights[std::size_t(xx) * taps];
      const int n = ax.count[std::size_t(xx)];
      const T* p = in + ax.first[std::size_t(xx)] * src.x_step();
      for (int c = 0; c < c_n; ++c) {
        double ss = 0.0;
        for (int x = 0; x < n; ++x) ss += rounded_mul(double(p[x * src.x_step() + c]), k[x]);
        out[xx * c_n + c] = store_32bpc<T>(ss);
      }
    }
  }
}

template <class T>
void resample_columns_32bpc(const T* src, std::ptrdiff_t src_stride, std::ptrdiff_t src_x_step,
                            int channels, int width, int row0, const resample_axis& ax,
                            image_view<T> dst) {
  const std::size_t taps = std::size_t(ax.taps);
  for (int yy = 0; yy < ax.out_size; ++yy) {
    const double* k = &ax.weights[std::size_t(yy) * taps];
    const int y_first = ax.first[std::size_t(yy)] - row0;
    const int n = ax.count[std::size_t(yy)];
    T* out = dst.row(yy);
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        double ss = 0.0;
        for (int t = 0; t < n; ++t)
          ss += rounded_mul(double(src[(y_first + t) * src_stride + x * src_x_step + c]), k[t]);
        out[x * channels + c] = store_32bpc<T>(ss);
      }
  }
}

#if WDS_X86_AVX2
// Pillow's premultiply of one packed LA (C = 2) or RGBA row, 8 or 16 pixels
// per step, in 16-bit lanes: t = v * a + 128 <= 65153, (t + (t >> 8)) >> 8
// as the scalar code (no sum passes 65535). Returns the pixels done.
template <int C>
__attribute__((target("avx2"))) inline int premultiply_row_avx2(const std::uint8_t* in, std::uint8_t* out, int width) {
  static_assert(C == 2 || C == 4, "LA or RGBA");
  // The alpha word of each pixel into all of its words; alpha words kept.
  const __m256i spread = C == 4 ? _mm256_setr_epi8(6, 7, 6, 7, 6, 7, 6, 7, 14, 15, 14, 15, 14, 15, 14, 15,  //
                                                   6, 7, 6, 7, 6, 7, 6, 7, 14, 15, 14, 15, 14, 15, 14, 15)
                                : _mm256_setr_epi8(2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15,  //
                                                   2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15);
  constexpr int keep = C == 4 ? 0x88 : 0xAA;
  const __m256i zero = _mm256_setzero_si256(), half = _mm256_set1_epi16(128);
  auto mul = [&](__m256i v) __attribute__((target("avx2"))) {
    const __m256i t = _mm256_add_epi16(_mm256_mullo_epi16(v, _mm256_shuffle_epi8(v, spread)), half);
    return _mm256_blend_epi16(_mm256_srli_epi16(_mm256_add_epi16(t, _mm256_srli_epi16(t, 8)), 8), v, keep);
  };
  constexpr int per = 32 / C;
  int x = 0;
  for (; x + per <= width; x += per) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + x * C));
    const __m256i lo = mul(_mm256_unpacklo_epi8(v, zero)), hi = mul(_mm256_unpackhi_epi8(v, zero));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + x * C), _mm256_packus_epi16(lo, hi));
  }
  return x;
}
#endif

// Pillow resizes LA/RGBA premultiplied (convert to La/RGBa and back).
inline void premultiply(image_view<const std::uint8_t> src, image<std::uint8_t>& out, bool simd) {
  const int c = src.channels();
  for (int y = 0; y < src.height(); ++y) {
    std::uint8_t* o = out.row(y);
    int x0 = 0;
#if WDS_X86_AVX2
    if (simd && src.x_step() == c && cpu_has_avx2())
      x0 = c == 4 ? premultiply_row_avx2<4>(src.row(y), o, src.width()) : premultiply_row_avx2<2>(src.row(y), o, src.width());
#else
    (void)simd;
#endif
    for (int x = x0; x < src.width(); ++x) {
      const std::uint8_t* p = src.pixel(x, y);
      const unsigned alpha = p[c - 1];
      for (int i = 0; i < c - 1; ++i) {
        const unsigned t = unsigned(p[i]) * alpha + 128;
        o[x * c + i] = std::uint8_t(((t >> 8) + t) >> 8);
      }
      o[x * c + c - 1] = std::uint8_t(alpha);
    }
  }
}
}  // namespace detail

// Coefficient tables for one (input size, output size, filter): build once,
// apply to many images of that size. Applying is const and thread-safe when
// each thread passes its own scratch (or uses the overload that makes one).
class resize_plan {
 public:
  struct scratch {
    image<std::uint8_t> premultiplied;
    std::vector<std::uint8_t> rows;
    std::vector<std::uint8_t> tile;
    std::vector<std::int32_t> acc;
    // false: the portable scalar kernels even where AVX2 is available (the
    // tests check that both give the same bytes).
    bool simd = true;
  };

  resize_plan() = default;
  resize_plan(int in_width, int in_height, int out_width, int out_height, resample_filter f)
      : in_w_(in_width), in_h_(in_height), out_w_(out_width), out_h_(out_height), filter_(f) {
    if (in_width < 1 || in_height < 1 || out_width < 1 || out_height < 1)
      detail::throw_resize_error(632, "resize: sizes must be >= 1");
    if (f == resample_filter::nearest) {
      x_index_ = nearest_indices(in_width, out_width);
      y_index_ = nearest_indices(in_height, out_height);
    } else {
      // Pillow only resamples an axis whose size changes.
      if (out_width != in_width) {
        horizontal_ = resample_axis(in_width, out_width, f);
#if WDS_X86_AVX2
        if (detail::cpu_has_avx2()) horizontal_.build_pairs();
#endif
      }
      if (out_height != in_height) {
        vertical_ = resample_axis(in_height, out_height, f);
#if WDS_X86_AVX2
        if (detail::cpu_has_avx2()) vertical_.build_vertical_pairs();
#endif
      }
    }
  }

  int in_width() const noexcept { return in_w_; }
  int in_height() const noexcept { return in_h_; }
  int out_width() const noexcept { return out_w_; }
  int out_height() const noexcept { return out_h_; }
  resample_filter filter() const noexcept { return filter_; }

  // Resizes src (in_width x in_height, any channel count 1-4) into a new
  // image. src.mode() decides premultiplication (LA, RGBA), as in Pillow.
  image<std::uint8_t> operator()(image_view<const std::uint8_t> src) const {
    scratch s;
    return (*this)(src, s);
  }
  image<std::uint8_t> operator()(image_view<const std::uint8_t> src, scratch& s) const {
    image<std::uint8_t> out(out_w_, out_h_, src.channels());
    if (src.has_mode()) out.set_mode(src.mode());
    run(src, out.view(), s);
    return out;
  }

  // Modes I (int32) and F (float): Pillow's 32-bit resampler (double weights;
  // I rounds half away from zero). Bit-exact too.
  image<std::int32_t> operator()(image_view<const std::int32_t> src) const { return run_32bpc_new(src); }
  image<float> operator()(image_view<const float> src) const { return run_32bpc_new(src); }

  // Writes into a caller-provided destination of out_width x out_height.
  void run(image_view<const std::uint8_t> src, image_view<std::uint8_t> dst, scratch& s) const {
    if (src.width() != in_w_ || src.height() != in_h_)
      detail::throw_resize_error(634, "resize: image size differs from the plan's input size");
    if (dst.width() != out_w_ || dst.height() != out_h_ || dst.channels() != src.channels() ||
        !dst.rows_packed())
      detail::throw_resize_error(635, "resize: bad destination view");
    const int c = src.channels();
    if (c < 1 || c > 4) detail::throw_resize_error(636, "resize: 1 to 4 channels supported");
    if (in_w_ == out_w_ && in_h_ == out_h_) {  // Pillow returns a copy, untouched
      for (int y = 0; y < out_h_; ++y)
        for (int x = 0; x < out_w_; ++x)
          for (int k = 0; k < c; ++k) dst(x, y, k) = src(x, y, k);
      return;
    }
    if (filter_ == resample_filter::nearest) return run_nearest<std::uint8_t>(src, dst);
    const pixel_mode m = src.mode();
    const bool premul = (m == pixel_mode::rgba && c == 4) || (m == pixel_mode::la && c == 2);
    if (premul) {
      if (s.premultiplied.width() != in_w_ || s.premultiplied.height() != in_h_ ||
          s.premultiplied.channels() != c)
        s.premultiplied = image<std::uint8_t>(in_w_, in_h_, c);
      detail::premultiply(src, s.premultiplied, s.simd);
      src = s.premultiplied.view();
    }
    run_separable(src, dst, s);
    if (premul) unpremultiply_view(dst, s.simd);
  }

 private:
  // Pillow's 255 * v / alpha, clipped; simd: the same quotient as
  // (255 * v * m) >> 32 with m = 2^32 / alpha + 1, exact for 255 * v < 2^16
  // (the error term 255 * v * (m * alpha - 2^32) / 2^32 stays below 1 / alpha).
  static void unpremultiply_view(image_view<std::uint8_t> dst, bool fast) {
    static const auto reciprocal = [] {
      std::vector<std::uint64_t> m(256, 0);
      for (unsigned a = 1; a < 256; ++a) m[a] = (std::uint64_t{1} << 32) / a + 1;
      return m;
    }();
    const int c = dst.channels();
    for (int y = 0; y < dst.height(); ++y) {
      std::uint8_t* p = dst.row(y);
      for (int x = 0; x < dst.width(); ++x, p += c) {
        const unsigned alpha = p[c - 1];
        if (alpha == 255 || alpha == 0) continue;
        for (int j = 0; j < c - 1; ++j) {
          const unsigned v = fast ? unsigned((255u * p[j] * reciprocal[alpha]) >> 32) : (255u * p[j]) / alpha;
          p[j] = std::uint8_t(v > 255 ? 255 : v);
        }
      }
    }
  }

  template <class T>
  void run_nearest(image_view<const T> src, image_view<T> dst) const {
    const int c = src.channels();
    for (int y = 0; y < out_h_; ++y) {
      T* out = dst.row(y);
      const int sy = y_index_[std::size_t(y)];
      if (sy < 0) {
        std::fill(out, out + std::size_t(out_w_) * std::size_t(c), T(0));
        continue;
      }
      for (int x = 0; x < out_w_; ++x) {
        const int sx = x_index_[std::size_t(x)];
        for (int k = 0; k < c; ++k) out[x * c + k] = sx < 0 ? T(0) : src(sx, sy, k);
      }
    }
  }

  template <class T>
  void run_32bpc(image_view<const T> src, image_view<T> dst, std::vector<T>& rows_buf) const {
    const int c = src.channels();
    if (in_w_ == out_w_ && in_h_ == out_h_) {
      for (int y = 0; y < out_h_; ++y)
        for (int x = 0; x < out_w_; ++x)
          for (int k = 0; k < c; ++k) dst(x, y, k) = src(x, y, k);
      return;
    }
    if (filter_ == resample_filter::nearest) return run_nearest(src, dst);
    const bool need_h = !horizontal_.weights.empty();
    const bool need_v = !vertical_.weights.empty();
    if (!need_h) {
      detail::resample_columns_32bpc(src.origin(), src.y_step(), src.x_step(), c, in_w_, 0, vertical_, dst);
      return;
    }
    int row0 = 0, rows = in_h_;
    if (need_v) {
      row0 = vertical_.first.front();
      rows = vertical_.first.back() + vertical_.count.back() - row0;
    }
    if (!need_v) {
      detail::resample_rows_32bpc(src, 0, rows, horizontal_, dst.origin(), dst.y_step());
      return;
    }
    const std::ptrdiff_t stride = std::ptrdiff_t(out_w_) * c;
    rows_buf.resize(std::size_t(rows) * std::size_t(stride));
    detail::resample_rows_32bpc(src, row0, rows, horizontal_, rows_buf.data(), stride);
    detail::resample_columns_32bpc<T>(rows_buf.data(), stride, c, c, out_w_, row0, vertical_, dst);
  }

  template <class T>
  image<T> run_32bpc_new(image_view<const T> src) const {
    if (src.width() != in_w_ || src.height() != in_h_)
      detail::throw_resize_error(634, "resize: image size differs from the plan's input size");
    if (src.channels() < 1 || src.channels() > 4)
      detail::throw_resize_error(636, "resize: 1 to 4 channels supported");
    image<T> out(out_w_, out_h_, src.channels());
    if (src.has_mode()) out.set_mode(src.mode());
    std::vector<T> buf;
    run_32bpc(src, out.view(), buf);
    return out;
  }

  void run_separable(image_view<const std::uint8_t> src, image_view<std::uint8_t> dst,
                     scratch& s) const {
    const int c = src.channels();
    const bool need_h = !horizontal_.coeffs.empty();
    const bool need_v = !vertical_.coeffs.empty();
    if (!need_h) {
      detail::resample_columns(src.origin(), src.y_step(), src.x_step(), c, in_w_, 0, vertical_,
                               dst, s.acc, s.simd);
      return;
    }
    // Only the source rows the vertical pass reads are resampled horizontally.
    int row0 = 0, rows = in_h_;
    if (need_v) {
      row0 = vertical_.first.front();
      rows = vertical_.first.back() + vertical_.count.back() - row0;
    }
    std::uint8_t* tmp;
    std::ptrdiff_t tmp_stride = std::ptrdiff_t(out_w_) * c;
    if (need_v) {
      s.rows.resize(std::size_t(rows) * std::size_t(tmp_stride));
      tmp = s.rows.data();
    } else {
      tmp = dst.origin();
      tmp_stride = dst.y_step();
    }
    switch (c) {
      case 1: detail::resample_rows<1>(src, row0, rows, horizontal_, tmp, tmp_stride, s.tile, s.simd); break;
      case 2: detail::resample_rows<2>(src, row0, rows, horizontal_, tmp, tmp_stride, s.tile, s.simd); break;
      case 3: detail::resample_rows<3>(src, row0, rows, horizontal_, tmp, tmp_stride, s.tile, s.simd); break;
      default: detail::resample_rows<4>(src, row0, rows, horizontal_, tmp, tmp_stride, s.tile, s.simd); break;
    }
    if (need_v)
      detail::resample_columns(tmp, tmp_stride, c, c, out_w_, row0, vertical_, dst, s.acc, s.simd);
  }

  int in_w_ = 0, in_h_ = 0, out_w_ = 0, out_h_ = 0;
  resample_filter filter_ = resample_filter::bilinear;
  resample_axis horizontal_, vertical_;
  std::vector<int> x_index_, y_index_;
};

// One-shot Pillow Image.resize((width, height), filter).
inline image<std::uint8_t> resize(image_view<const std::uint8_t> src, int width, int height,
                                  resample_filter f = resample_filter::bilinear) {
  if (src.width() == width && src.height() == height) return materialize(src);
  return resize_plan(src.width(), src.height(), width, height, f)(src);
}

inline image<std::int32_t> resize(image_view<const std::int32_t> src, int width, int height,
                                  resample_filter f = resample_filter::bilinear) {
  return resize_plan(src.width(), src.height(), width, height, f)(src);
}
inline image<float> resize(image_view<const float> src, int width, int height,
                           resample_filter f = resample_filter::bilinear) {
  return resize_plan(src.width(), src.height(), width, height, f)(src);
}

// Any decoded image (an any_image exactly): 8-bit modes, I and F as Pillow
// resizes them. I;16 is not supported (Pillow 9.4 refuses it for all filters
// but NEAREST, which takes a different generic path): spec_error 649.
template <class A, std::enable_if_t<std::is_same_v<A, any_image>, int> = 0>
any_image resize(const A& src, int width, int height, resample_filter f = resample_filter::bilinear) {
  return std::visit(
      [&](const auto& im) -> any_image {
        using T = typename std::decay_t<decltype(im)>::value_type;
        if constexpr (std::is_same_v<T, std::uint16_t>) {
          detail::throw_resize_error(649, "resize: I;16 images are not supported (convert to I first)");
        } else {
          return resize(image_view<const T>(im.view()), width, height, f);
        }
      },
      src);
}

struct image_size {
  int height = 0;
  int width = 0;
  friend bool operator==(image_size a, image_size b) noexcept {
    return a.height == b.height && a.width == b.width;
  }
  friend bool operator!=(image_size a, image_size b) noexcept { return !(a == b); }
};

// torchvision 0.14 Resize(size: int, max_size) output size: the shorter side
// becomes `size`, the longer is scaled and truncated (int(size * long /
// short)); with max_size the longer side is capped and the shorter scaled
// down the same way. Throws spec_error 630 when max_size <= size.
// Python: int(size * long / short), int*int exact and / correctly rounded.
inline image_size resized_size(int height, int width, int size,
                               std::optional<int> max_size = std::nullopt) {
  if (height < 1 || width < 1 || size < 1)
    throw spec_error(631, location{}, "resize: sizes must be >= 1");
  const bool w_short = width <= height;
  const long long shorter = w_short ? width : height, longer = w_short ? height : width;
  long long new_short = size;
  // Python: int(requested * long / short); int*int is exact, / is correctly rounded.
  long long new_long = static_cast<long long>(double(size * longer) / double(shorter));
  if (max_size) {
    if (*max_size <= size)
      throw spec_error(630, location{}, "resize: max_size must be greater than size");
    if (new_long > *max_size) {
      new_short = static_cast<long long>(double(*max_size * new_short) / double(new_long));
      new_long = *max_size;
    }
  }
  // A side may come out 0 (1x500 -> size 1, max_size 300): torchvision
  // passes that on and PIL's resize then fails; resizing to it throws 632.
  if (new_long > (1 << 30)) throw spec_error(631, location{}, "resize: output size out of range");
  return w_short ? image_size{int(new_long), int(new_short)} : image_size{int(new_short), int(new_long)};
}

WDS_NAMESPACE_END
