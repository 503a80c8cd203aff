"""Produces tests/Edge.Tests/Fixtures/official-tiny/ with the OFFICIAL mmfreelm code on a CUDA machine.

1. trains a tiny HGRNBitForCausalLM (hidden 64, 2 layers, vocab 512, other fields default) with the
   official model's Triton forward/backward on the corpus, AdamW, fp32;
2. saves it with save_pretrained as bf16 safetensors and copies tokenizer.model beside it;
3. reloads the saved checkpoint with the official code in fp32 and records, per prompt, the ids
   ([BOS] + SentencePiece ids), the logits at every prompt position from one forward call and 24
   greedy tokens from model.generate (stops early only at EOS 2).

The official package is imported from --official (a folder holding a copy of `mmfreelm`, patched with
official_patch.py); nothing of it is copied here.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

PROMPTS = [
    "In the beginning",
    "And the LORD said unto Moses",
    "The",
    "The jury said that the city had been charged with the election, and that the court would",
]


# Passed explicitly so the official forward never falls back to config properties that
# transformers 5 deprecates.
PLAIN_OUTPUT = {"return_dict": True, "output_attentions": False, "output_hidden_states": False}


def six_significant(value: float) -> float:
    return float(f"{value:.6g}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--official", type=Path, required=True, help="folder containing the patched mmfreelm package")
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True, help="plain-text training corpus")
    parser.add_argument("--corpus-bytes", type=int, default=400_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--official-commit", default="a016f72")
    args = parser.parse_args()

    sys.path.insert(0, str(args.official.resolve()))
    import numpy as np
    import sentencepiece as spm
    import torch
    import torch.nn.functional as F
    import transformers
    import triton
    from mmfreelm.models import HGRNBitConfig, HGRNBitForCausalLM

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = torch.device("cuda")

    processor = spm.SentencePieceProcessor(model_file=str(args.tokenizer))
    text = args.corpus.read_text(encoding="utf-8")[: args.corpus_bytes]
    stream: list[int] = []
    for ids in processor.encode([p for p in text.split("\n\n") if p.strip()]):
        stream += [1] + ids + [2]
    tokens = torch.tensor(stream, device=device)
    print(f"corpus: {len(text)} chars, {len(stream)} tokens", flush=True)

    config = HGRNBitConfig(vocab_size=processor.get_piece_size(), hidden_size=64, num_hidden_layers=2)
    model = HGRNBitForCausalLM(config).to(device).float()
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01)
    generator = torch.Generator(device=device)
    generator.manual_seed(args.seed)
    span = torch.arange(args.seq_len + 1, device=device)
    started = time.time()
    losses = []
    for step in range(1, args.steps + 1):
        starts = torch.randint(0, len(stream) - args.seq_len - 1, (args.batch, 1), device=device, generator=generator)
        window = tokens[starts + span]
        logits = model(input_ids=window[:, :-1], use_cache=False, **PLAIN_OUTPUT).logits
        loss = F.cross_entropy(logits.float().flatten(0, 1), window[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step == 1 or step % 50 == 0:
            print(f"step {step} loss {sum(losses[-50:]) / len(losses[-50:]):.4f}", flush=True)
    train_seconds = time.time() - started

    args.out.mkdir(parents=True, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(str(args.out))
    shutil.copyfile(args.tokenizer, args.out / "tokenizer.model")
    for extra in ("generation_config.json",):
        (args.out / extra).unlink(missing_ok=True)

    reloaded = HGRNBitForCausalLM.from_pretrained(str(args.out), dtype=torch.float32).to(device).float().eval()
    prompts = []
    with torch.no_grad():
        for prompt in PROMPTS:
            ids = [1] + processor.encode(prompt)
            input_ids = torch.tensor([ids], device=device)
            logits = reloaded(input_ids=input_ids, **PLAIN_OUTPUT).logits[0].float().cpu()
            output = reloaded.generate(input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False,
                                       max_new_tokens=24, pad_token_id=config.eos_token_id)
            greedy = output[0, len(ids):].tolist()
            prompts.append({
                "text": prompt,
                "ids": ids,
                "logits": [[six_significant(v) for v in row] for row in logits.tolist()],
                "greedy": greedy,
                "greedy_text": processor.decode(greedy),
            })
            print(f"{prompt!r} -> {processor.decode(greedy)!r}", flush=True)

    expected = {
        "source": (f"official mmfreelm (github.com/ridgerchu/matmulfreellm @ {args.official_commit}, patched as in "
                   f"README.md), reloaded from this folder's bf16 model.safetensors, computed in float32 on CUDA; "
                   f"greedy = model.generate(do_sample=False, max_new_tokens=24), stops early only at EOS 2"),
        "dtype": "float32",
        "versions": {"torch": torch.__version__, "triton": triton.__version__,
                     "transformers": transformers.__version__, "gpu": torch.cuda.get_device_name()},
        "training": {"steps": args.steps, "batch": args.batch, "seq_len": args.seq_len, "lr": args.lr,
                     "seed": args.seed, "final_loss": sum(losses[-50:]) / len(losses[-50:]),
                     "seconds": round(train_seconds, 1)},
        "prompts": prompts,
    }
    (args.out / "expected.json").write_text(json.dumps(expected) + "\n")
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
