// "Two machines on one" (issue 15): two network namespaces joined by a veth pair, mpirun in one
// with --host naming both addresses, the second rank started in the other namespace by an rsh
// agent (`ip netns exec`), MPI's traffic over TCP only (btl tcp,self). The result equals 1
// process at the global batch, and the veth carried the gradients. Skips, saying why, where
// namespaces cannot be made (no CAP_NET_ADMIN, no iproute2).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "mpirun_support.h"
#include "support/run_command.h"

namespace gpunet {
namespace {

using clitest::TempDir;
using namespace disttest;

// Two namespaces and a veth pair between them, removed on destruction.
struct NamespacePair {
  std::string a, b, ip_a, ip_b, subnet, why_not;
  NamespacePair() {
    const int id = static_cast<int>(::getpid() % 100000);
    a = "gpunet_a" + std::to_string(id);
    b = "gpunet_b" + std::to_string(id);
    const std::string net = "10.231." + std::to_string(id % 250) + ".";
    ip_a = net + "1", ip_b = net + "2", subnet = net + "0/24";
    const std::string va = "gpv" + std::to_string(id) + "a", vb = "gpv" + std::to_string(id) + "b";
    const std::string cmd = "ip netns add " + a + " && ip netns add " + b + " && ip link add " + va +
                            " type veth peer name " + vb + " && ip link set " + va + " netns " + a +
                            " && ip link set " + vb + " netns " + b + " && ip -n " + a + " addr add " + ip_a +
                            "/24 dev " + va + " && ip -n " + b + " addr add " + ip_b + "/24 dev " + vb + " && ip -n " +
                            a + " link set " + va + " up && ip -n " + b + " link set " + vb + " up && ip -n " + a +
                            " link set lo up && ip -n " + b + " link set lo up";
    auto [code, out] = test::run_command(cmd);
    if (code != 0) why_not = out.empty() ? "exit " + std::to_string(code) : out;
    veth_b = vb;
  }
  ~NamespacePair() { test::run_command("ip netns del " + a + "; ip netns del " + b); }
  // Bytes received by the veth end in namespace b.
  long long rx_b() const {
    auto [code, out] = test::run_command("ip netns exec " + b + " cat /sys/class/net/" + veth_b + "/statistics/rx_bytes");
    return code == 0 ? std::atoll(out.c_str()) : -1;
  }
  std::string veth_b;
};

TEST(MpiNetns, TwoNamespacesOverTcpEqualOneProcessAtTheGlobalBatch) {
  SKIP_WITHOUT_MPI();
  NamespacePair ns;
  if (!ns.why_not.empty()) GTEST_SKIP() << "cannot make network namespaces here (needs CAP_NET_ADMIN): " << ns.why_not;
  TempDir tmp;
  // mpirun's rsh agent: `agent HOST COMMAND...` runs COMMAND in HOST's namespace.
  const std::string agent = tmp / "agent.sh";
  {
    std::ofstream f(agent);
    f << "#!/bin/sh\nhost=$1; shift\ncase \"$host\" in\n  " << ns.ip_a << ") ns=" << ns.a << " ;;\n  " << ns.ip_b
      << ") ns=" << ns.b << " ;;\n  *) echo \"agent: unknown host $host\" >&2; exit 1 ;;\nesac\n"
      << "exec ip netns exec \"$ns\" sh -c \"$*\"\n";
  }
  ASSERT_EQ(::chmod(agent.c_str(), 0755), 0);
  const std::string one = tmp / "one.safetensors", two = tmp / "two.safetensors";
  auto [c1, o1] = test::run_command(cli() + train_args(16, 30, true) + " --save " + sh_quote(one));
  ASSERT_EQ(c1, 0) << o1;
  const long long rx0 = ns.rx_b();
  const std::string mpirun = "ip netns exec " + ns.a + " env " + mpirun_prefix(2) + "--host " + ns.ip_a + "," +
                             ns.ip_b + " --mca plm_rsh_agent " + sh_quote(agent) +
                             " --mca btl tcp,self --mca btl_tcp_if_include " + ns.subnet +
                             " --mca oob_tcp_if_include " + ns.subnet + " ";
  auto [c2, o2] = test::run_command(mpirun + cli() + train_args(8, 30, true) + " --save " + sh_quote(two));
  ASSERT_EQ(c2, 0) << o2;
  const long long rx = ns.rx_b() - rx0;
  std::string where;
  const double d = max_rel_diff(two, one, &where);
  EXPECT_LT(d, 1e-5) << "worst at " << where;
  // 30 all-reduces of LeNet's 62k float gradients: rank 1's half of each crossed the veth.
  EXPECT_GT(rx, 30LL * 62006 * 4 / 2) << "the veth carried " << rx << " bytes";
  std::printf("[ dist ] two namespaces over TCP: 2 x 8 vs 1 x 16: %.3g relative; %lld bytes into namespace b\n", d, rx);
}

}  // namespace
}  // namespace gpunet
