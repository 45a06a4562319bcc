// wds: header-only WebDataset reader/writer and image transforms.
// SPDX-License-Identifier: MIT
#pragma once

// Version of this header set; bumped on every release (see CHANGELOG.md).
#define WDS_VERSION_MAJOR 0
#define WDS_VERSION_MINOR 1
#define WDS_VERSION_PATCH 0

// Optional codecs: set to 1 by the build system (CMake target, meson dependency,
// pkg-config Cflags) when the library is linked. Never auto-detected, so every
// translation unit of a program sees the same configuration.
#ifndef WDS_HAS_ZLIB
#define WDS_HAS_ZLIB 0
#endif
#ifndef WDS_HAS_BZIP2
#define WDS_HAS_BZIP2 0
#endif
#ifndef WDS_HAS_LZMA
#define WDS_HAS_LZMA 0
#endif
#ifndef WDS_HAS_ZSTD
#define WDS_HAS_ZSTD 0
#endif
#ifndef WDS_HAS_JPEG
#define WDS_HAS_JPEG 0
#endif
#ifndef WDS_HAS_PNG
#define WDS_HAS_PNG 0
#endif
// wds::http (wds/http.hpp, wds/ais.hpp): Boost.Beast + Boost.URL; OpenSSL
// for https:// and TLS to AIStore targets.
#ifndef WDS_HAS_HTTP
#define WDS_HAS_HTTP 0
#endif
#ifndef WDS_HAS_OPENSSL
#define WDS_HAS_OPENSSL 0
#endif
// ISA-L's igzip inflates gzip shards (2-3x zlib); zlib still writes them, so
// output bytes do not change. Only with WDS_HAS_ZLIB.
#ifndef WDS_HAS_ISAL
#define WDS_HAS_ISAL 0
#endif
// libdeflate compresses png_options::fast images that are not mostly runs
// (about 1.8x zlib's speed on photos); only with WDS_HAS_ZLIB and WDS_HAS_PNG.
#ifndef WDS_HAS_LIBDEFLATE
#define WDS_HAS_LIBDEFLATE 0
#endif
// 1: wds/url.hpp does not include wds/http.hpp, so translation units that only
// read local shards skip Boost.Beast; one TU of the program includes
// wds/http.hpp (or wds/ais.hpp), which installs the client for http(s)://
// and ais:// URLs. Use the same value in every TU of a program.
#ifndef WDS_HTTP_SEPARATE
#define WDS_HTTP_SEPARATE 0
#endif

// The configuration is part of the ABI, the nlohmann/json way: everything
// lives in an inline namespace named after the version and the feature set,
// e.g. wds::v0_1_0_zlib1_bz1_lzma1_zstd1_jpeg1_png1_http0_ssl0_isal1_deflate1, so two
// translation units built with different WDS_HAS_* values cannot exchange
// wds types: the link fails with both names spelled out. Headers open it with
// WDS_NAMESPACE_BEGIN / WDS_NAMESPACE_END (CTest wds.abi.headers_use_namespace_macros).
#if WDS_HAS_ZLIB
#define WDS_ABI_ZLIB_ 1
#else
#define WDS_ABI_ZLIB_ 0
#endif
#if WDS_HAS_BZIP2
#define WDS_ABI_BZIP2_ 1
#else
#define WDS_ABI_BZIP2_ 0
#endif
#if WDS_HAS_LZMA
#define WDS_ABI_LZMA_ 1
#else
#define WDS_ABI_LZMA_ 0
#endif
#if WDS_HAS_ZSTD
#define WDS_ABI_ZSTD_ 1
#else
#define WDS_ABI_ZSTD_ 0
#endif
#if WDS_HAS_JPEG
#define WDS_ABI_JPEG_ 1
#else
#define WDS_ABI_JPEG_ 0
#endif
#if WDS_HAS_PNG
#define WDS_ABI_PNG_ 1
#else
#define WDS_ABI_PNG_ 0
#endif
#if WDS_HAS_HTTP
#define WDS_ABI_HTTP_ 1
#else
#define WDS_ABI_HTTP_ 0
#endif
#if WDS_HAS_OPENSSL
#define WDS_ABI_SSL_ 1
#else
#define WDS_ABI_SSL_ 0
#endif
#if WDS_HAS_ISAL && WDS_HAS_ZLIB
#define WDS_ABI_ISAL_ 1
#else
#define WDS_ABI_ISAL_ 0
#endif
#if WDS_HAS_LIBDEFLATE && WDS_HAS_ZLIB && WDS_HAS_PNG
#define WDS_ABI_DEFLATE_ 1
#else
#define WDS_ABI_DEFLATE_ 0
#endif
#define WDS_ABI_NAME_EX_(ma, mi, pa, z, b, l, zs, j, p, h, s, i, d) \
  v##ma##_##mi##_##pa##_zlib##z##_bz##b##_lzma##l##_zstd##zs##_jpeg##j##_png##p##_http##h##_ssl##s##_isal##i##_deflate##d
#define WDS_ABI_NAME_(ma, mi, pa, z, b, l, zs, j, p, h, s, i, d) \
  WDS_ABI_NAME_EX_(ma, mi, pa, z, b, l, zs, j, p, h, s, i, d)
#define WDS_ABI_NAMESPACE                                                                         \
  WDS_ABI_NAME_(WDS_VERSION_MAJOR, WDS_VERSION_MINOR, WDS_VERSION_PATCH, WDS_ABI_ZLIB_, WDS_ABI_BZIP2_, \
                WDS_ABI_LZMA_, WDS_ABI_ZSTD_, WDS_ABI_JPEG_, WDS_ABI_PNG_, WDS_ABI_HTTP_, WDS_ABI_SSL_, WDS_ABI_ISAL_, \
                WDS_ABI_DEFLATE_)
#define WDS_NAMESPACE_BEGIN \
  namespace wds {           \
  inline namespace WDS_ABI_NAMESPACE {
#define WDS_NAMESPACE_END \
  }                       \
  }

// AVX2 kernels (resize, PNG's Adler-32) are compiled with a target attribute
// and chosen at run time (detail::cpu_has_avx2), so the build flags stay
// baseline x86-64.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WDS_X86_AVX2 1
#else
#define WDS_X86_AVX2 0
#endif

WDS_NAMESPACE_BEGIN
namespace detail {
inline bool cpu_has_avx2() noexcept {
#if WDS_X86_AVX2
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
#else
  return false;
#endif
}
}  // namespace detail
namespace config {
inline constexpr int version_major = WDS_VERSION_MAJOR;
inline constexpr int version_minor = WDS_VERSION_MINOR;
inline constexpr int version_patch = WDS_VERSION_PATCH;
inline constexpr bool has_zlib = WDS_HAS_ZLIB != 0;
inline constexpr bool has_bzip2 = WDS_HAS_BZIP2 != 0;
inline constexpr bool has_lzma = WDS_HAS_LZMA != 0;
inline constexpr bool has_zstd = WDS_HAS_ZSTD != 0;
inline constexpr bool has_jpeg = WDS_HAS_JPEG != 0;
inline constexpr bool has_png = WDS_HAS_PNG != 0;
inline constexpr bool has_http = WDS_HAS_HTTP != 0;
inline constexpr bool has_openssl = WDS_HAS_OPENSSL != 0;
inline constexpr bool has_isal = WDS_ABI_ISAL_ != 0;  // gzip input through ISA-L
inline constexpr bool has_libdeflate = WDS_ABI_DEFLATE_ != 0;  // png_options::fast through libdeflate
}  // namespace config
WDS_NAMESPACE_END
