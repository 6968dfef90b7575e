#!/usr/bin/env bash
# The swapped decode epilogue with its bias/residual loads ahead of the stores (IPairedTileEpilogue.LoadAddends): the
# M16 and M64 rows against the strip kernel, split counts at M64, the Linear CUDA tests.
set -u
out=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name --format=csv,noheader
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
T=.gpu/TritonOps.Tests/TritonOps.Tests.dll
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 45 "$@" 2>&1 | grep -E "^\| (linear|fused|decoder)|rror|copy:" | head -4; }
for i in 0 1 10 11 12 13 14 15 16; do r "linear sweep $i" bash .gpu/run $M --sweep --op linear --nth $i; done
r "gated M16 swapped" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
timeout 120 bash .gpu/run $T --filter "FullyQualifiedName~Cuda&(FullyQualifiedName~LinearTests|FullyQualifiedName~FusedGatedMlpTests)" > "$out/gemm-tests.log" 2>&1
echo "gemm CUDA tests rc=$?"; tr '\r' '\n' < "$out/gemm-tests.log" | grep -E "^\s*(failed|succeeded):" | tr -s ' ' | tr '\n' ' '; echo
tr '\r' '\n' < "$out/gemm-tests.log" | grep -m3 -A12 "^failed " | cut -c1-300
echo "done t=$SECONDS"
