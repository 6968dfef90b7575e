#!/usr/bin/env bash
# One device call: the whole test suite on CUDA, a resource/SASS report of every kernel, the benchmark.
# Run on the GPU machine after ../shared/gpu/pack (see README); writes logs under ${OUT:-/tmp/out}.
#   bash scripts/gpu-check.sh [tests|ptx|bench]...   (default: all three)
# TESTS_FILTER narrows the test step (e.g. the CUDA fixtures only: "FullyQualifiedName~Cuda|FullyQualifiedName~PtxCodegen").
# BENCH_OP narrows the benchmark to ops whose name contains it.
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out/ptx"
steps=${*:-tests ptx bench}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader | tee "$out/gpu.txt"
for step in $steps; do
  case $step in
    tests)
      # The codegen tests also write each kernel's PTX for the ptx step.
      TRITONOPS_DUMP_PTX="$out/ptx" bash .gpu/run .gpu/TritonOps.Tests/TritonOps.Tests.dll ${TESTS_FILTER:+--filter "$TESTS_FILTER"} 2>&1 | tee "$out/tests.log" | grep -E "^failed|passed|failed:|succeeded:|skipped:|total:" ;;
    ptx)
      : > "$out/ptx.txt"
      for f in "$out"/ptx/*.ptx; do
        name=$(basename "$f" .ptx)
        sed -i 's/^\.target sm_[0-9a-z]*/.target sm_90a/' "$f"
        ptxas -v -arch=sm_90a "$f" -o "/tmp/$name.cubin" 2>&1 | grep -E "registers|spill|stack|warning" | sed "s/^/$name: /" >> "$out/ptx.txt"
        sass=$(cuobjdump -sass "/tmp/$name.cubin")
        echo "$name: LDL/STL=$(grep -cE 'LDL|STL' <<<"$sass") LDG.128=$(grep -cE 'LDG.E.128' <<<"$sass") LD.128=$(grep -cE '\bLD.E.128' <<<"$sass") STG.128=$(grep -cE 'STG.E.128' <<<"$sass") HMMA=$(grep -c HMMA <<<"$sass") QGMMA=$(grep -c QGMMA <<<"$sass")" >> "$out/ptx.txt"
      done
      cat "$out/ptx.txt"; tar czf "$out/ptx.tgz" -C "$out" ptx && rm -rf "$out/ptx" ;;
    ncu)
      # One launch of the benchmark's first "Kernel_Run" kernel for BENCH_OP (ILGPU names every entry Kernel_<method>);
      # BENCH_NTH picks the I-th case of those BENCH_OP selects (the benchmark's --nth), NCU_SKIP the launches skipped.
      name=$(tr -c 'A-Za-z0-9_\n' _ <<<"$BENCH_OP${BENCH_NTH:+-$BENCH_NTH}")
      ncu --clock-control none --target-processes all -k regex:Kernel_Run --launch-skip "${NCU_SKIP:-2}" --launch-count 1 \
        --section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats \
        --section LaunchStats --section SchedulerStats \
        bash .gpu/run .gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll --op "${BENCH_OP:?set BENCH_OP}" ${BENCH_NTH:+--nth "$BENCH_NTH"} > "$out/ncu-$name.txt" 2>&1
      grep -E "Throughput|Pipe|Busy|Stall|Occupancy|Registers|Issued|Warp Cycles|Bank|Duration|Grid Size|Block Size" "$out/ncu-$name.txt" | head -60 ;;
    bench)
      bash .gpu/run .gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll --json "$out/bench.json" ${BENCH_OP:+--op "$BENCH_OP"} 2>&1 | tee "$out/bench.log" ;;
  esac
done
