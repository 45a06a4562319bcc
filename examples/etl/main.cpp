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

const char* const usage_text =
    "usage: wds-etl ls SHARD\n"
    "       wds-etl transform INPUT -o OUTPUT [options]\n"
    "       wds-etl transform 'dir/shard-{000..099}.tar' [MORE...] -o OUTDIR/ [options]\n"
    "       wds-etl serve [--port 8000] [--host 0.0.0.0] ...\n"
    "\n"
    "SHARD, INPUT and OUTPUT may be '-' (stdin/stdout). Compressed input (gzip, bzip2,\n"
    "xz, zstd) is detected by its magic bytes; compressed output is chosen by the name\n"
    "(.gz, .bz2, .xz, .zst). Without --map every sample goes\n"
    "through the reference pipeline (image.jpg: CenterCrop(350), ImageNet normalize\n"
    "round trip, JPEG; trimap.png: CenterCrop(350), RGB JPEG).\n"
    "\n"
    "transform options:\n"
    "  -o, --output PATH         output shard, or a directory (ends in '/' or exists):\n"
    "                            one output per input, same file name; complete\n"
    "                            outputs are skipped (resume)\n"
    "  -j, --jobs N              worker threads in directory mode (default: all cores)\n"
    "  --on-error fail|skip      a bad sample fails the shard (default) or is skipped\n"
    "  --map EXT=SPEC            transform fields with this exact ext by a wds::compose\n"
    "                            spec, e.g. jpg='decode|resize(256)|center_crop(224)|jpeg(90)'\n"
    "                            (repeatable; replaces the reference pipeline)\n"
    "  --rename EXT=NEWEXT       write field EXT as NEWEXT (repeatable)\n"
    "  --mtime SECONDS           member mtime (default 0: reproducible output)\n"
    "  --max-image-pixels N      refuse larger images (default 178956970, Pillow's)\n"
    "  --max-member-size BYTES   refuse larger members (default 4G; k/M/G suffixes)\n"
    "  -q, --quiet               no progress bar or summary\n";

std::atomic<bool> g_cancel{false};  // set by SIGINT/SIGTERM; workers stop between samples

extern "C" void on_signal(int) { g_cancel.store(true); }

struct usage_error {
  std::string message;
};

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
    } else if (name == "-q" || name == "--quiet") {
      c.quiet = true;
    } else if (name == "-") {
      c.positional.emplace_back("-");
    } else {
      usage_fail("unknown option " + name);
    }
  }
  if (!have_output || c.output.empty()) usage_fail("transform needs -o OUTPUT");
  c.opt.cancel = &g_cancel;
  if (c.positional.empty()) usage_fail("transform needs an INPUT");
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

int run_single(const cli& c, const std::string& input) {
  const auto t0 = std::chrono::steady_clock::now();
  wds::etl::shard_transformer t(c.opt);  // a bad --map spec fails here, before any input
  if (input != "-" && c.output != "-" && same_file(input, c.output))
    throw wds::etl::etl_error(802, {c.output, {}, wds::location::unknown_offset},
                              "output is the input file");
  wds::any_source in = wds::open_input(input, c.opt.limits);
  wds::any_sink out = wds::open_output(c.output);
  wds::etl::stats st = t.run(in, out);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!c.quiet) {
    // Never mixed into a tar written to stdout.
    std::FILE* f = c.output == "-" ? stderr : stdout;
    std::fprintf(f, "wds-etl: %s -> %s: %llu samples, %llu skipped, %s in, %s out, %.2f s, %s samples/s\n",
                 input.c_str(), c.output.c_str(), (unsigned long long)st.samples,
                 (unsigned long long)st.skipped, megabytes(st.bytes_in).c_str(),
                 megabytes(st.bytes_out).c_str(), s, rate(st.samples, s).c_str());
    for (const auto& r : st.skip_reasons) std::fprintf(f, "wds-etl: skipped: %s\n", one_line(r).c_str());
  }
  return 0;
}

int run_directory(const cli& c, const std::vector<std::string>& inputs) {
  const bool tty = !c.quiet && ::isatty(2);
  auto draw = [&](const wds::etl::progress& p, const wds::etl::shard_result& r) {
    if (r.state == wds::etl::shard_result::status::failed) {
      if (tty) std::fputs("\r\033[K", stderr);
      std::fprintf(stderr, "wds-etl: failed: %s\n", one_line(r.error).c_str());
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
  if (argc != 2) usage_fail("ls takes exactly one SHARD");
  wds::any_source in = wds::open_input(argv[1]);
  wds::sample_reader reader(std::move(in), argv[1]);
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
    std::fprintf(stderr, "wds-etl: warning: %s: trailing garbage after the compressed stream ignored\n", argv[1]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);  // a closed stdout becomes a write error, not a silent death
  if (argc < 2) {
    std::fputs(usage_text, stderr);
    return 2;
  }
  const std::string_view cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::fputs(usage_text, stdout);
    return 0;
  }
  if (cmd == "--version") {
    std::printf("wds-etl %d.%d.%d\n", WDS_VERSION_MAJOR, WDS_VERSION_MINOR, WDS_VERSION_PATCH);
    return 0;
  }
  if (cmd == "serve") {
#if WDS_ETL_HAS_SERVE
    std::signal(SIGINT, SIG_DFL);  // the server installs its own shutdown handling
    std::signal(SIGTERM, SIG_DFL);
    return wds_etl_serve(argc - 1, argv + 1);
#else
    std::fputs("wds-etl: built without cpp-httplib (serve is not available)\n", stderr);
    return 2;
#endif
  }
  try {
    if (cmd == "ls") return cmd_ls(argc - 1, argv + 1);
    if (cmd == "transform") return cmd_transform(argc - 1, argv + 1);
    usage_fail("unknown command \"" + std::string(cmd) + "\"");
  } catch (const wds::spec_error& e) {  // a bad --map spec: nothing was read or written
    std::fprintf(stderr, "wds-etl: bad spec: %s\n", one_line(e.what()).c_str());
    return 2;
  } catch (const usage_error& e) {
    std::fprintf(stderr, "wds-etl: %s (see wds-etl --help)\n", one_line(e.message).c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "wds-etl: %s\n", one_line(e.what()).c_str());
    return 1;
  }
}
