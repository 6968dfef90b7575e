#!/usr/bin/env bash
# RUN AT e96f085 (2026-12-07 00:35, H100); since ab301be the sweep rows 17, 18, 20 and the DecodeAllRows filter name
# other things or nothing: do not rerun at a later commit. device-call-12 (never run; in git history at 0a90c3c) cut to fit ~450 s (2026-12-07: failed starts left 764 s of the session's device time): the four-slice
# strip decode kernel once against the strip and swapped kernels at M64, its CUDA cases and the three sanitizers over
# them, ptxas of its variant, two L2-prefetch rows, then the H200 bar rows while time is left. Pack first; carry [".gpu"].
set -u
out=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
T=.gpu/TritonOps.Tests/TritonOps.Tests.dll
left() { [ $SECONDS -lt $1 ]; }
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 45 "$@" 2>&1 | grep -E "^\| (linear|fused|decoder)|rror|copy:" | head -4; }
for i in 10 17 11 12 18 13; do r "linear sweep $i" bash .gpu/run $M --sweep --op linear --nth $i; done
D="FullyQualifiedName~Cuda&(FullyQualifiedName~DecodeAllRows|FullyQualifiedName~DecodeSplitK)"
timeout 90 bash .gpu/run $T --filter "$D" > "$out/decode-tests.log" 2>&1
echo "decode CUDA tests rc=$? $(tr '\r' '\n' < "$out/decode-tests.log" | grep -E '^\s*(failed|succeeded|skipped):' | tr -s ' ' | tr '\n' ' ')"
tr '\r' '\n' < "$out/decode-tests.log" | grep -m3 -A12 "^failed " | cut -c1-300
for tool in memcheck racecheck synccheck; do
  left 300 || break
  extra=""; [ $tool = racecheck ] && extra="--racecheck-report hazard"
  timeout 70 compute-sanitizer --tool $tool $extra --print-limit 20 bash .gpu/run $T --filter "$D" > "$out/decode-$tool.log" 2>&1
  echo "$tool rc=$? $(grep -E 'SUMMARY' "$out/decode-$tool.log" | tail -1) $(tr '\r' '\n' < "$out/decode-$tool.log" | grep -E '^\s*(failed|succeeded):' | tr -s ' ' | tr '\n' ' ')"
done
if left 330; then
mkdir -p /tmp/ptx
TRITONOPS_DUMP_PTX=/tmp/ptx timeout 60 bash .gpu/run $T --filter "FullyQualifiedName~Kernel_CompilesToPtxForSm90&FullyQualifiedName~DecodeGemmKernel" > "$out/codegen.log" 2>&1; echo "codegen rc=$?"
for f in /tmp/ptx/DecodeGemmKernel*LinearEpilogue*; do echo "$(basename "$f"): $(ptxas -arch=sm_90a -v "$f" -o /dev/null 2>&1 | grep -oE 'Used [0-9]+ registers|[0-9]+ bytes spill (stores|loads)' | tr '\n' ' ')"; done
fi
for i in 0 20; do left 360 && r "linear sweep $i (L2 prefetch 0 / 4)" bash .gpu/run $M --sweep --op linear --nth $i; done
left 390 && r "linear decode M16 (standing row)" bash .gpu/run $M --op linear --nth 1
left 410 && r "positions prefill" bash .gpu/run $M --op "fused_rmsnorm_rope positions"
left 430 && r "decoder layer decode" bash .gpu/run $M --op decoder_layer --nth 1
echo "done t=$SECONDS"
