#!/usr/bin/env bash
# Every CUDA kernel launch (`<<<`) must be followed within 2 lines by GPUNET_KERNEL_CHECK(),
# so that a bad launch configuration is reported where it happened (DESIGN.md, habit 4).
# usage: tools/check_kernel_launches.sh [DIR]   (DIR defaults to the repository's src/)
# Exit status: 0 when every launch is checked, 1 when one is not (each is listed), 2 on misuse.
set -euo pipefail

root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/src}"
if [[ ! -d "$root" ]]; then
  echo "check_kernel_launches: no such directory: $root" >&2
  exit 2
fi

status=0
launches=0
files=0
while IFS= read -r -d '' f; do
  files=$((files + 1))
  # awk prints "OK <n>" (launches seen) last, or the unchecked launches and "BAD <n>".
  out=$(awk -v file="$f" '
    { line[NR] = $0 }
    END {
      bad = 0; seen = 0
      for (i = 1; i <= NR; i++) {
        code = line[i]
        sub(/\/\/.*/, "", code)  # a launch named in a line comment is no launch
        if (index(code, "<<<") == 0) continue
        seen++
        ok = 0
        for (j = i; j <= i + 2 && j <= NR; j++)
          if (index(line[j], "GPUNET_KERNEL_CHECK()") > 0) ok = 1
        if (!ok) { printf "%s:%d: kernel launch without GPUNET_KERNEL_CHECK() in the next 2 lines: %s\n", file, i, line[i]; bad++ }
      }
      printf "%s %d\n", (bad ? "BAD" : "OK"), seen
    }' "$f")
  last=${out##*$'\n'}
  launches=$((launches + ${last#* }))
  if [[ "$last" == BAD* ]]; then
    printf '%s\n' "${out%$'\n'*}"
    status=1
  fi
done < <(find "$root" -type f \( -name '*.cu' -o -name '*.cuh' -o -name '*.cpp' -o -name '*.h' \) -print0 | sort -z)

if [[ $status -eq 0 ]]; then
  echo "check_kernel_launches: $launches launches in $files files under $root, all checked"
else
  echo "check_kernel_launches: unchecked kernel launches found under $root (add GPUNET_KERNEL_CHECK() after each)" >&2
fi
exit $status
