#!/usr/bin/env bash
# One device call (2026-12-06 evening), in order of value: the swapped decode GEMM (main, new) checked, A/B'd against the
# strip kernel and sanitized; then the asm consumer loop (experiment dlls in .gpu/exp) checked and A/B'd; then main's
# float32-table norm+RoPE entry on CUDA and #17's rows.
set -u
out=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
T=.gpu/TritonOps.Tests/TritonOps.Tests.dll
summary() { tr '\r' '\n' < "$1" | grep -E "^\s*(failed|succeeded|skipped|total):" | tr -s ' ' | tr '\n' ' '; echo; tr '\r' '\n' < "$1" | grep -m3 -A12 "^failed " | cut -c1-400; }
echo "## swapped decode: CUDA Linear + gated tests"
timeout 120 bash .gpu/run $T --filter "FullyQualifiedName~Cuda&(FullyQualifiedName~LinearTests|FullyQualifiedName~FusedGatedMlpTests)" > "$out/swapped-tests.log" 2>&1; echo "rc=$?"
summary "$out/swapped-tests.log"
r() { echo "## $1"; shift; timeout 45 "$@" 2>&1 | grep -E "^\| (linear|fused)|rror|copy:" | head -4; }
for round in 1 2; do
  r "strip linear M16 ($round)" bash .gpu/run $M --sweep --op linear --nth 0
  r "swapped linear M16 ($round)" bash .gpu/run $M --sweep --op linear --nth 1
  r "strip gated M16 ($round)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 0
  r "swapped gated M16 ($round)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
done
r "strip linear M64 in4096 out4096" bash .gpu/run $M --sweep --op linear --nth 2
r "swapped linear M64 in4096 out4096" bash .gpu/run $M --sweep --op linear --nth 3
r "strip linear M64 in14336 out4096" bash .gpu/run $M --sweep --op linear --nth 4
r "swapped linear M64 in14336 out4096" bash .gpu/run $M --sweep --op linear --nth 5
r "warp-specialized gated M64" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 2
r "swapped gated M64" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 3
r "decoder layer decode (auto)" bash .gpu/run $M --op decoder_layer --nth 1
echo "## swapped decode: racecheck, synccheck, memcheck"
for tool in racecheck synccheck memcheck; do
  extra=""; [ $tool = racecheck ] && extra="--racecheck-report hazard"
  timeout 100 compute-sanitizer --tool $tool $extra --print-limit 20 bash .gpu/run $T --filter "FullyQualifiedName~Cuda&FullyQualifiedName~SwappedDecode" > "$out/swapped-$tool.log" 2>&1
  echo "$tool rc=$? $(grep -E 'SUMMARY' "$out/swapped-$tool.log" | tail -1) $(tr '\r' '\n' < "$out/swapped-$tool.log" | grep -E '^\s*(failed|succeeded):' | tr -s ' ' | tr '\n' ' ')"
done
echo "## asm loop (experiment build): CUDA Linear + gated tests"
cp -r .gpu/TritonOps.Benchmark /tmp/expb && cp .gpu/exp/*.dll /tmp/expb/
cp -r .gpu/TritonOps.Tests /tmp/expt && cp .gpu/exp/TritonOps.dll .gpu/exp/TritonOps.Kernels.dll /tmp/expt/
timeout 100 env TRITONOPS_EXPERIMENT_CONSUMER=asm bash .gpu/run /tmp/expt/TritonOps.Tests.dll \
  --filter "FullyQualifiedName~Cuda&(FullyQualifiedName~LinearTests|FullyQualifiedName~FusedGatedMlpTests)&FullyQualifiedName!~Swapped" > "$out/asm-tests.log" 2>&1; echo "rc=$?"
summary "$out/asm-tests.log"
B=/tmp/expb/TritonOps.Benchmark.dll
if grep -qE "failed: 0" "$out/asm-tests.log"; then
  r "shared A linear8192" env TRITONOPS_EXPERIMENT_SHARED_A=1 bash .gpu/run $B --op linear --nth 0
  r "asm loop linear8192" env TRITONOPS_EXPERIMENT_CONSUMER=asm bash .gpu/run $B --op linear --nth 0
  r "shared A linear8192 (2)" env TRITONOPS_EXPERIMENT_SHARED_A=1 bash .gpu/run $B --op linear --nth 0
  r "asm loop linear8192 (2)" env TRITONOPS_EXPERIMENT_CONSUMER=asm bash .gpu/run $B --op linear --nth 0
else echo "asm tests not clean: no A/B"; fi
echo "## main: norm+RoPE and qk CUDA tests (RunFloat32Table under its cap)"
timeout 100 bash .gpu/run $T --filter "FullyQualifiedName~Cuda&(FullyQualifiedName~FusedRmsNormRope|FullyQualifiedName~QkNormRope)" > "$out/norm-tests.log" 2>&1
summary "$out/norm-tests.log"
echo "## main: #17 rows"
timeout 60 bash .gpu/run $M --op "fused_rmsnorm_rope positions" 2>&1 | grep -E "^\| fused|copy:"
timeout 60 bash .gpu/run $M --op fused_add_rms_norm 2>&1 | grep -E "^\| fused|copy:"
