#!/usr/bin/env bash
# 12-07 14:33 session: device-call-26 (never run; removed) cut for a short call (the device budget spent on failed starts), the n64 A/B first: the CUDA tests owed (the FP8 layer's
# stacked q/k/v, strided q/k off 16-byte rows); the swapped decode kernel's four x slices as one m64n64k16 B
# (docs/experiments/2026-12-07-swapped-n64-wgmma.patch, packed as "n64": its CUDA cases, then M64 q-size and down rows and
# the layer's decode against main, alternated); #16's Linear 8192³ and cuBLAS in one call; the layer's prefill with one
# q/k/v product against three (9cfb17a, "prev"); torch's layer anchors; the FP8 layer one against three; H200 bar rows.
# After main's pack, pack-experiment.sh of /tmp/prev.patch (git diff HEAD 9cfb17a -- TritonOps TritonOps.Kernels samples
# TritonOps.Tests) as prev and of the n64 patch as n64, then the trim of docs/next-steps.md item 0. Log: $OUT/log.txt.
source scripts/device-call-common.sh
tests n64 60 $T64 "FullyQualifiedName~Cuda&FullyQualifiedName~Swapped"
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
