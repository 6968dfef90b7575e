#!/usr/bin/env bash
# Part 1 of this session's device work: the GPU run owed by 393f679 (the mma.sync GEMMs' mma flavour trait: the
# Linear, gated MLP and FP8 CUDA fixtures, then memcheck over them), then the H200 bar rows (device-call-14).
# After main's pack; carry [".gpu"]; ~400 s. Part 2 is device-call-15 (the slice-at-a-time A/B).
set -u
out=${OUT:-/tmp/out}; mkdir -p "$out"
F="FullyQualifiedName~Cuda&(FullyQualifiedName~LinearTests|FullyQualifiedName~FusedGatedMlpTests|FullyQualifiedName~Fp8)"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 150 bash .gpu/run .gpu/TritonOps.Tests/TritonOps.Tests.dll --filter "$F" > "$out/gemm-cuda.log" 2>&1
echo "GEMM CUDA fixtures rc=$? $(tr '\r' '\n' < "$out/gemm-cuda.log" | grep -E '^\s*(total|failed|succeeded|skipped):' | tr -s ' ' | tr '\n' ' ') t=$SECONDS"
tr '\r' '\n' < "$out/gemm-cuda.log" | grep -E '^\s*Failed ' | head -10
SANITIZE_FILTER="$F" timeout 170 bash scripts/sanitize.sh memcheck
echo "t=$SECONDS"
bash scripts/device-call-14.sh
