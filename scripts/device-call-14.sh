#!/usr/bin/env bash
# The H200 bar rows only (2026-12-07 01:15, ~300 s of device time left): #16's decode row, #20's gated decode row,
# #17's positions prefill, #19's decoder layer decode and prefill. Any pack since 0e4fdaf (the rows' code paths are
# the same); carry [".gpu"].
set -u
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 60 "$@" 2>&1 | grep -E "^\| |rror|copy:" | head -6; }
r "linear decode M16" bash .gpu/run $M --op linear --nth 1
r "gated M16 swapped" bash .gpu/run $M --sweep --op fused_gated_mlp --nth 1
r "positions prefill" bash .gpu/run $M --op "fused_rmsnorm_rope positions"
r "decoder layer decode" bash .gpu/run $M --op decoder_layer --nth 1
r "decoder layer prefill" bash .gpu/run $M --op decoder_layer --nth 0
echo "done t=$SECONDS"
