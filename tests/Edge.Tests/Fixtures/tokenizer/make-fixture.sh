#!/bin/sh
# Re-creates the tokenizer fixture: tokenizer.model (a 600-piece SentencePiece BPE model in the Llama/Mistral
# style), and reference.ids, the ids `spm_encode` gives for each line of reference.txt (no BOS/EOS).
# Needs Debian's sentencepiece package (apt-get install -y sentencepiece; made with 0.1.97) and base-files'
# licence texts. GPL-2 is left out of the training text so reference.txt (partly GPL-2 lines) is unseen text.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd /usr/share/common-licenses
cat GPL-3 LGPL-2.1 Apache-2.0 MPL-2.0 Artistic BSD CC0-1.0 GFDL-1.3 | grep -v '^[[:space:]]*$' > "$work/corpus.txt"
spm_train --input="$work/corpus.txt" --model_prefix="$work/tokenizer" --model_type=bpe \
    --vocab_size=600 --byte_fallback=true --character_coverage=1.0 --normalization_rule_name=identity \
    --add_dummy_prefix=true --remove_extra_whitespaces=false --split_digits=true --allow_whitespace_only_pieces=true \
    --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --num_threads=1 --minloglevel=1
cp "$work/tokenizer.model" "$here/tokenizer.model"
spm_encode --model="$here/tokenizer.model" --output_format=id < "$here/reference.txt" > "$here/reference.ids"
