#!/usr/bin/env bash
# Linear's Auto takes the swapped decode kernel at 17–64 rows for K ≥ 8192 (the down projection): the decoder layer's
# decode before (bench-old: the strip kernel at M64) and after, alternated, in one call.
set -u
nvidia-smi --query-gpu=name --format=csv,noheader
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 45 "$@" 2>&1 | grep -E "^\| (linear|fused|decoder)|rror|copy:" | head -4; }
for round in 1 2; do
  r "decoder decode, before ($round)" bash .gpu/run .gpu/bench-old/TritonOps.Benchmark.dll --op decoder_layer --nth 1
  r "decoder decode, after ($round)" bash .gpu/run .gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll --op decoder_layer --nth 1
done
echo "done t=$SECONDS"
