#!/usr/bin/env bash
# Benchmark rows of two builds in one device call, interleaved (A, B, A, B, ...), so clock and temperature drift
# bias neither: the "within 3 %" checks of docs/next-steps.md and the lab log's before/after tables.
# On the GPU machine, after ../shared/gpu/pack of the benchmark (the "after" build in .gpu/TritonOps.Benchmark) and a
# "before" build copied to .gpu/Before (dotnet publish of an older commit's samples/TritonOps.Benchmark):
#   ROUNDS=2 bash scripts/ab-bench.sh "fused_gated_mlp --nth 10" "rms_norm_quantize" "quantize_fp8 --nth 6"
# Each argument is what follows --op (a name, optionally with --nth I or --sweep). Rows go to stdout (round, build,
# then the table's op | shape | dtype | median | p10–p90 | % of copy | check), raw logs and JSON under ${OUT:-/tmp/out}.
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
rounds=${ROUNDS:-2}
builds=${BUILDS:-"Before TritonOps.Benchmark"}
bash .gpu/run --info > /dev/null 2>&1 # unpack the runtime once, before anything runs beside it
for round in $(seq 1 "$rounds"); do
  for build in $builds; do
    for selection in "$@"; do
      name=$(echo "$selection" | tr ' ' '_' | tr -cd 'A-Za-z0-9_-')
      # shellcheck disable=SC2086
      bash .gpu/run ".gpu/$build/TritonOps.Benchmark.dll" --op $selection --json "$out/$round-$build-$name.json" > "$out/$round-$build-$name.log" 2>&1
      grep "^| " "$out/$round-$build-$name.log" | grep -v "^| op\|^| ---" | cut -d'|' -f2-6,8,10 | sed "s/^/$round $build /"
    done
  done
done
