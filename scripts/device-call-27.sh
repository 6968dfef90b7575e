#!/usr/bin/env bash
# 12-07 14:33 session: device-call-26 cut for a short call (the device budget spent on failed starts), the n64 A/B first: the CUDA tests owed (the FP8 layer's
# stacked q/k/v, strided q/k off 16-byte rows); the swapped decode kernel's four x slices as one m64n64k16 B
# (docs/experiments/2026-12-07-swapped-n64-wgmma.patch, packed as "n64": its CUDA cases, then M64 q-size and down rows and
# the layer's decode against main, alternated); #16's Linear 8192³ and cuBLAS in one call; the layer's prefill with one
# q/k/v product against three (9cfb17a, "prev"); torch's layer anchors; the FP8 layer one against three; H200 bar rows.
# After main's pack, pack-experiment.sh of /tmp/prev.patch (git diff HEAD 9cfb17a -- TritonOps TritonOps.Kernels samples
# TritonOps.Tests) as prev and of the n64 patch as n64, then the trim of docs/next-steps.md item 0. Log: $OUT/log.txt.
set -u
out=${OUT:-/tmp/out}; mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1
deadline=${DEADLINE:-540}
left() { [ $((SECONDS + $1)) -lt "$deadline" ]; }
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader); echo "$gpu"
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
cp -r .gpu/TritonOps.Benchmark /tmp/b-prev && cp .gpu/exp/prev/b/*.dll /tmp/b-prev/
cp -r .gpu/TritonOps.Benchmark /tmp/b-n64 && cp .gpu/exp/n64/b/*.dll /tmp/b-n64/
cp -r .gpu/TritonOps.Tests /tmp/t-n64 && cp .gpu/exp/n64/t/*.dll /tmp/t-n64/
P=/tmp/b-prev/TritonOps.Benchmark.dll N=/tmp/b-n64/TritonOps.Benchmark.dll
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 60 "$@" 2>&1 | grep -E "^\| (linear|decoder_layer|fused)|rror|copy:" | head -8; }
tests() { echo "## CUDA tests: $1 (t=$SECONDS)"; timeout "$2" bash .gpu/run "$3" --filter "$4" > "$out/tests-$1.log" 2>&1
  echo "rc=$? $(tr '\r' '\n' < "$out/tests-$1.log" | grep -E '^\s*(total|failed|succeeded|skipped):' | tr -s ' ' | tr '\n' ' ')"; grep -E "^failed" "$out/tests-$1.log" | head -5; }
anchors() { echo "## torch anchors: $1 (t=$SECONDS)"; timeout "$2" python3 scripts/anchors.py --json "$out/anchors-$1.json" --only "$1" $3 > "$out/anchors-$1.log" 2>&1
  python3 -c "import json,sys; [print(a['shape'], a['name'], round(a['us'],1), 'p10', round(a['p10'],1)) for a in json.load(open(sys.argv[1]))['anchors']]" "$out/anchors-$1.json" 2>&1 | head -8; }
tests n64 60 /tmp/t-n64/TritonOps.Tests.dll "FullyQualifiedName~Cuda&FullyQualifiedName~Swapped"
for nth in 11 13; do
  left 20 && r "main: linear sweep $nth" bash .gpu/run $M --sweep --op linear --nth $nth
  left 20 && r "n64: linear sweep $nth" bash .gpu/run $N --sweep --op linear --nth $nth
done
left 30 && r "main: layer decode" bash .gpu/run $M --op decoder_layer --nth 1
left 30 && r "n64: layer decode" bash .gpu/run $N --op decoder_layer --nth 1
left 100 && tests main 100 .gpu/TritonOps.Tests/TritonOps.Tests.dll "FullyQualifiedName~Cuda&(FullyQualifiedName~DecoderLayer|FullyQualifiedName~QAndK_AsSlicesOfOneQkvRow)"
left 30 && r "linear 8192 (1)" bash .gpu/run $M --op linear --nth 0
left 60 && anchors linear 60 --no-compile
left 30 && r "linear 8192 (2)" bash .gpu/run $M --op linear --nth 0
left 60 && anchors decoder_layer 60 ""
left 20 && r "n64: gated M64 swapped (sweep 3)" bash .gpu/run $N --sweep --op fused_gated_mlp --nth 3
left 20 && r "main: gated M64 warp-specialized (sweep 2)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 2
left 30 && r "n64: layer decode (2)" bash .gpu/run $N --op decoder_layer --nth 1
left 30 && r "main: layer decode (2)" bash .gpu/run $M --op decoder_layer --nth 1
echo "done t=$SECONDS"
