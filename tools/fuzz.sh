#!/usr/bin/env bash
# Fuzzes the readers of untrusted files with libFuzzer + AddressSanitizer + UBSan:
#   fuzz_cifar10      data::read_cifar10_file   (CIFAR-10 batch files)
#   fuzz_safetensors  io::load_safetensors, io::load_weights, io::load_train_state (checkpoints)
#   fuzz_image        data::decode_image + resize_image + to_planar (predict, image folders)
# Installs clang (with libFuzzer) when missing, builds them in build-fuzz/ (clang, the library
# instrumented too), runs each for FUZZ_SECONDS (default 60) starting from fuzz/corpus/<name>/,
# and fails on the first crash, sanitizer report, leak, timeout (10 s per input) or input
# that makes the reader use more than 2 GB (resident; a single allocation may reach 4 GB:
# stb_image reserves up to 2 GB, untouched, for a PNG chunk that claims to be that long).
# Usage: bash tools/fuzz.sh [target ...]     e.g. FUZZ_SECONDS=600 FUZZ_RUNS=-1 FUZZ_SEED=7 bash tools/fuzz.sh fuzz_image
# (defaults: seed 1 and a fixed number of inputs per target, so that CI is repeatable)
# A finding is saved as build-fuzz/artifacts/<target>-crash-<sha1>; reproduce it with
#   build-fuzz/bin/<target> build-fuzz/artifacts/<target>-crash-<sha1>
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
BUILD=${GPUNET_FUZZ_BUILD_DIR:-build-fuzz}
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(fuzz_cifar10 fuzz_safetensors fuzz_image)

# ---- clang with libFuzzer (Debian 12: clang-14, libclang-rt-14-dev; libomp-dev for OpenMP)
probe() {
  local t; t=$(mktemp -d)
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$t/p.cpp"
  clang++ -fsanitize=fuzzer,address,undefined "$t/p.cpp" -o "$t/p" >/dev/null 2>&1 &&
    printf '#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n' >"$t/o.cpp" &&
    clang++ -fopenmp "$t/o.cpp" -o "$t/o" >/dev/null 2>&1
  local rc=$?; rm -rf "$t"; return $rc
}
if ! command -v clang++ >/dev/null 2>&1 || ! probe; then
  echo "installing clang, libFuzzer and libomp"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang libclang-rt-14-dev libomp-dev >/dev/null
  probe || { echo "fuzz.sh: clang cannot build a libFuzzer program with OpenMP" >&2; exit 1; }
fi

# ---- build (-gline-tables-only instead of -g: a finding's stack still has file:line)
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPUNET_CUDA=OFF \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
  -DGPUNET_FUZZ=ON -DGPUNET_SANITIZE=ON -DGPUNET_TESTS=OFF -DGPUNET_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target "${TARGETS[@]}"

# ---- run
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$BUILD/artifacts"
status=0
for t in "${TARGETS[@]}"; do
  name=${t#fuzz_}
  seeds=fuzz/corpus/$name
  work=$BUILD/corpus/$name  # grows across runs; the committed seeds stay as they are
  mkdir -p "$work"
  extra=()
  [ -f "fuzz/$name.dict" ] && extra+=(-dict="fuzz/$name.dict")
  # A fixed seed and a fixed number of inputs (FUZZ_RUNS=-1: no limit) make a run from a fresh
  # clone repeatable, so CI cannot fail by chance; FUZZ_SECONDS still bounds the time.
  case $name in
    cifar10) extra+=(-max_len=12400 -runs="${FUZZ_RUNS:-1500000}") ;;  # room for 4 records
    image) extra+=(-max_len=8192 -runs="${FUZZ_RUNS:-60000}") ;;
    *) extra+=(-max_len=4096 -runs="${FUZZ_RUNS:-300000}") ;;
  esac
  echo "== $t for ${SECONDS_EACH}s (seeds: $seeds, corpus: $work)"
  if "$BUILD/bin/$t" "$work" "$seeds" "${extra[@]}" -seed="${FUZZ_SEED:-1}" -max_total_time="$SECONDS_EACH" -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t-" >"$BUILD/$t.log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$BUILD/$t.log" | tail -2 || true
    echo "   $t: no crash"
  else
    status=1
    tail -n 60 "$BUILD/$t.log"
    echo "FAILED: $t (log: $BUILD/$t.log; artifacts: $BUILD/artifacts/)" >&2
  fi
done
exit $status
