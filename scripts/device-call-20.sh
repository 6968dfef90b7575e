#!/usr/bin/env bash
# A short call (DEADLINE seconds, default 220): the spread split-K meeting's swapped CUDA cases and its A/B against
# main at the M64 down projection and the M16 one with 8 splits (Linear sweep rows 13 and 5), then as much of the GEMM
# CUDA fixtures on main's pack as time allows (per-test lines counted if the timeout cuts it). Same packs as
# device-call-19; carry [".gpu"].
set -u
out=${OUT:-/tmp/out}; mkdir -p "$out"
deadline=${DEADLINE:-220}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 40 "$@" 2>&1 | grep -E "^\| |rror|copy:" | head -3; }
count() { echo "$1: passed $(grep -c '^passed ' "$2") failed $(grep -c '^failed ' "$2") $(tr '\r' '\n' < "$2" | grep -E '^\s*(failed|succeeded|skipped):' | tr -s ' ' | tr '\n' ' ')t=$SECONDS"; grep -A3 '^failed ' "$2" | head -12; }
cp -r .gpu/TritonOps.Benchmark /tmp/b-spread && cp .gpu/exp/spread/b/*.dll /tmp/b-spread/
cp -r .gpu/TritonOps.Tests /tmp/t-spread && cp .gpu/exp/spread/t/*.dll /tmp/t-spread/
timeout 45 bash .gpu/run /tmp/t-spread/TritonOps.Tests.dll --filter "FullyQualifiedName~Cuda&FullyQualifiedName~Swapped" --output Detailed > "$out/spread.log" 2>&1
count "spread swapped CUDA cases" "$out/spread.log"
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll X=/tmp/b-spread/TritonOps.Benchmark.dll
r "main sweep 13 (M64 down, swapped)" bash .gpu/run $M --sweep --op linear --nth 13
r "spread sweep 13" bash .gpu/run $X --sweep --op linear --nth 13
r "main sweep 5 (M16 down, swapped, 8 splits)" bash .gpu/run $M --sweep --op linear --nth 5
r "spread sweep 5" bash .gpu/run $X --sweep --op linear --nth 5
G="FullyQualifiedName~Cuda&(FullyQualifiedName~LinearTests|FullyQualifiedName~FusedGatedMlpTests|FullyQualifiedName~Fp8)"
timeout $((deadline - SECONDS)) bash .gpu/run .gpu/TritonOps.Tests/TritonOps.Tests.dll --filter "$G" --output Detailed > "$out/gemm.log" 2>&1
count "GEMM CUDA fixtures (main)" "$out/gemm.log"
echo "done t=$SECONDS"
