#!/bin/sh
# `cmake --install` into a fresh prefix, then the outside project examples/consumer built against
# it twice -- with find_package(gpunet CONFIG REQUIRED) and with pkg-config -- and run: each
# trains LeNet on the CPU and checks that the loss falls. Also: the installed `gpunet` runs, the
# installed files name no build or source folder, and the shared library resolves from the prefix.
#   test_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
tmp=$(mktemp -d /tmp/gpunet-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "test_install: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install failed"; }
for f in include/gpunet/gpunet.h include/gpunet/config.h include/gpunet/io/tensorboard.h bin/gpunet \
         lib/cmake/gpunet/gpunetConfig.cmake lib/cmake/gpunet/gpunetConfigVersion.cmake \
         lib/cmake/gpunet/gpunetTargets.cmake lib/pkgconfig/gpunet.pc share/gpunet/cifar10-sample/test_batch.bin; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
ls "$prefix"/lib/libgpunet.* >/dev/null 2>&1 || fail "libgpunet not installed"
# Nothing installed may point into the build folder (a consumer must work after it is gone).
if grep -l "$build" "$prefix"/lib/cmake/gpunet/*.cmake "$prefix"/lib/pkgconfig/gpunet.pc; then
  fail "installed package files name the build folder $build"
fi
shared=no
if [ -e "$prefix/lib/libgpunet.so" ]; then
  shared=yes
  readelf -d "$prefix/bin/gpunet" | grep -q 'R.*PATH.*\$ORIGIN/../lib' || fail "bin/gpunet has no \$ORIGIN/../lib RUNPATH"
  readelf -d "$prefix/bin/gpunet" | grep 'R.*PATH' | grep -q "$build" && fail "bin/gpunet's RUNPATH names the build folder"
  ldd "$prefix/bin/gpunet" | grep libgpunet | grep -q "$prefix/" || fail "bin/gpunet does not load the installed libgpunet: $(ldd "$prefix/bin/gpunet" | grep gpunet)"
fi
# The installed program runs from anywhere and finds the installed sample.
(cd "$tmp" && GPUNET_DATA= "$prefix/bin/gpunet" --version) >"$tmp/version.txt" 2>&1 || { cat "$tmp/version.txt"; fail "installed gpunet --version failed"; }

gen=""
command -v ninja >/dev/null && gen="-G Ninja"
launcher=""
command -v ccache >/dev/null && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"

# 1. CMake: find_package(gpunet CONFIG REQUIRED), only the prefix on CMAKE_PREFIX_PATH.
cmake -S "$src/examples/consumer" -B "$tmp/cmake-build" $gen $launcher -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cfg.log" 2>&1 || { cat "$tmp/cfg.log"; fail "configuring the consumer failed"; }
cmake --build "$tmp/cmake-build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "building the consumer (find_package) failed"; }
if [ $shared = yes ]; then
  ldd "$tmp/cmake-build/consumer" | grep libgpunet | grep -q "$prefix/" || fail "the find_package consumer does not load the installed libgpunet"
fi
(cd "$tmp" && "$tmp/cmake-build/consumer") || fail "the find_package consumer failed"

# 2. pkg-config: the flags alone (plus C++20 and, for the shared library, a run path).
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
libdir=$(pkg-config --variable=libdir gpunet)
if [ $shared = yes ]; then flags=$(pkg-config --cflags --libs gpunet); else flags=$(pkg-config --static --cflags --libs gpunet); fi
c++ -std=c++20 -O1 "$src/examples/consumer/main.cpp" -o "$tmp/pc-consumer" $flags -Wl,-rpath,"$libdir" \
  >"$tmp/pc.log" 2>&1 || { cat "$tmp/pc.log"; echo "flags: $flags"; fail "building the consumer with pkg-config failed"; }
(cd "$tmp" && "$tmp/pc-consumer") || fail "the pkg-config consumer failed"
echo "test_install: OK (shared=$shared)"
