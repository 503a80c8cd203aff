#!/usr/bin/env bash
# ARM kernels on paper: the inner loops of Edge's NEON kernels, taken from the linux-arm64 NativeAOT binary, and of
# ggml's TQ2_0/TQ1_0 vec_dot, taken from the libggml-cpu.so that LLamaSharp.Backend.Cpu 0.30.0 ships for linux-arm64,
# run through llvm-mca's models of the Raspberry Pis' cores. Prints the tables of docs/PERFORMANCE.md "ARM (static
# analysis)": cycles per 1,000 weights, the busiest resource, G weights/s per core, and per Pi the compute and memory
# bounds of decode.
#
#   scripts/arm-mca.sh [--no-publish] [--asm DIR] [--x86]
#
#   --no-publish  analyse artifacts/linux-arm64 (and linux-x64) as they are (default: ./publish-aot.sh first).
#   --asm DIR     also write each extracted loop (the llvm-mca input) to DIR/<loop>.s.
#   --x86         also the AVX2 loops of the linux-x64 binary on llvm-mca's Zen 4 model, against the register-only
#                 vpmaddubsw + vpaddw loop that bench/Edge.Benchmarks `peak` times (the prefill ceiling).
#
# A loop is found by its symbol (artifacts/symbols/linux-arm64/edge.dbg for Edge, the dynamic symbols for ggml): of
# the backward branches inside the function, the shortest span holding all its multiply instructions is the inner
# loop. Its products (weight × token multiply-adds) per iteration follow from its instructions (smull/smlal: 8,
# sdot: 16, and sadalp inside the loop: 8, neon's path without a multiply, where two sadalp add the 16 activations
# selected by a code vector's two masks); a decode loop serves one token, so there products are weights. llvm-mca has no Cortex-A72 or A76 model of its own (both use its Cortex-A57 model), so the
# Neoverse N1, the server core derived from the A76, is analysed as well and used for the Pi 5.
set -euo pipefail
cd "$(dirname "$0")/.."
. eng/apt-ensure.sh

publish=1 asm_dir="" x86=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-publish) publish=0 ;;
    --x86) x86=1 ;;
    --asm) asm_dir=${2:?--asm needs a folder}; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2; exit 2 ;;
    *) echo "error: unknown option '$1' (try --help)." >&2; exit 2 ;;
  esac
  shift
done

apt_ensure llvm-19 >&2 || { echo "error: llvm-mca needs the Debian package llvm-19." >&2; exit 1; }
mca=llvm-mca-19 objdump=llvm-objdump-19 nm=llvm-nm-19

if [ "$publish" = 1 ]; then ./publish-aot.sh linux-arm64 >&2; fi
edge=artifacts/linux-arm64/edge edge_symbols=artifacts/symbols/linux-arm64/edge.dbg
[ -f "$edge" ] && [ -f "$edge_symbols" ] || { echo "error: $edge or its symbols are missing; run ./publish-aot.sh linux-arm64." >&2; exit 1; }

ggml=${NUGET_PACKAGES:-$HOME/.nuget/packages}/llamasharp.backend.cpu/0.30.0/LLamaSharpRuntimes/linux-arm64/native/libggml-cpu.so
if [ ! -f "$ggml" ]; then
  dotnet restore bench/Edge.Benchmarks/Edge.Benchmarks.csproj -nologo -v:q >&2 || true
fi
[ -f "$ggml" ] || { echo "error: $ggml not found: LLamaSharp.Backend.Cpu 0.30.0 has no linux-arm64 library here (restore bench/Edge.Benchmarks)." >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# extract NAME BINARY SYMBOL_FILE SYMBOL: writes $work/NAME.s (the loop, branch back to "loop") and
# $work/NAME.weights (products per iteration).
extract() {
  local name=$1 binary=$2 symbols=$3 symbol=$4 range
  "$nm" -n --defined-only $([ "$symbols" = "$binary" ] && echo -D) "$symbols" > "$work/symbols"
  range=$(awk -v s="$symbol" '$3 == s { start = $1; next } start != "" && $1 != start { print start, $1; exit }' "$work/symbols")
  [ -n "$range" ] || { echo "error: symbol $symbol not found in $symbols." >&2; exit 1; }
  set -- $range
  "$objdump" -d --no-show-raw-insn $([[ $name == avx2* ]] || echo --mattr=+dotprod) --start-address=0x$1 --stop-address=0x$2 "$binary" |
  awk -F'\t' -v out="$work/$name.s" -v wout="$work/$name.weights" '
    function hex(s,   i, v) { v = 0; s = tolower(s); gsub(/[ :]/, "", s); sub(/^0x/, "", s)
      for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
    function macs(m, a) { if (m ~ /^[su]m(ull|lal)2?$/) return 8; if (m ~ /^[su]dot$/) return 16
      if (m == "vpmaddubsw") return a ~ /zmm/ ? 64 : a ~ /ymm/ ? 32 : 16; return 0 }
    /^ *[0-9a-f]+:/ {
      a = hex(substr($1, 1, index($1, ":") - 1)); n++
      addr[n] = a; op[n] = $2; arg[n] = $3; mac[n] = macs($2, $3); total += mac[n]
      if ($2 ~ /^(b|b\..*|cbn?z|tbn?z|j[a-z]+)$/ && match($3, /0x[0-9a-f]+/)) {
        t = hex(substr($3, RSTART, RLENGTH)); if (t <= a) { nb++; bfrom[nb] = n; bto[nb] = t }
      }
    }
    END {
      best = 0
      for (b = 1; b <= nb; b++) {
        s = 0; for (i = 1; i <= bfrom[b]; i++) if (addr[i] >= bto[b]) s += mac[i]
        if (s == total && (best == 0 || addr[bfrom[b]] - bto[b] < span)) { best = b; span = addr[bfrom[b]] - bto[b] }
      }
      if (best == 0 || total == 0) { print "no inner loop with every multiply found" > "/dev/stderr"; exit 1 }
      print "loop:" > out
      for (i = 1; i <= bfrom[best]; i++) if (addr[i] >= bto[best]) {
        a = arg[i]; if (op[i] ~ /^(b|b\..*|cbn?z|tbn?z|j[a-z]+)$/) sub(/0x[0-9a-f]+ <.*/, "loop", a)   # llvm-mca ignores where a branch goes
        print "\t" op[i] "\t" a > out
        products += mac[i] + (op[i] ~ /^[su]adalp$/ ? 8 : 0)
      }
      print products > wout
    }'
  [ -z "$asm_dir" ] || { mkdir -p "$asm_dir"; cp "$work/$name.s" "$asm_dir/$name.s"; }
}

# mca_cycles TRIPLE CPU NAME DIGITS [LLVM-MCA OPTION...]: "cycles-per-1000-weights busiest-resource" of the loop
# $work/NAME.s, the cycles with DIGITS decimals.
mca_cycles() {
  local triple=$1 cpu=$2 name=$3 digits=$4; shift 4
  "$mca" -mtriple="$triple" -mcpu="$cpu" "$@" -iterations=400 "$work/$name.s" 2>/dev/null |
  awk -v w="$(cat "$work/$name.weights")" -v digits="$digits" '
    /^Iterations:/ { it = $2 } /^Total Cycles:/ { cy = $3 }
    /^Resources:/ { res = 1; next }
    res && /^\[/ { id = $1; sub(/^\[/, "", id); sub(/\]$/, "", id); rname[id] = $3; next }
    res && /^$/ { res = 0 }
    /^Resource pressure per iteration:/ { getline hdr; getline vals; nh = split(hdr, h, " "); split(vals, v, " ")
      for (i = 1; i <= nh; i++) { id = h[i]; gsub(/[\[\]]/, "", id); if (v[i] != "-" && v[i] + 0 > max) { max = v[i] + 0; who = rname[id] } } }
    END { printf "%." digits "f %s\n", cy / it * 1000 / w, who }'
}

# mca_of NAME CPU: mca_cycles of an ARM loop (the dot-product ones of Edge with the dot-product extension on)
mca_of() {
  local name=$1 cpu=$2 attr=()
  [[ $name == *dot* && $name != ggml* ]] && attr=(-mattr=+dotprod)
  mca_cycles aarch64 "$cpu" "$name" 1 "${attr[@]}"
}

# name | symbol file | binary | symbol | tokens per iteration
loops=(
  "edge-neon|$edge_symbols|$edge|Edge_Runtime_Edge_Runtime_Kernels_NeonTernaryKernel__Dot|1"
  "edge-neon-dot|$edge_symbols|$edge|Edge_Runtime_Edge_Runtime_Kernels_NeonDotTernaryKernel__Dot|1"
  "edge-neon-4tok|$edge_symbols|$edge|Edge_Runtime_Edge_Runtime_Kernels_NeonTernaryKernel__DotFourTokens|4"
  "edge-neon-dot-4tok|$edge_symbols|$edge|Edge_Runtime_Edge_Runtime_Kernels_NeonDotTernaryKernel__DotFourTokens|4"
  "edge-neon-dot-8tok|$edge_symbols|$edge|Edge_Runtime_Edge_Runtime_Kernels_NeonDotTernaryKernel__RowEightTokens|8"
  "ggml-tq2_0|$ggml|$ggml|ggml_vec_dot_tq2_0_q8_K|1"
  "ggml-tq1_0|$ggml|$ggml|ggml_vec_dot_tq1_0_q8_K|1"
)
cpus=(cortex-a53 cortex-a72 cortex-a76 neoverse-n1)
declare -A cyc=() who=()
for l in "${loops[@]}"; do
  IFS='|' read -r name symbols binary symbol tokens <<<"$l"
  extract "$name" "$binary" "$symbols" "$symbol"
  for c in "${cpus[@]}"; do
    [[ $name == edge-neon-dot* && $c == cortex-a5* ]] && continue   # the A53 has no dot product
    [[ $name == edge-neon-dot* && $c == cortex-a72 ]] && continue
    read -r cyc[$name/$c] who[$name/$c] < <(mca_of "$name" "$c")
  done
done

# table TITLE HEADER ALIGNMENT [NOTE]: a report section's title, an optional note and the two header lines of its table.
table() {
  echo "### $1"
  echo
  if [ -n "${4:-}" ]; then echo "$4"; echo; fi
  echo "$2"
  echo "$3"
}

table "Inner loops: llvm-mca cycles per 1,000 products (busiest resource)" \
  "| loop | tokens | products / iteration | instructions | Cortex-A53 | Cortex-A72 (A57 model) | Cortex-A76 (A57 model) | Neoverse N1 (A76 core) |" \
  "|---|---:|---:|---:|---|---|---|---|" \
  "A product is one weight times one activation: in decode (one token) that is a weight; the batched loops serve four or eight tokens (neon-dot-8tok: the eight-token loop of the shared x86 driver, over an interleaved copy of the activations; neon-dot-4tok: its four-token loop, used for rows longer than 3072)."
for l in "${loops[@]}"; do
  IFS='|' read -r name _ _ _ tokens <<<"$l"
  row="| $name | $tokens | $(cat "$work/$name.weights") | $(($(wc -l < "$work/$name.s") - 1)) |"
  for c in "${cpus[@]}"; do
    if [ -n "${cyc[$name/$c]:-}" ]; then row+=" ${cyc[$name/$c]} (${who[$name/$c]}) |"; else row+=" – |"; fi
  done
  echo "$row"
done

# Per Pi: the kernel Edge picks, its G weights/s per core at the Pi's clock, and the weight rate the memory allows.
# Bandwidth: GB/s theoretical (bus width × transfer rate of the published memory type) and a sustained read
# figure (docs/PERFORMANCE.md cites both). Models: 308.3 M ternary weights per 370M token, 81.3 MiB read per
# token; the bundled model 31.46 M ternary weights, 7.9 MB per token (ternary 7.5 MiB + one f16 embedding row).
echo
table "Decode per Pi: compute bound (llvm-mca) against memory bound" \
  "| Pi (core, clock) | Edge kernel | G weights/s, 1 core | 4 cores | memory: G weights/s (sustained GB/s) | 4 cores bound by | Edge ÷ ggml TQ2_0 cycles/weight | 370M tok/s, 1 core / 4 cores | bundled tok/s, 1 / 4 |" \
  "|---|---|---:|---:|---:|---|---:|---:|---:|"
# name | llvm cpu | GHz | sustained GB/s 1 core | sustained GB/s 4 cores
pis=(
  "Zero 2 W (A53, 1.0 GHz)|cortex-a53|1.0|2.0|2.0"
  "Pi 3 B (A53, 1.2 GHz)|cortex-a53|1.2|2.0|2.0"
  "Pi 3 B+ (A53, 1.4 GHz)|cortex-a53|1.4|2.0|2.0"
  "Pi 4 (A72, 1.5 GHz)|cortex-a72|1.5|5.6|5.6"
  "Pi 4 (A72, 1.8 GHz)|cortex-a72|1.8|5.6|5.6"
  "Pi 5 (A76, 2.4 GHz)|neoverse-n1|2.4|9.7|10.0"
)
for p in "${pis[@]}"; do
  IFS='|' read -r pi cpu ghz bw1 bw4 <<<"$p"
  kernel=edge-neon; [ "$cpu" = neoverse-n1 ] && kernel=edge-neon-dot
  awk -v pi="$pi" -v k="${kernel#edge-}" -v c="${cyc[$kernel/$cpu]}" -v g="${cyc[ggml-tq2_0/$cpu]}" -v f="$ghz" -v b1="$bw1" -v b4="$bw4" 'BEGIN {
    w1 = f / (c / 1000); w4 = 4 * w1                     # G weights/s from cycles per 1000 weights
    m1 = b1 / 0.25; m4 = b4 / 0.25                        # 2-bit weights: 4 per byte
    e1 = (w1 < m1 ? w1 : m1); e4 = (w4 < m4 ? w4 : m4)
    bytes370 = 81.3 * 1048576 / 1e9; bytes36 = 7.9e-3     # GB read per token
    t370_1 = 1 / (308.3e-3 / w1 > bytes370 / b1 ? 308.3e-3 / w1 : bytes370 / b1)
    t370_4 = 1 / (308.3e-3 / w4 > bytes370 / b4 ? 308.3e-3 / w4 : bytes370 / b4)
    t36_1 = 1 / (31.46e-3 / w1 > bytes36 / b1 ? 31.46e-3 / w1 : bytes36 / b1)
    t36_4 = 1 / (31.46e-3 / w4 > bytes36 / b4 ? 31.46e-3 / w4 : bytes36 / b4)
    printf "| %s | %s | %.1f | %.1f | %.1f 1 core, %.1f 4 cores (%.1f / %.1f) | %s | %.2f | %.0f / %.0f | %.0f / %.0f |\n",
      pi, k, w1, w4, m1, m4, b1, b4, (w4 < m4 ? "compute" : "memory"), c / g, t370_1, t370_4, t36_1, t36_4 }'
done

# Prefill: the batched loops are compute-bound (a weight byte feeds 16 products), so their rate bounds prompt tokens/s.
echo
table "Prefill per Pi: the batched loop's compute bound (nothing else in the forward pass counted)" \
  "| Pi (core, clock) | Edge batched loop | G products/s, 1 core | 4 cores | 370M prompt tok/s, 1 / 4 cores | bundled prompt tok/s, 1 / 4 | batched ÷ decode cycles per product |" \
  "|---|---|---:|---:|---:|---:|---:|"
for p in "${pis[@]}"; do
  IFS='|' read -r pi cpu ghz _ _ <<<"$p"
  # The loop prefill runs for the 370M rows (K ≤ 3072): neon's four tokens, neon-dot's eight.
  kernel=edge-neon batched=edge-neon-4tok; [ "$cpu" = neoverse-n1 ] && kernel=edge-neon-dot batched=edge-neon-dot-8tok
  awk -v pi="$pi" -v k="${batched#edge-}" -v c="${cyc[$batched/$cpu]}" -v d="${cyc[$kernel/$cpu]}" -v f="$ghz" 'BEGIN {
    w1 = f / (c / 1000); w4 = 4 * w1
    printf "| %s | %s | %.1f | %.1f | %.0f / %.0f | %.0f / %.0f | %.2f |\n", pi, k, w1, w4, w1 / 0.3083, w4 / 0.3083, w1 / 0.03146, w4 / 0.03146, c / d }'
done

[ "$x86" = 1 ] || exit 0

# x86: the AVX2 decode and 8-token batched loops against the prefill ceiling, on llvm-mca's Zen 4 model.
if [ "$publish" = 1 ]; then ./publish-aot.sh linux-x64 >&2; fi
x64=artifacts/linux-x64/edge x64_symbols=artifacts/symbols/linux-x64/edge.dbg
[ -f "$x64" ] && [ -f "$x64_symbols" ] || { echo "error: $x64 or its symbols are missing; run ./publish-aot.sh linux-x64." >&2; exit 1; }
extract avx2-4tok "$x64" "$x64_symbols" Edge_Runtime_Edge_Runtime_Kernels_Avx2TernaryKernel__DotFourTokens
extract avx2-8tok "$x64" "$x64_symbols" Edge_Runtime_Edge_Runtime_Kernels_Avx2TernaryKernel__RowEightTokens
# 24 multiply-adds per iteration into 8 accumulators (ymm6-13), products in ymm0-5, sources ymm14/15.
{ echo "loop:"; for i in $(seq 0 23); do
    printf '\tvpmaddubsw\t%%ymm14, %%ymm15, %%ymm%d\n\tvpaddw\t%%ymm%d, %%ymm%d, %%ymm%d\n' $((i % 6)) $((i % 6)) $((i % 8 + 6)) $((i % 8 + 6))
  done; printf '\tdecq\t%%rcx\n\tjne\tloop\n'; } > "$work/peak-ymm.s"
echo $((24 * 32)) > "$work/peak-ymm.weights"
[ -z "$asm_dir" ] || cp "$work"/avx2-*.s "$work/peak-ymm.s" "$asm_dir/"
echo
table "x86 (llvm-mca -mcpu=znver4): cycles per 1,000 products against the vpmaddubsw + vpaddw ceiling" \
  "| loop | products / iteration | instructions | Zen 4 cycles per 1,000 products (busiest resource) | of the ceiling |" \
  "|---|---:|---:|---|---:|"
read -r peak_cyc _ < <(mca_cycles x86_64 znver4 peak-ymm 2)
for name in peak-ymm avx2-8tok avx2-4tok; do
  r=$(mca_cycles x86_64 znver4 "$name" 2)
  set -- $r
  awk -v n="$name" -v w="$(cat "$work/$name.weights")" -v i="$(($(wc -l < "$work/$name.s") - 1))" -v c="$1" -v who="$2" -v p="$peak_cyc" \
    'BEGIN { printf "| %s | %d | %d | %.2f (%s) | %.0f %% |\n", n, w, i, c, who, 100 * p / c }'
done
