#!/usr/bin/env bash
# Soak smoke run, called by .ci/run: the short versions of docs/RELIABILITY.md's soaks with edge-soak
# (tests/Edge.Soak) on the bundled model. Checks: 30,000 tokens through the library with flat anonymous RSS after
# 10,000; the same check on a run that leaks 256 bytes per token on purpose must fail (the check can fail); the
# sensor daemon under a 10 Hz burst for 15 simulated minutes with the queue bounded and flat RSS; edge serve under 64
# clients for 100,000 tokens. About 2 minutes.
# Usage: eng/ci-soak.sh RESULTS_DIR   Writes RESULTS_DIR/soak-checks.counts ("PASSED FAILED").
set -uo pipefail
cd "$(dirname "$0")/.."

. eng/checks.sh "${1:?usage: eng/ci-soak.sh RESULTS_DIR}" soak

if ! dotnet build tests/Edge.Soak/Edge.Soak.csproj -c Release -v quiet -nologo > "$results/soak-build.log" 2>&1; then
  fail "build edge-soak (see $results/soak-build.log)"; exit 1
fi
soak="dotnet tests/Edge.Soak/bin/Release/net10.0/edge-soak.dll"

# check NAME EXPECTED_EXIT COMMAND...: one check, passed when the command exits with EXPECTED_EXIT.
check() {
  local name=$1 expected=$2; shift 2
  timeout 600 "$@" > "$results/soak-$name.log" 2>&1
  local rc=$?
  if [ "$rc" -eq "$expected" ]; then
    pass "$name: $(tail -n1 "$results/soak-$name.log")"
  else
    fail "$name: exit $rc, expected $expected (see $results/soak-$name.log)"
  fi
}
check library 0 $soak library --tokens 30000 --warmup 10000
check library-leak-is-caught 1 $soak library --tokens 15000 --warmup 5000 --leak-per-token 256
# The short daemon run's RSS once stepped 2.3 MiB with the managed heap flat (5.6 MiB): allocator commit, not a leak;
# CI checks the queue bound and the accounting with a 4 MiB bound, the simulated hour in RELIABILITY.md the 1 MiB one.
check daemon 0 $soak daemon --minutes 15 --warmup-minutes 5 --tolerance-kib 4096
# The real edge serve under 64 concurrent clients for 100,000 tokens: only 200/429/503, complete answers, nothing left
# in /metrics, no socket left, exit 0 on SIGTERM, and RSS after the warm-up (the prefix cache filled) within 2 MiB
# (RELIABILITY.md's runs of the NativeAOT binary stay within 1 MiB; the JIT build, if that is all there is, moves
# 1-2 MiB as tiered compilation goes on). The NativeAOT binary when ci-arm64.sh published it (about 50 s).
edge=()
[ -x artifacts/linux-x64/edge ] && edge=(--edge artifacts/linux-x64/edge)
check serve 0 $soak serve "${edge[@]}" --tokens 100000 --clients 64 --warmup 50000 --tolerance-kib 2048
checks_done
