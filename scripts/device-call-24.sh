#!/usr/bin/env bash
# 12-07 12:37 session, call 3: the decoder layer's q/k/v as one product (f8aaa74) and FusedQkNormRope on row-strided
# q/k (8d6610b): their CUDA tests, racecheck/synccheck/memcheck over them and over the strip split-K cases (owed by
# 6d4bb44), the layer's decode and prefill against the commit before (9cfb17a, packed as "prev") alternated, the
# torch anchors of the layer in the same call, then the H200 bar rows. Everything to $OUT/log.txt as well as stdout.
# After main's pack and bash scripts/pack-experiment.sh <(git diff f8aaa74 9cfb17a -- TritonOps TritonOps.Kernels samples TritonOps.Tests) prev.
set -u
out=${OUT:-/tmp/out}; mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1
deadline=${DEADLINE:-480}
left() { [ $((SECONDS + $1)) -lt "$deadline" ]; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
T=.gpu/TritonOps.Tests/TritonOps.Tests.dll
cp -r .gpu/TritonOps.Benchmark /tmp/b-prev && cp .gpu/exp/prev/b/*.dll /tmp/b-prev/
P=/tmp/b-prev/TritonOps.Benchmark.dll
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 60 "$@" 2>&1 | grep -E "^\| (linear|decoder_layer|fused)|rror|copy:" | head -8; }
echo "## CUDA tests: QkNormRope, DecoderLayer (t=$SECONDS)"
timeout 150 bash .gpu/run $T --filter "FullyQualifiedName~Cuda&(FullyQualifiedName~QkNormRope|FullyQualifiedName~DecoderLayer)" > "$out/tests.log" 2>&1
echo "rc=$? $(tr '\r' '\n' < "$out/tests.log" | grep -E '^\s*(total|failed|succeeded|skipped):' | tr -s ' ' | tr '\n' ' ')"
grep -E "^failed |Expected|Assert" "$out/tests.log" | head -20
for round in 1 2; do
  left 30 && r "fused qkv layer decode ($round)" bash .gpu/run $M --op decoder_layer --nth 1
  left 30 && r "prev layer decode ($round)" bash .gpu/run $P --op decoder_layer --nth 1
done
left 40 && r "fused qkv layer prefill" bash .gpu/run $M --op decoder_layer --nth 0
left 40 && r "prev layer prefill" bash .gpu/run $P --op decoder_layer --nth 0
S="FullyQualifiedName~Cuda&(FullyQualifiedName~Slices|FullyQualifiedName~DecodeSplitK|FullyQualifiedName~QAndK_WithGqa)"
for tool in racecheck synccheck memcheck; do
  left 60 || break
  extra=""; [ $tool = racecheck ] && extra="--racecheck-report hazard"
  timeout 90 compute-sanitizer --tool $tool $extra --print-limit 20 bash .gpu/run $T --filter "$S" > "$out/$tool.log" 2>&1
  echo "$tool rc=$? $(grep -E 'SUMMARY' "$out/$tool.log" | tail -1) $(tr '\r' '\n' < "$out/$tool.log" | grep -E '^\s*(failed|succeeded):' | tr -s ' ' | tr '\n' ' ') t=$SECONDS"
done
if left 150; then
  echo "## torch anchors: decoder_layer (t=$SECONDS)"
  timeout 140 python3 scripts/anchors.py --json "$out/anchors-layer.json" --only decoder_layer > "$out/anchors.log" 2>&1
  python3 -c "import json,sys; [print(a['shape'], a['name'], round(a['us'],1)) for a in json.load(open(sys.argv[1]))['anchors']]" "$out/anchors-layer.json" 2>&1 | head -8
fi
left 30 && r "fused qkv layer decode (3)" bash .gpu/run $M --op decoder_layer --nth 1
left 30 && r "positions prefill (#17)" bash .gpu/run $M --op "fused_rmsnorm_rope positions"
left 30 && r "gated decode M16 (#20)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
left 30 && r "linear decode M16 (#16)" bash .gpu/run $M --op linear --nth 1
echo "done t=$SECONDS"
