#!/usr/bin/env bash
# What 12-07 04:31's session could not run (its one H200 came with ~6 device minutes left). ~560 s; DEADLINE for less.
# 1. the spread split-K meeting (6dee40b): racecheck, synccheck and memcheck over the swapped CUDA cases;
# 2. the M64 q/o-sized Linear, strip (sweep row 10) against swapped (row 11), and the decoder layer's decode with Auto's
#    swapped rule from K 4096 (docs/experiments/2026-12-07-swapped-from-k4096.patch, packed as "k4096") against main;
# 3. the H200 bar rows (device-call-14) and the decoder layer's prefill; the strip kernel's split sums of both
#    accumulators in one batch (docs/experiments/2026-12-07-strip-paired-split-sums.patch, packed as "strip2"; bit-
#    identical, CPU-tested) against main at #16's M16 down row, and ptxas registers of both;
# 4. every GEMM CUDA fixture (the 12-07 run stopped at 104 at its limit), then memcheck over them as time allows.
# After main's pack (../shared/gpu/pack TritonOps.Tests/TritonOps.Tests.csproj samples/TritonOps.Benchmark/TritonOps.Benchmark.csproj;
# rm -rf .gpu/TritonOps.Benchmark/runtimes .gpu/TritonOps.Tests/runtimes/win) and
#   bash scripts/pack-experiment.sh docs/experiments/2026-12-07-swapped-from-k4096.patch k4096
#   bash scripts/pack-experiment.sh docs/experiments/2026-12-07-strip-paired-split-sums.patch strip2
# carry [".gpu"].
set -u
out=${OUT:-/tmp/out}; mkdir -p "$out"
deadline=${DEADLINE:-565}
left() { [ $((SECONDS + $1)) -lt "$deadline" ]; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
# The table's rows start "| <op> |": keep those and the copy line (the header rows start "| op |" and "| ---").
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 45 "$@" 2>&1 | grep -E "^\| [a-z_]+ [^|]*\| [A-Z0-9]|^\| (linear|decoder_layer|fused|copy)|rror|copy:" | grep -v "^| op |" | head -8; }
count() { echo "$1: passed $(grep -c '^passed ' "$2") failed $(grep -c '^failed ' "$2") $(tr '\r' '\n' < "$2" | grep -E '^\s*(failed|succeeded|skipped):' | tr -s ' ' | tr '\n' ' ')t=$SECONDS"; grep -A3 '^failed ' "$2" | head -12; }
S="FullyQualifiedName~Cuda&FullyQualifiedName~Swapped"
timeout 60 bash .gpu/run .gpu/TritonOps.Tests/TritonOps.Tests.dll --filter "$S" --output Detailed > "$out/swapped.log" 2>&1
count "swapped CUDA cases (main)" "$out/swapped.log"
for tool in racecheck synccheck memcheck; do
  left 60 || break
  timeout 60 compute-sanitizer --tool $tool --print-limit 20 bash .gpu/run .gpu/TritonOps.Tests/TritonOps.Tests.dll --filter "$S" > "$out/$tool-swapped.log" 2>&1
  echo "swapped $tool rc=$? $(grep -E 'SUMMARY' "$out/$tool-swapped.log" | tail -1) t=$SECONDS"
done
cp -r .gpu/TritonOps.Benchmark /tmp/b-k4096 && cp .gpu/exp/k4096/b/*.dll /tmp/b-k4096/
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll X=/tmp/b-k4096/TritonOps.Benchmark.dll
for round in 1 2; do
  left 20 && r "strip q-size M64 (sweep 10) ($round)" bash .gpu/run $M --sweep --op linear --nth 10
  left 20 && r "swapped q-size M64 (sweep 11) ($round)" bash .gpu/run $M --sweep --op linear --nth 11
  [ $round = 1 ] && left 20 && r "k/v-sized M64 strip (sweep 28)" bash .gpu/run $M --sweep --op linear --nth 28
  [ $round = 1 ] && left 20 && r "k/v-sized M64 swapped (sweep 29)" bash .gpu/run $M --sweep --op linear --nth 29
  left 25 && r "main decoder layer decode ($round)" bash .gpu/run $M --op decoder_layer --nth 1
  left 25 && r "k4096 decoder layer decode ($round)" bash .gpu/run $X --op decoder_layer --nth 1
done
cp -r .gpu/TritonOps.Benchmark /tmp/b-strip2 && cp .gpu/exp/strip2/b/*.dll /tmp/b-strip2/
cp -r .gpu/TritonOps.Tests /tmp/t-strip2 && cp .gpu/exp/strip2/t/*.dll /tmp/t-strip2/
for round in 1 2; do
  left 20 && r "linear decode M16 (#16) main ($round)" bash .gpu/run $M --op linear --nth 1
  left 20 && r "linear decode M16 strip2 ($round)" bash .gpu/run /tmp/b-strip2/TritonOps.Benchmark.dll --op linear --nth 1
done
if left 40; then
  timeout 40 bash .gpu/run /tmp/t-strip2/TritonOps.Tests.dll --filter "FullyQualifiedName~Cuda&FullyQualifiedName~DecodeSplitK" > "$out/strip2.log" 2>&1
  echo "strip2 split-K CUDA cases rc=$? $(tr '\r' '\n' < "$out/strip2.log" | grep -E '^\s*(failed|succeeded):' | tr -s ' ' | tr '\n' ' ')"
  for v in main strip2; do
    d=/tmp/ptx-$v; mkdir -p $d; dll=.gpu/TritonOps.Tests/TritonOps.Tests.dll; [ $v = strip2 ] && dll=/tmp/t-strip2/TritonOps.Tests.dll
    TRITONOPS_DUMP_PTX=$d timeout 30 bash .gpu/run $dll --filter "FullyQualifiedName~Kernel_CompilesToPtxForSm90&FullyQualifiedName~DecodeGemmKernel&FullyQualifiedName!~Swapped&FullyQualifiedName~LinearEpilogue" > /dev/null 2>&1
    for f in $d/DecodeGemmKernel*; do echo "$v $(basename "$f"): $(ptxas -arch=sm_90a -v "$f" -o /dev/null 2>&1 | grep -oE 'Used [0-9]+ registers|[0-9]+ bytes spill (stores|loads)' | tr '\n' ' ')"; done
  done
fi
left 20 && r "gated M16 swapped (#20)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
left 20 && r "positions prefill (#17)" bash .gpu/run $M --op "fused_rmsnorm_rope positions"
left 30 && r "decoder layer prefill (#19)" bash .gpu/run $M --op decoder_layer --nth 0
G="FullyQualifiedName~Cuda&(FullyQualifiedName~LinearTests|FullyQualifiedName~FusedGatedMlpTests|FullyQualifiedName~Fp8)"
if left 60; then
  timeout $((deadline - 5 - SECONDS)) bash .gpu/run .gpu/TritonOps.Tests/TritonOps.Tests.dll --filter "$G" --output Detailed > "$out/gemm.log" 2>&1
  count "GEMM CUDA fixtures" "$out/gemm.log"
fi
if left 60; then
  timeout $((deadline - 5 - SECONDS)) compute-sanitizer --tool memcheck --print-limit 20 bash .gpu/run .gpu/TritonOps.Tests/TritonOps.Tests.dll --filter "$G" > "$out/memcheck-gemm.log" 2>&1
  echo "GEMM memcheck rc=$? $(grep -E 'SUMMARY' "$out/memcheck-gemm.log" | tail -1) t=$SECONDS"
fi
echo "done t=$SECONDS"
