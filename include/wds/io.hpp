// SPDX-License-Identifier: MIT
#pragma once

#include <wds/config.hpp>

// Byte sources and sinks. A source is anything with
//     std::size_t read(std::byte* dst, std::size_t n);   // 0 only at end of data
// and a sink anything with
//     void write(const std::byte* src, std::size_t n);
//     void close();                                       // commit; may throw
// Sources never seek, so pipes, sockets and decompressors are first-class.
// A source whose bytes already sit in memory may also offer
//     byte_view read_view(std::size_t n);                // read() in place, no copy
// which decompressing sources use instead of read() (memory_source does).

#include <wds/error.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

WDS_NAMESPACE_BEGIN

namespace detail {
inline std::string errno_text(int e) { return std::strerror(e); }

inline std::size_t read_fd(int fd, std::byte* dst, std::size_t n, const std::string& name) {
  for (;;) {
    ssize_t got = ::read(fd, dst, n);
    if (got >= 0) return static_cast<std::size_t>(got);
    if (errno == EINTR) continue;
    throw io_error(101, {name, {}, location::unknown_offset}, "read failed: " + errno_text(errno));
  }
}

inline void write_fd(int fd, const std::byte* src, std::size_t n, const std::string& name) {
  while (n > 0) {
    ssize_t put = ::write(fd, src, n);
    if (put < 0) {
      if (errno == EINTR) continue;
      throw io_error(102, {name, {}, location::unknown_offset}, "write failed: " + errno_text(errno));
    }
    src += put;
    n -= static_cast<std::size_t>(put);
  }
}
}  // namespace detail

// Read-only contiguous bytes owned by someone else (e.g. a tar_reader's buffer,
// valid until the reader moves on).
class byte_view {
 public:
  byte_view() = default;
  byte_view(const std::byte* data, std::size_t size) noexcept : data_(data), size_(size) {}
  template <class C, class = decltype(std::declval<const C&>().data()),
            class = std::enable_if_t<sizeof(*std::declval<const C&>().data()) == 1>>
  byte_view(const C& c) noexcept  // NOLINT(google-explicit-constructor)
      : data_(reinterpret_cast<const std::byte*>(c.data())), size_(c.size()) {}

  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const std::byte* begin() const noexcept { return data_; }
  const std::byte* end() const noexcept { return data_ + size_; }
  std::byte operator[](std::size_t i) const noexcept { return data_[i]; }
  std::string_view text() const noexcept { return {reinterpret_cast<const char*>(data_), size_}; }
  std::vector<std::byte> to_vector() const { return {data_, data_ + size_}; }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// ---- sources ----------------------------------------------------------------

// Reads a file descriptor (pipe, socket, stdin, file). Owns it when asked to.
class fd_source {
 public:
  explicit fd_source(int fd, std::string name = "-", bool owned = false)
      : fd_(fd), owned_(owned), name_(std::move(name)) {}
  fd_source(fd_source&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), owned_(o.owned_), name_(std::move(o.name_)) {}
  fd_source& operator=(fd_source&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
      owned_ = o.owned_;
      name_ = std::move(o.name_);
    }
    return *this;
  }
  fd_source(const fd_source&) = delete;
  fd_source& operator=(const fd_source&) = delete;
  ~fd_source() { reset(); }

  std::size_t read(std::byte* dst, std::size_t n) { return detail::read_fd(fd_, dst, n, name_); }
  const std::string& name() const noexcept { return name_; }
  int fd() const noexcept { return fd_; }

 private:
  void reset() noexcept {
    if (owned_ && fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
  bool owned_ = false;
  std::string name_;
};

// Reads a file with plain read() calls; the tar reader does the buffering, so
// large requests go straight to the kernel (no per-byte calls, no mmap faults).
class file_source : public fd_source {
 public:
  explicit file_source(const std::string& path) : fd_source(open_or_throw(path), path, true) {}

 private:
  static int open_or_throw(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw io_error(100, {path, {}, location::unknown_offset},
                     "cannot open for reading: " + detail::errno_text(errno));
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
      ::close(fd);
      throw io_error(100, {path, {}, location::unknown_offset}, "cannot open for reading: is a directory");
    }
    return fd;
  }
};

// Reads a byte range owned by the caller (must outlive the source).
class memory_source {
 public:
  memory_source(const void* data, std::size_t size, std::string name = "<memory>")
      : p_(static_cast<const std::byte*>(data)), end_(p_ + size), name_(std::move(name)) {}
  template <class C, class = decltype(std::declval<const C&>().data()),
            class = std::enable_if_t<sizeof(*std::declval<const C&>().data()) == 1>>
  explicit memory_source(const C& bytes, std::string name = "<memory>")
      : memory_source(bytes.data(), bytes.size(), std::move(name)) {}

  std::size_t read(std::byte* dst, std::size_t n) noexcept {
    std::size_t k = std::min<std::size_t>(n, static_cast<std::size_t>(end_ - p_));
    if (k) std::memcpy(dst, p_, k);
    p_ += k;
    return k;
  }
  // read() without the copy: the next (up to) n bytes, in place; empty at the end.
  // Decompressing sources take their input this way (wds/codec/stream.hpp).
  byte_view read_view(std::size_t n) noexcept {
    std::size_t k = std::min<std::size_t>(n, static_cast<std::size_t>(end_ - p_));
    byte_view v(p_, k);
    p_ += k;
    return v;
  }
  const std::string& name() const noexcept { return name_; }

 private:
  const std::byte* p_;
  const std::byte* end_;
  std::string name_;
};

// Adapts a std::istream (which must outlive the source).
class istream_source {
 public:
  explicit istream_source(std::istream& in, std::string name = "<istream>")
      : in_(&in), name_(std::move(name)) {}
  std::size_t read(std::byte* dst, std::size_t n) {
    in_->read(reinterpret_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (in_->bad()) throw io_error(101, {name_, {}, location::unknown_offset}, "stream read failed");
    return static_cast<std::size_t>(in_->gcount());
  }
  const std::string& name() const noexcept { return name_; }

 private:
  std::istream* in_;
  std::string name_;
};

namespace detail {
template <class T, class = void>
struct has_name : std::false_type {};
template <class T>
struct has_name<T, std::void_t<decltype(std::string(std::declval<const T&>().name()))>> : std::true_type {};
template <class T, class = void>
struct has_verify_end : std::false_type {};
template <class T>
struct has_verify_end<T, std::void_t<decltype(std::declval<T&>().verify_end())>> : std::true_type {};
template <class T, class = void>
struct has_read_view : std::false_type {};
template <class T>
struct has_read_view<T, std::void_t<decltype(byte_view(std::declval<T&>().read_view(std::size_t{})))>>
    : std::true_type {};
}  // namespace detail

// Name of a source or sink for error messages, when it has one.
template <class T>
std::string name_of(const T& t) {
  if constexpr (detail::has_name<T>::value)
    return std::string(t.name());
  else
    return {};
}

// Lets a decompressing source check its trailer once its consumer is done.
template <class Source>
void verify_end(Source& src) {
  if constexpr (detail::has_verify_end<Source>::value) src.verify_end();
}

// Reads exactly n bytes unless the source ends first; returns the count read.
template <class Source>
std::size_t read_full(Source& src, std::byte* dst, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    std::size_t k = src.read(dst + got, n - got);
    if (k == 0) break;
    got += k;
  }
  return got;
}

// Type-erased source for run-time choices (stdin vs file, gzip vs plain).
class any_source {
 public:
  any_source() = default;
  template <class S, class = std::enable_if_t<!std::is_same_v<std::decay_t<S>, any_source>>>
  any_source(S src)  // NOLINT(google-explicit-constructor)
      : impl_(std::make_unique<model<S>>(std::move(src))) {}

  std::size_t read(std::byte* dst, std::size_t n) { return impl_->read(dst, n); }
  // Lets a decompressor check its trailer once the consumer is done.
  void verify_end() { impl_->verify_end(); }
  const std::string& name() const noexcept { return impl_->name(); }
  explicit operator bool() const noexcept { return impl_ != nullptr; }

 private:
  struct concept_t {
    virtual ~concept_t() = default;
    virtual std::size_t read(std::byte*, std::size_t) = 0;
    virtual void verify_end() = 0;
    virtual const std::string& name() const noexcept = 0;
  };
  template <class S>
  struct model final : concept_t {
    explicit model(S s) : src(std::move(s)), nm(name_of(src)) {}
    std::size_t read(std::byte* d, std::size_t n) override { return src.read(d, n); }
    void verify_end() override {
      wds::verify_end(src);
    }
    const std::string& name() const noexcept override { return nm; }
    S src;
    std::string nm;
  };
  std::unique_ptr<concept_t> impl_;
};

// ---- sinks ------------------------------------------------------------------

// Collects everything in memory.
class memory_sink {
 public:
  void write(const std::byte* src, std::size_t n) { bytes_.insert(bytes_.end(), src, src + n); }
  void close() noexcept { closed_ = true; }
  bool closed() const noexcept { return closed_; }
  const std::vector<std::byte>& bytes() const noexcept { return bytes_; }
  std::vector<std::byte> take() noexcept { return std::move(bytes_); }
  const std::string& name() const noexcept { return name_; }
  void reserve(std::size_t n) { bytes_.reserve(n); }

 private:
  std::vector<std::byte> bytes_;
  bool closed_ = false;
  std::string name_ = "<memory>";
};

// Writes to a file descriptor (stdout, a pipe, a socket) through a 1 MiB buffer.
class fd_sink {
 public:
  explicit fd_sink(int fd, std::string name = "-", bool owned = false)
      : fd_(fd), owned_(owned), name_(std::move(name)) {}
  fd_sink(fd_sink&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), owned_(o.owned_), name_(std::move(o.name_)),
        buf_(std::move(o.buf_)) {}
  fd_sink(const fd_sink&) = delete;
  fd_sink& operator=(const fd_sink&) = delete;
  fd_sink& operator=(fd_sink&&) = delete;
  ~fd_sink() {
    if (owned_ && fd_ >= 0) ::close(fd_);
  }

  void write(const std::byte* src, std::size_t n) {
    // Fewer, larger write() calls beat skipping the copy (measured: bench_tar).
    if (buf_.size() + n > capacity) flush();
    if (n >= capacity) {
      detail::write_fd(fd_, src, n, name_);
    } else {
      buf_.insert(buf_.end(), src, src + n);
    }
  }
  void flush() {
    if (!buf_.empty()) detail::write_fd(fd_, buf_.data(), buf_.size(), name_);
    buf_.clear();
  }
  void close() {
    flush();
    if (owned_ && fd_ >= 0) {
      int fd = std::exchange(fd_, -1);
      if (::close(fd) != 0)
        throw io_error(102, {name_, {}, location::unknown_offset}, "close failed: " + detail::errno_text(errno));
    }
  }
  const std::string& name() const noexcept { return name_; }
  int fd() const noexcept { return fd_; }

 protected:
  static constexpr std::size_t capacity = std::size_t{1} << 20;
  int fd_ = -1;
  bool owned_ = false;
  std::string name_;
  std::vector<std::byte> buf_;
};

// Writes a file atomically: bytes go to a hidden temporary beside the target,
// which close() renames into place. Until then the target is untouched, and a
// sink destroyed without close() (an error, a crash) removes its temporary, so
// a file that exists under the target name is always complete.
class file_sink {
 public:
  struct options {
    bool durable = false;  // fsync the file and its directory before/after rename
  };

  explicit file_sink(std::string path) : file_sink(std::move(path), options{}) {}
  file_sink(std::string path, options opts) : path_(std::move(path)), opts_(opts) {
    std::string dir = ".", base = path_;
    if (auto slash = path_.rfind('/'); slash != std::string::npos) {
      dir = slash == 0 ? "/" : path_.substr(0, slash);
      base = path_.substr(slash + 1);
    }
    dir_ = dir;
    tmp_ = dir + "/." + base + ".XXXXXX.tmp";
    std::vector<char> name(tmp_.begin(), tmp_.end());
    name.push_back('\0');
    int fd = ::mkstemps(name.data(), 4);
    if (fd < 0)
      throw io_error(103, {path_, {}, location::unknown_offset},
                     "cannot create temporary output: " + detail::errno_text(errno));
    tmp_.assign(name.data());
    ::fchmod(fd, 0644);
    out_ = std::make_unique<fd_sink>(fd, path_, true);
  }
  file_sink(file_sink&& o) noexcept
      : path_(std::move(o.path_)), tmp_(std::move(o.tmp_)), dir_(std::move(o.dir_)),
        opts_(o.opts_), out_(std::move(o.out_)) {
    o.tmp_.clear();
  }
  file_sink(const file_sink&) = delete;
  file_sink& operator=(const file_sink&) = delete;
  file_sink& operator=(file_sink&&) = delete;
  ~file_sink() { abandon(); }

  void write(const std::byte* src, std::size_t n) { out_->write(src, n); }

  // Flushes and renames the temporary to the target name.
  void close() {
    if (tmp_.empty()) return;
    try {
      out_->flush();
      if (opts_.durable && ::fsync(out_->fd()) != 0)
        throw io_error(102, {path_, {}, location::unknown_offset}, "fsync failed: " + detail::errno_text(errno));
      out_->close();
      if (::rename(tmp_.c_str(), path_.c_str()) != 0)
        throw io_error(104, {path_, {}, location::unknown_offset},
                       "cannot rename temporary into place: " + detail::errno_text(errno));
      tmp_.clear();
      if (opts_.durable) sync_dir();
    } catch (...) {
      abandon();
      throw;
    }
  }
  // Drops the output: the target stays as it was.
  void abandon() noexcept {
    out_.reset();
    if (!tmp_.empty()) ::unlink(tmp_.c_str());
    tmp_.clear();
  }
  const std::string& name() const noexcept { return path_; }
  const std::string& temporary_path() const noexcept { return tmp_; }

 private:
  void sync_dir() noexcept {
    int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }

  std::string path_, tmp_, dir_;
  options opts_;
  std::unique_ptr<fd_sink> out_;  // owns the temporary's descriptor
};

// Adapts a std::ostream (which must outlive the sink).
class ostream_sink {
 public:
  explicit ostream_sink(std::ostream& out, std::string name = "<ostream>")
      : out_(&out), name_(std::move(name)) {}
  void write(const std::byte* src, std::size_t n) {
    out_->write(reinterpret_cast<const char*>(src), static_cast<std::streamsize>(n));
    if (!*out_) throw io_error(102, {name_, {}, location::unknown_offset}, "stream write failed");
  }
  void close() {
    out_->flush();
    if (!*out_) throw io_error(102, {name_, {}, location::unknown_offset}, "stream flush failed");
  }
  const std::string& name() const noexcept { return name_; }

 private:
  std::ostream* out_;
  std::string name_;
};

// Type-erased sink.
class any_sink {
 public:
  any_sink() = default;
  template <class S, class = std::enable_if_t<!std::is_same_v<std::decay_t<S>, any_sink>>>
  any_sink(S sink)  // NOLINT(google-explicit-constructor)
      : impl_(std::make_unique<model<S>>(std::move(sink))) {}

  void write(const std::byte* src, std::size_t n) { impl_->write(src, n); }
  void close() { impl_->close(); }
  const std::string& name() const noexcept { return impl_->name(); }
  explicit operator bool() const noexcept { return impl_ != nullptr; }
  // The wrapped sink, when it is of type S (e.g. to take a memory_sink's bytes).
  template <class S>
  S* get() noexcept {
    auto* m = dynamic_cast<model<S>*>(impl_.get());
    return m ? &m->sink : nullptr;
  }

 private:
  struct concept_t {
    virtual ~concept_t() = default;
    virtual void write(const std::byte*, std::size_t) = 0;
    virtual void close() = 0;
    virtual const std::string& name() const noexcept = 0;
  };
  template <class S>
  struct model final : concept_t {
    explicit model(S s) : sink(std::move(s)), nm(name_of(sink)) {}
    void write(const std::byte* d, std::size_t n) override { sink.write(d, n); }
    void close() override { sink.close(); }
    const std::string& name() const noexcept override { return nm; }
    S sink;
    std::string nm;
  };
  std::unique_ptr<concept_t> impl_;
};

WDS_NAMESPACE_END
