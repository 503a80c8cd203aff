#!/usr/bin/env bash
# Builds the co-simulation library: the Verilated TMV1 core behind a C ABI (tmv_rtl.cpp).
# Output: fpga/build/cosim/libtmv_rtl.so (or $1). Needs verilator and g++ (Debian: verilator, g++).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fpga="$(dirname "$here")"
out="${1:-$fpga/build/cosim/libtmv_rtl.so}"
obj="$fpga/build/cosim/obj"
mkdir -p "$obj" "$(dirname "$out")"
verilator --cc -O2 --x-assign 0 --x-initial 0 -Wall -Wno-BLKSEQ -CFLAGS "-fPIC -O2" --Mdir "$obj" \
  -I"$fpga/rtl" --top-module tmv_core "$fpga"/rtl/tmv_*.v >/dev/null
make -s -C "$obj" -f Vtmv_core.mk Vtmv_core__ALL.a CXX="g++" OPT_FAST="-O2 -fPIC" OPT_GLOBAL="-O2 -fPIC" >/dev/null
inc="$(verilator --getenv VERILATOR_ROOT)/include"
g++ -O2 -fPIC -shared -pthread -std=c++17 -I"$obj" -I"$inc" -I"$inc/vltstd" "$here/tmv_rtl.cpp" \
  "$inc/verilated.cpp" "$inc/verilated_threads.cpp" "$obj/Vtmv_core__ALL.a" -o "$out"
echo "$out"
