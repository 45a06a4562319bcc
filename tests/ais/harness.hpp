// SPDX-License-Identifier: MIT
// Runs the real `wds-etl` binary: `serve` pods as child processes on
// 127.0.0.1, and `transform` (the CLI) for the expected bytes of an object.
#pragma once

#include "paths.hpp"
#include "target_emulator.hpp"

#include <wds/io.hpp>
#include <wds/tar.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace wds_ais {

// The binary under test: $WDS_ETL_BINARY, else the one this build made.
inline std::string etl_binary() {
  if (const char* e = std::getenv("WDS_ETL_BINARY"); e && *e) return e;
#ifdef WDS_ETL_BINARY
  return WDS_ETL_BINARY;
#else
  throw std::runtime_error("no wds-etl binary: set WDS_ETL_BINARY");
#endif
}

// The source tree whose files (deploy specs) are checked: $WDS_SOURCE_DIR, else this one.
inline std::string source_dir() {
  if (const char* e = std::getenv("WDS_SOURCE_DIR"); e && *e) return e;
#ifdef WDS_SOURCE_DIR
  return WDS_SOURCE_DIR;
#else
  return ".";
#endif
}

inline std::string data_dir() {
#ifdef WDS_TEST_DATA_DIR
  return WDS_TEST_DATA_DIR;
#else
  return "tests/data";
#endif
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void spit(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

// A directory under /tmp, removed at scope exit.
struct scratch_dir {
  std::string path;
  scratch_dir() {
    char tmpl[] = "/tmp/wds-ais-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~scratch_dir() { std::system(("rm -rf '" + path + "'").c_str()); }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  std::string operator/(const std::string& rel) const { return path + "/" + rel; }
};

inline unsigned short free_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

// Spawns argv with the parent's environment minus the AIStore/ETL variables,
// plus `env`; stdout and stderr go to `log_path`. Returns the pid.
inline pid_t spawn(const std::vector<std::string>& argv, const fields& env, const std::string& log_path) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    const auto name = kv.substr(0, kv.find('='));
    if (name.rfind("AIS_", 0) == 0 || name == "TRANSFORM" || name == "FORMAT" || name == "direct_put") continue;
    envs.emplace_back(kv);
  }
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

// `wds-etl serve` as a pod: on 127.0.0.1 and a free port, with the target's
// environment (AIS_TARGET_URL, direct_put, ...). Ready once GET /health answers.
class pod {
 public:
  struct options {
    std::vector<std::string> args;  // after `serve --host 127.0.0.1 --port N`
    fields env;                     // e.g. {"AIS_TARGET_URL", t.ais_target_url()}
  };

  // --port 0: the pod binds a free port itself and logs it ("listening on
  // 127.0.0.1:N"). A port picked here and passed down could be taken by
  // another server in between, whose /health would then answer for the pod.
  explicit pod(options o) : opt_(std::move(o)) {
    log_path_ = dir_ / "pod.log";
    std::vector<std::string> argv = {etl_binary(), "serve", "--host", "127.0.0.1", "--port", "0"};
    argv.insert(argv.end(), opt_.args.begin(), opt_.args.end());
    pid_ = spawn(argv, opt_.env, log_path_);
    if (!wait_ready()) {
      stop();
      throw std::runtime_error("wds-etl serve did not become ready; its log:\n" + log());
    }
  }
  pod(const pod&) = delete;
  pod& operator=(const pod&) = delete;
  ~pod() { stop(); }

  std::string host_port() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + host_port(); }  // a pipeline entry for this pod
  std::string log() const {
    try {
      return slurp(log_path_);
    } catch (...) {
      return {};
    }
  }
  bool running() {
    if (pid_ <= 0) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      exit_status_ = st;
      return false;
    }
    return true;
  }
  // SIGTERM, then SIGKILL after 5 s; returns the wait status.
  int stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st = 0;
      for (int i = 0; i < 500; ++i) {
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
          pid_ = -1;
          exit_status_ = st;
          return st;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
      pid_ = -1;
      exit_status_ = st;
    }
    return exit_status_;
  }

 private:
  bool wait_ready() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    const std::string marker = "listening on 127.0.0.1:";
    while (std::chrono::steady_clock::now() < deadline) {
      if (!running()) return false;
      if (port_ == 0) {
        const std::string l = log();
        const auto at = l.find(marker);
        if (at == std::string::npos || l.find(' ', at + marker.size()) == std::string::npos) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        port_ = static_cast<unsigned short>(std::stoi(l.substr(at + marker.size())));
      }
      try {
        pod_client c(host_port());
        if (c.send(http::verb::get, "/health", {}, {}, std::chrono::seconds(2)).status == 200) return true;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  options opt_;
  scratch_dir dir_;
  std::string log_path_;
  unsigned short port_ = 0;
  pid_t pid_ = -1;
  int exit_status_ = 0;
};

// Runs a command to completion, returning its exit status (-1: killed after
// `timeout`, or died of a signal) and its output.
inline int run_command(const std::vector<std::string>& argv, std::string* output = nullptr, const fields& env = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  scratch_dir d;
  const std::string log = d / "out.log";
  pid_t pid = spawn(argv, env, log);
  int st = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (::waitpid(pid, &st, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      st = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (output) *output = slurp(log);
  return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// What the CLI makes of each input (`wds-etl transform in -o out ARGS...`):
// the bytes a pod must produce for the same object with the same options.
// One process for all inputs (directory mode), outputs in input order.
inline std::vector<std::string> cli_transform(const std::vector<std::string>& inputs, const std::vector<std::string>& args) {
  scratch_dir d;
  std::vector<std::string> argv = {etl_binary(), "transform"};
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = d / ("in-" + std::to_string(i) + ".tar");
    spit(name, inputs[i]);
    argv.push_back(name);
  }
  ::mkdir((d / "out").c_str(), 0755);
  argv.insert(argv.end(), {"-o", d / "out/", "-q", "-j", "2"});
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  if (const int rc = run_command(argv, &out); rc != 0)
    throw std::runtime_error("wds-etl transform failed (" + std::to_string(rc) + "): " + out);
  std::vector<std::string> outputs;
  for (std::size_t i = 0; i < inputs.size(); ++i) outputs.push_back(slurp(d / ("out/in-" + std::to_string(i) + ".tar")));
  return outputs;
}

inline std::string cli_transform(const std::string& input, const std::vector<std::string>& args) {
  return cli_transform(std::vector<std::string>{input}, args).front();
}

// A small shard: `samples` samples, each a JPEG from tests/data/server plus
// .cls and .txt fields, varied by `seed` so every shard differs.
inline std::string make_shard(int seed, int samples = 3) {
  static const char* const jpegs[] = {"resize-crop.jpg", "gray3-flip.jpg", "short-side-bicubic.jpg", "rocket-crop.jpg"};
  wds::tar_writer<wds::memory_sink> w{wds::memory_sink{}};
  for (int i = 0; i < samples; ++i) {
    const std::string key = "s" + std::to_string(seed) + "_" + std::to_string(i);
    const std::string jpg = slurp(data_dir() + "/server/" + jpegs[(seed + i) % 4]);
    const std::string cls = std::to_string((seed * 7 + i) % 10);
    const std::string txt = "shard " + std::to_string(seed) + " sample " + std::to_string(i);
    auto as_bytes = [](const std::string& s) {
      const auto* p = reinterpret_cast<const std::byte*>(s.data());
      return std::vector<std::byte>(p, p + s.size());
    };
    w.write(key + ".jpg", as_bytes(jpg));
    w.write(key + ".cls", as_bytes(cls));
    w.write(key + ".txt", as_bytes(txt));
  }
  w.finish();
  const auto& b = w.sink().bytes();
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// A shard whose second sample's JPEG is cut short: the map fails on it.
inline std::string make_bad_shard() {
  wds::tar_writer<wds::memory_sink> w{wds::memory_sink{}};
  const std::string jpg = slurp(data_dir() + "/server/rocket-crop.jpg");
  auto as_bytes = [](const std::string& s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    return std::vector<std::byte>(p, p + s.size());
  };
  w.write("good.jpg", as_bytes(jpg));
  w.write("bad.jpg", as_bytes(jpg.substr(0, jpg.size() / 3)));
  w.finish();
  const auto& b = w.sink().bytes();
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// The per-field map every pod and the CLI run in these tests.
inline std::vector<std::string> test_map_args() { return {"--map", "jpg=decode|resize(24)|jpeg(85)", "--rename", "cls=label"}; }

}  // namespace wds_ais
