#!/usr/bin/env bash
# The swapped decode kernel's split-K meeting three ways, alternated: main (the last warp of each slot sums its slot),
# slice-at-a-time (docs/experiments/2026-12-07-swapped-slice-at-a-time.patch) and spread (the tile's warps claim
# (slot, slice) units: docs/experiments/2026-12-07-swapped-spread-meeting.patch), at M64 q-size and down (Linear sweep
# rows 11, 13) and the decoder layer's decode; each experiment's swapped CUDA cases, racecheck and synccheck over the
# spread one. After main's pack and
#   bash scripts/pack-experiment.sh docs/experiments/2026-12-07-swapped-slice-at-a-time.patch slice
#   bash scripts/pack-experiment.sh docs/experiments/2026-12-07-swapped-spread-meeting.patch spread
# carry [".gpu"]; ~420 s.
set -u
out=${OUT:-/tmp/out}; mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 45 "$@" 2>&1 | grep -E "^\| (linear|decoder)|rror|copy:" | head -4; }
for x in slice spread; do
  cp -r .gpu/TritonOps.Benchmark /tmp/b-$x && cp .gpu/exp/$x/b/*.dll /tmp/b-$x/
  cp -r .gpu/TritonOps.Tests /tmp/t-$x && cp .gpu/exp/$x/t/*.dll /tmp/t-$x/
done
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
F="FullyQualifiedName~Cuda&FullyQualifiedName~Swapped"
for x in spread slice; do
  timeout 60 bash .gpu/run /tmp/t-$x/TritonOps.Tests.dll --filter "$F" > "$out/tests-$x.log" 2>&1
  echo "$x swapped CUDA cases rc=$? $(tr '\r' '\n' < "$out/tests-$x.log" | grep -E '^\s*(failed|succeeded|skipped):' | tr -s ' ' | tr '\n' ' ')"
  tr '\r' '\n' < "$out/tests-$x.log" | grep -E '^\s*failed ' | head -5
done
for round in 1 2; do
  for i in 11 13; do
    r "main sweep $i ($round)" bash .gpu/run $M --sweep --op linear --nth $i
    r "spread sweep $i ($round)" bash .gpu/run /tmp/b-spread/TritonOps.Benchmark.dll --sweep --op linear --nth $i
    r "slice sweep $i ($round)" bash .gpu/run /tmp/b-slice/TritonOps.Benchmark.dll --sweep --op linear --nth $i
  done
done
r "main sweep 10 (strip kernel at M64 q-size: what the swapped one must beat for Auto to take it below K 8192)" bash .gpu/run $M --sweep --op linear --nth 10
r "main decoder layer decode" bash .gpu/run $M --op decoder_layer --nth 1
r "spread decoder layer decode" bash .gpu/run /tmp/b-spread/TritonOps.Benchmark.dll --op decoder_layer --nth 1
r "slice decoder layer decode" bash .gpu/run /tmp/b-slice/TritonOps.Benchmark.dll --op decoder_layer --nth 1
for tool in racecheck synccheck; do
  timeout 60 compute-sanitizer --tool $tool --print-limit 20 bash .gpu/run /tmp/t-spread/TritonOps.Tests.dll --filter "$F" > "$out/$tool.log" 2>&1
  echo "spread $tool rc=$? $(grep -E 'SUMMARY' "$out/$tool.log" | tail -1)"
done
echo "done t=$SECONDS"
