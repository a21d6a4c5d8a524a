#!/usr/bin/env bash
# Side-by-side training throughput: the PyTorch peer (the seed program, pytorch_seed.py) and
# `gpunet bench`, on the same data, device, batch size and thread count, alternating runs for
# several rounds so that both see the same machine load. Prints a markdown table of medians.
#
#   bench/compare_pytorch.sh --data /path/cifar-10-batches-bin --configs 4:1:2000,64:1:500
#
# Options (defaults in brackets):
#   --data DIR        CIFAR-10 binary folder [$GPUNET_DATA, else ./data/cifar-10-batches-bin]
#   --device D        cpu | cuda:0 [cpu]; on CUDA the peer runs with --data-on-device
#   --configs LIST    batch[:threads[:steps]],... [4:1:2000,64:1:500,64]; threads default to all
#                     cores (nproc), steps to --steps
#   --steps N         optimizer steps per run, both sides, unless a config says [1000]
#   --warmup N        gpunet's untimed warmup steps [20] (the peer's timing includes its first steps)
#   --rounds R        alternating rounds; the median is reported [3]
#   --peer PATH       the PyTorch program [../shared/peers/pytorch_seed.py relative to the repo]
#   --gpunet PATH     the gpunet binary [build/bin/gpunet, else the first build*/bin/gpunet that
#                     is not a sanitizer/debug build]
#   --python PY       [python3]
#   --raw FILE        also keep every run's JSON line here
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
[[ -f "$peer" ]] || die "--peer $peer: not found"
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
results="$(mktemp)"
trap 'rm -f "$results"' EXIT

echo "gpunet: $gpunet ($("$gpunet" --version 2>/dev/null || echo '?'))" >&2
echo "peer:   $peer (torch $("$python" -c 'import torch; print(torch.__version__)'))" >&2
echo "data:   $data, device $device, $rounds rounds" >&2

IFS=',' read -r -a cfg_list <<< "$configs"
for round in $(seq 1 "$rounds"); do
  for cfg in "${cfg_list[@]}"; do
    IFS=':' read -r batch threads cfg_steps <<< "$cfg"
    threads="${threads:-$ncpu}"
    cfg_steps="${cfg_steps:-$steps}"
    [[ "$batch" =~ ^[1-9][0-9]*$ && "$threads" =~ ^[1-9][0-9]*$ && "$cfg_steps" =~ ^[1-9][0-9]*$ ]] \
      || die "--configs: '$cfg' is not batch[:threads[:steps]]"
    # Alternate which side goes first, so neither always runs on a warmer (or hotter) machine.
    order=(peer gpunet)
    (( round % 2 == 0 )) && order=(gpunet peer)
    for side in "${order[@]}"; do
      echo "round $round/$rounds  batch $batch  threads $threads  $side ..." >&2
      if [[ "$side" == peer ]]; then
        line="$(OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" \
                "$python" "$peer" --data "$data" --device "$device" --batch-size "$batch" --max-steps "$cfg_steps" \
                --epochs 1000 "${peer_extra[@]}" | tail -n 1)"
      else
        line="$("$gpunet" bench --json --data "$data" --device "$device" --batch-sizes "$batch" --steps "$cfg_steps" \
                --warmup "$warmup" --repeats 1 --threads "$threads" 2>/dev/null | tail -n 1)"
      fi
      echo "{\"side\":\"$side\",\"round\":$round,\"batch\":$batch,\"threads\":$threads,\"steps\":$cfg_steps,\"result\":$line}" >> "$results"
    done
  done
done
[[ -n "$raw" ]] && cp "$results" "$raw"

"$python" "$here/compare_pytorch.py" "$results" --device "$device" --rounds "$rounds"
