#!/usr/bin/env bash
# Builds an experiment patch (docs/experiments/NAME.patch) on a throwaway worktree of HEAD and puts its changed
# TritonOps*.dll beside main's pack: .gpu/exp/t (tests) and .gpu/exp/b (benchmark). On the device, copy
# .gpu/TritonOps.Tests and .gpu/TritonOps.Benchmark elsewhere and the .gpu/exp/* dlls over them (as
# `git show 0e4fdaf:scripts/device-call-8.sh` does). Run after ../shared/gpu/pack (main's pack), from the repo root.
# A second argument NAME puts them under .gpu/exp/NAME/{t,b} instead, so several experiments travel in one pack.
#   bash scripts/pack-experiment.sh docs/experiments/2026-12-06-consumer-experiments.patch [NAME]
set -euo pipefail
patch=$(readlink -f "${1:?patch file}")
dest=exp${2:+/$2}
root=$(git rev-parse --show-toplevel)
wt=$(mktemp -d /tmp/exp-wt.XXXX)
git worktree add -q --detach "$wt" HEAD
trap 'git -C "$root" worktree remove --force "$wt"' EXIT
git -C "$wt" apply "$patch"
for kind in t:TritonOps.Tests/TritonOps.Tests.csproj b:samples/TritonOps.Benchmark/TritonOps.Benchmark.csproj; do
  dir=${kind%%:*} proj=${kind#*:} pub=$(mktemp -d /tmp/exp-pub.XXXX)
  dotnet publish "$wt/$proj" -c Release -o "$pub" -p:UseAppHost=false --nologo -v quiet >&2
  mkdir -p "$root/.gpu/$dest/$dir"
  cp "$pub"/TritonOps*.dll "$root/.gpu/$dest/$dir/"
  rm -rf "$pub"
done
du -sh "$root/.gpu" >&2
