#!/usr/bin/env bash
# Second call (2026-12-06 evening): the gated MLP's CUDA tests in full (the swapped decode kernel is now its M ≤ 16
# default), and why the swapped Linear loses split along K (its splits 1–8; the gated MLP's shape as a Linear).
set -u
out=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name --format=csv,noheader
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
T=.gpu/TritonOps.Tests/TritonOps.Tests.dll
for f in .probe/*.ptx; do sed 's/^\.target sm_[0-9a-z]*/.target sm_90a/' "$f" > /tmp/p.ptx
  echo "ptxas $(basename "$f"): $(ptxas -v -arch=sm_90a /tmp/p.ptx -o /tmp/p.cubin 2>&1 | grep -E "registers|spill|rror" | head -4 | tr '\n' ' ')"; done
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 45 "$@" 2>&1 | grep -E "^\| (linear|fused)|rror" | head -4; }
timeout 150 bash .gpu/run $T --filter "FullyQualifiedName~Cuda&FullyQualifiedName~FusedGatedMlpTests" > "$out/gated-tests.log" 2>&1; echo "gated CUDA tests rc=$?"
tr '\r' '\n' < "$out/gated-tests.log" | grep -E "^\s*(failed|succeeded|skipped|total):" | tr -s ' ' | tr '\n' ' '; echo
tr '\r' '\n' < "$out/gated-tests.log" | grep -m3 -A12 "^failed " | cut -c1-400
timeout 60 bash .gpu/run $M --sweep --op fused_gated_mlp --nth 0 2>&1 | grep -E "^\| fused|copy:"
timeout 60 bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1 2>&1 | grep -E "^\| fused"
for i in 0 1 2 3 4 5 6 7 8 9; do timeout 45 bash .gpu/run $M --sweep --op linear --nth $i 2>&1 | grep -E "^\| linear|rror"; done
echo "done t=$SECONDS"
