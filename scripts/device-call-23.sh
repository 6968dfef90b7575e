#!/usr/bin/env bash
# 12-07 12:37 session: the asm consumer loop's A/B on the Linear 8192³ row (#16's 0.95× cuBLAS bar), alternated with
# main in one call, then device-call-22 (the layer's decode by kernel, the n4096 and residual-prefetch A/Bs, the strip
# split-K sanitizers, the H200 bar rows) in what time is left. After main's pack and
#   bash scripts/pack-experiment.sh docs/experiments/2026-12-06-consumer-experiments.patch asm   (and n4096, prefetch)
# carry [".gpu"]. DEADLINE (s) bounds the whole call.
set -u
out=${OUT:-/tmp/out}; mkdir -p "$out"
deadline=${DEADLINE:-560}
left() { [ $((SECONDS + $1)) -lt "$deadline" ]; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
cp -r .gpu/TritonOps.Benchmark /tmp/b-asm && cp .gpu/exp/asm/b/*.dll /tmp/b-asm/
A=/tmp/b-asm/TritonOps.Benchmark.dll
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 60 env "$@" 2>&1 | grep -E "^\| (linear|fused|copy)|rror|cuBLAS|torch" | head -8; }
for round in 1 2 3; do
  left 30 && r "main linear 8192 ($round)" bash .gpu/run $M --op linear --nth 0
  left 30 && r "asm loop linear 8192 ($round)" TRITONOPS_EXPERIMENT_CONSUMER=asm bash .gpu/run $A --op linear --nth 0
  left 40 && [ $round != 2 ] && { echo "## cuBLAS anchors ($round, t=$SECONDS)"; timeout 60 python3 scripts/anchors.py --json "$out/anchors-linear-$round.json" --only linear --no-compile > /dev/null 2>&1
    python3 -c "import json,sys; [print(str(a)[:260]) for a in json.load(open(sys.argv[1]))['anchors']]" "$out/anchors-linear-$round.json" 2>&1 | head -8; }
done
left 40 && r "main gated 8192" bash .gpu/run $M --op fused_gated_mlp --nth 0
left 40 && r "asm loop gated 8192" TRITONOPS_EXPERIMENT_CONSUMER=asm bash .gpu/run $A --op fused_gated_mlp --nth 0
left 30 && r "gated decode M16 (#20)" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
left 30 && r "layer prefill (#19)" bash .gpu/run $M --op decoder_layer --nth 0
echo "asm part done t=$SECONDS"
DEADLINE=$((deadline - SECONDS)) bash scripts/device-call-22.sh
