// The airbench94 recipe (Keller Jordan's airbench94: CIFAR-10 to 94% in 3.83 s on an A100), as
// data. Every value here is the reference's (../shared/peers/pytorch_airbench.py, docstring
// "The recipe"); src/train/recipe.cpp derives the per-run numbers from them as it does.
#include "recipes.h"

namespace gpunet::train::recipes {

Recipe airbench94() {
  Recipe r;
  r.name = "airbench94";
  r.description = "airbench94: CIFAR-10 to 94% (whitening conv + 3 conv groups, Nesterov SGD, lookahead, TTA)";
  r.model = "airbench94";

  // Data: CIFAR-10's mean/std, reflect-pad-2 random translate (new shifts every epoch), the
  // alternating flip (random once, then every image flipped on odd epochs).
  r.transforms = data::Transforms::airbench();
  // The whitening conv: all 2x2 patches of the first 5,000 normalised images, eps 5e-4.
  r.whitening = data::WhiteningOptions{5000, 2, 5e-4};
  r.batch_size = 1024;
  r.epochs = 9.9;  // ceil(48 x 9.9) = 476 steps on 50,000 images
  r.drop_last = true;

  // SGD, Nesterov momentum 0.85. The reference's "kilostep" = 1024 x (1 + 1 / (1 - momentum)):
  //   lr = 11.5 / kilostep;  wd = 0.0153 x batch_size / kilostep;  BN biases lr x 64;
  //   each group's weight_decay = wd / (its lr), so that lr x weight_decay = wd for all.
  r.momentum = 0.85;
  r.nesterov = true;
  const double kilostep = 1024.0 * (1.0 + 1.0 / (1.0 - r.momentum));
  r.lr = 11.5 / kilostep;
  r.decay_scale = 0.0153;
  r.decay_divisor = kilostep;
  // The reference's order: the BN biases ("norm" in the name; their weights are frozen), then
  // every other trainable parameter (whiten.bias, the group convs, the head).
  r.groups = {{"norm biases", "norm", 64.0}, {"others", "", 1.0}};

  // Cross-entropy with label smoothing 0.2, summed over the batch.
  r.label_smoothing = 0.2;
  r.loss_sum = true;

  // lr factor: 0.2 -> 1 over the first int(0.23 x steps) steps, then linearly to 0.07 at the end.
  r.lr_start = 0.2;
  r.lr_warmup = 0.23;
  r.lr_end = 0.07;

  // The whitening bias trains for the first 3 epochs only.
  r.frozen_after_name = "whiten.bias";
  r.frozen_after_epochs = 3;

  // Lookahead every 5 steps, decay 0.95^5 x (step / steps)^3; net <- ema after the last step.
  r.lookahead_every = 5;
  r.lookahead_base = 0.95;

  // TTA: identity and flip at 0.25 each; reflect-pad-1 crops at (0,0) and (2,2) (one-pixel
  // translations) and their flips at 0.125 each.
  r.tta = {{0, 0, 0, false, 0.25}, {0, 0, 0, true, 0.25},   {1, 0, 0, false, 0.125},
           {1, 0, 0, true, 0.125}, {1, 2, 2, false, 0.125}, {1, 2, 2, true, 0.125}};
  return r;
}

}  // namespace gpunet::train::recipes
