// SPDX-License-Identifier: MIT
// `wds-etl transform` in directory mode under faults: kill -9 mid-run, a full
// disk (RLIMIT_FSIZE, what `prlimit --fsize` sets) and an unreadable input.
// After each fault every file under a final output name is complete (equal to
// the in-process result), and rerunning the same command finishes the job.
#include "catch.hpp"
#include "paths.hpp"

#include <wds/config.hpp>

#if defined(WDS_ETL_BINARY) && WDS_HAS_JPEG && WDS_HAS_PNG

#include <wds/etl.hpp>
#include <wds/io.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  REQUIRE(out.good());
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
  }
  return out;
}

void remove_tree(const std::string& dir) {
  for (const auto& n : list_dir(dir)) {
    const std::string p = dir + "/" + n;
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      ::chmod(p.c_str(), 0755);
      remove_tree(p);
    } else {
      ::unlink(p.c_str());
    }
  }
  ::rmdir(dir.c_str());
}

struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/wds-offline-faults-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~temp_dir() { remove_tree(path); }
};

// Starts `wds-etl args...` (stdout/stderr to `log`); fsize_limit > 0 caps the
// size of any file it writes (SIGXFSZ ignored, so write() fails with EFBIG).
pid_t spawn(const std::vector<std::string>& args, const std::string& log, rlim_t fsize_limit = 0) {
  pid_t p = ::fork();
  REQUIRE(p >= 0);
  if (p == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (fsize_limit) {
      ::signal(SIGXFSZ, SIG_IGN);
      rlimit rl{fsize_limit, fsize_limit};
      ::setrlimit(RLIMIT_FSIZE, &rl);
    }
    std::vector<std::string> full = {WDS_ETL_BINARY};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : full) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return p;
}

int wait_exit(pid_t p) {
  int st = 0;
  ::waitpid(p, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct fixture {
  temp_dir tmp;
  std::string in, out, log;
  std::string shard, expected;
  std::vector<std::string> names;

  explicit fixture(int shards) {
    in = tmp.path + "/in";
    out = tmp.path + "/out";
    log = tmp.path + "/log.txt";
    ::mkdir(in.c_str(), 0755);
    ::mkdir(out.c_str(), 0755);
    shard = read_file(std::string(WDS_TEST_DATA_DIR) + "/etl/pets-small.tar");
    REQUIRE(!shard.empty());
    wds::memory_source src(shard.data(), shard.size(), "pets-small.tar");
    wds::memory_sink sink;
    wds::etl::transform_shard(src, sink, {});
    expected.assign(reinterpret_cast<const char*>(sink.bytes().data()), sink.bytes().size());
    for (int i = 0; i < shards; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "shard-%03d.tar", i);
      names.push_back(name);
      write_file(in + "/" + name, shard);
    }
  }
  std::vector<std::string> command() const {
    std::vector<std::string> args = {"transform"};
    for (const auto& n : names) args.push_back(in + "/" + n);
    args.insert(args.end(), {"-o", out + "/", "-j", "2", "-q"});
    return args;
  }
  // Every file under a final name is complete; returns how many there are.
  std::size_t check_outputs_complete() const {
    std::size_t complete = 0;
    for (const auto& n : list_dir(out)) {
      if (n[0] == '.') continue;  // a temporary (hidden, removed on the next run)
      INFO("output " << n);
      CHECK(read_file(out + "/" + n) == expected);
      ++complete;
    }
    return complete;
  }
  std::size_t temporaries() const {
    std::size_t n = 0;
    for (const auto& f : list_dir(out)) n += f[0] == '.';
    return n;
  }
};

}  // namespace

TEST_CASE("offline transform: kill -9 mid-run, then rerun completes", "[cli][faults]") {
  fixture f(24);
  // Kill at several moments: right away, after the first output, later.
  for (int round = 0; round < 3; ++round) {
    pid_t p = spawn(f.command(), f.log);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    const std::size_t want = static_cast<std::size_t>(round) * 3;
    for (;;) {
      std::size_t done = 0;
      for (const auto& n : list_dir(f.out)) done += n[0] != '.';
      if (done >= want || std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(5ms);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 * round));
    ::kill(p, SIGKILL);
    const int rc = wait_exit(p);
    INFO("round " << round << " exit " << rc);
    f.check_outputs_complete();
  }
  const int rc = wait_exit(spawn(f.command(), f.log));
  INFO(read_file(f.log));
  CHECK(rc == 0);
  CHECK(f.check_outputs_complete() == f.names.size());
  CHECK(f.temporaries() == 0);
}

TEST_CASE("offline transform: disk full (RLIMIT_FSIZE), then rerun completes", "[cli][faults]") {
  fixture f(4);
  REQUIRE(f.expected.size() > 200000);
  // Each output is ~600 KB: a 200 KB cap makes every write fail part-way.
  const int rc_full = wait_exit(spawn(f.command(), f.log, 200000));
  CHECK(rc_full != 0);
  CHECK(f.check_outputs_complete() == 0);
  CHECK(f.temporaries() == 0);  // the failed outputs' temporaries are removed
  CHECK(read_file(f.log).find("[wds.io.102]") != std::string::npos);
  // A cap that lets some outputs through: those are complete, the rest absent.
  const int rc_rerun = wait_exit(spawn(f.command(), f.log));
  INFO(read_file(f.log));
  CHECK(rc_rerun == 0);
  CHECK(f.check_outputs_complete() == f.names.size());
  CHECK(f.temporaries() == 0);
}

TEST_CASE("offline transform: unreadable input fails alone, rerun after fixing it completes", "[cli][faults]") {
  fixture f(5);
  const std::string bad = f.in + "/" + f.names[2];
  ::unlink(bad.c_str());
  // root reads files whatever their mode, so use a directory in the file's place.
  const bool root = ::geteuid() == 0;
  if (root) {
    REQUIRE(::mkdir(bad.c_str(), 0755) == 0);
  } else {
    write_file(bad, f.shard);
    REQUIRE(::chmod(bad.c_str(), 0) == 0);
  }
  const int rc = wait_exit(spawn(f.command(), f.log));
  CHECK(rc != 0);
  CHECK(read_file(f.log).find("[wds.io.100]") != std::string::npos);
  CHECK(f.check_outputs_complete() == f.names.size() - 1);
  struct stat st {};
  CHECK(::stat((f.out + "/" + f.names[2]).c_str(), &st) != 0);
  // Fix the input; the rerun transforms only what is missing.
  if (root) ::rmdir(bad.c_str());
  ::unlink(bad.c_str());
  write_file(bad, f.shard);
  const int rc2 = wait_exit(spawn(f.command(), f.log));
  INFO(read_file(f.log));
  CHECK(rc2 == 0);
  CHECK(f.check_outputs_complete() == f.names.size());
  CHECK(f.temporaries() == 0);
}

#else

TEST_CASE("offline transform faults", "[cli][faults]") {
  WARN("skipped: needs the wds-etl binary and the JPEG and PNG codecs");
  SUCCEED();
}

#endif
