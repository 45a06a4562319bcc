// SPDX-License-Identifier: MIT
// `wds-etl serve`: the AIStore ETL container. Glue only: the HTTP contract is
// include/wds/ais.hpp, the shard transform include/wds/etl.hpp, the image
// pipelines include/wds/compose.hpp.
#include "commands.hpp"

#include <wds/ais.hpp>
#include <wds/compose.hpp>
#include <wds/etl.hpp>
#include <wds/json.hpp>
#include <wds/open.hpp>
#if WDS_HAS_ZLIB
#include <wds/codec/gzip.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace {

const char usage_text[] = R"(usage: wds-etl serve [options]
Runs the AIStore ETL web server on one port: GET /health, hpush (PUT), hpull (GET), etl_fqn,
etl_args, direct put and pipelines (Ais-Node-Url), WebSocket at /ws, POST /download.

What each object is transformed with (one of):
  (default)             the object is a WebDataset shard (.tar, or gzip): the reference pipeline,
  --map EXT=SPEC        ...or these wds::compose specs per field (repeatable), with
  --rename EXT=NEW      renamed exts (repeatable) and --on-error fail|skip (default fail)
  --spec SPEC           the object is one image/file: this wds::compose spec
  --transform JSON      the object is one image: torchvision_preprocess's TRANSFORM dict
                        (default: $TRANSFORM), saved as --format JPEG|PNG (default: $FORMAT or JPEG)
  --torchvision         the torchvision_preprocess drop-in: refuse to start without TRANSFORM
Server:
  --host ADDR           listen address (default 0.0.0.0)
  --port N              listen port (default 8000)
  --threads N           objects transformed at once (default max(8, 2 x cores))
  --max-connections N   open connections, HTTP and WebSocket (default 1024)
  --fqn-root DIR        etl_fqn must resolve inside DIR (default: any absolute path)
  --target-url URL      hpull source and direct-put prefix (default: $AIS_TARGET_URL)
  --memory-limit SIZE   per-object bytes kept in memory before spooling to a file (default 16M)
  --max-object-size SIZE  largest input or output object (default 1T)
  --temp-dir DIR        where spool files go (default: $TMPDIR or /tmp)
  --direct-put-retries N  retries of a failed direct put (default: $AIS_DIRECT_PUT_RETRIES or 3)
  --io-timeout SECONDS  a client connection making no progress is closed (default 30)
  --upstream-timeout SECONDS  same for hpull GETs and direct puts (default 300)
  --max-image-pixels N, --max-member-size SIZE   input limits (wds::limits)
Environment: AIS_TARGET_URL, AIS_AUTHN_TOKEN, AIS_DIRECT_PUT_RETRIES, AIS_SKIP_VERIFY_CRT,
AIS_CLIENT_CA, AIS_CRT, AIS_CRT_KEY, TRANSFORM, FORMAT, TMPDIR.
SIZE takes a K, M, G or T suffix (powers of 1024). SIGTERM/SIGINT: finish in-flight requests, exit 0.
)";

// Every option that takes a value (--torchvision and --help take none).
const std::string value_options[] = {
    "--host", "--port", "--threads", "--max-connections", "--io-timeout", "--upstream-timeout", "--fqn-root",
    "--target-url", "--memory-limit", "--max-object-size", "--temp-dir", "--direct-put-retries",
    "--max-image-pixels", "--max-member-size", "--map", "--rename", "--on-error", "--spec", "--transform",
    "--format"};

struct usage_error {
  std::string what;
};

std::uint64_t parse_size(const std::string& opt, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (end == v.c_str() || errno != 0 || v[0] == '-') throw usage_error{opt + ": not a size: " + v};
  unsigned shift = 0;
  if (*end) {
    switch (*end) {
      case 'K': case 'k': shift = 10; break;
      case 'M': case 'm': shift = 20; break;
      case 'G': case 'g': shift = 30; break;
      case 'T': case 't': shift = 40; break;
      default: throw usage_error{opt + ": not a size: " + v};
    }
    if (end[1] != '\0' && !(end[1] == 'B' && end[2] == '\0') && !(end[1] == 'i' && end[2] == 'B' && end[3] == '\0'))
      throw usage_error{opt + ": not a size: " + v};
  }
  if (shift && n > (~0ull >> shift)) throw usage_error{opt + ": too large: " + v};
  return n << shift;
}

std::pair<std::string, std::string> split_assignment(const std::string& opt, const std::string& v) {
  auto eq = v.find('=');
  if (eq == std::string::npos || eq == 0) throw usage_error{opt + " needs EXT=VALUE, got: " + v};
  return {v.substr(0, eq), v.substr(eq + 1)};
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// etl_args for shard mode: {"map": {"jpg": SPEC}, "rename": {"jpg": "webp"}, "on_error": "skip"}.
wds::etl::options shard_options_for(const wds::etl::options& base, const std::string& etl_args) {
  auto bad = [](const std::string& why) { return wds::server_error(924, {}, "etl_args: " + why, 400); };
  wds::json args;
  try {
    args = wds::json::parse(etl_args);
  } catch (const wds::error& e) {
    throw bad("not valid JSON: " + e.reason());
  }
  if (!args.is_object()) throw bad("must be a JSON object");
  wds::etl::options opt = base;
  for (const auto& [key, value] : args.as_object()) {
    if (key == "map") {
      if (!value.is_object()) throw bad("\"map\" must be an object {\"ext\": \"spec\"}");
      opt.maps.clear();
      for (const auto& [ext, spec] : value.as_object()) {
        if (!spec.is_string()) throw bad("\"map\" values must be spec strings");
        opt.maps.push_back({lower(ext), spec.as_string()});
      }
    } else if (key == "rename") {
      if (!value.is_object()) throw bad("\"rename\" must be an object {\"ext\": \"new_ext\"}");
      opt.renames.clear();
      for (const auto& [from, to] : value.as_object()) {
        if (!to.is_string()) throw bad("\"rename\" values must be strings");
        opt.renames.push_back({from, to.as_string()});
      }
    } else if (key == "on_error") {
      if (!value.is_string() || (value.as_string() != "fail" && value.as_string() != "skip"))
        throw bad("\"on_error\" must be \"fail\" or \"skip\"");
      opt.on_error = value.as_string() == "skip" ? wds::etl::error_policy::skip : wds::etl::error_policy::fail;
    } else {
      throw bad("unknown key \"" + key + "\" (map, rename, on_error)");
    }
  }
  return opt;
}

// Shard objects: tar in, tar out; a gzip-compressed object stays gzip-compressed.
wds::ais::transform_function shard_function(wds::etl::options base) {
  wds::etl::shard_transformer check(base);  // compiles --map specs now: errors before serving
  auto pool = std::make_shared<wds::ais::instance_pool<wds::etl::shard_transformer>>(
      [base] { return std::make_unique<wds::etl::shard_transformer>(base); });
  return [pool, base](wds::any_source& in, wds::any_sink& out, wds::ais::object_request& req) {
    std::array<std::byte, 2> magic{};
    std::size_t n = wds::read_full(in, magic.data(), magic.size());
    const bool gz = n == 2 && magic[0] == std::byte{0x1f} && magic[1] == std::byte{0x8b};
    wds::any_source src{wds::prefixed_source<wds::any_source>(std::move(in), magic.data(), n)};
    wds::any_sink dst = std::move(out);
    if (gz) {
#if WDS_HAS_ZLIB
      src = wds::any_source(wds::gzip_source<wds::any_source>(std::move(src), req.path, base.limits));
      dst = wds::any_sink(wds::gzip_sink<wds::any_sink>(std::move(dst)));
#else
      throw wds::io_error(115, {req.path, {}, 0}, "object is gzip-compressed but wds was built without zlib");
#endif
    }
    wds::etl::options named = base;
    named.shard_name = req.path;
    if (!req.etl_args.empty()) {
      wds::etl::shard_transformer once(shard_options_for(named, req.etl_args));
      once.run(src, dst);
      return;
    }
    pool->with([&](wds::etl::shard_transformer& t) { t.run(src, dst); });
  };
}

}  // namespace

int wds_etl_serve(int argc, char** argv) {
  wds::ais::server_options so = wds::ais::server_options::from_environment();
  wds::etl::options eo;
  std::string spec, transform, format;
  if (const char* t = std::getenv("TRANSFORM"); t && *t) transform = t;
  if (const char* f = std::getenv("FORMAT"); f && *f) format = f;
  bool shard_flags = false, format_flag = false, torchvision = false;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        std::fputs(usage_text, stdout);
        return 0;
      }
      if (a == "--torchvision") {
        torchvision = true;
        continue;
      }
      std::string v;
      const auto eq = a.find('=');
      const bool inline_value = a.rfind("--", 0) == 0 && eq != std::string::npos;
      if (inline_value) {
        v = a.substr(eq + 1);
        a = a.substr(0, eq);
      }
      if (std::find(std::begin(value_options), std::end(value_options), a) == std::end(value_options))
        throw usage_error{"unknown option " + a};
      if (!inline_value) {
        if (i + 1 >= argc) throw usage_error{"option " + a + " needs a value"};
        v = argv[++i];
      }
      auto number = [&](std::uint64_t max) {
        std::uint64_t n = parse_size(a, v);
        if (n > max) throw usage_error{a + ": too large: " + v};
        return n;
      };
      if (a == "--host") so.host = v;
      else if (a == "--port") so.port = static_cast<int>(number(65535));
      else if (a == "--threads") so.threads = static_cast<unsigned>(number(4096));
      else if (a == "--max-connections") so.max_connections = static_cast<unsigned>(number(1 << 20));
      else if (a == "--io-timeout") so.io_timeout = std::chrono::seconds(number(86400));
      else if (a == "--upstream-timeout") so.upstream_timeout = std::chrono::seconds(number(86400));
      else if (a == "--fqn-root") so.fqn_root = v;
      else if (a == "--target-url") so.target_url = v;
      else if (a == "--memory-limit") so.memory_limit = static_cast<std::size_t>(number(std::uint64_t{1} << 40));
      else if (a == "--max-object-size") so.max_object_size = number(~0ull);
      else if (a == "--temp-dir") so.temp_dir = v;
      else if (a == "--direct-put-retries") so.direct_put_retries = static_cast<unsigned>(number(100));
      else if (a == "--max-image-pixels") eo.limits.max_image_pixels = number(~0ull);
      else if (a == "--max-member-size") eo.limits.max_member_size = number(~0ull);
      else if (a == "--map") {
        auto [ext, s] = split_assignment(a, v);
        eo.maps.push_back({lower(ext), s});
        shard_flags = true;
      } else if (a == "--rename") {
        auto [from, to] = split_assignment(a, v);
        eo.renames.push_back({from, to});
        shard_flags = true;
      } else if (a == "--on-error") {
        if (v != "fail" && v != "skip") throw usage_error{"--on-error must be fail or skip"};
        eo.on_error = v == "skip" ? wds::etl::error_policy::skip : wds::etl::error_policy::fail;
        shard_flags = true;
      } else if (a == "--spec") spec = v;
      else if (a == "--transform") transform = v;
      else if (a == "--format") format = v, format_flag = true;
      else throw usage_error{"unknown option " + a};
    }
    if (!spec.empty() && !transform.empty()) throw usage_error{"--spec and --transform/TRANSFORM exclude each other"};
    if (shard_flags && (!spec.empty() || !transform.empty()))
      throw usage_error{"--map/--rename/--on-error are for shards; --spec/--transform for single objects"};
    if (format_flag && transform.empty()) throw usage_error{"--format goes with --transform (or TRANSFORM)"};
    if (torchvision && transform.empty())
      throw usage_error{"--torchvision needs TRANSFORM (or --transform), as torchvision_preprocess does"};
  } catch (const usage_error& e) {
    std::fprintf(stderr, "wds-etl serve: %s\nsee wds-etl serve --help\n", e.what.c_str());
    return 2;
  }

  try {
    // Request pipelines come from clients: hold them to the same pixel limits.
    auto compile = [&eo](const std::string& s) {
      return wds::compose(s, wds::pipeline_input::bytes, eo.limits);
    };
    wds::ais::transform_function fn;
    std::string mode;
    if (!transform.empty() || !spec.empty()) {
      if (!transform.empty()) {
        fn = wds::ais::torchvision_preprocess(transform, format.empty() ? "JPEG" : format, compile);
        mode = "torchvision_preprocess (TRANSFORM)";
      } else {
        fn = wds::ais::spec_objects(spec, compile);
        mode = "objects through " + spec;
      }
    } else {
      fn = shard_function(eo);
      mode = eo.maps.empty() ? "shards, reference pipeline" : "shards, --map";
    }
    wds::ais::server srv(std::move(fn), so);
    int port = srv.bind();
    std::fprintf(stderr, "wds-etl serve: listening on %s:%d (%s)\n", so.host.c_str(), port, mode.c_str());
    return wds::ais::serve_until_signal(srv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wds-etl serve: %s\n", wds::ais::one_line(e.what()).c_str());
    return 1;
  }
}
