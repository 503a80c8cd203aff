"""Prints greedy and sampled continuations and fp32 losses of an HF checkpoint with hgrn_bit.py."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from hgrn_bit import load_hf_checkpoint
from train import encode_paragraphs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--prompts", nargs="+", default=["In the beginning", "And the LORD said unto Moses", "The jury said"])
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--loss-on", type=Path, nargs="*", default=[], help="text files to report fp32 loss on")
    parser.add_argument("--loss-tokens", type=int, default=0, help="only the first N tokens of each (0: all)")
    args = parser.parse_args()
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(args.checkpoint / "tokenizer.model"))
    model = load_hf_checkpoint(args.checkpoint).eval()
    generator = torch.Generator().manual_seed(args.seed)
    for text in args.prompts:
        ids = [1] + processor.encode(text)
        greedy = model.generate(ids, args.tokens)
        sampled = model.generate(ids, args.tokens, args.temperature, args.top_p, generator)
        print(f"PROMPT {text!r}\n  greedy : {processor.decode(greedy)!r}\n  sampled: {processor.decode(sampled)!r}", flush=True)
    for path in args.loss_on:
        tokens = encode_paragraphs(path.read_text(encoding="utf-8"), processor, 1, 2)
        if args.loss_tokens:
            tokens = tokens[: args.loss_tokens + 1]
        total, count = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(tokens) - 1, 512):
                window = tokens[start : start + 513]
                logits, _ = model(window[:-1].unsqueeze(0))
                total += F.cross_entropy(logits[0], window[1:], reduction="sum").item()
                count += len(window) - 1
        print(f"LOSS {path}: {total / count:.4f} nats/token (ppl {math.exp(total / count):.2f}) over {count} tokens")


if __name__ == "__main__":
    main()
