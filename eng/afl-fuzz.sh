#!/usr/bin/env bash
# Coverage-guided fuzzing of edge-fuzz's targets with AFL++ (Debian package afl++) and SharpFuzz: builds edge-fuzz,
# copies it to OUT/bin, adds SharpFuzz's edge-coverage probes to the Edge assemblies there (edge-fuzz instrument),
# writes each target's seeds (edge-fuzz seeds) and runs afl-fuzz on each target for SECONDS. An input that crashes
# (any exception but the target's one-line refusal, or more memory than its bound) or runs over 5 s is saved under
# OUT/TARGET/default/crashes or hangs. Prints one line per target from afl-fuzz's fuzzer_stats; exit 1 on any crash
# or hang. The long run and its figures: docs/RELIABILITY.md.
# Usage: eng/afl-fuzz.sh OUT SECONDS [TARGET[:SECONDS]...]   (default: every target, each for SECONDS)
set -uo pipefail
cd "$(dirname "$0")/.."

out=$(realpath -m "${1:?usage: eng/afl-fuzz.sh OUT SECONDS [TARGET...]}")
seconds=${2:?usage: eng/afl-fuzz.sh OUT SECONDS [TARGET...]}
shift 2
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(model safetensors safetensors-index config tokenizer tmv fleet serve-request)

. eng/apt-ensure.sh
apt_ensure afl++ || { echo "FAIL  afl++ is missing and could not be installed"; exit 1; }
mkdir -p "$out"
dotnet build tests/Edge.Fuzz/Edge.Fuzz.csproj -c Release -v quiet -nologo > "$out/build.log" 2>&1 || { echo "FAIL  build edge-fuzz (see $out/build.log)"; exit 1; }
rm -rf "$out/bin"
cp -r tests/Edge.Fuzz/bin/Release/net10.0 "$out/bin"
dotnet "$out/bin/edge-fuzz.dll" instrument "$out/bin" > "$out/instrument.log" 2>&1 || { echo "FAIL  SharpFuzz instrumentation (see $out/instrument.log)"; exit 1; }

# dotnet itself is not an AFL-instrumented binary (the probes are in the IL), so skip that check; crashes are the
# harness's uncaught exceptions, not core dumps; machines are shared, so no CPU pinning.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
failed=0
for spec in "${targets[@]}"; do
  target=${spec%%:*} duration=$seconds
  [ "$target" != "$spec" ] && duration=${spec#*:}
  rm -rf "$out/seeds-$target" "$out/$target"
  # From the uninstrumented build: instrumented code runs only under afl-fuzz, which provides the coverage map.
  dotnet tests/Edge.Fuzz/bin/Release/net10.0/edge-fuzz.dll seeds "$target" "$out/seeds-$target" > /dev/null || { echo "FAIL  seeds for $target"; failed=1; continue; }
  timeout $((duration + 120)) afl-fuzz -i "$out/seeds-$target" -o "$out/$target" -t 5000 -m none -V "$duration" \
    -- dotnet "$out/bin/edge-fuzz.dll" afl "$target" > "$out/afl-$target.log" 2>&1
  stats="$out/$target/default/fuzzer_stats"
  if [ ! -s "$stats" ]; then
    echo "FAIL  afl-fuzz $target did not run (see $out/afl-$target.log)"; failed=1; continue
  fi
  get() { sed -n "s/^$1 *: *//p" "$stats"; }
  line="afl $target: $(get execs_done) executions in $(get run_time) s ($(get execs_per_sec)/s), $(get edges_found) edges, corpus $(get corpus_count), $(get saved_crashes) crashes, $(get saved_hangs) hangs"
  if [ "$(get saved_crashes)" = 0 ] && [ "$(get saved_hangs)" = 0 ]; then
    echo "PASS  $line"
  else
    echo "FAIL  $line (inputs in $out/$target/default/crashes and hangs)"; failed=1
  fi
done
exit $failed
