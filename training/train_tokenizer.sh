#!/usr/bin/env bash
# Trains the SentencePiece BPE tokenizer with Llama conventions (unk 0, BOS 1, EOS 2, no pad,
# byte fallback, no normalisation) on training/data/train.txt.
# Usage: train_tokenizer.sh [VOCAB_SIZE] [OUTPUT_PREFIX] [MAX_INPUT_BYTES]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vocab="${1:-8192}"
prefix="${2:-$here/data/tokenizer}"
max_bytes="${3:-0}"
input="$here/data/train.txt"
if [ ! -f "$input" ]; then
  echo "missing $input: run training/fetch_corpus.sh first" >&2
  exit 1
fi
if [ "$max_bytes" -gt 0 ]; then
  head -c "$max_bytes" "$input" > "$prefix.input.txt"
  input="$prefix.input.txt"
fi
spm_train --input="$input" --model_prefix="$prefix" --model_type=bpe --vocab_size="$vocab" \
  --byte_fallback=true --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 \
  --normalization_rule_name=identity --character_coverage=1.0 --max_sentence_length=8192 \
  --input_sentence_size=0 --shuffle_input_sentence=false --num_threads=2 >"$prefix.log" 2>&1 \
  || { cat "$prefix.log" >&2; exit 1; }
rm -f "$prefix.input.txt"
echo "wrote $prefix.model (vocab $vocab)"
