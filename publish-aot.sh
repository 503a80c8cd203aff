#!/usr/bin/env bash
# Publishes `edge` and `edge-pack` as stripped NativeAOT single executables into artifacts/<target>/.
#
#   ./publish-aot.sh [TARGET...]   TARGET: linux-arm64 | linux-x64 | linux-x64-avx512 | linux-x64-baseline | all (default)
#
#   linux-arm64         every 64-bit Raspberry Pi (Zero 2 W, 3, 4, 5); NEON dot-product is picked at run time.
#   linux-x64           x86-64-v3 (AVX2, FMA, BMI2: Intel Haswell 2013+, AMD Zen 1+): AVX2 kernels compiled in.
#   linux-x64-avx512    x86-64-v4 (AVX-512 F/BW/CD/DQ/VL) + AVX-512 IFMA/VBMI + GFNI (Ice Lake, Zen 4+; not Skylake-SP):
#                       512-bit element-wise code, the avx512 kernel (EDGE_KERNEL=avx512; the default stays avx2, faster
#                       in the model, docs/kernels.md) and 1.6bit-vbmi, which reads 1.6-bit models as mapped.
#   linux-x64-baseline  x86-64-v2 (.NET's default: SSE4.2, POPCNT) for CPUs without AVX2.
# NativeAOT on x64 fixes IsSupported for AVX2/AVX-512 at build time (above the baseline it is a constant false, not a
# run-time check), hence one x64 build per level. The v3/v4 builds stop with "The required instruction sets are not
# supported by the current CPU" on an older CPU (never "Illegal instruction"); docs/deploy.md says which to use.
#
# Debug symbols go to artifacts/symbols/<target>/ so each artifact folder holds only the two executables.
# Cross-publishing linux-arm64 from x64 installs clang, llvm and the Debian aarch64 cross toolchain when missing.
set -euo pipefail
cd "$(dirname "$0")"
. eng/apt-ensure.sh

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
projects=(runtime/Edge.Cli/Edge.Cli.csproj packer/Edge.Packer/Edge.Packer.csproj)

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2; exit 2; }

targets=()
for a in "${@:-all}"; do
  case "$a" in
    all) targets+=(linux-arm64 linux-x64 linux-x64-avx512 linux-x64-baseline) ;;
    linux-arm64|linux-x64|linux-x64-avx512|linux-x64-baseline) targets+=("$a") ;;
    -h|--help) usage ;;
    *) echo "error: unknown target '$a'." >&2; usage ;;
  esac
done

host=$(uname -m)

# The ILCompiler links with clang (or gcc when clang is absent, same architecture only) and strips with objcopy.
ensure_toolchain() {
  local rid=$1
  case "$rid/$host" in
    linux-arm64/x86_64)
      if ! command -v clang >/dev/null || ! command -v aarch64-linux-gnu-ld >/dev/null ||
         ! command -v llvm-objcopy >/dev/null || [ ! -e /usr/aarch64-linux-gnu/lib/libc.so ]; then
        apt_ensure clang llvm binutils-aarch64-linux-gnu gcc-aarch64-linux-gnu libc6-dev-arm64-cross
      fi ;;
    linux-arm64/aarch64|linux-x64/x86_64)
      command -v clang >/dev/null || command -v gcc >/dev/null || apt_ensure clang
      command -v objcopy >/dev/null || command -v llvm-objcopy >/dev/null || apt_ensure binutils ;;
    *) echo "error: publishing $rid on a $host machine is not supported; publish on x86-64 or arm64 Linux." >&2; exit 1 ;;
  esac
}

publish() {
  local target=$1 rid props=()
  case "$target" in
    linux-arm64) rid=linux-arm64 ;;
    linux-x64) rid=linux-x64; props=(-p:IlcInstructionSet=x86-64-v3) ;;
    linux-x64-avx512) rid=linux-x64; props=(-p:IlcInstructionSet=x86-64-v4%2Cavx512v2%2Cgfni) ;;
    linux-x64-baseline) rid=linux-x64 ;;
  esac
  ensure_toolchain "$rid"
  local out="artifacts/$target" symbols="artifacts/symbols/$target"
  rm -rf "$out" "$symbols"
  mkdir -p "$out" "$symbols"
  local p start
  for p in "${projects[@]}"; do
    start=$(date +%s)
    # Both x64 flavours share obj/<rid>/; separate native folders keep one from reusing the other's object file.
    if ! dotnet publish "$p" -c Release -r "$rid" -o "$out" -nologo -v:q -clp:ErrorsOnly \
         "${props[@]}" "-p:NativeIntermediateOutputPath=obj/Release/net10.0/$rid/native-$target/"; then
      echo "error: publishing $p for $target failed (see the errors above)." >&2
      exit 1
    fi
    echo "published $p for $target in $(( $(date +%s) - start )) s" >&2
  done
  find "$out" -maxdepth 1 \( -name '*.dbg' -o -name '*.pdb' \) -exec mv -t "$symbols" {} +
  local f extra
  extra=$(find "$out" -mindepth 1 ! -name edge ! -name edge-pack -printf '%f ')
  [ -z "$extra" ] || echo "warning: $out also holds: $extra(not needed to generate text)" >&2
  for f in "$out/edge" "$out/edge-pack"; do
    stat -c '%n %s' "$f" | awk '{ printf "%-40s %10d bytes  %6.2f MiB\n", $1, $2, $2 / 1048576 }'
  done
}

for t in "${targets[@]}"; do publish "$t"; done
