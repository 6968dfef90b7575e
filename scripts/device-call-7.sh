#!/usr/bin/env bash
# The next session's first device call (prepared 2026-12-06 21:30): next-steps items 0–3 in order, each step skipped
# once the call nears its limit. Pack first: ../shared/gpu/pack TritonOps.Tests/TritonOps.Tests.csproj
# samples/TritonOps.Benchmark/TritonOps.Benchmark.csproj, then drop .gpu/TritonOps.Benchmark/runtimes and
# .gpu/TritonOps.Tests/runtimes/win (the carry limit is 64 MB); run with carry [".gpu"], timeout 600.
set -u
out=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
T=.gpu/TritonOps.Tests/TritonOps.Tests.dll
left() { [ $SECONDS -lt $1 ]; }
summary() { tr '\r' '\n' < "$1" | grep -E "^\s*(failed|succeeded|skipped|total):" | tr -s ' ' | tr '\n' ' '; echo; tr '\r' '\n' < "$1" | grep -m3 -A12 "^failed " | cut -c1-400; }
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 45 "$@" 2>&1 | grep -E "^\| (linear|fused|decoder)|rror|copy:" | head -4; }
# 0. the decode split-K reductions: the standing decode rows and the strip / swapped A/B
r "linear decode M16 down (standing row, strip)" bash .gpu/run $M --op linear --nth 1
r "strip / swapped linear M16 down" bash .gpu/run $M --sweep --op linear --nth 0
r "" bash .gpu/run $M --sweep --op linear --nth 1
# 1. the H200 bars: gated M16 (strip / swapped), positions prefill, decoder layer decode
r "strip / swapped gated M16" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 0
r "" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
r "positions prefill" bash .gpu/run $M --op "fused_rmsnorm_rope positions"
r "decoder layer decode" bash .gpu/run $M --op decoder_layer --nth 1
# 1b. the swapped kernel as Linear's default for 17–64 rows (branch exp/swapped-linear-m64, packed as .gpu/bench-sw64)
[ -f .gpu/bench-sw64/TritonOps.Benchmark.dll ] && r "decoder layer decode, swapped Linear at M17-64" bash .gpu/run .gpu/bench-sw64/TritonOps.Benchmark.dll --op decoder_layer --nth 1
# 3. swapped Linear at M 64 (q-size, down), gated M64
for i in 10 11 12 13; do left 200 && r "linear sweep $i" bash .gpu/run $M --sweep --op linear --nth $i; done
left 220 && r "gated M64 warp-specialized / swapped" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 2
left 230 && r "" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 3
# 0 and 2: the Linear and gated CUDA tests, then the sanitizers over them
if left 300; then
  timeout 150 bash .gpu/run $T --filter "FullyQualifiedName~Cuda&(FullyQualifiedName~LinearTests|FullyQualifiedName~FusedGatedMlpTests)" > "$out/gemm-tests.log" 2>&1
  echo "gemm CUDA tests rc=$?"; summary "$out/gemm-tests.log"
fi
for tool in racecheck synccheck memcheck; do
  left 480 || break
  extra=""; [ $tool = racecheck ] && extra="--racecheck-report hazard"
  timeout 100 compute-sanitizer --tool $tool $extra --print-limit 20 bash .gpu/run $T --filter "FullyQualifiedName~Cuda&FullyQualifiedName~FusedGatedMlpTests" > "$out/gated-$tool.log" 2>&1
  echo "$tool (gated CUDA fixtures) rc=$? $(grep -E 'SUMMARY' "$out/gated-$tool.log" | tail -1) $(tr '\r' '\n' < "$out/gated-$tool.log" | grep -E '^\s*(failed|succeeded):' | tr -s ' ' | tr '\n' ' ')"
done
echo "done t=$SECONDS"
