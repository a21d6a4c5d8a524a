#!/usr/bin/env bash
# Runs on the lent GPU machine, from the repo root, over gpu/ made by tools/gpu_prepare.sh:
# CUDA tests, compute-sanitizer (memcheck, racecheck, initcheck) over the GPU parity tests,
# doctor, bench, the PyTorch peer side by side, and one timed default training run. Every log
# goes under $OUT; a short table is printed last.
# Bounded: the whole script stays under GPU_CHECK_BUDGET_S seconds (default 450, under 8
# minutes); every step gets at most its own cap and what is left of the budget, and a step
# with under 15 s left is skipped (and says so).
set -u
OUT=${OUT:-/tmp/gpunet-out}
mkdir -p "$OUT"
G=$PWD/gpu
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET_S:-450}
# The test binaries hold the build's source path (fixtures, the sample), which gpu_prepare.sh
# recorded in gpu/source_dir: make that path resolve to this checkout.
SRC=${GPUNET_BUILD_SOURCE_DIR:-$(cat "$G/source_dir" 2>/dev/null)}
if [ -n "$SRC" ] && [ "$SRC" != "$PWD" ] && [ ! -e "$SRC" ]; then
  { mkdir -p "$(dirname "$SRC")" && ln -s "$PWD" "$SRC"; } 2>/dev/null || echo "note: cannot link $SRC to $PWD; fixture tests may fail"
fi
[ -f "$G/pack.tar.xz" ] && [ ! -d "$G/bin" ] &&
  python3 -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$G/pack.tar.xz" "$G"
# cuDNN comes as the nvidia-cudnn wheel there: find libcudnn.so.9 on sys.path as torch does
# (nvidia.cudnn may be a namespace package, whose __file__ is None).
CUDNN_LIB=$(python3 -c '
import glob, os, sys
for p in sys.path:
    hit = glob.glob(os.path.join(p, "nvidia", "cudnn", "lib", "libcudnn.so.9"))
    if hit:
        print(os.path.dirname(hit[0]))
        break' 2>/dev/null)
[ -n "$CUDNN_LIB" ] || echo "note: no libcudnn.so.9 under python3's nvidia/cudnn; relying on the default library path"
# The Python peers keep the machine's own library path: $G/lib (Debian's libstdc++, OpenSSL, ...)
# and the toolkit's cuBLAS must not shadow the libraries torch was built with (LD_LIBRARY_PATH
# is searched before a library's RUNPATH).
BASE_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
export LD_LIBRARY_PATH=$G/lib:/usr/local/cuda/lib64${CUDNN_LIB:+:$CUDNN_LIB}${BASE_LD_LIBRARY_PATH:+:$BASE_LD_LIBRARY_PATH}
# A full-size dataset from the one file (speed does not depend on the pixels).
D=$(mktemp -d)/cifar-10-batches-bin
mkdir -p "$D"
for i in 1 2 3 4 5; do ln -s "$G/data/data_batch_1.bin" "$D/data_batch_$i.bin"; done
ln -s "$G/data/data_batch_1.bin" "$D/test_batch.bin"
cp "$G/data/batches.meta.txt" "$D/"
export GPUNET_DATA=$D

# run NAME CAP_S CMD...: CMD with a timeout of min(CAP_S, what is left of the budget).
run() {
  local name=$1 cap=$2; shift 2
  local left=$((BUDGET - ($(date +%s) - START)))
  [ "$left" -lt "$cap" ] && cap=$left
  if [ "$cap" -lt 15 ]; then echo "== $name: skipped (time budget of ${BUDGET}s spent)" | tee "$OUT/$name.log"; return; fi
  echo "== $name (<= ${cap}s): $*"
  timeout "$cap" "$@" >"$OUT/$name.log" 2>&1
  echo "rc=$?" | tee -a "$OUT/$name.log"
}
# Tools that may be missing or off PATH there: never let their absence cost the run itself.
SANITIZER=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
TIMED=(); [ -x /usr/bin/time ] && TIMED=(/usr/bin/time -v)
nvidia-smi >"$OUT/nvidia-smi.log" 2>&1
run doctor 30 "$G/bin/gpunet" doctor
run test_ops 120 "$G/bin/test_ops" --gtest_brief=1
# The sanitizers over the GPU parity tests: the op-level parity tests and the sweep's smaller
# cases (the 16.8M-element cases are as slow under the sanitizer as they are redundant there).
# memcheck: out-of-bounds and misaligned accesses; racecheck: shared-memory hazards (the block
# reductions, the column sums); initcheck: reads of device memory never written.
PARITY='CudaParity.*:CudaParityCnn.*:CudaPoison.*:CudaSweep.Linear*:CudaSweep.NonContiguous*'
for tool in memcheck racecheck initcheck; do
  run "sanitizer_$tool" 60 "$SANITIZER" --tool "$tool" --error-exitcode 9 "$G/bin/test_ops" --gtest_filter="$PARITY" --gtest_brief=1
done
for t in core nn data io models; do
  [ -x "$G/bin/test_$t" ] && run "test_$t" 90 "$G/bin/test_$t" --gtest_brief=1
done
# batch_norm2d: the own kernels against cuDNN's, validated then timed (issue 12's choice).
run bench_bn 40 "$G/bin/bench_bn_cuda"
# Data parallel (issue 15): a 1-rank NCCL communicator on the one GPU (2 GPUs are untested).
[ -x "$G/bin/test_dist" ] && run test_dist_nccl 60 "$G/bin/test_dist" --gtest_filter='Nccl.*' --gtest_brief=1
# The train command's NCCL path (cuda:<local rank>, NCCL gradient buckets, --sync-bn over NCCL)
# under mpirun with one process. The GPU machine may have no Open MPI: then it says so.
if command -v mpirun >/dev/null 2>&1; then
  run train_nccl 60 env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np 1 \
    "$G/bin/gpunet" train --model resnet18 --sync-bn --batch-size 64 --max-steps 30 --lr 0.01 --log-every 10
else
  echo "== train_nccl: skipped (no mpirun on this machine; the Nccl.* tests above ran the same path in-process)" | tee "$OUT/train_nccl.log"
fi
run bench 45 "$G/bin/gpunet" bench --device cuda:0 --batch-sizes 4,64,512 --steps 300 --json
run bench_eager 30 "$G/bin/gpunet" bench --device cuda:0 --batch-sizes 4,512 --steps 300 --cuda-graph off --json
# airbench94: gpunet's recipe and the peer (bf16, torch.compile) on the same data, 100 steps each
# (the schedules still span the whole run); compare the JSON lines' images_per_second.
run recipe 60 "$G/bin/gpunet" train --recipe airbench94 --device cuda:0 --max-steps 100
# airbench94_muon (SGD + Muon with the bf16 Newton-Schulz on the device): 50 of its 200 steps.
run recipe_muon 45 "$G/bin/gpunet" train --recipe airbench94_muon --device cuda:0 --max-steps 50
run peer_airbench 90 env LD_LIBRARY_PATH="$BASE_LD_LIBRARY_PATH" python3 "$G/pytorch_airbench.py" --data "$D" --device cuda:0 --precision bf16 --compile --max-steps 100
run peer4 30 env LD_LIBRARY_PATH="$BASE_LD_LIBRARY_PATH" python3 "$G/pytorch_seed.py" --data "$D" --device cuda:0 --batch-size 4 --max-steps 1500 --epochs 1
run peer512 30 env LD_LIBRARY_PATH="$BASE_LD_LIBRARY_PATH" python3 "$G/pytorch_seed.py" --data "$D" --device cuda:0 --batch-size 512 --max-steps 300 --epochs 3 --data-on-device
run train 90 ${TIMED[@]+"${TIMED[@]}"} "$G/bin/gpunet" train --device cuda:0
echo "---- summary ($(( $(date +%s) - START ))s of ${BUDGET}s)"
grep -h -E "PASSED|FAILED|SKIPPED \]" "$OUT"/test_*.log | sort | uniq -c
echo "sweep cases: $(grep -c '\[ sweep' "$OUT/test_ops.log") (each line in test_ops.log: error, threshold, worst element)"
grep -h "images_per_second" "$OUT/bench.log" "$OUT/bench_eager.log" "$OUT/peer4.log" "$OUT/peer512.log" "$OUT/recipe.log" "$OUT/recipe_muon.log" "$OUT/peer_airbench.log" 2>/dev/null | cut -c1-220
grep -E "trained|Accuracy of" "$OUT/train.log"
grep -h -E "^\||CHECK FAILED" "$OUT/bench_bn.log"
for tool in memcheck racecheck initcheck; do echo "$tool: $(grep -h -E "ERROR SUMMARY|skipped" "$OUT/sanitizer_$tool.log")"; done
