# Sourced by the device-call scripts from 27 on: the log tee, the deadline guard, the experiment packs copied beside
# main's, and the row, test and anchor helpers. Run on the GPU machine from the repo root after the packs the calling
# script's header names. Sets M (main's benchmark), P, N, A and Z (the "prev", "n64", "acqrel" and "spin" benchmarks, where packed),
# T64 and TA (n64's and acqrel's tests).
set -u
out=${OUT:-/tmp/out}; mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1
deadline=${DEADLINE:-540}
left() { [ $((SECONDS + $1)) -lt "$deadline" ]; }
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader); echo "$gpu"
M=.gpu/TritonOps.Benchmark/TritonOps.Benchmark.dll
# The benchmark's copies of the dlls it shares with the tests travel once (3.8 MB of the carry): back beside it first.
for f in ILGPU.dll ILGPU.Algorithms.dll TritonOps.Kernels.dll TritonOps.dll; do
  [ -f ".gpu/TritonOps.Benchmark/$f" ] || cp ".gpu/TritonOps.Tests/$f" .gpu/TritonOps.Benchmark/; done
# An experiment's benchmark (and tests) as main's publish with the experiment's TritonOps*.dll over it.
beside() { [ -d ".gpu/exp/$1/b" ] && { cp -r .gpu/TritonOps.Benchmark "/tmp/b-$1" && cp ".gpu/exp/$1/b/"*.dll "/tmp/b-$1/"; }
  [ -d ".gpu/exp/$1/t" ] && { cp -r .gpu/TritonOps.Tests "/tmp/t-$1" && cp ".gpu/exp/$1/t/"*.dll "/tmp/t-$1/"; }; true; }
beside prev; beside n64; beside acqrel; beside spin; beside box1; beside pdl; beside pdlpf; beside b1pdl; beside dsmem; beside b1ds; beside f8s
P=/tmp/b-prev/TritonOps.Benchmark.dll N=/tmp/b-n64/TritonOps.Benchmark.dll T64=/tmp/t-n64/TritonOps.Tests.dll
A=/tmp/b-acqrel/TritonOps.Benchmark.dll TA=/tmp/t-acqrel/TritonOps.Tests.dll Z=/tmp/b-spin/TritonOps.Benchmark.dll
B1=/tmp/b-box1/TritonOps.Benchmark.dll TB1=/tmp/t-box1/TritonOps.Tests.dll
PD=/tmp/b-pdl/TritonOps.Benchmark.dll TPD=/tmp/t-pdl/TritonOps.Tests.dll
PF=/tmp/b-pdlpf/TritonOps.Benchmark.dll TPF=/tmp/t-pdlpf/TritonOps.Tests.dll
DS=/tmp/b-dsmem/TritonOps.Benchmark.dll TDS=/tmp/t-dsmem/TritonOps.Tests.dll  # the split-K meeting in a cluster (2026-12-07-swapped-cluster-meeting.patch)
B1DS=/tmp/b-b1ds/TritonOps.Benchmark.dll TB1DS=/tmp/t-b1ds/TritonOps.Tests.dll  # box1 with the cluster meeting (2026-12-07-box1-cluster-meeting.patch)
F8=/tmp/b-f8s/TritonOps.Benchmark.dll TF8=/tmp/t-f8s/TritonOps.Tests.dll  # fp8_gemm decode on the swapped kernel (2026-12-07-fp8-swapped-decode.patch)
BP=/tmp/b-b1pdl/TritonOps.Benchmark.dll  # box1 and pdl together (docs/experiments/2026-12-07-box1-with-pdl.patch; benchmark only)
r() { echo "## $1 (t=$SECONDS)"; shift; timeout 60 "$@" 2>&1 | grep -E "^\| (linear|decoder_layer|fused|rms_norm|fp8_gemm)|rror|copy:|^dsmem:" | head -8; }
# The layer's decode (Llama-3-8B sizes, [64, 1]) on each named build in turn: layer_decode LABEL main acqrel …
declare -A BENCH=([main]=$M [prev]=$P [n64]=$N [acqrel]=$A [spin]=$Z [box1]=$B1 [pdl]=$PD [pdlpf]=$PF [b1pdl]=$BP [dsmem]=$DS [b1ds]=$B1DS [f8s]=$F8)
layer_decode() { local label=$1; shift
  for b in "$@"; do left 30 && r "$b: layer decode$label" bash .gpu/run "${BENCH[$b]}" --op decoder_layer --nth 1; done; }
tests() { echo "## CUDA tests: $1 (t=$SECONDS)"; timeout "$2" bash .gpu/run "$3" --filter "$4" > "$out/tests-$1.log" 2>&1
  echo "rc=$? $(tr '\r' '\n' < "$out/tests-$1.log" | grep -E '^\s*(total|failed|succeeded|skipped):' | tr -s ' ' | tr '\n' ' ')"; grep -E "^failed" "$out/tests-$1.log" | head -5; }
anchors() { echo "## torch anchors: $1 (t=$SECONDS)"; timeout "$2" python3 scripts/anchors.py --json "$out/anchors-$1.json" --only "$1" ${3:-} > "$out/anchors-$1.log" 2>&1
  python3 -c "import json,sys; [print(a['shape'], a['name'], round(a['us'],1), 'p10', round(a['p10'],1)) for a in json.load(open(sys.argv[1]))['anchors']]" "$out/anchors-$1.json" 2>&1 | head -8; }
