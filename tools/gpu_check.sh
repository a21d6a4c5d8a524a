#!/usr/bin/env bash
# Runs on the lent GPU machine, from the repo root, over gpu/ made by tools/gpu_prepare.sh:
# CUDA tests, compute-sanitizer, doctor, bench, the PyTorch peer side by side, and one timed
# default training run. Every log goes under $OUT; a short table is printed last.
set -u
OUT=${OUT:-/tmp/gpunet-out}
mkdir -p "$OUT"
G=$PWD/gpu
# The test binaries hold the build's source path (fixtures, the sample): make it resolve here.
SRC=${GPUNET_BUILD_SOURCE_DIR:-/work/main}
[ -e "$SRC" ] || { mkdir -p "$(dirname "$SRC")" && ln -s "$PWD" "$SRC"; } 2>/dev/null || echo "note: cannot link $SRC to $PWD; fixture tests may fail"
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

run() { local name=$1; shift; echo "== $name: $*"; timeout 300 "$@" >"$OUT/$name.log" 2>&1; echo "rc=$?" | tee -a "$OUT/$name.log"; }
# Tools that may be missing or off PATH there: never let their absence cost the run itself.
SANITIZER=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
TIMED=(); [ -x /usr/bin/time ] && TIMED=(/usr/bin/time -v)
nvidia-smi >"$OUT/nvidia-smi.log" 2>&1
run doctor "$G/bin/gpunet" doctor
for t in core ops nn data optim io; do
  [ -x "$G/bin/test_$t" ] && run "test_$t" "$G/bin/test_$t" --gtest_brief=1
done
run sanitizer "$SANITIZER" --tool memcheck "$G/bin/test_ops" --gtest_filter='Cuda*' --gtest_brief=1
run bench "$G/bin/gpunet" bench --device cuda:0 --batch-sizes 4,64,512 --steps 500 --json
run bench_eager "$G/bin/gpunet" bench --device cuda:0 --batch-sizes 4,512 --steps 500 --cuda-graph off --json
run peer4 env LD_LIBRARY_PATH="$BASE_LD_LIBRARY_PATH" python3 "$G/pytorch_seed.py" --data "$D" --device cuda:0 --batch-size 4 --max-steps 3000 --epochs 1
run peer512 env LD_LIBRARY_PATH="$BASE_LD_LIBRARY_PATH" python3 "$G/pytorch_seed.py" --data "$D" --device cuda:0 --batch-size 512 --max-steps 300 --epochs 3 --data-on-device
run train ${TIMED[@]+"${TIMED[@]}"} "$G/bin/gpunet" train --device cuda:0
echo "---- summary"
grep -h -E "PASSED|FAILED|SKIPPED \]" "$OUT"/test_*.log | sort | uniq -c
grep -h "images_per_second" "$OUT/bench.log" "$OUT/bench_eager.log" "$OUT/peer4.log" "$OUT/peer512.log" | cut -c1-220
grep -E "trained|Accuracy of" "$OUT/train.log"
grep -E "ERROR SUMMARY" "$OUT/sanitizer.log"
