#!/usr/bin/env bash
# One device call (2026-12-06 evening), in order of value (each step skipped once the call nears its 590-s limit): the
# swapped decode GEMM (main, new) checked, A/B'd against the strip kernel and sanitized; main's float32-table norm+RoPE
# entry on CUDA and #17's rows; then the asm consumer loop (experiment dlls in .gpu/exp).
set -u
out=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
T=.gpu/TritonOps.Tests/TritonOps.Tests.dll
left() { [ $SECONDS -lt $1 ]; }
summary() { tr '\r' '\n' < "$1" | grep -E "^\s*(failed|succeeded|skipped|total):" | tr -s ' ' | tr '\n' ' '; echo; tr '\r' '\n' < "$1" | grep -m3 -A12 "^failed " | cut -c1-400; }
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 45 "$@" 2>&1 | grep -E "^\| (linear|fused|decoder)|rror|copy:" | head -4; }
echo "## swapped decode: CUDA Linear + gated tests"
timeout 120 bash .gpu/run $T --filter "FullyQualifiedName~Cuda&(FullyQualifiedName~LinearTests|FullyQualifiedName~FusedGatedMlpTests)" > "$out/swapped-tests.log" 2>&1; echo "rc=$?"
summary "$out/swapped-tests.log"
r "strip linear M16" bash .gpu/run $M --sweep --op linear --nth 0
r "swapped linear M16" bash .gpu/run $M --sweep --op linear --nth 1
r "strip gated M16" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 0
r "swapped gated M16" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
r "strip linear M64 in4096 out4096" bash .gpu/run $M --sweep --op linear --nth 2
r "swapped linear M64 in4096 out4096" bash .gpu/run $M --sweep --op linear --nth 3
r "strip linear M64 in14336 out4096" bash .gpu/run $M --sweep --op linear --nth 4
r "swapped linear M64 in14336 out4096" bash .gpu/run $M --sweep --op linear --nth 5
r "warp-specialized gated M64" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 2
r "swapped gated M64" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 3
r "decoder layer decode (auto)" bash .gpu/run $M --op decoder_layer --nth 1
for tool in racecheck synccheck; do
  left 420 || break
  extra=""; [ $tool = racecheck ] && extra="--racecheck-report hazard"
  timeout 80 compute-sanitizer --tool $tool $extra --print-limit 20 bash .gpu/run $T --filter "FullyQualifiedName~Cuda&FullyQualifiedName~LinearTests" > "$out/swapped-$tool.log" 2>&1
  echo "$tool (Linear CUDA fixtures) rc=$? $(grep -E 'SUMMARY' "$out/swapped-$tool.log" | tail -1) $(tr '\r' '\n' < "$out/swapped-$tool.log" | grep -E '^\s*(failed|succeeded):' | tr -s ' ' | tr '\n' ' ')"
done
if left 480; then
  echo "## main: norm+RoPE and qk CUDA tests (RunFloat32Table under its cap) (t=$SECONDS)"
  timeout 90 bash .gpu/run $T --filter "FullyQualifiedName~Cuda&(FullyQualifiedName~FusedRmsNormRope|FullyQualifiedName~QkNormRope)" > "$out/norm-tests.log" 2>&1
  summary "$out/norm-tests.log"
fi
left 540 && r "#17 positions prefill" bash .gpu/run $M --op "fused_rmsnorm_rope positions"
left 560 && r "again: swapped linear M16" bash .gpu/run $M --sweep --op linear --nth 1
left 560 && r "again: strip linear M16" bash .gpu/run $M --sweep --op linear --nth 0
echo "done t=$SECONDS"
