#pragma once
// The built-in recipes, one file each; src/train/recipe.cpp lists them by name.
#include "gpunet/train/recipe.h"

namespace gpunet::train::recipes {

Recipe airbench94();
Recipe airbench94_muon();

}  // namespace gpunet::train::recipes
