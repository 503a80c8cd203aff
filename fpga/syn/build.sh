#!/usr/bin/env bash
# Synthesis, place-and-route and bitstream for the UPduino v3.x (iCE40UP5K-SG48), and a resource/timing report.
#   fpga/syn/build.sh [outdir]     (default fpga/build/up5k)
# Fails when the design no longer fits or misses its clock (MHZ, default 24: HFOSC / 2, see tmv_up5k_top.v).
# Deterministic: one placement seed (--seed 1). Needs yosys, nextpnr-ice40, fpga-icestorm.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fpga="$(dirname "$here")"
out="${1:-$fpga/build/up5k}"
mhz="${MHZ:-24}"
mkdir -p "$out"
rtl=("$fpga"/rtl/tmv_*.v)
yosys -q -l "$out/yosys.log" -p "read_verilog -I$fpga/rtl ${rtl[*]}; synth_ice40 -top tmv_up5k_top -json $out/tmv.json"
nextpnr-ice40 --up5k --package sg48 --json "$out/tmv.json" --pcf "$here/upduino_v3.pcf" --asc "$out/tmv.asc" \
  --freq "$mhz" --seed 1 --log "$out/nextpnr.log" --report "$out/nextpnr-report.json" -q
# nextpnr's timing is the gate (it fails the run below the clock). icetime is a second opinion where its chip
# database is installed (Debian's fpga-icestorm lacks the UP5K one).
icetime -d up5k -P sg48 -p "$here/upduino_v3.pcf" -c "$mhz" -mtr "$out/icetime.rpt" "$out/tmv.asc" >"$out/icetime.log" 2>&1 ||
  { grep -q "Can't find chipdb" "$out/icetime.log" || { cat "$out/icetime.log" >&2; echo "error: icetime: the design misses $mhz MHz" >&2; exit 1; }; }
icepack "$out/tmv.asc" "$out/tmv.bin"

python3 - "$out" "$mhz" <<'PY'
import json, re, sys
out, mhz = sys.argv[1], float(sys.argv[2])
report = json.load(open(f"{out}/nextpnr-report.json"))
util = report["utilization"]
fmax = min(v["achieved"] for v in report["fmax"].values())
lines = [f"{k:14s} {util[k]['used']:5d} / {util[k]['available']:5d}" for k in ("ICESTORM_LC", "ICESTORM_RAM", "ICESTORM_SPRAM", "ICESTORM_DSP", "SB_IO", "SB_GB")]
try:
    ice = open(f"{out}/icetime.rpt").read()
except OSError:
    ice = ""
m = re.search(r"Total path delay: ([0-9.]+) ns \(([0-9.]+) MHz\)", ice)
lines.append(f"nextpnr Fmax   {fmax:.2f} MHz (constraint {mhz:g} MHz)")
if m:
    lines.append(f"icetime        {m.group(1)} ns = {m.group(2)} MHz")
open(f"{out}/report.txt", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
if util["ICESTORM_DSP"]["used"] != 0:
    sys.exit("error: the engine must not use DSPs")
if fmax < mhz:
    sys.exit(f"error: Fmax {fmax:.2f} MHz misses the {mhz:g} MHz clock")
PY
echo "bitstream: $out/tmv.bin"
