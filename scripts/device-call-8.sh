#!/usr/bin/env bash
# The asm consumer loop (docs/experiments/2026-12-06-consumer-experiments.patch on 17b7e4b, its changed dlls in
# .gpu/exp/t and .gpu/exp/b over main's pack): CUDA Linear + gated tests with the asm consumer, then Linear 8192³
# shared-A (that build's default consumer) against the asm loop, twice each; cuBLAS anchor from main's benchmark row.
set -u
out=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
summary() { tr '\r' '\n' < "$1" | grep -E "^\s*(failed|succeeded|skipped|total):" | tr -s ' ' | tr '\n' ' '; echo; tr '\r' '\n' < "$1" | grep -m3 -A12 "^failed " | cut -c1-400; }
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 60 "$@" 2>&1 | grep -E "^\| (linear|fused|decoder)|rror|copy:|anchor|cuBLAS|torch" | head -6; }
cp -r .gpu/TritonOps.Benchmark /tmp/expb && cp .gpu/exp/b/*.dll /tmp/expb/
cp -r .gpu/TritonOps.Tests /tmp/expt && cp .gpu/exp/t/*.dll /tmp/expt/
timeout 150 env TRITONOPS_EXPERIMENT_CONSUMER=asm bash .gpu/run /tmp/expt/TritonOps.Tests.dll \
  --filter "FullyQualifiedName~Cuda&(FullyQualifiedName~LinearTests|FullyQualifiedName~FusedGatedMlpTests)" > "$out/asm-tests.log" 2>&1; echo "asm tests rc=$?"
summary "$out/asm-tests.log"
tail -c 3000 "$out/asm-tests.log" | grep -iE "ptxas|error|exception" | head -10
B=/tmp/expb/TritonOps.Benchmark.dll
r "main linear 8192 (anchor row)" bash .gpu/run .gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll --op linear --nth 0
for round in 1 2; do
  r "shared A linear8192 ($round)" env TRITONOPS_EXPERIMENT_SHARED_A=1 bash .gpu/run $B --op linear --nth 0
  r "asm loop linear8192 ($round)" env TRITONOPS_EXPERIMENT_CONSUMER=asm TRITONOPS_EXPERIMENT_SHARED_A=1 bash .gpu/run $B --op linear --nth 0
done
echo "done t=$SECONDS"
