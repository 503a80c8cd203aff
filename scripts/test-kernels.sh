#!/usr/bin/env bash
# Runs the runtime suite (tests/Edge.Tests) and the kernel suite (tests/Edge.Kernels.Tests) once per ternary kernel
# this CPU offers. EDGE_KERNEL=<name> switches KernelFactory.Default, which the runtime tests use, so every kernel
# drives the whole forward pass once. Usage: scripts/test-kernels.sh [kernel ...]   (default: all available)
# Ends with one line per kernel and a total "N passed, N failed"; the exit code is non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

suites=(tests/Edge.Tests/Edge.Tests.csproj tests/Edge.Kernels.Tests/Edge.Kernels.Tests.csproj)
for s in "${suites[@]}" runtime/Edge.Cli/Edge.Cli.csproj; do
  dotnet build "$s" -c Release -v q --nologo >/dev/null || { echo "Build of $s failed; run: dotnet build $s"; exit 1; }
done

if [ $# -gt 0 ]; then
  kernels="$*"
else
  kernels=$(dotnet run --project runtime/Edge.Cli -c Release --no-build -- inspect --cpu | sed -n 's/^kernels available: //p' | tr -d ,)
  [ -n "$kernels" ] || { echo "Could not list the kernels: 'edge inspect --cpu' printed no 'kernels available:' line."; exit 1; }
fi

results=TestResults/kernels
rm -rf "$results"
total_p=0; total_f=0; rc=0; summary=()
for k in $kernels; do
  p=0; f=0
  for s in "${suites[@]}"; do
    dir="$results/$k/$(basename "$s" .csproj)"
    mkdir -p "$dir"
    EDGE_KERNEL=$k dotnet test "$s" -c Release --no-build --logger trx --results-directory "$dir" >"$dir.log" 2>&1 || rc=1
    found=0
    for t in "$dir"/*.trx; do
      [ -e "$t" ] || continue
      found=1
      c=$(grep -o '<Counters [^>]*>' "$t")
      get() { sed -E "s/.* $1=\"([0-9]+)\".*/\1/" <<<"$c"; }
      p=$((p+$(get passed))); f=$((f+$(get failed)+$(get error)+$(get timeout)+$(get aborted)))
    done
    [ $found -eq 1 ] || { f=$((f+1)); echo "$k: $s produced no results, see $dir.log"; }
  done
  summary+=("$k: $p passed, $f failed")
  total_p=$((total_p+p)); total_f=$((total_f+f))
done
printf '%s\n' "${summary[@]}"
[ "$rc" -ne 0 ] && [ "$total_f" -eq 0 ] && total_f=1
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
