// CPU twin of the batch kernel: gather + augment + normalise (see src/kernels/batch.h for the
// exact formula). Plain loops; the reference the CUDA kernel is tested against.
#include "kernels/batch.h"

#include <cstddef>
#include <vector>

namespace gpunet::kernels::cpu {

// images: (M, C, H, W) uint8, labels: (M) uint8, indices: (B) int64 -> x: (B, C, H, W) float, y: (B) int64
void gather_batch(const BatchParams& p, int B, const uint8_t* images, const uint8_t* labels, const int64_t* indices,
                  float* x, int64_t* y) {
  const int C = p.C, H = p.H, W = p.W;
  const int64_t record = static_cast<int64_t>(C) * H * W;
  // The normalised value of every byte per channel, computed once (the same float ops per value).
  float lut[4][256];
  for (int c = 0; c < C; ++c)
    for (int v = 0; v < 256; ++v) lut[c][v] = batch_normalize(static_cast<uint8_t>(v), p.mean[c], p.std[c]);
  std::vector<int> rows(static_cast<size_t>(H)), cols(static_cast<size_t>(W));  // per sample: source, -1: zero pad
  for (int j = 0; j < B; ++j) {
    const int64_t m = indices[j];
    const uint8_t* img = images + m * record;
    float* out = x + j * record;
    y[j] = labels[m];
    const BatchChoice ch = batch_sample_choice(p, p.position + j, m);
    for (int oy = 0; oy < H; ++oy) rows[oy] = batch_source_index(oy, ch.dy, p.crop_pad, H, p.reflect);
    for (int ox = 0; ox < W; ++ox) {
      const int ix = batch_source_index(ch.post ? W - 1 - ox : ox, ch.dx, p.crop_pad, W, p.reflect);
      cols[ox] = ix >= 0 && ch.pre ? W - 1 - ix : ix;
    }
    for (int c = 0; c < C; ++c) {
      const uint8_t* plane = img + static_cast<int64_t>(c) * H * W;
      for (int oy = 0; oy < H; ++oy) {
        const int iy = rows[oy];
        float* row = out + (static_cast<int64_t>(c) * H + oy) * W;
        for (int ox = 0; ox < W; ++ox) {
          const int ix = cols[ox];
          row[ox] = lut[c][iy >= 0 && ix >= 0 ? plane[iy * W + ix] : 0];
        }
      }
    }
  }
}

}  // namespace gpunet::kernels::cpu
