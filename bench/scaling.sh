#!/usr/bin/env bash
# How airbench94's training step scales on this machine: images/s, time per step and peak
# memory against the batch size (1 to 4096, at airbench's widths) and against the width
# (airbench's channels x 0.5, 1, 2, at two batch sizes). One `gpunet bench --json` process per
# configuration, so that each peak resident set is that configuration's own. Prints a markdown
# table (and keeps every JSON line in --raw).
#
#   bench/scaling.sh --data /path/cifar-10-batches-bin [--threads 2] [--precision fp32|bf16]
#                    [--batches 1,4,16,64,256,1024,4096] [--widths 0.5,1,2] [--width-batches 256,1024]
#                    [--gpunet build-cpu/bin/gpunet] [--raw FILE]
# Steps per configuration: enough for about 1,024 images (at least 2, at most 256), after 2
# untimed ones; the median of 1 repeat (a scaling curve, not a side-by-side ratio).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
data="${GPUNET_DATA:-}"
threads=2
precision=fp32
batches="1,4,16,64,256,1024,4096"
widths="0.5,1,2"
width_batches="256,1024"
gpunet=""
raw=""
die() { echo "scaling.sh: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data) data="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --precision) precision="$2"; shift 2 ;;
    --batches) batches="$2"; shift 2 ;;
    --widths) widths="$2"; shift 2 ;;
    --width-batches) width_batches="$2"; shift 2 ;;
    --gpunet) gpunet="$2"; shift 2 ;;
    --raw) raw="$2"; shift 2 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ -n "$data" ] || data="$repo/data/cifar-10-batches-bin"
[ -d "$data" ] || die "--data $data: no such folder (give the CIFAR-10 binary folder)"
if [ -z "$gpunet" ]; then
  for b in "$repo"/build/bin/gpunet "$repo"/build-cpu/bin/gpunet; do [ -x "$b" ] && { gpunet=$b; break; }; done
fi
[ -x "$gpunet" ] || die "no gpunet binary (build it, or give --gpunet PATH)"
[ -n "$raw" ] || raw=$(mktemp)
: >"$raw"

run() {  # width batch
  local steps=$(( 1024 / $2 )); [ "$steps" -lt 2 ] && steps=2; [ "$steps" -gt 256 ] && steps=256
  "$gpunet" bench --model airbench94 --width "$1" --batch-sizes "$2" --steps "$steps" --warmup 2 --repeats 1 \
    --threads "$threads" --precision "$precision" --device cpu --data "$data" --json 2>/dev/null | tail -1 >>"$raw"
}
IFS=, read -ra B <<<"$batches"
IFS=, read -ra W <<<"$widths"
IFS=, read -ra WB <<<"$width_batches"
for b in "${B[@]}"; do run 1 "$b"; done
for w in "${W[@]}"; do
  for b in "${WB[@]}"; do
    [ "$w" = "1" ] && [[ ",$batches," == *",$b,"* ]] && continue  # measured above
    run "$w" "$b"
  done
done
python3 - "$raw" "$precision" "$threads" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"airbench94 training step (SGD), {sys.argv[2]}, {sys.argv[3]} threads, cpu kernels "
      f"{rows[0]['cpu_kernels']['isa'] if rows else '?'}\n")
print("| width (channels) | batch | images/s | ms/step | tensors in use, peak | peak RSS |")
print("|---|---:|---:|---:|---:|---:|")
for r in rows:
    w = r["width"]
    ch = "-".join(str(max(1, round(c * w))) for c in (64, 256, 256))
    print(f"| {w:g} ({ch}) | {r['batch_size']} | {r['images_per_second']:.1f} | {r['ms_per_step']:.1f} | "
          f"{r['peak_host_bytes'] / 1e6:.0f} MB | {r['peak_rss_bytes'] / 1e6:.0f} MB |")
EOF
