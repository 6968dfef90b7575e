#!/usr/bin/env bash
# 12-08 (after the 04:27 H100 calls). Main's pack (../shared/gpu/pack on TritonOps.Tests and the benchmark, shared dlls
# removed as in device-call-28's header). Parts, in the order given by PART (default "V D"):
# V (~120 s): the transformers decoder fixtures made at 04:27 (Phi-3, Gemma, Gemma 2, Gemma 3: the float32 cases run on
#   CUDA only), the rope tables, and the 8-split swapped case that ran 6 splits (its CUDA cluster count failed).
# D (~200 s): why the layer's M64 products at K 4096 stream at ~1.2–1.7 TB/s (H100 ncu 04:30: o 29.8 µs, q/k/v 29.4 µs
#   against 11 and 17 µs at the copy rate): Linear sweep rows 10/11 (o strip / swapped, Auto's 4 splits), 14 (2 splits),
#   30/31 (q/k/v as one), 28/29 (k/v), 13 (down), cuBLAS's time for each shape (anchors m64_products), then ncu of one swapped o launch
#   (speed of light, memory, warp states, scheduler, launch).
# E (~300 s): the narrowprod experiment against main (see the part's comment). Packs: main's, then
#   `bash scripts/pack-experiment.sh docs/experiments/2026-12-08-narrow-producer.patch narrowprod`.
# T (~60 s): the stamps experiment's per-block timelines (`bash scripts/pack-experiment.sh
#   docs/experiments/2026-12-08-swapped-stamps.patch stamps`).
# Q (~120 s): E's core for a thin budget (o at Auto and at 8 splits on 4 and 3 stages, #16's row at 8 and 12 splits).
# (The 12-08 05:02 run of V listed RopeTableTests in its filter; they are not per-device, so they ran on the CPU only.)
source scripts/device-call-common.sh
T=.gpu/TritonOps.Tests/TritonOps.Tests.dll
beside narrowprod
beside stamps
BENCH[stamps]=/tmp/b-stamps/TritonOps.Benchmark.dll
NP=/tmp/b-narrowprod/TritonOps.Benchmark.dll TNP=/tmp/t-narrowprod/TritonOps.Tests.dll
BENCH[narrowprod]=$NP
for part in ${PART:-V D}; do case $part in
V)
  left 100 && tests fixtures 100 $T "FullyQualifiedName~Cuda&(FullyQualifiedName~DecoderLayerTests|FullyQualifiedName~RopeTableTests|FullyQualifiedName~SwappedDecodeSplitK)"
;;
D)
  left 40 && r "linear sweep 10, 11, 14, 15" bash .gpu/run $M --sweep --op linear --nth 10,11,14,15
  left 20 && r "linear sweep 13" bash .gpu/run $M --sweep --op linear --nth 13
  left 40 && r "linear sweep 28, 29, 30, 31" bash .gpu/run $M --sweep --op linear --nth 28,29,30,31
  left 40 && anchors m64_products 40 --no-compile
  left 60 && { echo "## ncu: o swapped (sweep 11) (t=$SECONDS)"; timeout 55 ncu --clock-control none --kernel-name regex:Kernel_Run --launch-skip 30 --launch-count 1 \
    --section LaunchStats --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
    bash .gpu/run $M --sweep --op linear --nth 11 > "$out/ncu-o.txt" 2>&1
    grep -E "Kernel_|Duration|Grid Size|Cluster Size|Block Size|Shared Memory Config|Dynamic Shared|Throughput|Stall|Warp Cycles|Active Warps|Eligible|Issued Warp|No Eligible|L2 Hit|L1/TEX Hit|Mem Busy|Max Bandwidth" "$out/ncu-o.txt" | head -60; }
  left 60 && { echo "## ncu: gated M16 swapped (sweep fused_gated_mlp 1) (t=$SECONDS)"; timeout 55 ncu --clock-control none --kernel-name regex:Kernel_Run --launch-skip 30 --launch-count 1 \
    --section LaunchStats --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
    bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1 > "$out/ncu-gated.txt" 2>&1
    grep -E "Kernel_|Duration|Grid Size|Cluster Size|Throughput|Stall|Warp Cycles|L2 Hit|Mem Busy|Max Bandwidth" "$out/ncu-gated.txt" | head -30; }
;;
E)
  # narrowprod (docs/experiments/2026-12-08-narrow-producer.patch): the swapped kernel's producer as one warp (160 threads
  # a Linear block, 288 a gated one), so its registers leave room for a second block an SM on a shallower ring (rows
  # 37-44). Alternated with main: the standing configurations (Linear sweep 11, 13, 31; gated M16), the new rows, the
  # layer's decode; then narrowprod's swapped and split-K CUDA cases.
  for b in main narrowprod; do left 40 && r "$b: linear sweep 11, 13, 31" bash .gpu/run "${BENCH[$b]}" --sweep --op linear --nth 11,13,31
    left 20 && r "$b: gated sweep 1" bash .gpu/run "${BENCH[$b]}" --sweep --op fused_gated_mlp --nth 1; done
  for b in main narrowprod; do left 40 && r "$b: linear sweep 37-40" bash .gpu/run "${BENCH[$b]}" --sweep --op linear --nth 37,38,39,40
    left 40 && r "$b: linear sweep 41-44" bash .gpu/run "${BENCH[$b]}" --sweep --op linear --nth 41,42,43,44; done
  layer_decode "" main narrowprod
  left 90 && tests narrowprod 80 $TNP "FullyQualifiedName~Cuda&(FullyQualifiedName~Swapped|FullyQualifiedName~DecodeSplitK|FullyQualifiedName~FusedGatedMlpTests)"
;;
T)
  # stamps (docs/experiments/2026-12-08-swapped-stamps.patch): the swapped kernel's per-block timeline (%globaltimer at
  # entry, dependency met, first stage multiplied, mainloop end, epilogue end; the SM) of one launch after five, for the
  # layer's M64 o, q/k/v, down and #16's row (Linear sweep rows 45-48 of the stamps build): launch spread, ramp, the
  # per-block stream rate, the meeting's cost, the finish spread (~60 s).
  left 60 && { echo "## stamps: linear sweep 45-48 (t=$SECONDS)"; timeout 55 bash .gpu/run "${BENCH[stamps]}" --sweep --op linear --nth 45,46,47,48 2>&1 \
    | grep -E "^\| linear|^# stamps|rror" | head -12; }
;;
Q)
  # narrowprod in brief (~120 s, for a thin budget): o at Auto and at 8 splits on 4 and 3 stages, #16's row at 8 and 12
  # splits, on each build.
  for b in main narrowprod; do left 30 && r "$b: linear sweep 11, 38, 39" bash .gpu/run "${BENCH[$b]}" --sweep --op linear --nth 11,38,39
    left 30 && r "$b: linear sweep 43, 44" bash .gpu/run "${BENCH[$b]}" --sweep --op linear --nth 43,44; done
;;
esac; done
echo "done t=$SECONDS"
