#!/bin/sh
# Re-creates placeholder-tokenizer.model, the SentencePiece model that `edge-pack synth` embeds in synthetic
# models (they have random weights, so any valid tokenizer will do; it only has to load and round-trip text).
# Needs Debian's sentencepiece package (apt-get install -y sentencepiece; made with 0.1.97) and the licence
# texts of Debian's base-files package. Settings follow the Llama/Mistral tokenizer: BPE, byte fallback,
# identity normalization, dummy prefix, digits split, ids unk 0, bos 1, eos 2, no pad.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0 /usr/share/common-licenses/MPL-2.0 \
    | grep -v '^[[:space:]]*$' > "$work/corpus.txt"
spm_train --input="$work/corpus.txt" --model_prefix="$work/placeholder-tokenizer" --model_type=bpe \
    --vocab_size=512 --byte_fallback=true --character_coverage=1.0 --normalization_rule_name=identity \
    --add_dummy_prefix=true --remove_extra_whitespaces=false --split_digits=true --allow_whitespace_only_pieces=true \
    --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --num_threads=1 --minloglevel=1
cp "$work/placeholder-tokenizer.model" "$here/placeholder-tokenizer.model"
