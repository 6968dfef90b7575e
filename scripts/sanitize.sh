#!/usr/bin/env bash
# The sanitizer sweep, one device call: compute-sanitizer's memcheck, racecheck, synccheck and initcheck over
# the CUDA fixtures of the test suite (every kernel, each pinned where the op would pick another, at small
# awkward shapes: tails in every dimension, rings that wrap, persistent grids that walk several tiles).
# Run on the GPU machine after ../shared/gpu/pack TritonOps.Tests/TritonOps.Tests.csproj; logs under ${OUT:-/tmp/out}.
#   bash scripts/sanitize.sh [memcheck|racecheck|synccheck|initcheck]...   (default: all four)
# SANITIZE_FILTER narrows the tests (default: every CUDA fixture). A new kernel joins by having a CUDA test.
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
tools=${*:-memcheck racecheck synccheck initcheck}
filter=${SANITIZE_FILTER:-FullyQualifiedName~Cuda}
status=0
for tool in $tools; do
  extra=""
  [ "$tool" = racecheck ] && extra="--racecheck-report hazard"
  start=$(date +%s)
  compute-sanitizer --tool "$tool" $extra --target-processes all --print-limit 200 \
    bash .gpu/run .gpu/TritonOps.Tests/TritonOps.Tests.dll --filter "$filter" > "$out/sanitize-$tool.log" 2>&1
  rc=$?
  summary=$(grep -E "(ERROR|RACECHECK) SUMMARY" "$out/sanitize-$tool.log" | tail -1)
  tests=$(grep -E "^\s*(total|succeeded|failed|skipped):" "$out/sanitize-$tool.log" | tr -s ' ' | tr '\n' ' ')
  echo "$tool: ${summary:-no summary line} | tests: $tests| exit $rc | $(( $(date +%s) - start )) s" | tee -a "$out/sanitize-summary.txt"
  grep -qE "SUMMARY: 0 (errors|hazards)" <<<"$summary" || status=1
  [ $rc -eq 0 ] || status=1
done
exit $status
