// SPDX-License-Identifier: MIT
// wds-etl: command-line glue over wds/etl.hpp (see `wds-etl --help`).
#include "commands.hpp"

#ifndef WDS_ETL_HAS_SERVE  // set by examples/etl/CMakeLists.txt
#define WDS_ETL_HAS_SERVE 0
#endif

#include <wds/etl.hpp>
#include <wds/open.hpp>
#include <wds/pipeline.hpp>
#include <wds/sample.hpp>
#include <wds/url.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace {

// One usage text per subcommand: `wds-etl SUB --help` prints it (stdout, exit 0).
const char* const ls_usage =
    "usage: wds-etl ls [options] SHARD\n"
    "\n"
    "Prints one JSON line per sample: its key and its fields with their sizes in\n"
    "bytes, in tar order. SHARD may be '-' (stdin); gzip, bzip2, xz and zstd are\n"
    "detected by their magic bytes.\n"
    "\n"
    "options:\n"
    "  --allow-empty             a 0-byte SHARD is an empty shard (default: an error)\n"
    "  --max-member-size BYTES   refuse larger members (default 4G; k/M/G suffixes)\n"
    "  -h, --help                this text\n"
    "  -V, --version             the version\n";

const char* const pack_usage =
    "usage: wds-etl pack DIR -o 'out-%06d.tar' [options]\n"
    "\n"
    "Groups the files under DIR into samples (key = path relative to DIR up to the\n"
    "basename's first dot, members KEY.EXT), in byte-wise key order, and writes\n"
    "them as shards with webdataset ShardWriter's rules.\n"
    "\n"
    "options:\n"
    "  -o, --output PATTERN      shard names, printf-style (e.g. out-%06d.tar)\n"
    "  --maxcount N              samples per shard (default 100000)\n"
    "  --maxsize SIZE            bytes per shard as webdataset counts them (default 3e9)\n"
    "  --exact-size              count headers and padding: a shard never exceeds --maxsize\n"
    "  --index                   write a DALI .idx beside each shard\n"
    "  --wids FILE.json          write a wids JSON shard list\n"
    "  -h, --help                this text\n"
    "  -V, --version             the version\n";

const char* const index_usage =
    "usage: wds-etl index SHARD... [-o wids.json]\n"
    "\n"
    "Writes x.idx (DALI index v1.2) beside each x.tar, and with -o one wids JSON\n"
    "shard list (nsamples, filesize, md5sum) for the shards given.\n"
    "\n"
    "options:\n"
    "  -o FILE                   the wids JSON shard list to write\n"
    "  -h, --help                this text\n"
    "  -V, --version             the version\n";

const char* const transform_usage =
    "usage: wds-etl transform INPUT -o OUTPUT [options]\n"
    "       wds-etl transform 'dir/shard-{000..099}.tar' [MORE...] -o OUTDIR/ [options]\n"
    "\n"
    "INPUT and OUTPUT may be '-' (stdin/stdout). Compressed input (gzip, bzip2, xz,\n"
    "zstd) is detected by its magic bytes; compressed output is chosen by the name\n"
    "(.gz, .bz2, .xz, .zst). Without --map every sample goes\n"
    "through the reference pipeline (image.jpg: CenterCrop(350), ImageNet normalize\n"
    "round trip, JPEG; trimap.png: CenterCrop(350), RGB JPEG).\n"
    "\n"
    "options:\n"
    "  -o, --output PATH         output shard, or a directory (ends in '/' or exists):\n"
    "                            one output per input, same file name; complete\n"
    "                            outputs are skipped (resume)\n"
    "  -j, --jobs N              threads in all, for one shard or many (default: all\n"
    "                            cores; output is the same for every N)\n"
    "  --on-error fail|skip      a bad sample fails the shard (default) or is skipped\n"
    "  --map EXT=SPEC            transform fields whose whole ext is EXT (image.jpg) by a\n"
    "                            wds::compose spec, e.g.\n"
    "                            'image.jpg=decode|resize(256)|center_crop(224)|jpeg(90)'\n"
    "                            (repeatable; replaces the reference pipeline)\n"
    "  --map '*.EXT=SPEC'        same, matching the last dot-part of the ext\n"
    "                            ('*.jpg' matches image.jpg and jpg)\n"
    "  --strict                  a --map that matched no field fails the shard\n"
    "  --rename EXT=NEWEXT       write field EXT as NEWEXT (repeatable)\n"
    "  --mtime SECONDS           member mtime (default 0: reproducible output)\n"
    "  --max-image-pixels N      refuse larger images (default 178956970, Pillow's)\n"
    "  --max-member-size BYTES   refuse larger members (default 4G; k/M/G suffixes)\n"
    "  --allow-empty             a 0-byte input is an empty shard (default: an error)\n"
    "  -q, --quiet               no progress bar or summary\n"
    "  -h, --help                this text\n"
    "  -V, --version             the version\n";

#if !WDS_ETL_HAS_SERVE
// Shown by `serve --help` when the server part is not built in (otherwise
// serve.cpp prints its own usage).
const char* const serve_unavailable_usage =
    "usage: wds-etl serve [options]\n"
    "\n"
    "The AIStore ETL server. This wds-etl was built without the HTTP server part,\n"
    "so serve is not available.\n";
#endif

std::atomic<bool> g_cancel{false};  // set by SIGINT/SIGTERM; workers stop between samples

extern "C" void on_signal(int) { g_cancel.store(true); }

struct usage_error {
  std::string message;
};

// The subcommand being parsed, for usage error lines ("wds-etl SUB: ...").
const char* g_subcommand = nullptr;

// Error reasons may quote names with control characters: keep them on one line.
std::string one_line(std::string s) {
  for (char& ch : s)
    if (ch == '\n' || ch == '\r') ch = ' ';
  return s;
}

[[noreturn]] void usage_fail(const std::string& msg) { throw usage_error{msg}; }

std::uint64_t parse_uint(std::string_view opt, std::string_view v, bool suffixes) {
  if (v.empty()) usage_fail(std::string(opt) + " needs a number");
  std::uint64_t mult = 1;
  if (suffixes) {
    switch (v.back()) {
      case 'k': case 'K': mult = 1ull << 10; v.remove_suffix(1); break;
      case 'm': case 'M': mult = 1ull << 20; v.remove_suffix(1); break;
      case 'g': case 'G': mult = 1ull << 30; v.remove_suffix(1); break;
      default: break;
    }
  }
  std::uint64_t r = 0;
  if (v.empty() || v.size() > 19) usage_fail(std::string(opt) + ": not a number: " + std::string(v));
  for (char c : v) {
    if (c < '0' || c > '9') usage_fail(std::string(opt) + ": not a number: " + std::string(v));
    r = r * 10 + std::uint64_t(c - '0');
  }
  if (r > ~std::uint64_t{0} / mult) usage_fail(std::string(opt) + ": number too large");
  return r * mult;
}

std::int64_t parse_int(std::string_view opt, std::string_view v) {
  bool neg = !v.empty() && v[0] == '-';
  if (neg) v.remove_prefix(1);
  std::uint64_t u = parse_uint(opt, v, false);
  if (u > std::uint64_t(INT64_MAX)) usage_fail(std::string(opt) + ": number too large");
  return neg ? -std::int64_t(u) : std::int64_t(u);
}

std::pair<std::string, std::string> parse_assignment(std::string_view opt, std::string_view v) {
  auto eq = v.find('=');
  if (eq == std::string_view::npos || eq == 0)
    usage_fail(std::string(opt) + " needs EXT=VALUE, got \"" + std::string(v) + "\"");
  return {std::string(v.substr(0, eq)), std::string(v.substr(eq + 1))};
}

struct cli {
  std::vector<std::string> positional;
  std::string output;
  unsigned jobs = 0;
  bool quiet = false;
  wds::etl::options opt;
};

// Options may come before or after the inputs; `--opt=value` or `--opt value`.
cli parse_transform_args(int argc, char** argv) {
  cli c;
  bool have_output = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i) c.positional.emplace_back(argv[i]);
      break;
    }
    if (a.size() < 2 || a[0] != '-' ) {
      c.positional.emplace_back(a);
      continue;
    }
    std::string name(a), value;
    bool inline_value = false;
    if (a.rfind("--", 0) == 0) {
      if (auto eq = a.find('='); eq != std::string_view::npos) {
        name = std::string(a.substr(0, eq));
        value = std::string(a.substr(eq + 1));
        inline_value = true;
      }
    }
    auto need_value = [&]() -> std::string {
      if (inline_value) return value;
      if (i + 1 >= argc) usage_fail(name + " needs a value");
      return argv[++i];
    };
    if (name == "-o" || name == "--output") {
      c.output = need_value();
      have_output = true;
    } else if (name == "-j" || name == "--jobs") {
      auto n = parse_uint(name, need_value(), false);
      if (n == 0 || n > 1024) usage_fail("--jobs must be 1..1024");
      c.jobs = unsigned(n);
    } else if (name == "--on-error") {
      auto v = need_value();
      if (v == "fail") c.opt.on_error = wds::etl::error_policy::fail;
      else if (v == "skip") c.opt.on_error = wds::etl::error_policy::skip;
      else usage_fail("--on-error must be fail or skip, not \"" + v + "\"");
    } else if (name == "--map") {
      auto kv = parse_assignment(name, need_value());
      c.opt.maps.push_back({kv.first, kv.second});
    } else if (name == "--rename") {
      auto kv = parse_assignment(name, need_value());
      if (kv.second.empty()) usage_fail("--rename needs a non-empty NEWEXT");
      c.opt.renames.push_back({kv.first, kv.second});
    } else if (name == "--mtime") {
      c.opt.mtime = parse_int(name, need_value());
    } else if (name == "--max-image-pixels") {
      auto n = parse_uint(name, need_value(), false);
      c.opt.limits.max_image_pixels = n;
      c.opt.limits.warn_image_pixels = n / 2;  // Pillow warns at half its error threshold
    } else if (name == "--max-member-size") {
      c.opt.limits.max_member_size = parse_uint(name, need_value(), true);
    } else if (name == "--strict" && !inline_value) {
      c.opt.strict_maps = true;
    } else if (name == "--allow-empty" && !inline_value) {
      c.opt.allow_empty = true;
    } else if ((name == "-q" || name == "--quiet") && !inline_value) {
      c.quiet = true;
    } else if (name == "-") {
      c.positional.emplace_back("-");
    } else {
      usage_fail("unknown option " + std::string(a));
    }
  }
  if (!have_output || c.output.empty()) usage_fail("needs -o OUTPUT");
  c.opt.cancel = &g_cancel;
  c.opt.threads = c.jobs;  // 0: all cores; directory mode splits the same budget
  if (c.positional.empty()) usage_fail("needs an INPUT");
  return c;
}

std::string megabytes(std::uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", double(b) / 1e6);
  return buf;
}

std::string rate(std::uint64_t n, double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s > 0 ? double(n) / s : 0.0);
  return buf;
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

bool is_directory(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A map that matched no field in a whole shard: shown even with --quiet.
void warn_unmatched_maps(const wds::etl::options& opt, const wds::etl::stats& st, const std::string& shard) {
  if (opt.strict_maps) return;  // then the shard failed with etl.810 instead
  for (std::size_t i = 0; i < opt.maps.size(); ++i)
    if (i >= st.map_fields.size() || st.map_fields[i] == 0)
      std::fprintf(stderr, "wds-etl: --map %s matched no field in %s\n", opt.maps[i].ext.c_str(),
                   one_line(shard).c_str());
}

// "--map image.jpg: 11 fields transformed", one line per map.
void print_map_counts(std::FILE* f, const wds::etl::options& opt, const wds::etl::stats& st) {
  for (std::size_t i = 0; i < opt.maps.size(); ++i)
    std::fprintf(f, "wds-etl: --map %s: %llu fields transformed\n", opt.maps[i].ext.c_str(),
                 (unsigned long long)(i < st.map_fields.size() ? st.map_fields[i] : 0));
}

int run_single(const cli& c, const std::string& input) {
  const auto t0 = std::chrono::steady_clock::now();
  wds::etl::shard_transformer t(c.opt);  // a bad --map spec fails here, before any input
  if (input != "-" && c.output != "-" && same_file(input, c.output))
    throw wds::etl::etl_error(802, {c.output, {}, wds::location::unknown_offset},
                              "output is the input file");
  wds::url_options uo;
  uo.lim = c.opt.limits;
  wds::any_source in = wds::open_url(input, uo);  // paths, -, pipe:, http(s)://, ais://
  wds::any_sink out = wds::open_url_output(c.output);
  wds::etl::stats st = t.run(in, out);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!c.quiet) {
    // Never mixed into a tar written to stdout.
    std::FILE* f = c.output == "-" ? stderr : stdout;
    std::fprintf(f, "wds-etl: %s -> %s: %llu samples, %llu skipped, %s in, %s out, %.2f s, %s samples/s\n",
                 input.c_str(), c.output.c_str(), (unsigned long long)st.samples,
                 (unsigned long long)st.skipped, megabytes(st.bytes_in).c_str(),
                 megabytes(st.bytes_out).c_str(), s, rate(st.samples, s).c_str());
    print_map_counts(f, c.opt, st);
    for (const auto& r : st.skip_reasons) std::fprintf(f, "wds-etl: skipped: %s\n", one_line(r).c_str());
  }
  warn_unmatched_maps(c.opt, st, input);
  return 0;
}

int run_directory(const cli& c, const std::vector<std::string>& inputs) {
  const bool tty = !c.quiet && ::isatty(2);
  auto draw = [&](const wds::etl::progress& p, const wds::etl::shard_result& r) {
    if (r.state == wds::etl::shard_result::status::failed) {
      if (tty) std::fputs("\r\033[K", stderr);
      std::fprintf(stderr, "wds-etl: failed: %s\n", one_line(r.error).c_str());
    }
    if (r.state == wds::etl::shard_result::status::done) {
      if (tty) std::fputs("\r\033[K", stderr);
      warn_unmatched_maps(c.opt, r.counts, r.input);
    }
    if (!tty) return;
    const int width = 30;
    const int fill = p.shards ? int(double(p.finished) / double(p.shards) * width) : width;
    std::string bar(std::size_t(fill), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r[%s] %zu/%zu shards, %llu samples, %s samples/s, %zu failed", bar.c_str(),
                 p.finished, p.shards, (unsigned long long)p.counts.samples,
                 rate(p.counts.samples, p.seconds).c_str(), p.failed);
    std::fflush(stderr);
  };
  wds::etl::batch_report rep = wds::etl::transform_shards(inputs, c.output, c.opt, c.jobs, draw);
  if (tty) std::fputs("\n", stderr);
  const auto& p = rep.totals;
  if (p.finished < p.shards)
    std::fprintf(stderr, "wds-etl: interrupted: %zu of %zu shards not started (run again to resume)\n",
                 p.shards - p.finished, p.shards);
  if (!c.quiet) {
    std::printf("wds-etl: %zu shards (%zu done, %zu already complete, %zu failed), %llu samples "
                "(%llu skipped), %s in, %s out, %.2f s, %s samples/s\n",
                p.shards, p.done, p.existing, p.failed, (unsigned long long)p.counts.samples,
                (unsigned long long)p.counts.skipped, megabytes(p.counts.bytes_in).c_str(),
                megabytes(p.counts.bytes_out).c_str(), p.seconds, rate(p.counts.samples, p.seconds).c_str());
    print_map_counts(stdout, c.opt, p.counts);
    for (const auto& r : p.counts.skip_reasons) std::printf("wds-etl: skipped: %s\n", one_line(r).c_str());
  }
  return rep.ok() ? 0 : 1;
}

int cmd_transform(int argc, char** argv) {
  cli c = parse_transform_args(argc, argv);
  std::vector<std::string> inputs;
  for (const auto& p : c.positional) {
    if (p == "-") {
      inputs.push_back(p);
      continue;
    }
    try {
      for (auto& s : wds::expand_shard_list(p)) inputs.push_back(std::move(s));
    } catch (const wds::spec_error& e) {
      usage_fail("bad input pattern: " + std::string(e.what()));
    }
  }
  const bool dir_mode = (!c.output.empty() && c.output.back() == '/') || is_directory(c.output);
  if (!dir_mode) {
    if (inputs.size() != 1)
      usage_fail("several inputs need an output directory (-o DIR/), got \"" + c.output + "\"");
    return run_single(c, inputs[0]);
  }
  for (const auto& in : inputs)
    if (in == "-") usage_fail("'-' (stdin) cannot be used with an output directory");
  if (!is_directory(c.output) && ::mkdir(c.output.c_str(), 0777) != 0 && errno != EEXIST)
    throw wds::etl::etl_error(807, {c.output, {}, wds::location::unknown_offset},
                              std::string("cannot create output directory: ") + std::strerror(errno));
  return run_directory(c, inputs);
}

int cmd_ls(int argc, char** argv) {
  std::vector<std::string> shards;
  wds::limits lim;
  wds::sample_reader_options ro;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i) shards.emplace_back(argv[i]);
    } else if (a == "--allow-empty") {
      ro.allow_empty = true;
    } else if (a == "--max-member-size" || a.rfind("--max-member-size=", 0) == 0) {
      std::string v;
      if (a.size() > 17) v = std::string(a.substr(18));
      else if (i + 1 < argc) v = argv[++i];
      else usage_fail("--max-member-size needs a value");
      lim.max_member_size = parse_uint("--max-member-size", v, true);
    } else if (a.size() > 1 && a[0] == '-') {
      usage_fail("unknown option " + std::string(a));
    } else {
      shards.emplace_back(a);
    }
  }
  if (shards.size() != 1) usage_fail("takes exactly one SHARD");
  const std::string& shard = shards[0];
  wds::url_options uo;
  uo.lim = lim;
  wds::any_source in = wds::open_url(shard, uo);
  wds::sample_reader reader(std::move(in), shard, lim, ro);
  std::string buf;
  auto flush = [&] {
    std::fwrite(buf.data(), 1, buf.size(), stdout);
    buf.clear();
    return std::fflush(stdout) == 0;
  };
  const auto garbage_before = wds::trailing_garbage_warnings();
  try {
    while (auto s = reader.next()) {
      buf += wds::etl::sample_json_line(*s);
      buf += '\n';
      if (buf.size() > (1u << 16)) flush();
      reader.recycle(std::move(*s));
    }
  } catch (...) {
    flush();  // the samples read before a bad member, as webdataset yields them
    throw;
  }
  if (!flush()) throw wds::io_error(102, {"-", {}, wds::location::unknown_offset}, "write failed");
  if (wds::trailing_garbage_warnings() != garbage_before)
    std::fprintf(stderr, "wds-etl: warning: %s: trailing garbage after the compressed stream ignored\n", shard.c_str());
  return 0;
}


int cmd_serve(int argc, char** argv) {
#if WDS_ETL_HAS_SERVE
  std::signal(SIGINT, SIG_DFL);  // the server installs its own shutdown handling
  std::signal(SIGTERM, SIG_DFL);
  return wds_etl_serve(argc, argv);
#else
  (void)argc;
  (void)argv;
  std::fputs("wds-etl serve: not available: this wds-etl was built without the HTTP server part\n", stderr);
  return 2;
#endif
}

// Every subcommand. `usage` is what `wds-etl NAME --help` prints; nullptr means
// the subcommand prints its own usage when called as `NAME --help` (one in its
// own translation unit, see commands.hpp). -h/--help and -V/--version are
// handled here for all of them, before their own parsers run.
struct subcommand {
  const char* name;
  const char* summary;
  const char* usage;
  int (*run)(int argc, char** argv);  // argv[0] is the name
};
const subcommand subcommands[] = {
    {"ls", "list the samples of a shard, one JSON line each", ls_usage, cmd_ls},
    {"transform", "shard to shard transform (reference pipeline or --map specs)", transform_usage, cmd_transform},
    {"pack", "a folder of files to shards (webdataset ShardWriter rules)", pack_usage, wds_etl_pack},
    {"index", "DALI .idx beside each shard and one wids JSON shard list", index_usage, wds_etl_index},
#if WDS_ETL_HAS_SERVE
    {"serve", "the AIStore ETL server (hpush, hpull, direct put)", nullptr, cmd_serve},
#else
    {"serve", "the AIStore ETL server (not built in)", serve_unavailable_usage, cmd_serve},
#endif
};

std::string main_usage() {
  std::string u = "usage: wds-etl COMMAND [options] [ARGS]\n\ncommands:\n";
  for (const auto& sc : subcommands) {
    std::string name = sc.name;
    name.resize(12, ' ');
    u += "  " + name + sc.summary + "\n";
  }
  u += "\n'wds-etl COMMAND --help' prints the usage of one command; -V, --version the version.\n";
  return u;
}

int print_version() {
  std::printf("wds-etl %d.%d.%d\n", WDS_VERSION_MAJOR, WDS_VERSION_MINOR, WDS_VERSION_PATCH);
  return 0;
}

int print_help(const subcommand& sc) {
  if (sc.usage) {
    std::fputs(sc.usage, stdout);
    return 0;
  }
  char help[] = "--help";
  char* args[] = {const_cast<char*>(sc.name), help, nullptr};
  return sc.run(2, args);
}

}  // namespace

int wds_etl_usage_error(const char* subcommand, const std::string& message) {
  std::fprintf(stderr, "wds-etl %s: %s (see wds-etl %s --help)\n", subcommand, one_line(message).c_str(),
               subcommand);
  return 2;
}

int main(int argc, char** argv) {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);  // a closed stdout becomes a write error, not a silent death
  if (argc < 2) {
    std::fputs(main_usage().c_str(), stderr);
    return 2;
  }
  const std::string_view cmd = argv[1];
  if (cmd == "-h" || cmd == "--help") {
    std::fputs(main_usage().c_str(), stdout);
    return 0;
  }
  if (cmd == "-V" || cmd == "--version") return print_version();
  const bool help_cmd = cmd == "help";
  const std::string_view name = help_cmd ? (argc > 2 ? std::string_view(argv[2]) : std::string_view()) : cmd;
  if (help_cmd && name.empty()) {
    std::fputs(main_usage().c_str(), stdout);
    return 0;
  }
  const subcommand* sc = nullptr;
  for (const auto& s : subcommands)
    if (name == s.name) sc = &s;
  if (!sc) {
    std::fprintf(stderr, "wds-etl: unknown command \"%s\" (see wds-etl --help)\n", one_line(std::string(name)).c_str());
    return 2;
  }
  if (help_cmd) return print_help(*sc);
  // -h/--help and -V/--version anywhere before "--" win over everything else.
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") break;
    if (a == "-h" || a == "--help") return print_help(*sc);
    if (a == "-V" || a == "--version") return print_version();
  }
  g_subcommand = sc->name;
  try {
    return sc->run(argc - 1, argv + 1);
  } catch (const wds::spec_error& e) {  // a bad --map spec: nothing was read or written
    std::fprintf(stderr, "wds-etl: bad spec: %s\n", one_line(e.what()).c_str());
    return 2;
  } catch (const usage_error& e) {
    return wds_etl_usage_error(g_subcommand, e.message);
  } catch (const wds::tar_error& e) {
    std::fflush(stdout);
    const bool empty = e.id() == 208;  // a failed download, most likely: say how to accept it
    std::fprintf(stderr, "wds-etl: %s%s\n", one_line(e.what()).c_str(), empty ? " (--allow-empty accepts it)" : "");
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "wds-etl: %s\n", one_line(e.what()).c_str());
    return 1;
  }
}
