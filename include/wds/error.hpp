// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

WDS_NAMESPACE_BEGIN

// Where in the input an error happened. Any part may be unknown.
struct location {
  static constexpr std::uint64_t unknown_offset = std::numeric_limits<std::uint64_t>::max();
  std::string shard;   // shard name or URL ("-" for stdin), empty when unknown
  std::string member;  // tar member name, empty when unknown
  std::uint64_t offset = unknown_offset;  // byte offset in the (uncompressed) shard
};

// Base of every exception wds throws. what() reads like
//   [wds.tar.203] "shard-000001.tar" member "0001.jpg" at byte 1536: bad header checksum
// Ids are stable and documented in README ("Errors"); ranges per category:
//   io 100-199, tar 200-299, sample 300-399, decode 400-499, limit 500-599,
//   spec 600-699, etl 800-899, server 900-999; decode 470-499 and limit
//   520-529 are the tensor/field parsers' (npy, tenbin, json, cls/txt).
class error : public std::runtime_error {
 public:
  error(std::string_view category, int id, location where, std::string_view reason)
      : std::runtime_error(format(category, id, where, reason)),
        id_(id),
        where_(std::move(where)),
        reason_(reason) {}

  int id() const noexcept { return id_; }
  const location& where() const noexcept { return where_; }
  const std::string& shard() const noexcept { return where_.shard; }
  const std::string& member() const noexcept { return where_.member; }
  std::uint64_t offset() const noexcept { return where_.offset; }
  // The bare reason, without id and location.
  const std::string& reason() const noexcept { return reason_; }

  static std::string format(std::string_view category, int id, const location& where,
                            std::string_view reason) {
    std::string s = "[wds.";
    s.append(category).append(".").append(std::to_string(id)).append("]");
    if (!where.shard.empty()) s.append(" \"").append(where.shard).append("\"");
    if (!where.member.empty()) s.append(" member \"").append(where.member).append("\"");
    if (where.offset != location::unknown_offset)
      s.append(" at byte ").append(std::to_string(where.offset));
    s.append(": ").append(reason);
    return s;
  }

 private:
  int id_;
  location where_;
  std::string reason_;
};

#define WDS_DEFINE_ERROR_(name, base, category)                          \
  class name : public base {                                             \
   public:                                                               \
    name(int id, location where, std::string_view reason)                \
        : base(category, id, std::move(where), reason) {}                \
                                                                         \
   protected:                                                            \
    name(std::string_view cat, int id, location where, std::string_view reason) \
        : base(cat, id, std::move(where), reason) {}                     \
  }

// Reading or writing bytes failed (open, read, write, rename, gzip stream).
WDS_DEFINE_ERROR_(io_error, error, "io");
// Malformed tar archive: checksum, number fields, pax records, truncation.
WDS_DEFINE_ERROR_(tar_error, error, "tar");
// Grouping rule violated (duplicate ext in a sample, missing required field).
WDS_DEFINE_ERROR_(sample_error, error, "sample");
// Corrupt or unsupported image/tensor payload.
WDS_DEFINE_ERROR_(decode_error, error, "decode");
// A configured limit (wds::limits) was exceeded; the input may be valid.
WDS_DEFINE_ERROR_(limit_error, decode_error, "limit");
// A bad transform spec or argument; offset is the position in the spec text.
WDS_DEFINE_ERROR_(spec_error, error, "spec");

#undef WDS_DEFINE_ERROR_

WDS_NAMESPACE_END
