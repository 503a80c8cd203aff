#!/usr/bin/env bash
# FPGA gateware checks (fpga/): lint, the Verilator co-simulation against the C# emulator (every conformance test
# in lockstep, random frames, offloaded logits), `edge generate --offload rtl:...` against the CPU, and synthesis +
# place-and-route for the UP5K, which fails when the design no longer fits or misses its 24 MHz clock.
#   eng/ci-fpga.sh [results-dir]    writes <results-dir>/fpga-rtl.trx and <results-dir>/fpga-checks.counts
# About 4-6 minutes on 2 cores, most of it nextpnr.
set -uo pipefail
cd "$(dirname "$0")/.."
results="${1:-TestResults}"
mkdir -p "$results"
. eng/apt-ensure.sh
passed=0; failed=0
check() {  # check NAME COMMAND...: one counted check, its output kept in the log
  local name="$1"; shift
  if "$@" >"$results/fpga-$name.log" 2>&1; then passed=$((passed+1)); echo "fpga: $name ok"
  else failed=$((failed+1)); echo "fpga: $name FAILED (see $results/fpga-$name.log)"; tail -20 "$results/fpga-$name.log"; fi
}
finish() { echo "$passed $failed" > "$results/fpga-checks.counts"; exit $([ "$failed" -eq 0 ] && echo 0 || echo 1); }

if ! apt_ensure yosys nextpnr-ice40 fpga-icestorm iverilog verilator g++; then failed=1; finish; fi

check lint verilator --lint-only -Wall -Wno-BLKSEQ -Ifpga/rtl --top-module tmv_core \
  fpga/rtl/tmv_core.v fpga/rtl/tmv_spi_slave.v fpga/rtl/tmv_weight_ram.v fpga/rtl/tmv_x_ram.v fpga/rtl/tmv_y_ram.v fpga/rtl/tmv_engine.v
check iverilog-parse iverilog -g2005 -Ifpga/rtl -o /dev/null -s tmv_core \
  fpga/rtl/tmv_core.v fpga/rtl/tmv_spi_slave.v fpga/rtl/tmv_weight_ram.v fpga/rtl/tmv_x_ram.v fpga/rtl/tmv_y_ram.v fpga/rtl/tmv_engine.v
# The directed iverilog bench: SPI framing, status bytes, INFO, a header CRC error through GET_ERR, CLEAR_ERR.
bench() {
  iverilog -g2005 -Ifpga/rtl -o "$results/fpga-tb.vvp" fpga/tb/tmv_core_tb.v fpga/rtl/tmv_core.v fpga/rtl/tmv_spi_slave.v \
    fpga/rtl/tmv_weight_ram.v fpga/rtl/tmv_x_ram.v fpga/rtl/tmv_y_ram.v fpga/rtl/tmv_engine.v || return 1
  vvp -n "$results/fpga-tb.vvp" >"$results/fpga-tb.out" || return 1
  cat "$results/fpga-tb.out"
  grep -q '^PASS tmv_core_tb' "$results/fpga-tb.out"
}
check iverilog-bench bench
lib="$PWD/fpga/build/cosim/libtmv_rtl.so"
check cosim-build fpga/cosim/build.sh "$lib"

# The co-simulation tests; with EDGE_REQUIRE_RTL=1 a missing library fails them instead of skipping.
EDGE_REQUIRE_RTL=1 EDGE_TMV_RTL="$lib" dotnet test tests/Edge.Offload.Tests -c Release \
  --filter "FullyQualifiedName~Rtl|FullyQualifiedName~TheSimulatedGateware" \
  --logger "trx;LogFileName=fpga-rtl.trx" --results-directory "$results" >"$results/fpga-dotnet.log" 2>&1 ||
  { echo "fpga: co-simulation tests FAILED (see $results/fpga-rtl.trx)"; tail -20 "$results/fpga-dotnet.log"; }

# The CLI on a tiny random model: the whole of block 0 on the simulated gateware gives the CPU's tokens.
generate_matches() {
  local dir; dir=$(mktemp -d)
  dotnet build packer/Edge.Packer -c Release -v q -nologo >/dev/null && dotnet build runtime/Edge.Cli -c Release -v q -nologo >/dev/null || return 1
  dotnet packer/Edge.Packer/bin/Release/net10.0/edge-pack.dll synth --hidden 128 --layers 2 --vocab 512 --seed 3 -o "$dir/tiny.edge" || return 1
  local edge="dotnet runtime/Edge.Cli/bin/Release/net10.0/edge.dll"
  $edge generate -m "$dir/tiny.edge" -p "In the beginning" -n 12 --temp 0 --json >"$dir/cpu.txt" || return 1
  $edge generate -m "$dir/tiny.edge" -p "In the beginning" -n 12 --temp 0 --json --offload "rtl:$lib" --offload-layers 0 >"$dir/rtl.txt" 2>"$dir/rtl.err" || { cat "$dir/rtl.err"; return 1; }
  cat "$dir/rtl.err"
  grep -q "FPGA offload to rtl:.*: 6 BitLinear layers" "$dir/rtl.err" || { echo "block 0 was not offloaded"; return 1; }
  diff <(tail -1 "$dir/cpu.txt") <(tail -1 "$dir/rtl.txt") && tail -1 "$dir/rtl.txt"
}
check generate-rtl generate_matches

check synthesis fpga/syn/build.sh "$PWD/fpga/build/up5k"
finish
