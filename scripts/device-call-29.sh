#!/usr/bin/env bash
# Landing call for "b1dspdl" (docs/experiments/2026-12-07-box1-cluster-pdl.patch, branch combo/b1ds-pdl: box1's one-box
# swapped tiles, the split-K meeting in a thread-block cluster where the clusters fit, programmatic dependent launch).
# On 12-07 21:56 (H100, device-call-28 PART=Q) the layer's decode ran main 234.1 / 234.0, b1pdl 223.2, b1ds 225.3,
# pdl 227.3, box1 230.1 µs. This call: the layer's decode A/B (main, b1dspdl, b1pdl, b1ds), b1dspdl's Linear sweep
# rows, its whole CUDA suite (pdl changes every decode-path launch; main's owed steps 4 and 8 ride along), then
# racecheck / synccheck / memcheck over the swapped and split-K CUDA cases and main's owed wide norm+RoPE rows, then a
# second A/B round. Packs: main, exp/{b1dspdl, b1pdl (benchmark), b1ds, box1, pdl}. DEADLINE=<s>. Log: $OUT/log.txt.
source scripts/device-call-common.sh
beside b1dspdl
BDP=/tmp/b-b1dspdl/TritonOps.Benchmark.dll TBDP=/tmp/t-b1dspdl/TritonOps.Tests.dll
BENCH[b1dspdl]=$BDP
S="FullyQualifiedName~Cuda&(FullyQualifiedName~Swapped|FullyQualifiedName~DecodeSplitK|FullyQualifiedName~RowsTooWideToHold)"
layer_decode "" main b1dspdl b1pdl b1ds
left 30 && r "b1dspdl: linear sweep 1, 11, 13, 31" bash .gpu/run $BDP --sweep --op linear --nth 1,11,13,31
left 30 && r "main: linear sweep 1, 11, 13, 31" bash .gpu/run $M --sweep --op linear --nth 1,11,13,31
left 240 && tests b1dspdl-whole-cuda 230 $TBDP "FullyQualifiedName~Cuda"
sanitize() { local tool=$1 limit=$2
  timeout $limit compute-sanitizer --tool $tool --print-limit 20 bash .gpu/run $TBDP --filter "$S" > "$out/b1dspdl-$tool.log" 2>&1
  echo "b1dspdl, $tool: rc=$? $(grep -E 'SUMMARY' "$out/b1dspdl-$tool.log" | tail -1) $(tr '\r' '\n' < "$out/b1dspdl-$tool.log" | grep -E '^\s*(failed|succeeded):' | tr -s ' ' | tr '\n' ' ') t=$SECONDS"; }
left 60 && sanitize memcheck 55
left 60 && sanitize synccheck 55
left 100 && sanitize racecheck 95
layer_decode " (2)" b1dspdl main b1pdl
echo "done t=$SECONDS"
