#!/usr/bin/env bash
# device-call-14 (the bar rows) and device-call-15 (the slice-at-a-time A/B) in one call, to pay one machine start.
# After main's pack and scripts/pack-experiment.sh docs/experiments/2026-12-07-swapped-slice-at-a-time.patch;
# carry [".gpu"]; ~340 s.
set -u
echo "=== bar rows (device-call-14)"
bash scripts/device-call-14.sh
echo "## positions prefill again (t=$SECONDS)"
timeout 60 bash .gpu/run .gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll --op "fused_rmsnorm_rope positions" 2>&1 | grep -E "^\| |rror|copy:" | head -6
echo "=== slice-at-a-time A/B (device-call-15)"
bash scripts/device-call-15.sh
