#!/usr/bin/env bash
# Cross-architecture checks, run by .ci/run after the unit tests:
#   - cross-publishes the NativeAOT executables (publish-aot.sh) for linux-arm64 and for this x64 CPU;
#   - runs the arm64 ones under qemu as a Pi 3/Zero 2 W (cortex-a53: NEON, no dot-product) and a Pi 5
#     (cortex-a76: dot-product): a synthetic model packed on arm64 must be byte-identical to the x64 one, greedy
#     generation must give the same tokens as x64 with every kernel each CPU offers, and perplexity must equal the
#     x64 baseline build's (same vector width) and agree with the AVX2 build's;
#   - publishes tests/Edge.Kernels.Tests self-contained for linux-arm64 and runs it under qemu on both CPU models.
# Usage: eng/ci-arm64.sh RESULTS_DIR
#   Writes RESULTS_DIR/arm64-kernels-<cpu>.trx (xunit) and RESULTS_DIR/arm64-checks.counts ("PASSED FAILED").
set -uo pipefail
cd "$(dirname "$0")/.."
. eng/apt-ensure.sh

. eng/checks.sh "${1:?usage: eng/ci-arm64.sh RESULTS_DIR}" arm64
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cpus=(cortex-a53 cortex-a76)
arm() { local cpu=$1; shift; qemu-aarch64-static -cpu "$cpu" "$@"; }

# ---- setup: qemu, readelf, arm64 runtime libraries for the self-contained xunit executable, cross toolchain, binaries
if ! apt_ensure qemu-user-static binutils libssl3:arm64 libicu72:arm64; then
  fail "install qemu-user-static and arm64 libraries"; exit 1
fi
# x64 references: the baseline build (128-bit vectors, like NEON) and, where the CPU has x86-64-v3, the AVX2 build.
x64_targets=(linux-x64-baseline)
flags=$(grep -m1 '^flags' /proc/cpuinfo)
if [[ " $flags " == *" avx2 "* && " $flags " == *" fma "* && " $flags " == *" bmi2 "* && " $flags " == *" movbe "* ]]; then
  x64_targets=(linux-x64 linux-x64-baseline)
fi
start=$(date +%s)
if ./publish-aot.sh linux-arm64 "${x64_targets[@]}"; then
  pass "publish-aot.sh linux-arm64 ${x64_targets[*]} ($(( $(date +%s) - start )) s)"
else
  fail "publish-aot.sh linux-arm64 ${x64_targets[*]}"; exit 1
fi
A=artifacts/linux-arm64 X=artifacts/${x64_targets[0]}

for f in "$A/edge" "$A/edge-pack"; do
  needed=$(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
  if [ "$needed" = "ld-linux-aarch64.so.1 libc.so.6 libm.so.6 " ]; then pass "$f needs only glibc ($needed)"
  else fail "$f needs only glibc" "NEEDED: $needed"; fi
done

# ---- model: the same synthetic model packed on both architectures
shape=(--hidden 256 --layers 2 --vocab 1024 --seed 7)
if "$X/edge-pack" synth "${shape[@]}" -o "$work/x64.edge" >/dev/null 2>"$work/err" &&
   arm cortex-a53 "$A/edge-pack" synth "${shape[@]}" -o "$work/arm64.edge" >/dev/null 2>>"$work/err"; then
  if cmp -s "$work/x64.edge" "$work/arm64.edge"; then pass "edge-pack synth: arm64 file identical to x64"
  else fail "edge-pack synth: arm64 file identical to x64" "files differ"; fi
else
  fail "edge-pack synth on x64 and arm64" "$(tail -3 "$work/err")"; exit 1
fi
model=$work/x64.edge

# ---- greedy generation: every kernel on every CPU gives the x64 default kernel's tokens
prompt="The sensor on the north wall reports"
tokens_of() { tail -1 "$1" | grep -o '"tokens":\[[^]]*\]'; }
kernels_of() { sed -n 's/^kernels available: //p' "$1" | tr -d ','; }
generate=(generate -m "$model" -p "$prompt" -n 32 --temp 0 --json)
if ! "$X/edge" "${generate[@]}" >"$work/ref.out" 2>"$work/err" || [ -z "$(tokens_of "$work/ref.out")" ]; then
  fail "x64 edge generate" "$(tail -3 "$work/err")"; exit 1
fi
reference=$(tokens_of "$work/ref.out")
echo "x64 reference (${x64_targets[0]}, default kernel): $reference"

compare_generation() {   # label, kernel, command...
  local label=$1 kernel=$2; shift 2
  if ! "$@" "${generate[@]}" --kernel "$kernel" >"$work/gen.out" 2>"$work/err"; then
    fail "$label generate --kernel $kernel" "$(tail -3 "$work/err")"; return
  fi
  local got; got=$(tokens_of "$work/gen.out")
  if [ "$got" = "$reference" ]; then pass "$label kernel $kernel: 32 greedy tokens equal x64's"
  else fail "$label kernel $kernel: 32 greedy tokens equal x64's" "got $got"; fi
}

for t in "${x64_targets[@]}"; do
  "artifacts/$t/edge" inspect --cpu >"$work/cpu.txt"
  for k in $(kernels_of "$work/cpu.txt"); do compare_generation "$t" "$k" "artifacts/$t/edge"; done
done

for cpu in "${cpus[@]}"; do
  if ! arm "$cpu" "$A/edge" inspect --cpu >"$work/cpu.txt" 2>"$work/err"; then
    fail "arm64 $cpu edge inspect --cpu" "$(tail -3 "$work/err")"; continue
  fi
  # The dot-product kernel must be chosen exactly where the CPU has it (a run-time check in the AOT binary).
  expected=neon; [ "$cpu" = cortex-a76 ] && expected=neon-dot
  chosen=$(sed -n 's/^kernel: \([^: ]*\).*/\1/p' "$work/cpu.txt")
  if [ "$chosen" = "$expected" ]; then pass "arm64 $cpu picks kernel $expected"
  else fail "arm64 $cpu picks kernel $expected" "picked '$chosen'"; fi
  for k in $(kernels_of "$work/cpu.txt"); do compare_generation "arm64 $cpu" "$k" arm "$cpu" "$A/edge"; done
done

# ---- perplexity. The float reductions (RMSNorm's sum of squares) add in an order set by the vector width, so
# arm64 (128-bit NEON) must match the x64 baseline build (128-bit) bit for bit and agree with the AVX2 build (256-bit)
# to a relative 1e-4; the two arm64 CPU models differ only in integer kernels and must be identical.
text=tests/Edge.Tests/Fixtures/tokenizer/reference.txt
perplexity=(perplexity -m "$model" -f "$text" --max-tokens 256 --json)
ppl_of() { tail -1 "$1" | grep -o '"ppl":[-0-9.eE+]*' | cut -d: -f2; }
declare -A ppl=()
for t in "${x64_targets[@]}"; do
  if "artifacts/$t/edge" "${perplexity[@]}" >"$work/ppl.out" 2>"$work/err" && [ -n "$(ppl_of "$work/ppl.out")" ]; then
    ppl[$t]=$(ppl_of "$work/ppl.out")
  else
    fail "$t edge perplexity" "$(tail -3 "$work/err")"
  fi
done
for cpu in "${cpus[@]}"; do
  if ! arm "$cpu" "$A/edge" "${perplexity[@]}" >"$work/ppl.out" 2>"$work/err" || [ -z "$(ppl_of "$work/ppl.out")" ]; then
    fail "arm64 $cpu edge perplexity" "$(tail -3 "$work/err")"; continue
  fi
  ppl[$cpu]=$(ppl_of "$work/ppl.out")
  if [ "${ppl[$cpu]}" = "${ppl[linux-x64-baseline]:-}" ]; then
    pass "arm64 $cpu perplexity ${ppl[$cpu]} identical to linux-x64-baseline"
  else
    fail "arm64 $cpu perplexity identical to linux-x64-baseline" "arm64 ${ppl[$cpu]}, x64 ${ppl[linux-x64-baseline]:-none}"
  fi
  if [ -n "${ppl[linux-x64]:-}" ]; then
    if awk -v a="${ppl[$cpu]}" -v b="${ppl[linux-x64]}" 'BEGIN { d = (a - b) / b; exit !(d < 1e-4 && d > -1e-4) }'; then
      pass "arm64 $cpu perplexity agrees with linux-x64 (AVX2) ${ppl[linux-x64]} within 1e-4"
    else
      fail "arm64 $cpu perplexity agrees with linux-x64 (AVX2) within 1e-4" "arm64 ${ppl[$cpu]}, x64 ${ppl[linux-x64]}"
    fi
  fi
done
if [ -n "${ppl[cortex-a53]:-}" ] && [ -n "${ppl[cortex-a76]:-}" ]; then
  if [ "${ppl[cortex-a53]}" = "${ppl[cortex-a76]}" ]; then pass "arm64 perplexity identical on cortex-a53 and cortex-a76"
  else fail "arm64 perplexity identical on cortex-a53 and cortex-a76" "${ppl[cortex-a53]} vs ${ppl[cortex-a76]}"; fi
fi

# ---- kernel unit tests on emulated arm64 (xunit.v3 test executable, self-contained)
start=$(date +%s)
if dotnet publish tests/Edge.Kernels.Tests/Edge.Kernels.Tests.csproj -c Release -r linux-arm64 --self-contained \
     -o "$work/kernel-tests" -nologo -v:q -clp:ErrorsOnly >"$work/err" 2>&1; then
  echo "published Edge.Kernels.Tests for linux-arm64 in $(( $(date +%s) - start )) s"
  for cpu in "${cpus[@]}"; do
    # Counts come from the TRX file; a run that dies before writing it counts as one failure.
    # This executable JITs (the edge binaries above do not). Under qemu-user the JIT's W^X double mapping of code
    # pages gave spurious failures in about one run in ten (a NullReferenceException inside a reflection invoke stub,
    # 100 KB of phantom allocations); with it off, none in 16 runs. qemu is not a supported .NET host, real arm64 is.
    DOTNET_EnableWriteXorExecute=0 \
    arm "$cpu" "$work/kernel-tests/Edge.Kernels.Tests" -noColor -noLogo -result-trx "$results/arm64-kernels-$cpu.trx" \
      >"$work/kt.out" 2>&1
    grep -E 'Total: [0-9]+' "$work/kt.out" | sed "s/^ */arm64 $cpu /"
    grep -E '\[FAIL\]' "$work/kt.out" | head -20
    [ -s "$results/arm64-kernels-$cpu.trx" ] || fail "Edge.Kernels.Tests on arm64 $cpu" "$(tail -5 "$work/kt.out")"
  done
else
  fail "publish Edge.Kernels.Tests for linux-arm64" "$(tail -5 "$work/err")"
fi

# ---- the sensor daemon: NativeAOT linux-arm64, started under qemu in --simulate mode with the bundled model
start=$(date +%s)
if dotnet publish device-samples/Edge.SensorDaemon -c Release -r linux-arm64 -o "$work/daemon" -nologo -v:q \
     -clp:ErrorsOnly >"$work/err" 2>&1; then
  pass "publish edge-sensord for linux-arm64 ($(( $(date +%s) - start )) s)"
  # Keys: b = button press, q = quit. The log must show one generation for the button, and the daemon must exit 0.
  (sleep 20; printf b; sleep 30; printf q) | timeout 300 qemu-aarch64-static -cpu cortex-a53 "$work/daemon/edge-sensord" \
    --simulate --Queue:MinIntervalMilliseconds=0 --Model:MaxTokens=8 >"$work/daemon.out" 2>&1
  rc_daemon=$?
  if [ "$rc_daemon" -eq 0 ] && grep -q 'Button →' "$work/daemon.out"; then
    pass "edge-sensord --simulate on arm64 cortex-a53: a button press produced a generation"
  else
    fail "edge-sensord --simulate on arm64 cortex-a53" "exit $rc_daemon; $(tail -5 "$work/daemon.out")"
  fi
else
  fail "publish edge-sensord for linux-arm64" "$(tail -5 "$work/err")"
fi

checks_done
