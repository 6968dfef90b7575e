#!/usr/bin/env bash
# The next session's first device call (prepared 2026-12-06 22:40; next-steps items 0–1): the four-slice strip decode
# kernel (Linear's DecodeAllRows, never run on a GPU) against the strip and swapped kernels at M64, its CUDA tests and
# sanitizers and ptxas; then the H200 bars. Pack first (next-steps); carry [".gpu"]; timeout 600.
set -u
out=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
T=.gpu/TritonOps.Tests/TritonOps.Tests.dll
left() { [ $SECONDS -lt $1 ]; }
summary() { tr '\r' '\n' < "$1" | grep -E "^\s*(failed|succeeded|skipped|total):" | tr -s ' ' | tr '\n' ' '; echo; tr '\r' '\n' < "$1" | grep -m3 -A12 "^failed " | cut -c1-400; }
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 45 "$@" 2>&1 | grep -E "^\| (linear|fused|decoder)|rror|copy:" | head -4; }
# 0. M64 q-size (10 strip, 11 swapped, 17 four-slice strip) and down (12, 13, 18), twice
for round in 1 2; do
  for i in 10 11 17 12 13 18; do r "linear sweep $i ($round)" bash .gpu/run $M --sweep --op linear --nth $i; done
done
# the strip kernel's L2 prefetch (linear sweep 19–21: M16 down 2, 4, 8 iterations ahead, against row 0; 22: the four-slice
# kernel at M64 down, 4 ahead, against row 18)
for i in 0 19 20 21 18 22; do r "linear sweep $i (L2 prefetch)" bash .gpu/run $M --sweep --op linear --nth $i; done
# the Linear CUDA tests (DecodeAllRows forward, split-K repeatability, per-op rounding), then the sanitizers over them
timeout 170 bash .gpu/run $T --filter "FullyQualifiedName~Cuda&FullyQualifiedName~LinearTests" > "$out/linear-tests.log" 2>&1
echo "linear CUDA tests rc=$?"; summary "$out/linear-tests.log"
# the sanitizers over the decode kernels' CUDA cases (test filters reach single tests and their arguments)
D="FullyQualifiedName~Cuda&(FullyQualifiedName~SwappedDecode|FullyQualifiedName~DecodeAllRows|FullyQualifiedName~DecodeSplitK|FullyQualifiedName~DecodeWithL2Prefetch)"
for tool in racecheck synccheck memcheck; do
  left 400 || break
  extra=""; [ $tool = racecheck ] && extra="--racecheck-report hazard"
  timeout 100 compute-sanitizer --tool $tool $extra --print-limit 20 bash .gpu/run $T --filter "$D" > "$out/linear-$tool.log" 2>&1
  echo "$tool (decode kernels' CUDA cases) rc=$? $(grep -E 'SUMMARY' "$out/linear-$tool.log" | tail -1) $(tr '\r' '\n' < "$out/linear-$tool.log" | grep -E '^\s*(failed|succeeded):' | tr -s ' ' | tr '\n' ' ')"
done
# ptxas of the four-slice variant (registers, spills): the codegen fixture dumps what it compiles until its limit
if left 470; then
mkdir -p /tmp/ptx
TRITONOPS_DUMP_PTX=/tmp/ptx timeout 100 bash .gpu/run $T --filter "FullyQualifiedName~PtxCodegenTests" > "$out/codegen.log" 2>&1; echo "codegen rc=$?"
for f in /tmp/ptx/DecodeGemmKernel*LinearEpilogue*; do echo "$(basename "$f"): $(ptxas -arch=sm_90a -v "$f" -o /dev/null 2>&1 | grep -oE 'Used [0-9]+ registers|[0-9]+ bytes spill (stores|loads)' | tr '\n' ' ')"; done
fi
# 1. the H200 bars (on an H100 they are only progress figures)
left 480 && r "linear decode M16 (standing row)" bash .gpu/run $M --op linear --nth 1
left 500 && r "gated M16 strip / swapped" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 0
left 510 && r "" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
left 530 && r "positions prefill" bash .gpu/run $M --op "fused_rmsnorm_rope positions"
left 550 && r "decoder layer decode" bash .gpu/run $M --op decoder_layer --nth 1
echo "done t=$SECONDS"
