"""Writes tests/Edge.Tests/Fixtures/bundled/expected.json from an HF checkpoint with hgrn_bit.py in fp32:
per prompt the ids ([BOS] + SentencePiece ids), the logits at every prompt position (6 significant
digits, one forward call, sequential recurrence) and 24 greedy tokens (stops early only at EOS)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from hgrn_bit import load_hf_checkpoint

PROMPTS = ["In the beginning", "And the LORD said unto Moses", "The jury said"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(args.checkpoint / "tokenizer.model"))
    model = load_hf_checkpoint(args.checkpoint).eval()
    prompts = []
    with torch.no_grad():
        for text in PROMPTS:
            ids = [1] + processor.encode(text)
            logits, _ = model(torch.tensor([ids]), parallel=False)
            greedy = model.generate(ids, 24)
            prompts.append({"text": text, "ids": ids,
                            "logits": [[float(f"{v:.6g}") for v in row] for row in logits[0].tolist()],
                            "greedy": greedy, "greedy_text": processor.decode(greedy)})
            print(f"{text!r} -> {processor.decode(greedy)!r}", flush=True)
    expected = {"source": "training/hgrn_bit.py (plain PyTorch, fp32, CPU, sequential recurrence) on the bundled "
                          "bf16 checkpoint (models/ packs the same weights); greedy = 24 tokens, prefill then one "
                          "token per call with an fp32 state, stops early only at EOS 2",
                "dtype": "float32", "torch": torch.__version__, "prompts": prompts}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(expected) + "\n")


if __name__ == "__main__":
    main()
