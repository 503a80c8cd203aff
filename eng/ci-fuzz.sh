#!/usr/bin/env bash
# Fuzz smoke run, called by .ci/run after the unit tests: edge-fuzz (tests/Edge.Fuzz) mutates every target's
# seeds for a fixed number of executions with a fixed seed; each target with no crash, hang or input over the
# memory bound counts as one passed check. Then AFL++ with SharpFuzz probes (eng/afl-fuzz.sh) fuzzes every target
# for AFL_SECONDS (default 8), one more check each. About 3 minutes on 2 cores. The long runs: docs/RELIABILITY.md.
# Usage: eng/ci-fuzz.sh RESULTS_DIR [EXECUTIONS]
#   Writes RESULTS_DIR/fuzz-checks.counts ("PASSED FAILED"); inputs that fail are kept in RESULTS_DIR/fuzz-findings.
set -uo pipefail
cd "$(dirname "$0")/.."

executions=${2:-20000}
. eng/checks.sh "${1:?usage: eng/ci-fuzz.sh RESULTS_DIR [EXECUTIONS]}" fuzz

if ! dotnet build tests/Edge.Fuzz/Edge.Fuzz.csproj -c Release -v quiet -nologo > "$results/fuzz-build.log" 2>&1; then
  fail "build edge-fuzz (see $results/fuzz-build.log)"; exit 1
fi
fuzz=tests/Edge.Fuzz/bin/Release/net10.0/edge-fuzz.dll
for target in model safetensors safetensors-index config tokenizer tmv fleet serve-request; do
  if timeout 300 dotnet "$fuzz" "$target" --execs "$executions" --seed 1 --out "$results/fuzz-findings" > "$results/fuzz-$target.log" 2>&1; then
    pass "$(tail -n1 "$results/fuzz-$target.log")"
  else
    fail "fuzz $target (see $results/fuzz-$target.log)"
  fi
done
while read -r verdict rest; do
  case $verdict in
    PASS) pass "$rest" ;;
    FAIL) fail "$rest" ;;
  esac
done < <(bash eng/afl-fuzz.sh "$results/afl" "${AFL_SECONDS:-8}" 2>&1)
checks_done
