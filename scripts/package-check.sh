#!/usr/bin/env bash
# Packs TritonOps with a unique version (0.0.0-ci.<UTC timestamp>.<pid>, so no NuGet cache serves a stale copy),
# then builds and runs a user's project against that package: tests/PackageConsumer, whose Program.cs is
# README.md's first ```csharp block (the quickstart), as written. Runs on the CPU accelerator here
# (CUDA where present). Ends with one line: "package-check: ok …" or "package-check: FAILED …"; exit 0 or 1.
#   bash scripts/package-check.sh          (CONFIG=Debug to reuse a Debug build of TritonOps instead of Release)
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
config=${CONFIG:-Release}
start=$SECONDS
version="0.0.0-ci.$(date -u +%Y%m%d%H%M%S).$$"
work=$(mktemp -d)
consumer="$work/consumer"
log="$work/log"
packages=$(dotnet nuget locals global-packages --list 2>/dev/null | sed -n 's/^global-packages: *//p')
cleanup() {
  rm -rf "$work"
  # The unique version is never needed again: keep the global packages folder from growing a copy per run.
  [ -n "$packages" ] && rm -rf "${packages%/}/tritonops/$version" && rmdir "${packages%/}/tritonops" 2>/dev/null
  true
}
trap cleanup EXIT
fail() {
  echo "--- $1: last lines of its output ---" >&2
  tail -n 40 "$log" >&2
  echo "package-check: FAILED at $1 (TritonOps $version, $((SECONDS - start)) s)"
  exit 1
}

mkdir -p "$consumer"
cp tests/PackageConsumer/{PackageConsumer.csproj,nuget.config,Directory.Build.props,Directory.Packages.props} "$consumer/"

# PackageVersion only (not Version): the assemblies stay as built, so an up-to-date build is reused.
dotnet pack TritonOps/TritonOps.csproj -c "$config" -o "$consumer/packages" -p:PackageVersion="$version" >"$log" 2>&1 \
  || fail "dotnet pack"

awk '/^```csharp/ { inside = 1; next } inside && /^```/ { exit } inside' README.md > "$consumer/Program.cs"
[ -s "$consumer/Program.cs" ] || { echo "no \`\`\`csharp block in README.md" >"$log"; fail "quickstart extraction"; }

dotnet build "$consumer/PackageConsumer.csproj" -c Release -p:TritonOpsVersion="$version" >"$log" 2>&1 \
  || fail "building the quickstart against the package"
# The package, not a project reference, must be what was compiled against.
grep -q "tritonops/$version" "$consumer/obj/project.assets.json" 2>/dev/null \
  || { echo "project.assets.json does not name tritonops/$version" >"$log"; fail "restore"; }

dotnet "$consumer/bin/Release/net10.0/PackageConsumer.dll" >"$log" 2>&1 || fail "running the quickstart"
echo "package-check: ok, TritonOps $version packed, README quickstart ran: $(tail -n 1 "$log") ($((SECONDS - start)) s)"
