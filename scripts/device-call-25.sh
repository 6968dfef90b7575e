#!/usr/bin/env bash
# 12-07 12:37 session, call 4: #16's Linear 8192³ and cuBLAS in one call; the decoder layer's prefill with one q/k/v
# product (f8aaa74) against three (9cfb17a, packed as "prev"), alternated, two rounds; its decode once more beside
# torch's anchors of the layer; the FP8 layer with one q/k/v product (its CUDA tests first); the H200 bar rows.
# Everything to $OUT/log.txt too. After main's pack and
#   git diff HEAD 9cfb17a -- TritonOps TritonOps.Kernels samples TritonOps.Tests > /tmp/prev.patch; bash scripts/pack-experiment.sh /tmp/prev.patch prev
# (9cfb17a: three q/k/v products in both layers), then trim .gpu under the 64 MiB carry (docs/next-steps.md item 0).
set -u
out=${OUT:-/tmp/out}; mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1
deadline=${DEADLINE:-480}
left() { [ $((SECONDS + $1)) -lt "$deadline" ]; }
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader); echo "$gpu"
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
cp -r .gpu/TritonOps.Benchmark /tmp/b-prev && cp .gpu/exp/prev/b/*.dll /tmp/b-prev/
P=/tmp/b-prev/TritonOps.Benchmark.dll
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 60 "$@" 2>&1 | grep -E "^\| (linear|decoder_layer|fused)|rror|copy:" | head -8; }
anchors() { echo "## torch anchors: $1 (t=$SECONDS)"; timeout "$2" python3 scripts/anchors.py --json "$out/anchors-$1.json" --only "$1" $3 > "$out/anchors-$1.log" 2>&1
  python3 -c "import json,sys; [print(a['shape'], a['name'], round(a['us'],1), 'p10', round(a['p10'],1)) for a in json.load(open(sys.argv[1]))['anchors']]" "$out/anchors-$1.json" 2>&1 | head -8; }
echo "## CUDA tests: DecoderLayer (the FP8 layer's stacked q/k/v) (t=$SECONDS)"
timeout 100 bash .gpu/run .gpu/TritonOps.Tests/TritonOps.Tests.dll --filter "FullyQualifiedName~Cuda&(FullyQualifiedName~DecoderLayer|FullyQualifiedName~QAndK_AsSlicesOfOneQkvRow)" > "$out/tests.log" 2>&1
echo "rc=$? $(tr '\r' '\n' < "$out/tests.log" | grep -E '^\s*(total|failed|succeeded|skipped):' | tr -s ' ' | tr '\n' ' ')"
r "linear 8192 (1)" bash .gpu/run $M --op linear --nth 0
left 60 && anchors linear 60 --no-compile
left 30 && r "linear 8192 (2)" bash .gpu/run $M --op linear --nth 0
for round in 1 2; do
  left 40 && r "one q/k/v product: layer prefill ($round)" bash .gpu/run $M --op decoder_layer --nth 0
  left 40 && r "three q/k/v products: layer prefill ($round)" bash .gpu/run $P --op decoder_layer --nth 0
done
left 30 && r "one q/k/v product: layer decode" bash .gpu/run $M --op decoder_layer --nth 1
left 30 && r "three q/k/v products: layer decode" bash .gpu/run $P --op decoder_layer --nth 1
left 60 && anchors decoder_layer 60 ""
left 40 && r "one q/k/v product: FP8 layer prefill (block)" bash .gpu/run $M --op decoder_layer --nth 2
left 40 && r "three: FP8 layer prefill (block)" bash .gpu/run $P --op decoder_layer --nth 2
left 30 && r "one q/k/v product: FP8 layer decode (block)" bash .gpu/run $M --op decoder_layer --nth 4
left 30 && r "three: FP8 layer decode (block)" bash .gpu/run $P --op decoder_layer --nth 4
if grep -q H200 <<<"$gpu"; then
  left 20 && r "positions prefill (#17)" bash .gpu/run $M --op "fused_rmsnorm_rope positions"
  left 20 && r "gated decode M16 (#20)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
fi
# The swapped kernel's K splits at M64 since the spread meeting (12-06's figures predate it): q-size 8 (Auto) / 2 / 4,
# down 8 (Auto) / 4 (Linear sweep rows 11, 14, 15, 13, 16): does the meeting or the stream bound the short-K products?
for nth in 11 14 15 13 16; do left 15 && r "linear sweep $nth (M64 swapped splits)" bash .gpu/run $M --sweep --op linear --nth $nth; done
echo "done t=$SECONDS"
