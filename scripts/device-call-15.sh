#!/usr/bin/env bash
# The swapped decode kernel's split reduction a slice at a time (docs/experiments/2026-12-07-swapped-slice-at-a-time.patch)
# against main, alternated, at M64 q-size and down (sweep rows 11, 13) and the decoder layer's decode; its swapped CUDA
# cases and racecheck/synccheck over them; ptxas of the Four variant. After main's pack:
#   bash scripts/pack-experiment.sh docs/experiments/2026-12-07-swapped-slice-at-a-time.patch
# then carry [".gpu"]; ~250 s.
set -u
out=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 45 "$@" 2>&1 | grep -E "^\| (linear|decoder)|rror|copy:" | head -4; }
cp -r .gpu/TritonOps.Benchmark /tmp/expb && cp .gpu/exp/b/*.dll /tmp/expb/
cp -r .gpu/TritonOps.Tests /tmp/expt && cp .gpu/exp/t/*.dll /tmp/expt/
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll X=/tmp/expb/TritonOps.Benchmark.dll
for round in 1 2; do
  for i in 11 13; do
    r "main sweep $i ($round)" bash .gpu/run $M --sweep --op linear --nth $i
    r "slice-at-a-time sweep $i ($round)" bash .gpu/run $X --sweep --op linear --nth $i
  done
done
r "main decoder layer decode" bash .gpu/run $M --op decoder_layer --nth 1
r "slice-at-a-time decoder layer decode" bash .gpu/run $X --op decoder_layer --nth 1
F="FullyQualifiedName~Cuda&FullyQualifiedName~SwappedDecode"
timeout 60 bash .gpu/run /tmp/expt/TritonOps.Tests.dll --filter "$F" > "$out/tests.log" 2>&1
echo "swapped CUDA cases rc=$? $(tr '\r' '\n' < "$out/tests.log" | grep -E '^\s*(failed|succeeded|skipped):' | tr -s ' ' | tr '\n' ' ')"
for tool in racecheck synccheck; do
  timeout 60 compute-sanitizer --tool $tool --print-limit 20 bash .gpu/run /tmp/expt/TritonOps.Tests.dll --filter "$F" > "$out/$tool.log" 2>&1
  echo "$tool rc=$? $(grep -E 'SUMMARY' "$out/$tool.log" | tail -1)"
done
mkdir -p /tmp/ptx
TRITONOPS_DUMP_PTX=/tmp/ptx timeout 60 bash .gpu/run /tmp/expt/TritonOps.Tests.dll --filter "FullyQualifiedName~Kernel_CompilesToPtxForSm90&FullyQualifiedName~SwappedDecodeGemmKernel" > /dev/null 2>&1
for f in /tmp/ptx/SwappedDecodeGemmKernel*; do echo "$(basename "$f"): $(ptxas -arch=sm_90a -v "$f" -o /dev/null 2>&1 | grep -oE 'Used [0-9]+ registers|[0-9]+ bytes spill (stores|loads)' | tr '\n' ' ')"; done
echo "done t=$SECONDS"
