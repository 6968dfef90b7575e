#!/usr/bin/env bash
# One decoder layer's launches kernel by kernel (ncu: duration, grid, block, registers; launches serialized, so the sum
# stands beside the benchmark's row, not for it). On the GPU machine after ../shared/gpu/pack:
#   LAYER_NTH=0 [BENCH=path/to/TritonOps.Benchmark.dll] [NCU_SKIP=40] [NCU_COUNT=24] bash scripts/ncu-layer.sh
# LAYER_NTH: the decoder_layer row (0 bf16 prefill [1, 4096], 1 bf16 decode [64, 1], 2 FP8 block-scale prefill).
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
nth=${LAYER_NTH:?set LAYER_NTH}
log="$out/ncu-layer-$nth.txt"
ncu --clock-control none --target-processes all --launch-skip "${NCU_SKIP:-40}" --launch-count "${NCU_COUNT:-24}" \
  --metrics gpu__time_duration.sum,launch__grid_size,launch__block_size,launch__registers_per_thread \
  bash .gpu/run "${BENCH:-.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll}" --op decoder_layer --nth "$nth" > "$log" 2>&1
# One line a launch: name (shortened), µs, grid, block, registers.
python3 - "$log" <<'PY'
import re, sys
rows, cur = [], None
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"\s{2}(\S.*?) \(\d+, \d+, \d+\)x\(\d+, \d+, \d+\)", line)
    if m:
        cur = {"name": m.group(1)[:70]}; rows.append(cur); continue
    m = re.match(r"\s+(gpu__time_duration.sum|launch__grid_size|launch__block_size|launch__registers_per_thread)\s+(?:(\S+)\s+)?([\d.,]+)\s*$", line)
    if m and cur is not None:
        v = float(m.group(3).replace(",", ""))
        if m.group(1) == "gpu__time_duration.sum":
            v = v / 1000 if m.group(2) == "ns" else v * 1000 if m.group(2) == "ms" else v
        cur[m.group(1)] = v
for r in rows:
    print(f'{r.get("gpu__time_duration.sum", 0):9.1f} us  grid {int(r.get("launch__grid_size", 0)):6d}  block {int(r.get("launch__block_size", 0)):4d}  regs {int(r.get("launch__registers_per_thread", 0)):3d}  {r["name"]}')
PY
