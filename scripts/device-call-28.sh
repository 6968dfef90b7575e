#!/usr/bin/env bash
# Next session's first call (written 12-07 16:10; best on an H200, where the bars are): #16's Linear 8192³ and cuBLAS in
# one call; the swapped kernel's split-K meeting on release/acquire flags ("acqrel": no membar.gl, polls by ld.acquire;
# "spin": the same polls without the 256-ns sleeps)
# and the n64 swapped-kernel experiment (docs/experiments/2026-12-07-swapped-n64-wgmma.patch, packed as "n64") against
# main, alternated, with the gated MLP's M64 rows, then its racecheck/synccheck/memcheck; ncu of main's M64 q-size swapped
# launch (what bounds it at 1.1 TB/s); the layer's prefill with one q/k/v product against three ("prev", 9cfb17a); the
# FP8 layer; the H200 bar rows. After main's pack and
#   git diff HEAD 9cfb17a -- TritonOps TritonOps.Kernels samples TritonOps.Tests > /tmp/prev.patch; bash scripts/pack-experiment.sh /tmp/prev.patch prev
#   bash scripts/pack-experiment.sh docs/experiments/2026-12-07-swapped-n64-wgmma.patch n64
#   bash scripts/pack-experiment.sh docs/experiments/2026-12-07-swapped-acquire-release-meeting.patch acqrel
#   bash scripts/pack-experiment.sh docs/experiments/2026-12-07-swapped-acquire-release-spin.patch spin; rm -rf .gpu/exp/spin/t
#   bash scripts/pack-experiment.sh docs/experiments/2026-12-07-swapped-one-box.patch box1
#   bash scripts/pack-experiment.sh docs/experiments/2026-12-07-programmatic-dependent-launch.patch pdl
#   bash scripts/pack-experiment.sh docs/experiments/2026-12-07-pdl-weights-prefetch.patch pdlpf
#   rm -rf .gpu/exp/prev/t .gpu/TritonOps.Benchmark/runtimes/linux-x64/native/lib*Sharp.so .gpu/*/*.xml .gpu/TritonOps.Tests/runtimes/win
#   (cd .gpu/TritonOps.Benchmark && rm ILGPU.dll ILGPU.Algorithms.dll TritonOps.Kernels.dll TritonOps.dll)  # the tests' copies
#   travel instead; device-call-common.sh puts them back (main's only: experiments bring their own TritonOps*.dll)
# (docs/experiments: check each patch still applies to HEAD). DEADLINE=<s> for a short call. Log: $OUT/log.txt.
# "box1" (docs/experiments/2026-12-07-swapped-one-box.patch; bash scripts/pack-experiment.sh … box1): Linear's swapped kernel
# on one 128-row weight box and one consumer warpgroup a tile (twice the tiles, half the splits and partials).
# "pdl" (docs/experiments/2026-12-07-programmatic-dependent-launch.patch): the decode path's kernels launched through
# cuLaunchKernelEx with programmatic stream serialization, each calling griddepcontrol.launch_dependents and .wait at entry.
# Two calls' worth (~900 s): PART=1 (default) the bars' and experiments' A/Bs and the experiments' sanitizers; PART=2
# the split counts, ncu, the prefill A/B, the FP8 layer, the H200 rows and the decode norms. PART=L LAND="box1 pdl …": the
# sanitizers that landing an experiment needs (and pdl's whole CUDA suite), with main's owed wide-row sanitizers.
# Packs as of 12-07 21:05 (the carry's 64 MiB: 63.7 MB with the tree): main, exp/{acqrel, box1, pdl, pdlpf (benchmark only),
# b1pdl (benchmark only), dsmem, b1ds, f8s}; n64's, spin's and prev's were dropped for room (PART=1/2's rows on them fail at
# once; re-pack from their patches, dropping another, if they are wanted).
source scripts/device-call-common.sh
S="FullyQualifiedName~Cuda&(FullyQualifiedName~Swapped|FullyQualifiedName~DecodeSplitK)"
# pdl's kernels on CUDA: the decode GEMMs, the layer, the norms, q/k norm + RoPE; and its launcher's packing (CPU).
PDL_TESTS="(FullyQualifiedName~Cuda&(FullyQualifiedName~Swapped|FullyQualifiedName~DecodeSplitK|FullyQualifiedName~DecoderLayer|FullyQualifiedName~RmsNormTests|FullyQualifiedName~QkNormRope))|FullyQualifiedName~ExLauncher"
if [ "${PART:-1}" = Q ]; then
  # A short call (~550 s) when little device time is left: the experiments' A/B against main, Linear 8192³ with cuBLAS,
  # the H200 bar rows, then the experiments' CUDA cases and main's owed ones, a second round, the prefill. Several rows a process (--nth a
  # list): linear sweep 0/1 (M16 down strip/swapped: #16's decode row), 11 (M64 q-size swapped), 13 (M64 down swapped),
  # 31 (q/k/v swapped).
  left 30 && r "main: linear sweep 0, 1, 11, 13, 31" bash .gpu/run $M --sweep --op linear --nth 0,1,11,13,31
  left 30 && r "dsmem: linear sweep 1, 11, 13, 31" bash .gpu/run $DS --sweep --op linear --nth 1,11,13,31
  left 30 && r "b1ds: linear sweep 1, 11, 13, 31" bash .gpu/run $B1DS --sweep --op linear --nth 1,11,13,31
  left 30 && r "acqrel: linear sweep 1, 11, 13" bash .gpu/run $A --sweep --op linear --nth 1,11,13
  left 30 && r "box1: linear sweep 1, 11, 13, 31" bash .gpu/run $B1 --sweep --op linear --nth 1,11,13,31
  left 30 && r "pdl: linear sweep 11, 13, 31" bash .gpu/run $PD --sweep --op linear --nth 11,13,31
  left 30 && r "pdlpf: linear sweep 11, 13, 31" bash .gpu/run $PF --sweep --op linear --nth 11,13,31
  layer_decode "" main dsmem b1ds acqrel box1 pdl pdlpf b1pdl
  left 40 && r "main: linear 8192 and #16's decode row" bash .gpu/run $M --op linear --nth 0,1
  left 40 && anchors linear 40 --no-compile
  if grep -q H200 <<<"$gpu"; then
    left 20 && r "positions prefill (#17)" bash .gpu/run $M --op "fused_rmsnorm_rope positions"
    left 20 && r "gated decode M16 (#20)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
  fi
  # #20's FP8 decode bar: fp8_gemm M16 row-wise, M16 per tensor, M64 (standing rows 7, 9, 10) on main's wgmma tiles and on
  # the swapped kernel (f8s), with cuBLASLt (torch._scaled_mm) in the same call.
  left 30 && r "main: fp8_gemm decode rows 7, 9, 10" bash .gpu/run $M --op fp8_gemm --nth 7,9,10
  left 30 && r "f8s: fp8_gemm decode rows 7, 9, 10" bash .gpu/run $F8 --op fp8_gemm --nth 7,9,10
  left 60 && anchors fp8_gemm 60 --no-compile
  # The experiments' CUDA cases (each benchmark row above checks its own output against float64 too), main's owed ones.
  left 60 && tests dsmem 60 $TDS "$S"
  left 60 && tests b1ds 60 $TB1DS "$S"
  left 60 && tests f8s 60 $TF8 "FullyQualifiedName~Cuda&(FullyQualifiedName~Fp8Gemm|FullyQualifiedName~Swapped)"
  left 60 && tests box1 60 $TB1 "$S"
  left 90 && tests pdl 90 $TPD "$PDL_TESTS"
  left 60 && tests main-steps-4-8 60 .gpu/TritonOps.Tests/TritonOps.Tests.dll "FullyQualifiedName~Cuda&(FullyQualifiedName~WgmmaTests|FullyQualifiedName~FusedRmsNormRopeTests)"
  left 60 && tests acqrel 60 $TA "$S"
  layer_decode " (2)" main dsmem b1ds acqrel box1 pdl pdlpf b1pdl
  left 30 && r "main: linear sweep 11, 13 (2)" bash .gpu/run $M --sweep --op linear --nth 11,13
  left 30 && r "dsmem: linear sweep 11, 13 (2)" bash .gpu/run $DS --sweep --op linear --nth 11,13
  left 40 && r "pdl: layer prefill" bash .gpu/run $PD --op decoder_layer --nth 0
  left 40 && r "main: layer prefill" bash .gpu/run $M --op decoder_layer --nth 0
  # Where the layer's prefill goes, kernel by kernel (#19's 0.85 × torch.compile, its FP8 1.12 × of bf16): bf16, FP8 block.
  for nth in 0 2; do left 70 && { echo "## ncu: layer kernels, decoder_layer $nth (t=$SECONDS)"; LAYER_NTH=$nth timeout 70 bash scripts/ncu-layer.sh; }; done
elif [ "${PART:-1}" = S ]; then
  # The smallest call (~200 s, when the budget is nearly gone): the M64 q-size and down rows and the layer's decode for
  # main and the experiments most likely to decide (dsmem, box1, pdl), then dsmem's CUDA cases.
  left 30 && r "main: linear sweep 11, 13" bash .gpu/run $M --sweep --op linear --nth 11,13
  left 30 && r "dsmem: linear sweep 11, 13" bash .gpu/run $DS --sweep --op linear --nth 11,13
  left 30 && r "b1ds: linear sweep 11, 13" bash .gpu/run $B1DS --sweep --op linear --nth 11,13
  left 30 && r "box1: linear sweep 11, 13" bash .gpu/run $B1 --sweep --op linear --nth 11,13
  layer_decode "" main dsmem b1ds box1 pdl b1pdl
  left 30 && r "main: fp8_gemm M16 per tensor (row 9)" bash .gpu/run $M --op fp8_gemm --nth 9
  left 30 && r "f8s: fp8_gemm M16 per tensor (row 9)" bash .gpu/run $F8 --op fp8_gemm --nth 9
  left 60 && tests dsmem 60 $TDS "$S"
elif [ "${PART:-1}" = L ]; then
  # Landing: racecheck / synccheck / memcheck over the swapped and split-K CUDA cases of each experiment named in LAND
  # (e.g. LAND="box1 pdl"), main's wide norm+RoPE rows (step 4) under the three tools, then pdl's whole CUDA suite
  # when pdl is named (every GEMM and norm launch changes path with it).
  declare -A TESTS=([main]=.gpu/TritonOps.Tests/TritonOps.Tests.dll [acqrel]=$TA [box1]=$TB1 [pdl]=$TPD [dsmem]=$TDS [b1ds]=$TB1DS [f8s]=$TF8)
  sanitize() { local exp=$1 tool=$2 filter=$3
    timeout 60 compute-sanitizer --tool $tool --print-limit 20 bash .gpu/run "${TESTS[$exp]}" --filter "$filter" > "$out/$exp-$tool.log" 2>&1
    echo "$exp, $tool: rc=$? $(grep -E 'SUMMARY' "$out/$exp-$tool.log" | tail -1) $(tr '\r' '\n' < "$out/$exp-$tool.log" | grep -E '^\s*(failed|succeeded):' | tr -s ' ' | tr '\n' ' ') t=$SECONDS"; }
  for exp in ${LAND:-}; do
    for tool in racecheck synccheck memcheck; do left 70 && sanitize $exp $tool "$S"; done
  done
  for tool in racecheck synccheck memcheck; do
    left 70 && sanitize main $tool "FullyQualifiedName~Cuda&FullyQualifiedName~RowsTooWideToHold"
  done
  if grep -qw pdl <<<"${LAND:-}"; then
    left 230 && tests pdl-whole-cuda 220 $TPD "FullyQualifiedName~Cuda"
  fi
elif [ "${PART:-1}" = 1 ]; then
  r "linear 8192 (1)" bash .gpu/run $M --op linear --nth 0
  left 60 && anchors linear 60 --no-compile
  left 30 && r "linear 8192 (2)" bash .gpu/run $M --op linear --nth 0
  tests acqrel 60 $TA "$S"
  tests box1 60 $TB1 "$S"
  left 90 && tests pdl 90 $TPD "$PDL_TESTS"
  # Main since the pack of 16:30: consolidation steps 4 (wide rows on the general q/k kernel) and 8 (WgmmaTests on m64n128k16).
  left 60 && tests main-steps-4-8 60 .gpu/TritonOps.Tests/TritonOps.Tests.dll "FullyQualifiedName~Cuda&(FullyQualifiedName~WgmmaTests|FullyQualifiedName~FusedRmsNormRopeTests)"
  ab_round() { local round=$1
    for nth in 11 13; do
      left 20 && r "main: linear sweep $nth ($round)" bash .gpu/run $M --sweep --op linear --nth $nth
      left 20 && r "acqrel: linear sweep $nth ($round)" bash .gpu/run $A --sweep --op linear --nth $nth
      left 20 && r "spin: linear sweep $nth ($round)" bash .gpu/run $Z --sweep --op linear --nth $nth
      left 20 && r "n64: linear sweep $nth ($round)" bash .gpu/run $N --sweep --op linear --nth $nth
      left 20 && r "box1: linear sweep $nth ($round)" bash .gpu/run $B1 --sweep --op linear --nth $nth
    done
    left 20 && r "main: qkv swapped, sweep 31 ($round)" bash .gpu/run $M --sweep --op linear --nth 31
    left 20 && r "box1: qkv swapped, sweep 31 ($round)" bash .gpu/run $B1 --sweep --op linear --nth 31
    left 20 && r "main: M16 down swapped, sweep 1 ($round)" bash .gpu/run $M --sweep --op linear --nth 1
    left 20 && r "box1: M16 down swapped, sweep 1 ($round)" bash .gpu/run $B1 --sweep --op linear --nth 1
    layer_decode " ($round)" acqrel spin box1 pdl
    # #16's decode row (M16 down + residual, the strip kernel's serial split-K, which acqrel changes too).
    left 20 && r "main: #16 decode row ($round)" bash .gpu/run $M --op linear --nth 1
    left 20 && r "acqrel: #16 decode row ($round)" bash .gpu/run $A --op linear --nth 1
    left 20 && r "main: gated M64 swapped (sweep 3) ($round)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 3
    left 20 && r "n64: gated M64 swapped (sweep 3) ($round)" bash .gpu/run $N --sweep --op fused_gated_mlp --nth 3
    left 20 && r "gated M64 warp-specialized, Auto (sweep 2) ($round)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 2
    layer_decode " ($round)" main n64
  }
  ab_round 1
  # The experiments' sanitizers before the second round: correctness first if the call runs short.
  for tool in racecheck synccheck memcheck; do
    for exp in n64 acqrel; do
      left 70 || break
      tdll=$T64; [ $exp = acqrel ] && tdll=$TA
      timeout 60 compute-sanitizer --tool $tool --print-limit 20 bash .gpu/run $tdll --filter "$S" > "$out/$exp-$tool.log" 2>&1
      echo "$exp swapped cases, $tool: rc=$? $(grep -E 'SUMMARY' "$out/$exp-$tool.log" | tail -1) t=$SECONDS"
    done
  done
  ab_round 2
else
  # The swapped kernel's K splits at M64 since the spread meeting (Auto: 8; 12-06 before it, H100: 2 / 4 / 8 splits
  # 55.7 / 46.4 / 49.3 µs at q size): sweep rows 14, 15 (q size, 2 and 4 splits) and 16 (down, 4 splits).
  for nth in 14 15 16; do left 20 && r "main: linear sweep $nth (M64 swapped splits)" bash .gpu/run $M --sweep --op linear --nth $nth; done
  left 60 && anchors decoder_layer 60 ""
  left 60 && { echo "## ncu: main linear sweep 11 (t=$SECONDS)"; BENCH_OP=linear BENCH_SWEEP=1 BENCH_NTH=11 timeout 60 bash scripts/ncu-metrics.sh; }
  left 40 && r "one q/k/v product: layer prefill" bash .gpu/run $M --op decoder_layer --nth 0
  left 40 && r "three q/k/v products: layer prefill" bash .gpu/run $P --op decoder_layer --nth 0
  left 40 && r "one q/k/v product: FP8 layer prefill (block)" bash .gpu/run $M --op decoder_layer --nth 2
  left 40 && r "three: FP8 layer prefill (block)" bash .gpu/run $P --op decoder_layer --nth 2
  if grep -q H200 <<<"$gpu"; then
    left 20 && r "positions prefill (#17)" bash .gpu/run $M --op "fused_rmsnorm_rope positions"
    left 20 && r "gated decode M16 (#20)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
  fi
  # The decode norms' threads a row (sweep rms_norm 6–9: 1, 2, 4 runs a thread, then the op's choice).
  for nth in 6 7 8 9; do left 15 && r "rms_norm M64 sweep $nth" bash .gpu/run $M --sweep --op rms_norm --nth $nth; done
fi
echo "done t=$SECONDS"
