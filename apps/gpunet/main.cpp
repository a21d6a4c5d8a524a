// gpunet: the command line. Subcommands are wired here; each lives in its own file.
#include <cstdio>

#include "gpunet/gpunet.h"

int main(int argc, char** argv) {
  std::printf("gpunet %s\n", GPUNET_VERSION);
  return 0;
}
