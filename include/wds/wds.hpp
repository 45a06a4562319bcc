// wds: header-only WebDataset reader/writer and image transforms.
// SPDX-License-Identifier: MIT
//
// Umbrella header: the core (standard library only) plus every codec the build
// enabled (WDS_HAS_ZLIB / WDS_HAS_JPEG / WDS_HAS_PNG). The AIStore server
// (wds/ais.hpp, needs cpp-httplib) is included separately.
#ifndef WDS_WDS_HPP
#define WDS_WDS_HPP

#include <wds/config.hpp>
#include <wds/error.hpp>
#include <wds/limits.hpp>
#include <wds/io.hpp>
#include <wds/tar.hpp>
#include <wds/sample.hpp>
#include <wds/open.hpp>

#endif  // WDS_WDS_HPP
