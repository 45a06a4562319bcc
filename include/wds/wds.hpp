// wds: header-only WebDataset reader/writer and image transforms.
// SPDX-License-Identifier: MIT
//
// Umbrella header: the core (standard library only) plus every codec the build
// enabled (WDS_HAS_ZLIB / BZIP2 / LZMA / ZSTD / JPEG / PNG). The AIStore server
// (wds/ais.hpp and wds/http.hpp, need Boost.Beast and Boost.URL) is included separately.
#ifndef WDS_WDS_HPP
#define WDS_WDS_HPP

#include <wds/config.hpp>
#include <wds/error.hpp>
#include <wds/limits.hpp>

// Bytes, tar, samples.
#include <wds/io.hpp>
#include <wds/tar.hpp>
#include <wds/sample.hpp>
#include <wds/open.hpp>
#include <wds/pipeline.hpp>

// Pixels and tensors.
#include <wds/image.hpp>
#include <wds/tensor.hpp>
#include <wds/convert.hpp>
#include <wds/resize.hpp>
#include <wds/transforms.hpp>
#include <wds/npy.hpp>
#include <wds/tenbin.hpp>
#include <wds/json.hpp>
#include <wds/fields.hpp>

// Codecs, as built.
#if WDS_HAS_JPEG
#include <wds/codec/jpeg.hpp>
#endif
#if WDS_HAS_PNG
#include <wds/codec/png.hpp>
#endif
#if WDS_HAS_JPEG || WDS_HAS_PNG
#include <wds/codec/decode.hpp>
#endif
#if WDS_HAS_ZLIB
#include <wds/codec/gzip_parallel.hpp>
#endif

// Loading for training: URLs, shard writing, indexes, datasets, random access.
#include <wds/url.hpp>
#include <wds/md5.hpp>
#include <wds/python_random.hpp>
#include <wds/index.hpp>
#include <wds/shard_writer.hpp>
#include <wds/pack.hpp>
#include <wds/shard_list.hpp>
#include <wds/dataset.hpp>
#include <wds/random_access.hpp>

// Run-time transform specs and the shard-to-shard ETL.
#include <wds/compose.hpp>
#include <wds/etl.hpp>

#endif  // WDS_WDS_HPP
