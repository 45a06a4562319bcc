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

namespace wds {
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
}  // namespace config
}  // namespace wds
