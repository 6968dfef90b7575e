#!/usr/bin/env bash
# 12-07 06:35 session, call 2 (~330 s; DEADLINE for less): where the bf16 decoder layer's decode time goes.
# 1. ncu: every kernel of the layer's first forwards (duration, DRAM bytes, grid), so #19's decode reads stage by stage;
# 2. ncu stall metrics of the M64 q/o-sized Linear, swapped (sweep 11) and strip (sweep 10);
# 3. q, k and v as one M64 product (sweep 30/31) beside rows 10, 11 and 28; the layer's decode, main against Auto's swapped rule for K >= 4096 and N >= 4096
#    (docs/experiments/2026-12-07-swapped-from-n4096.patch, packed as "n4096"), alternated, two rounds;
# 3b. the residual's L2 prefetch at the decode kernels' start (docs/experiments/2026-12-07-residual-l2-prefetch.patch,
#    packed as "prefetch") against main: #16's row and the M64 down projection (sweep 13);
# 4. racecheck and memcheck over the strip kernel's split-K CUDA cases (6d4bb44: both accumulators' sums in one batch);
# 5. the H200 bar rows if the machine is an H200 (positions prefill #17, #16's decode row).
# After main's pack and bash scripts/pack-experiment.sh docs/experiments/2026-12-07-swapped-from-n4096.patch n4096
# and bash scripts/pack-experiment.sh docs/experiments/2026-12-07-residual-l2-prefetch.patch prefetch;
# carry [".gpu"].
set -u
out=${OUT:-/tmp/out}; mkdir -p "$out"
deadline=${DEADLINE:-560}
left() { [ $((SECONDS + $1)) -lt "$deadline" ]; }
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader); echo "$gpu"
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 45 "$@" 2>&1 | grep -E "^\| (linear|decoder_layer|fused|copy)|rror|copy:" | head -8; }
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
timeout 120 ncu --clock-control none --target-processes all --launch-skip 0 --launch-count 45 --csv \
  --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,launch__grid_size,launch__block_size,sm__cycles_active.avg,gpc__cycles_elapsed.max \
  bash .gpu/run $M --op decoder_layer --nth 1 > "$out/ncu-layer-decode.csv" 2>&1
echo "ncu layer rc=$? t=$SECONDS"
python3 - "$out/ncu-layer-decode.csv" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1], errors="replace")) if len(r) > 10]
if not rows: print("no csv rows"); sys.exit()
h = rows[0]; ki = h.index("Kernel Name"); ii = h.index("ID"); mi = h.index("Metric Name"); vi = h.index("Metric Value")
k = collections.OrderedDict()
for r in rows[1:]:
    k.setdefault(r[ii], {"name": r[ki][:70]})[r[mi]] = r[vi]
for i, d in k.items():
    print(i, d["name"], "us=%.1f" % (float(d.get("gpu__time_duration.sum", "0").replace(",", "")) / 1000),
          "rdMB=%.1f" % (float(d.get("dram__bytes_read.sum", "0").replace(",", "")) / 1e6),
          "wrMB=%.1f" % (float(d.get("dram__bytes_write.sum", "0").replace(",", "")) / 1e6),
          "grid=" + d.get("launch__grid_size", "?"), "block=" + d.get("launch__block_size", "?"),
          "active=%.0f%%" % (100 * float(d.get("sm__cycles_active.avg", "0").replace(",", "")) / max(1, float(d.get("gpc__cycles_elapsed.max", "1").replace(",", "")))))
PY
for nth in 11 10; do
  left 60 && { echo "## ncu sweep $nth (t=$SECONDS)"; BENCH_OP=linear BENCH_SWEEP=1 BENCH_NTH=$nth timeout 60 bash scripts/ncu-metrics.sh; }
done
for nth in 30 31 10 11 28 32; do left 20 && r "linear sweep $nth (30/31: fused qkv strip/swapped)" bash .gpu/run $M --sweep --op linear --nth $nth; done
cp -r .gpu/TritonOps.Benchmark /tmp/b-n4096 && cp .gpu/exp/n4096/b/*.dll /tmp/b-n4096/
X=/tmp/b-n4096/TritonOps.Benchmark.dll
for round in 1 2; do
  left 25 && r "main decoder layer decode ($round)" bash .gpu/run $M --op decoder_layer --nth 1
  left 25 && r "n4096 decoder layer decode ($round)" bash .gpu/run $X --op decoder_layer --nth 1
  left 20 && r "#16 row without residual ($round)" bash .gpu/run $M --sweep --op linear --nth 32
done
cp -r .gpu/TritonOps.Benchmark /tmp/b-pre && cp .gpu/exp/prefetch/b/*.dll /tmp/b-pre/
P=/tmp/b-pre/TritonOps.Benchmark.dll
for round in 1 2; do
  left 20 && r "#16 row main ($round)" bash .gpu/run $M --op linear --nth 1
  left 20 && r "#16 row residual prefetch ($round)" bash .gpu/run $P --op linear --nth 1
  left 20 && r "M64 down swapped main ($round)" bash .gpu/run $M --sweep --op linear --nth 13
  left 20 && r "M64 down swapped residual prefetch ($round)" bash .gpu/run $P --sweep --op linear --nth 13
done
S="FullyQualifiedName~Cuda&FullyQualifiedName~DecodeSplitK"
for tool in racecheck memcheck; do
  left 50 || break
  timeout 50 compute-sanitizer --tool $tool --print-limit 20 bash .gpu/run .gpu/TritonOps.Tests/TritonOps.Tests.dll --filter "$S" > "$out/$tool-splitk.log" 2>&1
  echo "strip split-K $tool rc=$? $(grep -E 'SUMMARY' "$out/$tool-splitk.log" | tail -1) $(tr '\r' '\n' < "$out/$tool-splitk.log" | grep -E '^\s*(failed|succeeded):' | tr -s ' ' | tr '\n' ' ') t=$SECONDS"
done
if grep -q H200 <<<"$gpu"; then
  for round in 1 2; do
    left 20 && r "positions prefill (#17) ($round)" bash .gpu/run $M --op "fused_rmsnorm_rope positions"
    left 20 && r "linear decode M16 (#16) ($round)" bash .gpu/run $M --op linear --nth 1
  done
fi
echo "done t=$SECONDS"
