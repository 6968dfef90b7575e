#!/usr/bin/env bash
# Owed by 9997f75 (box1 + the split-K meeting in a cluster + programmatic dependent launch, landed 12-07 22:20 on an
# H100 A/B: the layer's decode 234.5 → 219.2 µs). After main's pack (../shared/gpu/pack on TritonOps.Tests and the
# benchmark; then `rm -rf .gpu/exp`, `bash scripts/pack-experiment.sh docs/experiments/2026-12-07-fp8-pdl.patch fp8pdl`, the same for
# 2026-12-07-producer-issue-groups.patch as kgroup and
# 2026-12-07-cluster-fit-split.patch as csplit, and the
# benchmark's shared dlls removed as in device-call-28's header).
# PART=C (~520 s, correctness): racecheck over the 17 cases memcheck and synccheck passed (swapped, split-K in clusters
# of 2/4/5/8, the wide norm+RoPE rows), then the whole CUDA suite (519 tests: 295 ran in 226 s on the H100).
# PART=K (~200 s): csplit's (fewer splits where their clusters fit). PART=F (~250 s): the fp8pdl experiment's A/B and CUDA cases. PART=G (~300 s): kgroup's (the producer's stages in groups of 4).
# PART=H (~450 s, on an H200: the bars): the layer's decode and prefill with torch.compile, Linear 8192³ and #16's
# decode row with cuBLAS, #17's positions prefill, #20's gated decode, the M64 sweep rows. DEADLINE=<s>. Log: $OUT/log.txt.
source scripts/device-call-common.sh
T=.gpu/TritonOps.Tests/TritonOps.Tests.dll
S="FullyQualifiedName~Cuda&(FullyQualifiedName~Swapped|FullyQualifiedName~DecodeSplitK|FullyQualifiedName~RowsTooWideToHold)"
beside fp8pdl
FP=/tmp/b-fp8pdl/TritonOps.Benchmark.dll TFP=/tmp/t-fp8pdl/TritonOps.Tests.dll
BENCH[fp8pdl]=$FP
beside kgroup
KG=/tmp/b-kgroup/TritonOps.Benchmark.dll TKG=/tmp/t-kgroup/TritonOps.Tests.dll
BENCH[kgroup]=$KG
beside csplit
CS=/tmp/b-csplit/TritonOps.Benchmark.dll TCS=/tmp/t-csplit/TritonOps.Tests.dll
BENCH[csplit]=$CS
# PART: one or more of X (fixtures), N (the cast kernel's sanitizers), C, H, G, F, K, S (whole CUDA suite), run in the order given (PART="G F" fits one ~550-s call, so does "K G").
for part in ${PART:-C}; do case $part in
X)
  # The transformers fixtures written without a run (12-08): Gemma 2 and Gemma 3 decoder layers (~20 s on the machine's
  # CPU), and rope_tables with the dynamic and longrope tables. One tarball comes back (the reply returns few files):
  # `tar xzf fix.tgz -C TritonOps.Tests/Fixtures` puts decoder/gemma* and rope_tables.safetensors in place.
  echo "## fixtures (t=$SECONDS)"; fx=$(mktemp -d)
  # Whole logs go into the tarball (a second family's traceback would push the first out of a tail).
  timeout 120 python3 scripts/fixtures/make_decoder_fixtures.py --only phi3 gemma gemma2 gemma3 --out "$fx/decoder" 2>&1 | grep -vE "it/s|^\s*$" > "$fx/decoder-fixtures.log"
  grep -E "FAILED" "$fx/decoder-fixtures.log"; tail -25 "$fx/decoder-fixtures.log"
  timeout 60 python3 scripts/fixtures/make_fixtures.py --only rope_tables --out "$fx" 2>&1 | grep -vE "^\s*$" > "$fx/rope-fixtures.log"; tail -4 "$fx/rope-fixtures.log"
  tar czf "$out/fix.tgz" -C "$fx" . && echo "fixtures: $(tar tzf "$out/fix.tgz" | wc -l) entries (logs: decoder-fixtures.log, rope-fixtures.log)"
;;
N)
  # The cast kernel (Tensor.To, written 12-08 without a GPU): its CUDA cases under each sanitizer (~100 s), owed before it
  # is called done.
  for tool in memcheck racecheck synccheck; do
    left 40 && timeout 60 compute-sanitizer --tool $tool --print-limit 20 bash .gpu/run $T \
      --filter "FullyQualifiedName~Cuda&FullyQualifiedName~TensorCastTests" > "$out/cast-$tool.log" 2>&1
    echo "cast $tool: rc=$? $(grep -E 'SUMMARY' "$out/cast-$tool.log" | tail -1) $(tr '\r' '\n' < "$out/cast-$tool.log" | grep -E '^\s*(failed|succeeded):' | tr -s ' ' | tr '\n' ' ') t=$SECONDS"
  done
;;
S)
  # The whole CUDA suite (an H200 run is owed: 518/521 passed on the H100 at 12-08 00:12).
  left 60 && tests whole-cuda $((deadline - SECONDS - 10)) $T "FullyQualifiedName~Cuda"
;;
K)
  # csplit (docs/experiments/2026-12-07-cluster-fit-split.patch): where Auto's split's clusters do not all fit, the most
  # splits below it whose clusters do (M64 down and q-size: 4 → 3 splits in clusters of 3). Alternated with main: Linear
  # sweep 11 and 13 (Auto's swapped rows at M64), the layer's decode; then the launch chain and the swapped cases (~200 s).
  for round in 1 2; do
    for b in main csplit; do left 30 && r "$b: linear sweep 11, 13 ($round)" bash .gpu/run "${BENCH[$b]}" --sweep --op linear --nth 11,13; done
    layer_decode " ($round)" main csplit
  done
  left 80 && tests csplit 70 $TCS "FullyQualifiedName~CudaLaunchChain|(FullyQualifiedName~Cuda&FullyQualifiedName~Swapped)"
;;
G)
  # Dropped 12-08 (docs/experiments/README.md): its pack is no longer in .gpu.
  # kgroup (docs/experiments/2026-12-07-producer-issue-groups.patch): the copy-engine producer issues its stages four at a
  # time, so a weight row's next 512 bytes reach the DRAM together. Alternated with main: FP8 M16 (standing fp8_gemm
  # rows 7, 9, 10), Linear M16/M64 down and q/k/v swapped (sweep 1, 13, 31), the gated MLP's M64 tiles (sweep 2), the
  # layer's decode, Linear 8192³ (prefill: no loss allowed); then its CUDA GEMM cases (~300 s).
  for round in 1 2; do
    for b in main kgroup; do
      left 30 && r "$b: fp8_gemm 7, 9, 10 ($round)" bash .gpu/run "${BENCH[$b]}" --op fp8_gemm --nth 7,9,10
      left 30 && r "$b: linear sweep 1, 13, 31 ($round)" bash .gpu/run "${BENCH[$b]}" --sweep --op linear --nth 1,13,31
      left 30 && r "$b: gated M64 warp-specialized, sweep 2 ($round)" bash .gpu/run "${BENCH[$b]}" --sweep --op fused_gated_mlp --nth 2
    done
    layer_decode " ($round)" main kgroup
  done
  for b in main kgroup; do left 30 && r "$b: linear 8192" bash .gpu/run "${BENCH[$b]}" --op linear --nth 0; done
  left 100 && tests kgroup 90 $TKG "FullyQualifiedName~Cuda&(FullyQualifiedName~Swapped|FullyQualifiedName~WarpSpecialized|FullyQualifiedName~Fp8Gemm|FullyQualifiedName~DecodeSplitK)"
;;
F)
  # fp8pdl (docs/experiments/2026-12-07-fp8-pdl.patch, packed as exp/fp8pdl): the FP8 layer's decode (decoder_layer row 4)
  # alternated with main, then its FP8 and decoder-layer CUDA cases (~250 s).
  for round in 1 2; do
    for b in main fp8pdl; do left 30 && r "$b: FP8 layer decode ($round)" bash .gpu/run "${BENCH[$b]}" --op decoder_layer --nth 4; done
  done
  left 150 && tests fp8pdl 140 $TFP "FullyQualifiedName~Cuda&(FullyQualifiedName~Fp8|FullyQualifiedName~Quantize|FullyQualifiedName~DecoderLayer)"
;;
C)
  timeout 110 compute-sanitizer --tool racecheck --print-limit 20 bash .gpu/run $T --filter "$S" > "$out/racecheck.log" 2>&1
  echo "racecheck: rc=$? $(grep -E 'SUMMARY' "$out/racecheck.log" | tail -1) $(tr '\r' '\n' < "$out/racecheck.log" | grep -E '^\s*(failed|succeeded):' | tr -s ' ' | tr '\n' ' ') t=$SECONDS"
  # The decode ops issued back to back, 40 rounds, against one op at a time (CudaLaunchChainTests: pdl and clusters in a chain).
  left 60 && tests launch-chain 50 $T "FullyQualifiedName~CudaLaunchChain"
  left 60 && tests whole-cuda $((deadline - SECONDS - 10)) $T "FullyQualifiedName~Cuda"
;;
H)
  layer_decode "" main
  left 30 && r "main: layer prefill" bash .gpu/run $M --op decoder_layer --nth 0
  left 120 && anchors decoder_layer 110
  left 40 && r "main: linear 8192 and #16's decode row" bash .gpu/run $M --op linear --nth 0,1
  left 40 && anchors linear 40 --no-compile
  left 20 && r "positions prefill (#17)" bash .gpu/run $M --op "fused_rmsnorm_rope positions"
  left 20 && r "gated decode M16 (#20)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
  left 30 && r "main: linear sweep 1, 11, 31" bash .gpu/run $M --sweep --op linear --nth 1,11,31
  # The M64 down projection at 2, 3, 8 splits beside Auto's 4 (row 13): whether clusters of 2 on 64 SMs beat the workspace.
  left 30 && r "main: linear sweep 13, 33, 34, 35" bash .gpu/run $M --sweep --op linear --nth 13,33,34,35
  # #16's decode row: the strip kernel (standing row 1) against the one-box swapped kernel at 2, 3 and 4 splits.
  left 30 && r "main: linear sweep 0, 3, 36, 4" bash .gpu/run $M --sweep --op linear --nth 0,3,36,4
  left 30 && r "main: fp8_gemm M16 at ring depths 3, 5, 8, 9 (sweep 15-18)" bash .gpu/run $M --sweep --op fp8_gemm --nth 15,16,17,18
  # The layer's decode kernel by kernel after 9997f75, then what bounds the M64 down projection (2.0 TB/s on the H100
  # against the gated MLP's 2.7): warp states and memory throughput of one launch of sweep row 13.
  left 60 && { echo "## ncu: layer decode by kernel (t=$SECONDS)"; LAYER_NTH=1 timeout 50 bash scripts/ncu-layer.sh | tail -16; }
  left 60 && { echo "## ncu: M64 down swapped (t=$SECONDS)"; timeout 50 ncu --clock-control none --launch-skip 30 --launch-count 1 \
    --kernel-name regex:Swapped --section SpeedOfLight --section WarpStateStats --section MemoryWorkloadAnalysis \
    bash .gpu/run $M --sweep --op linear --nth 13 > "$out/ncu-down.txt" 2>&1
    grep -E "Duration|DRAM Throughput|Memory Throughput|Stall|Warp Cycles|Active Warps|L2 Hit" "$out/ncu-down.txt" | head -24; }
  layer_decode " (2)" main
;;
*) echo "unknown part $part";;
esac; done
echo "done t=$SECONDS"
