// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <numeric>
#include <utility>
#include <vector>

namespace wds {

// Dense, C-ordered (row-major) tensor with an arbitrary shape; to_tensor()
// yields CHW float, npy reading yields any shape.
template <class T>
class tensor {
 public:
  using value_type = T;

  tensor() = default;
  explicit tensor(std::vector<std::size_t> shape)
      : shape_(std::move(shape)), data_(count(shape_)) {}
  tensor(std::vector<std::size_t> shape, std::vector<T> data)
      : shape_(std::move(shape)), data_(std::move(data)) {}

  const std::vector<std::size_t>& shape() const noexcept { return shape_; }
  std::size_t rank() const noexcept { return shape_.size(); }
  std::size_t dim(std::size_t i) const noexcept { return shape_[i]; }
  std::size_t size() const noexcept { return data_.size(); }
  T* data() noexcept { return data_.data(); }
  const T* data() const noexcept { return data_.data(); }
  std::vector<T>& values() noexcept { return data_; }
  const std::vector<T>& values() const noexcept { return data_; }

  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }

  static std::size_t count(const std::vector<std::size_t>& shape) noexcept {
    return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
  }

 private:
  std::vector<std::size_t> shape_;
  std::vector<T> data_;
};

}  // namespace wds
