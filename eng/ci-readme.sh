#!/usr/bin/env bash
# README checks, run by .ci/run after the unit tests: the READMEs' cheap commands, run as written, so they stay true.
#   - every `dotnet run --project runtime/Edge.Cli ...` line of README.md's bash blocks that needs no download;
#   - README.md's example output (the `$ dotnet run ...` text block) must be what the command prints now;
#   - the held-out perplexity README.md and docs/MODEL.md quote must be what `edge perplexity` prints;
#   - the commands table's model-free defaults: `edge bench` and `edge inspect --tensors --verify --cpu` without -m;
#   - device-samples/README.md: the publish command, and the quick try `./edge-sensord --simulate` in the publish
#     folder (keys from a pipe) must find the bundled model and stop with exit code 0.
# Usage: eng/ci-readme.sh RESULTS_DIR      Writes RESULTS_DIR/readme-checks.counts ("PASSED FAILED"). About 6 min on the shared 2-core machine (mostly the perplexity run and the daemon publish).
set -uo pipefail
cd "$(dirname "$0")/.."

. eng/checks.sh "${1:?usage: eng/ci-readme.sh RESULTS_DIR}" readme
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Lines of the fenced blocks of a given language in a markdown file.
fenced() { awk -v lang="$2" '/^```/ { inside = (!inside && $0 == "```" lang); next } inside' "$1"; }

# ---- README.md: the edge commands of its bash blocks (a converted checkpoint needs a download: left out)
mapfile -t commands < <(fenced README.md bash | grep '^dotnet run --project runtime/Edge.Cli' | grep -v 'mmfree-370m')
[ "${#commands[@]}" -gt 0 ] || fail "README.md has edge commands in its bash blocks"
for c in "${commands[@]}"; do
  if out=$(bash -c "$c" 2>&1 </dev/null) && [ -n "$out" ]; then pass "README.md: $c"
  else fail "README.md: $c" "$(tail -n 3 <<<"$out")"; fi
done

# ---- README.md: the example output in its text block
example=$(fenced README.md text | sed -n '/^\$ dotnet run --project runtime\/Edge.Cli/,$p')
c=$(head -n 1 <<<"$example" | sed 's/^\$ //')
expected=$(tail -n +2 <<<"$example")
if [ -z "$c" ]; then fail "README.md has an example command with its output"
else
  actual=$(bash -c "$c" 2>/dev/null </dev/null)
  # The README shows the first lines of the text; each must be what the command printed.
  if [ "$(head -n "$(wc -l <<<"$expected")" <<<"$actual")" = "$expected" ]; then pass "README.md example output: $c"
  else fail "README.md example output: $c" "got: $(head -n 2 <<<"$actual")"; fi
fi

# ---- the held-out perplexity quoted by README.md and docs/MODEL.md
E=(dotnet run --project runtime/Edge.Cli -c Release --)
line=$("${E[@]}" perplexity -f models/heldout.txt 2>/dev/null | grep '^perplexity: ')
ppl=$(sed -E 's/^perplexity: ([0-9.]+) over ([0-9]+) tokens$/\1/' <<<"$line")
tokens=$(sed -E 's/^perplexity: ([0-9.]+) over ([0-9]+) tokens$/\2/' <<<"$line")
if [ -z "$line" ]; then fail "edge perplexity -f models/heldout.txt prints its result"
else
  short=$(printf '%.2f' "$ppl") grouped=$(printf "%'d" "$tokens" 2>/dev/null)
  [[ "$grouped" == *,* ]] || grouped=$(sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$tokens")
  if grep -q "models/heldout.txt\`: $short over $grouped tokens" README.md; then pass "README.md quotes the perplexity edge prints ($short over $grouped tokens)"
  else fail "README.md quotes the perplexity edge prints" "edge prints $line"; fi
  if grep -q "\*\*$short over $grouped tokens\*\*" docs/MODEL.md && grep -q "# $line" docs/MODEL.md; then pass "docs/MODEL.md quotes the perplexity edge prints"
  else fail "docs/MODEL.md quotes the perplexity edge prints" "edge prints $line"; fi
fi

# ---- the commands table: -m is optional everywhere
if out=$("${E[@]}" bench -p 16 -n 8 -r 1 -t 1 --bandwidth-mib 64 2>&1) && grep -q '^| 1 |' <<<"$out"; then pass "edge bench without -m (bundled model)"
else fail "edge bench without -m (bundled model)" "$(tail -n 2 <<<"$out")"; fi
if out=$("${E[@]}" inspect --tensors --verify --cpu 2>&1) && grep -q '^kernel: ' <<<"$out" && grep -q '^tensor table:' <<<"$out" && grep -q '^checksums: all' <<<"$out"
then pass "edge inspect --tensors --verify --cpu shows the CPU, the tensors and the checksums"
else fail "edge inspect --tensors --verify --cpu shows the CPU, the tensors and the checksums" "$(tail -n 2 <<<"$out")"; fi

# ---- device-samples/README.md: build, then the quick try in the publish folder
publish=$(fenced device-samples/README.md bash | grep -m1 '^dotnet publish device-samples/Edge.SensorDaemon .*-r linux-x64' | sed 's/ *#.*//')
folder=device-samples/Edge.SensorDaemon/bin/Release/net10.0/linux-x64/publish
if [ -z "$publish" ]; then fail "device-samples/README.md has the linux-x64 publish command"
elif out=$(bash -c "$publish" 2>&1); then
  pass "device-samples/README.md: $publish"
  listed=$(cd "$folder" && find . -type f | sort | tr '\n' ' ')
  if [ "$listed" = "./appsettings.json ./edge-sensord ./models/kjv-brown-36m.edge " ]; then pass "the publish folder holds what the README lists"
  else fail "the publish folder holds what the README lists" "$listed"; fi
  # The README's pipe example, shortened: a button press, wait for its text, quit.
  out=$(cd "$folder" && (printf b; sleep 20; printf q) | timeout 120 ./edge-sensord --simulate 2>&1); rc=$?
  if [ "$rc" -eq 0 ] && grep -q 'Button → ' <<<"$out"; then pass "./edge-sensord --simulate in the publish folder generates and quits with 0"
  else fail "./edge-sensord --simulate in the publish folder generates and quits with 0" "exit $rc: $(grep -v '^\s*$' <<<"$out" | tail -n 2)"; fi
else fail "device-samples/README.md: $publish" "$(tail -n 3 <<<"$out")"; fi

checks_done
