#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gpunet {

using Shape = std::vector<int64_t>;

/// Number of elements of a shape (1 for a scalar, []).
inline int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}
/// Row-major (contiguous) strides of a shape, in elements.
inline Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}
/// "[4, 3, 32, 32]"
inline std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

}  // namespace gpunet
