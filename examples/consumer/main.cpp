// A program outside gpunet's tree: trains LeNet on the CPU for a few steps on one batch of
// CIFAR-10 and checks that the loss falls. Exit 0 when it does, 1 when not, 2 on an error.
//   consumer [CIFAR10_DIR]        (default: the sample installed with gpunet)
#include <cstdio>
#include <memory>
#include <string>

#include <gpunet/data/cifar10.h>
#include <gpunet/data/loader.h>
#include <gpunet/gpunet.h>

using namespace gpunet;

int main(int argc, char** argv) try {
  const std::string dir = argc > 1 ? argv[1] : data::sample_dir();
  auto trainset = std::make_shared<data::Cifar10>(dir, data::Split::Train);
  data::LoaderOptions lo;
  lo.batch_size = 32;
  lo.device = Device::cpu();
  data::DataLoader loader(trainset, lo);
  data::Batch batch;
  if (!loader.next(batch)) throw Error("no training batch in " + dir);

  Generator gen(0);
  models::LeNet net(gen);
  auto criterion = nn::CrossEntropyLoss();
  optim::SGD optimizer(net, {.lr = 0.01, .momentum = 0.9});
  double first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {  // the same batch: the loss must fall
    optimizer.zero_grad();
    Tensor loss = criterion(net(batch.x), batch.y);
    loss.backward();
    optimizer.step();
    (step == 0 ? first : last) = loss.item();
  }
  std::printf("gpunet %s: LeNet loss %.4f -> %.4f after 20 steps\n", GPUNET_VERSION, first, last);
  return last < first ? 0 : 1;
} catch (const gpunet::Error& e) {
  std::fprintf(stderr, "consumer: error: %s\n", e.what());
  return 2;
}
