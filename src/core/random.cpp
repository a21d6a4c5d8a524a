#include "gpunet/random.h"

#include <cmath>

namespace gpunet {

float Generator::normal(float mean, float std) {
  // Box-Muller on doubles; u1 in (0, 1] so log is finite.
  const double u1 = 1.0 - next_double();
  const double u2 = next_double();
  const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  return static_cast<float>(mean + std * z);
}

Generator& default_generator() {
  static Generator g(0);
  return g;
}

}  // namespace gpunet
