#!/usr/bin/env bash
# Side-by-side training throughput: a PyTorch peer per model and `gpunet bench --model M`, on
# the same data, device, batch size and thread count, alternating runs for several rounds so
# that both see the same machine load. Prints a markdown table of medians, with torch's version.
#   lenet       ../shared/peers/pytorch_seed.py (the seed program)
#   airbench94  ../shared/peers/pytorch_airbench.py (the recipe's own program; --precision)
#   resnet18    bench/pytorch_resnet18.py (torchvision's ResNet-18, CIFAR stem, SGD as gpunet bench)
#
#   bench/compare_pytorch.sh --data /path/cifar-10-batches-bin --configs lenet:4:1:2000,airbench94:256:2:5
#
# Options (defaults in brackets):
#   --data DIR        CIFAR-10 binary folder [$GPUNET_DATA, else ./data/cifar-10-batches-bin]
#   --device D        cpu | cuda:0 [cpu]; on CUDA the seed peer runs with --data-on-device
#   --configs LIST    [model:]batch[:threads[:steps]],... [4:1:2000,64:1:500,64]; model lenet,
#                     airbench94 or resnet18 (default lenet); threads default to all cores
#                     (nproc), steps to --steps
#   --precision P     fp32 | bf16 | fp16, for airbench94's peer and gpunet [fp32]
#   --compile         airbench94's peer with torch.compile (GPU)
#   --steps N         optimizer steps per run, both sides, unless a config says [1000]
#   --warmup N        gpunet's untimed warmup steps [20] (the peer's timing includes its first steps)
#   --rounds R        alternating rounds; the median is reported [3]
#   --peer PATH       LeNet's PyTorch program [../shared/peers/pytorch_seed.py relative to the repo]
#   --airbench-peer PATH  [../shared/peers/pytorch_airbench.py]
#   --gpunet PATH     the gpunet binary [build/bin/gpunet, else the first build*/bin/gpunet that
#                     is not a sanitizer/debug build]
#   --python PY       [python3]
#   --raw FILE        keep every run's JSON line here, written as the runs go
# Thread counts: gpunet gets --threads N; the peer gets OMP_NUM_THREADS=N and MKL_NUM_THREADS=N,
# which torch's intra-op pool honours (set_num_threads), as do OpenBLAS/MKL.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

data="${GPUNET_DATA:-}"
device=cpu
configs="4:1:2000,64:1:500,64"
steps=1000
warmup=20
rounds=3
peer="$repo/../shared/peers/pytorch_seed.py"
airbench_peer="$repo/../shared/peers/pytorch_airbench.py"
precision=fp32
compile=0
gpunet=""
python=python3
raw=""

die() { echo "compare_pytorch.sh: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data) data="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --configs) configs="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --peer) peer="$2"; shift 2 ;;
    --airbench-peer) airbench_peer="$2"; shift 2 ;;
    --precision) precision="$2"; shift 2 ;;
    --compile) compile=1; shift ;;
    --gpunet) gpunet="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --raw) raw="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[[ -n "$data" ]] || data="./data/cifar-10-batches-bin"
[[ -d "$data" ]] || die "--data $data: no such folder (give the folder holding data_batch_1.bin ...)"
[[ -f "$data/data_batch_1.bin" ]] || { [[ -f "$data/cifar-10-batches-bin/data_batch_1.bin" ]] && data="$data/cifar-10-batches-bin"; } \
  || die "--data $data: no data_batch_1.bin there"
[[ "$precision" =~ ^(fp32|bf16|fp16)$ ]] || die "--precision $precision: expected fp32, bf16 or fp16"
if [[ -z "$gpunet" ]]; then
  # A Release build: skip sanitizer and debug build folders, whose timings mean nothing.
  for g in "$repo/build/bin/gpunet" "$repo"/build*/bin/gpunet; do
    case "$g" in *asan*|*san/*|*sanit*|*debug*|*fuzz*) continue ;; esac
    [[ -x "$g" ]] && { gpunet="$g"; break; }
  done
fi
[[ -n "$gpunet" && -x "$gpunet" ]] || die "no gpunet binary found; build it or pass --gpunet PATH"
[[ "$steps" =~ ^[1-9][0-9]*$ && "$rounds" =~ ^[1-9][0-9]*$ && "$warmup" =~ ^[0-9]+$ ]] || die "--steps, --rounds, --warmup: whole numbers"
"$python" -c "import torch" 2>/dev/null || die "$python cannot import torch (pip install torch, or Debian's python3-torch)"

peer_extra=()
[[ "$device" == cuda* ]] && peer_extra+=(--data-on-device)
ncpu="$(nproc)"
if [[ -n "$raw" ]]; then
  results="$raw"  # written as the runs go: an interrupted comparison keeps what it measured
  : > "$results"
else
  results="$(mktemp)"
  trap 'rm -f "$results"' EXIT
fi

echo "gpunet: $gpunet ($("$gpunet" --version 2>/dev/null || echo '?'))" >&2
echo "peers:  torch $("$python" -c 'import torch; print(torch.__version__)') ($python)" >&2
echo "data:   $data, device $device, $rounds rounds" >&2

IFS=',' read -r -a cfg_list <<< "$configs"
# The peer program of a model (checked before the first run).
peer_of() {
  case "$1" in
    lenet) echo "$peer" ;;
    airbench94) echo "$airbench_peer" ;;
    resnet18) echo "$here/pytorch_resnet18.py" ;;
    *) die "--configs: unknown model '$1' (lenet, airbench94 or resnet18)" ;;
  esac
}
parse_cfg() {  # sets model batch threads cfg_steps from [model:]batch[:threads[:steps]]
  local cfg="$1"
  [[ "$cfg" =~ ^[a-z] ]] || cfg="lenet:$cfg"
  IFS=':' read -r model batch threads cfg_steps <<< "$cfg"
  threads="${threads:-$ncpu}"
  cfg_steps="${cfg_steps:-$steps}"
  [[ "$batch" =~ ^[1-9][0-9]*$ && "$threads" =~ ^[1-9][0-9]*$ && "$cfg_steps" =~ ^[1-9][0-9]*$ ]] \
    || die "--configs: '$1' is not [model:]batch[:threads[:steps]]"
  local p; p="$(peer_of "$model")" || exit 2
  [[ -f "$p" ]] || die "the $model peer $p: not found"
}
for cfg in "${cfg_list[@]}"; do parse_cfg "$cfg"; done
airbench_extra=(--precision "$precision" --no-tta)
(( compile )) && airbench_extra+=(--compile)

for round in $(seq 1 "$rounds"); do
  for cfg in "${cfg_list[@]}"; do
    parse_cfg "$cfg"
    # Alternate which side goes first, so neither always runs on a warmer (or hotter) machine.
    order=(peer gpunet)
    (( round % 2 == 0 )) && order=(gpunet peer)
    for side in "${order[@]}"; do
      echo "round $round/$rounds  $model  batch $batch  threads $threads  $side ..." >&2
      if [[ "$side" == peer ]]; then
        peer_env=(env OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads")
        case "$model" in
          lenet) line="$("${peer_env[@]}" "$python" "$peer" --data "$data" --device "$device" --batch-size "$batch" \
                         --max-steps "$cfg_steps" --epochs 1000 "${peer_extra[@]}" | tail -n 1)" ;;
          airbench94) line="$("${peer_env[@]}" "$python" "$airbench_peer" --data "$data" --device "$device" \
                              --batch-size "$batch" --max-steps "$cfg_steps" --threads "$threads" \
                              "${airbench_extra[@]}" | tail -n 1)" ;;
          resnet18) line="$("${peer_env[@]}" "$python" "$here/pytorch_resnet18.py" --data "$data" --device "$device" \
                            --batch-size "$batch" --max-steps "$cfg_steps" --warmup 2 --threads "$threads" | tail -n 1)" ;;
        esac
      else
        line="$("$gpunet" bench --json --model "$model" --precision "$precision" --data "$data" --device "$device" \
                --batch-sizes "$batch" --steps "$cfg_steps" --warmup "$warmup" --repeats 1 --threads "$threads" \
                2>/dev/null | tail -n 1)"
      fi
      [[ -n "$line" ]] || die "$side gave no result for $model batch $batch (run it by hand to see why)"
      echo "{\"side\":\"$side\",\"model\":\"$model\",\"round\":$round,\"batch\":$batch,\"threads\":$threads,\"steps\":$cfg_steps,\"result\":$line}" >> "$results"
    done
  done
done

"$python" "$here/compare_pytorch.py" "$results" --device "$device" --rounds "$rounds" --precision "$precision"
