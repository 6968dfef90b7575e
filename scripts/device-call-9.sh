#!/usr/bin/env bash
# ncu of the swapped decode kernel at M64 (q-size: 47.9 µs against the strip kernel's 33.1 on the H100; down 78.1 vs 103.2):
# where its time goes (launch stats, occupancy, memory, warp states), one launch after warm-up.
set -u
out=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name --format=csv,noheader
for nth in 11 13; do
  timeout 150 ncu --clock-control none --target-processes all -k regex:Kernel_Run --launch-skip 3 --launch-count 1 \
    --section SpeedOfLight --section LaunchStats --section Occupancy --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
    --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sectors_op_read.sum,lts__t_sectors_op_write.sum,lts__t_sectors_op_atom.sum,smsp__inst_executed.sum \
    bash .gpu/run .gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll --sweep --op linear --nth $nth > "$out/ncu-swapped-$nth.txt" 2>&1
  echo "== sweep $nth rc=$?"; sed -n '/Kernel_Run/,$p' "$out/ncu-swapped-$nth.txt" | grep -vE "^\s*$|----" | cut -c1-150 | head -90
done
echo "done t=$SECONDS"
