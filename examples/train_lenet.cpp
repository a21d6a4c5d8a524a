// The seed's program (the PyTorch CIFAR-10 tutorial, trained on the GPU), line for line in
// gpunet's C++ API: pick the device, move the net, the data and the loss there, train, print
// the running loss every 2,000 mini-batches, then "Finished Training".
//
//   build/bin/train_lenet [DATA_DIR] [EPOCHS]
// DATA_DIR defaults to $GPUNET_DATA, else the embedded sample (2,000 images: 500 batches an
// epoch, so no loss line is printed; use the full CIFAR-10 to see them); EPOCHS to 2.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gpunet/data/cifar10.h"
#include "gpunet/data/loader.h"
#include "gpunet/gpunet.h"

using namespace gpunet;

int main(int argc, char** argv) try {
  const char* env = std::getenv("GPUNET_DATA");
  const std::string dir = argc > 1 ? argv[1] : (env && *env ? env : data::sample_dir());
  const int epochs = argc > 2 ? std::atoi(argv[2]) : 2;

  // device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
  Device device = Device::best();
  std::printf("%s\n", device.str().c_str());

  // trainset = CIFAR10(train=True, transform=ToTensor + Normalize(0.5, 0.5)); DataLoader(batch_size=4, shuffle=True)
  auto trainset = std::make_shared<data::Cifar10>(dir, data::Split::Train);
  data::LoaderOptions lo;
  lo.batch_size = 4;
  lo.shuffle = true;
  lo.device = device;  // inputs, labels = data[0].to(device), data[1].to(device)
  data::DataLoader trainloader(trainset, lo);

  // net = Net(); net.to(device)
  models::LeNet net;
  net.to(device);

  // criterion = nn.CrossEntropyLoss().to(device); optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
  auto criterion = nn::CrossEntropyLoss().to(device);
  optim::SGD optimizer(net, {.lr = 0.001, .momentum = 0.9});

  for (int epoch = 0; epoch < epochs; ++epoch) {  // loop over the dataset multiple times
    double running_loss = 0.0;
    for (data::Batch batch; trainloader.next(batch);) {
      const int64_t i = batch.index;
      optimizer.zero_grad();                          // zero the parameter gradients
      Tensor outputs = net(batch.x);                  // forward
      Tensor loss = criterion(outputs, batch.y);
      loss.backward();                                // backward
      optimizer.step();                               // optimize
      running_loss += loss.item();                    // print statistics
      if (i % 2000 == 1999) {
        std::printf("[%d, %5lld] loss: %.3f\n", epoch + 1, static_cast<long long>(i + 1), running_loss / 2000);
        running_loss = 0.0;
      }
    }
  }
  std::printf("Finished Training\n");
  return 0;
} catch (const gpunet::Error& e) {
  std::fprintf(stderr, "train_lenet: error: %s\n", e.what());
  return 2;
}
