#!/usr/bin/env bash
# Everything owed in one call (~560 s at most; each step skipped when the call's time would run out):
# 1. the GEMM CUDA fixtures on main's pack (owed by the mma flavour trait, 393f679 and its static-member form);
# 2. the spread split-K meeting's swapped CUDA cases (docs/experiments/2026-12-07-swapped-spread-meeting.patch);
# 3. one alternated round of device-call-18's A/B (main, spread, slice-at-a-time) and the decoder layer's decode;
# 4. the H200 bar rows (device-call-14); 5. racecheck and synccheck over the spread cases; 6. memcheck over the GEMM fixtures.
# After main's pack and the two pack-experiment.sh lines of device-call-18; carry [".gpu"].
set -u
out=${OUT:-/tmp/out}; mkdir -p "$out"
deadline=${DEADLINE:-565}
left() { [ $((SECONDS + $1)) -lt "$deadline" ]; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 45 "$@" 2>&1 | grep -E "^\| |rror|copy:" | head -4; }
tests() { # name dll filter timeout
  timeout "$4" bash .gpu/run "$2" --filter "$3" > "$out/tests-$1.log" 2>&1
  echo "$1 rc=$? $(tr '\r' '\n' < "$out/tests-$1.log" | grep -E '^\s*(failed|succeeded|skipped):' | tr -s ' ' | tr '\n' ' ') t=$SECONDS"
  tr '\r' '\n' < "$out/tests-$1.log" | grep -E '^\s*failed ' | head -5
}
G="FullyQualifiedName~Cuda&(FullyQualifiedName~LinearTests|FullyQualifiedName~FusedGatedMlpTests|FullyQualifiedName~Fp8)"
S="FullyQualifiedName~Cuda&FullyQualifiedName~Swapped"
tests gemm-main .gpu/TritonOps.Tests/TritonOps.Tests.dll "$G" $((deadline < 400 ? 120 : 200))
for x in slice spread; do
  cp -r .gpu/TritonOps.Benchmark /tmp/b-$x && cp .gpu/exp/$x/b/*.dll /tmp/b-$x/
  cp -r .gpu/TritonOps.Tests /tmp/t-$x && cp .gpu/exp/$x/t/*.dll /tmp/t-$x/
done
left 60 && tests swapped-spread /tmp/t-spread/TritonOps.Tests.dll "$S" 60
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
for i in 11 13; do
  left 20 && r "main sweep $i" bash .gpu/run $M --sweep --op linear --nth $i
  left 20 && r "spread sweep $i" bash .gpu/run /tmp/b-spread/TritonOps.Benchmark.dll --sweep --op linear --nth $i
  left 20 && r "slice sweep $i" bash .gpu/run /tmp/b-slice/TritonOps.Benchmark.dll --sweep --op linear --nth $i
done
left 20 && r "main sweep 10 (strip at M64 q-size)" bash .gpu/run $M --sweep --op linear --nth 10
# M16 down, swapped with 8 splits (sweep row 5) against the standing row (Auto: the strip kernel) below.
left 20 && r "main sweep 5 (swapped M16 down, 8 splits)" bash .gpu/run $M --sweep --op linear --nth 5
left 20 && r "spread sweep 5" bash .gpu/run /tmp/b-spread/TritonOps.Benchmark.dll --sweep --op linear --nth 5
left 25 && r "spread decoder layer decode" bash .gpu/run /tmp/b-spread/TritonOps.Benchmark.dll --op decoder_layer --nth 1
left 25 && r "linear decode M16" bash .gpu/run $M --op linear --nth 1
left 25 && r "gated M16 swapped" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
left 25 && r "positions prefill" bash .gpu/run $M --op "fused_rmsnorm_rope positions"
left 25 && r "main decoder layer decode" bash .gpu/run $M --op decoder_layer --nth 1
left 30 && r "main decoder layer prefill" bash .gpu/run $M --op decoder_layer --nth 0
for tool in racecheck synccheck; do
  left 50 || break
  timeout 50 compute-sanitizer --tool $tool --print-limit 20 bash .gpu/run /tmp/t-spread/TritonOps.Tests.dll --filter "$S" > "$out/$tool.log" 2>&1
  echo "spread $tool rc=$? $(grep -E 'SUMMARY' "$out/$tool.log" | tail -1) t=$SECONDS"
done
if left 40; then
  timeout $((deadline - 5 - SECONDS)) compute-sanitizer --tool memcheck --print-limit 20 bash .gpu/run .gpu/TritonOps.Tests/TritonOps.Tests.dll --filter "$G" > "$out/memcheck.log" 2>&1
  echo "GEMM memcheck rc=$? $(grep -E 'SUMMARY' "$out/memcheck.log" | tail -1) $(tr '\r' '\n' < "$out/memcheck.log" | grep -E '^\s*(failed|succeeded):' | tr -s ' ' | tr '\n' ' ') t=$SECONDS"
fi
echo "done t=$SECONDS"
