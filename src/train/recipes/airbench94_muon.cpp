// The airbench94_muon recipe (Keller Jordan's airbench94_muon.py, the published CIFAR-10 record:
// 94.01% mean in 2.59 s on an A100), as data. Every value is the record's; where it departs from
// airbench94 (src/train/recipes/airbench94.cpp) the line says so.
#include "recipes.h"

namespace gpunet::train::recipes {

Recipe airbench94_muon() {
  Recipe r;
  r.name = "airbench94_muon";
  r.description =
      "airbench94_muon: the CIFAR-10 record (airbench94's net, Muon on the group convs, SGD for the rest, "
      "no lookahead, TTA)";
  // airbench94's net with the head x 1/256 and the record's names (layers.1-3) and reset().
  r.model = "airbench94_muon";

  // Data: as airbench94 (mean/std, reflect-pad-2 translate, alternating flip).
  r.transforms = data::Transforms::airbench();
  // The whitening: as airbench94 (5,000 images, 2x2 patches, eps 5e-4), but the filters keep
  // torch.linalg.eigh's ascending eigenvalue order (the record does not flip them).
  r.whitening = data::WhiteningOptions{5000, 2, 5e-4, false};
  r.batch_size = 2000;
  r.epochs = 8;  // ceil(25 x 8) = 200 steps on 50,000 images
  r.drop_last = true;

  // SGD (Nesterov, momentum 0.85) for the whitening bias, the BN biases (lr 0.053) and the head
  // (lr 0.67); wd = 2e-6 x batch_size, each group's weight_decay = wd / its lr.
  r.momentum = 0.85;
  r.nesterov = true;
  r.lr = 0.053;
  r.decay_scale = 2e-6;
  r.decay_divisor = 1.0;
  // Muon for the group convs (every trainable 4-D weight: the whitening weight is frozen):
  // lr 0.24, momentum 0.6, Nesterov, 3 Newton-Schulz steps in bf16 (eps 1e-7), the weight
  // renormalised to Frobenius norm sqrt(rows) before each update, no weight decay.
  r.muon.lr = 0.24;
  r.muon.momentum = 0.6;
  r.muon.nesterov = true;
  r.muon.ns_steps = 3;
  r.muon.eps = 1e-7;
  r.muon.normalize_weight = true;
  r.muon.shape_scale = false;
  r.muon.ns_bf16 = true;
  RecipeGroup whiten_bias{"whitening bias", "whiten.bias"};
  whiten_bias.lr_over_frozen_span = true;  // its lr: 0.053 x (1 - step / its 3 epochs of steps)
  RecipeGroup head{"head", "head"};
  head.lr = 0.67;
  RecipeGroup filters{"group convs", "conv"};
  filters.optimizer = GroupOptimizer::Muon;
  filters.weight_decay = false;
  r.groups = {whiten_bias, {"norm biases", "norm"}, head, filters};

  // Cross-entropy with label smoothing 0.2, summed over the batch: as airbench94.
  r.label_smoothing = 0.2;
  r.loss_sum = true;

  // lr factor 1 - step / steps for every group (no warmup: the first breakpoint is 1), the
  // whitening bias's over its own training span (above).
  r.lr_start = 1.0;
  r.lr_warmup = 0.0;
  r.lr_end = 0.0;

  // The whitening bias trains for the first 3 epochs only: as airbench94.
  r.frozen_after_name = "whiten.bias";
  r.frozen_after_epochs = 3;

  // No lookahead.
  r.lookahead_every = 0;

  // TTA: airbench94's 6 views (identity and flip at 0.25; one-pixel translations and their flips
  // at 0.125).
  r.tta = {{0, 0, 0, false, 0.25}, {0, 0, 0, true, 0.25},   {1, 0, 0, false, 0.125},
           {1, 0, 0, true, 0.125}, {1, 2, 2, false, 0.125}, {1, 2, 2, true, 0.125}};
  return r;
}

}  // namespace gpunet::train::recipes
