#!/usr/bin/env bash
# Next session's first call (written 12-07 16:10; best on an H200, where the bars are): #16's Linear 8192³ and cuBLAS in
# one call; the n64 swapped-kernel experiment (docs/experiments/2026-12-07-swapped-n64-wgmma.patch, packed as "n64") against
# main, alternated, with the gated MLP's M64 rows, then its racecheck/synccheck/memcheck; ncu of main's M64 q-size swapped
# launch (what bounds it at 1.1 TB/s); the layer's prefill with one q/k/v product against three ("prev", 9cfb17a); the
# FP8 layer; the H200 bar rows. After main's pack and
#   git diff HEAD 9cfb17a -- TritonOps TritonOps.Kernels samples TritonOps.Tests > /tmp/prev.patch; bash scripts/pack-experiment.sh /tmp/prev.patch prev
#   bash scripts/pack-experiment.sh docs/experiments/2026-12-07-swapped-n64-wgmma.patch n64
#   rm -rf .gpu/exp/prev/t .gpu/TritonOps.Benchmark/runtimes/linux-x64/native/lib*Sharp.so .gpu/*/*.xml .gpu/TritonOps.Tests/runtimes/win
# (docs/experiments: check each patch still applies to HEAD). DEADLINE=<s> for a short call. Log: $OUT/log.txt.
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
anchors() { echo "## torch anchors: $1 (t=$SECONDS)"; timeout "$2" python3 scripts/anchors.py --json "$out/anchors-$1.json" --only "$1" $3 > "$out/anchors-$1.log" 2>&1
  python3 -c "import json,sys; [print(a['shape'], a['name'], round(a['us'],1), 'p10', round(a['p10'],1)) for a in json.load(open(sys.argv[1]))['anchors']]" "$out/anchors-$1.json" 2>&1 | head -8; }
S="FullyQualifiedName~Cuda&FullyQualifiedName~Swapped"
r "linear 8192 (1)" bash .gpu/run $M --op linear --nth 0
left 60 && anchors linear 60 --no-compile
left 30 && r "linear 8192 (2)" bash .gpu/run $M --op linear --nth 0
for round in 1 2; do
  for nth in 11 13; do
    left 20 && r "main: linear sweep $nth ($round)" bash .gpu/run $M --sweep --op linear --nth $nth
    left 20 && r "n64: linear sweep $nth ($round)" bash .gpu/run $N --sweep --op linear --nth $nth
  done
  left 20 && r "main: gated M64 swapped (sweep 3) ($round)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 3
  left 20 && r "n64: gated M64 swapped (sweep 3) ($round)" bash .gpu/run $N --sweep --op fused_gated_mlp --nth 3
  left 20 && r "gated M64 warp-specialized, Auto (sweep 2) ($round)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 2
  left 30 && r "main: layer decode ($round)" bash .gpu/run $M --op decoder_layer --nth 1
  left 30 && r "n64: layer decode ($round)" bash .gpu/run $N --op decoder_layer --nth 1
done
left 60 && anchors decoder_layer 60 ""
for tool in racecheck synccheck memcheck; do
  left 70 || break
  timeout 60 compute-sanitizer --tool $tool --print-limit 20 bash .gpu/run /tmp/t-n64/TritonOps.Tests.dll --filter "$S" > "$out/n64-$tool.log" 2>&1
  echo "n64 swapped cases, $tool: rc=$? $(grep -E 'SUMMARY' "$out/n64-$tool.log" | tail -1) t=$SECONDS"
done
left 60 && { echo "## ncu: main linear sweep 11 (t=$SECONDS)"; BENCH_OP=linear BENCH_SWEEP=1 BENCH_NTH=11 timeout 60 bash scripts/ncu-metrics.sh; }
left 40 && r "one q/k/v product: layer prefill" bash .gpu/run $M --op decoder_layer --nth 0
left 40 && r "three q/k/v products: layer prefill" bash .gpu/run $P --op decoder_layer --nth 0
left 40 && r "one q/k/v product: FP8 layer prefill (block)" bash .gpu/run $M --op decoder_layer --nth 2
left 40 && r "three: FP8 layer prefill (block)" bash .gpu/run $P --op decoder_layer --nth 2
if grep -q H200 <<<"$gpu"; then
  left 20 && r "positions prefill (#17)" bash .gpu/run $M --op "fused_rmsnorm_rope positions"
  left 20 && r "gated decode M16 (#20)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
fi
echo "done t=$SECONDS"
