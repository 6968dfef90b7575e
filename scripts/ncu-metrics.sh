#!/usr/bin/env bash
# Nsight Compute counters of one launch: DRAM and L2 bytes, and where warps stall (this GPU's ncu has no PC
# sampling, so the Warp State section prints no breakdown). For a kernel the benchmark runs:
#   BENCH_OP=... [BENCH_NTH=i] [BENCH_SWEEP=1] [NCU_SKIP=n] bash scripts/ncu-metrics.sh   (on the GPU machine, after ../shared/gpu/pack)
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
name=$(tr -c 'A-Za-z0-9_\n' _ <<<"$BENCH_OP${BENCH_SWEEP:+-sweep}${BENCH_NTH:+-$BENCH_NTH}")
stalls=""
for s in barrier long_scoreboard short_scoreboard mio_throttle lg_throttle wait membar drain math_pipe_throttle not_selected selected sleeping dispatch_stall no_instruction imc_miss branch_resolving tex_throttle; do
  stalls="$stalls,smsp__average_warps_issue_stalled_${s}_per_issue_active.ratio"
done
ncu --clock-control none --target-processes all -k regex:Kernel_Run --launch-skip "${NCU_SKIP:-3}" --launch-count 1 \
  --metrics "gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sectors_op_read.sum,lts__t_sectors_op_write.sum,lts__t_sectors_op_atom.sum,smsp__inst_executed.sum,sm__warps_active.avg.pct_of_peak_sustained_active,launch__grid_size,launch__block_size,launch__registers_per_thread,sm__cycles_active.avg,gpc__cycles_elapsed.max$stalls" \
  bash .gpu/run .gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll ${BENCH_SWEEP:+--sweep} --op "${BENCH_OP:?set BENCH_OP}" ${BENCH_NTH:+--nth "$BENCH_NTH"} > "$out/ncu-metrics-$name.txt" 2>&1
sed -n '/Kernel_Run/,$p' "$out/ncu-metrics-$name.txt" | grep -E "^\s+[a-z_]+__" | awk '{ if ($NF+0 > 0.05 || $1 !~ /stalled/) print }'
