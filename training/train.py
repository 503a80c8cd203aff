"""Trains the bundled HGRN-Bit model on training/data/{train,heldout}.txt.

The schedule is driven by wall-clock time (--time-budget seconds) so a run fits a fixed slice of
accelerator time: linear warm-up over --warmup-steps, then cosine decay to 10% of --lr by elapsed
time. Held-out loss is measured every --eval-every steps and the best state is kept (the corpus is
small, so later steps can overfit).
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hgrn_bit import HGRNBitConfig, HGRNBitForCausalLM, save_hf_checkpoint


def encode_paragraphs(text: str, processor, bos: int, eos: int) -> torch.Tensor:
    """Each paragraph becomes [BOS] + pieces + [EOS], as the runtime encodes a prompt plus its stop token."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    stream: list[int] = []
    for ids in processor.encode(paragraphs):
        stream.append(bos)
        stream.extend(ids)
        stream.append(eos)
    return torch.tensor(stream, dtype=torch.long)


def held_out_loss(model, tokens: torch.Tensor, seq_len: int, batch: int, device) -> float:
    windows = (len(tokens) - 1) // seq_len
    inputs = tokens[: windows * seq_len].view(windows, seq_len)
    targets = tokens[1 : windows * seq_len + 1].view(windows, seq_len)
    total, count = 0.0, 0
    compiled, model.layer_calls = model.layer_calls, None  # evaluate eagerly: other shapes, no dropout
    model.eval()
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        for start in range(0, windows, batch):
            x = inputs[start : start + batch].to(device)
            y = targets[start : start + batch].to(device)
            logits, _ = model(x)
            total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="sum").item()
            count += y.numel()
    model.train()
    model.layer_calls = compiled
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True, help="folder with train.txt and heldout.txt")
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="HF checkpoint folder to write")
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--time-budget", type=float, default=420.0, help="seconds of training")
    parser.add_argument("--max-steps", type=int, default=0,
                        help="schedule over this many steps (0: over --time-budget seconds)")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()

    import sentencepiece as spm

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.log.parent.mkdir(parents=True, exist_ok=True)
    log_file = args.log.open("w")

    def log(message: str) -> None:
        print(message, flush=True)
        log_file.write(message + "\n")
        log_file.flush()

    processor = spm.SentencePieceProcessor(model_file=str(args.tokenizer))
    config = HGRNBitConfig(vocab_size=processor.get_piece_size(), hidden_size=args.hidden,
                           num_hidden_layers=args.layers)
    started = time.time()
    train_tokens = encode_paragraphs((args.data / "train.txt").read_text(encoding="utf-8"), processor,
                                     config.bos_token_id, config.eos_token_id)
    held_tokens = encode_paragraphs((args.data / "heldout.txt").read_text(encoding="utf-8"), processor,
                                    config.bos_token_id, config.eos_token_id)
    log(f"tokenised in {time.time() - started:.1f}s: train {len(train_tokens)} tokens, held-out {len(held_tokens)}")

    model = HGRNBitForCausalLM(config, dropout=args.dropout).to(device)
    log(f"config {json.dumps(config.to_hf_dict())}")
    log(f"args {json.dumps({k: str(v) for k, v in vars(args).items()})}")
    log(f"parameters {model.parameter_count()} (intermediate {config.mlp_size}) on {device} "
        f"torch {torch.__version__}")

    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "embeddings" not in n and "lower_bounds" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "embeddings" not in n and "lower_bounds" not in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8, **({"fused": True} if device.type == "cuda" else {}))
    if args.compile:  # per block: the blocks share code, so few graphs are compiled
        model.layer_calls = [torch.compile(layer) for layer in model.model.layers]

    def forward_backward(fn, window):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits, _ = fn(window[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), window[:, 1:].flatten())
        loss.backward()
        return loss

    train_on_device = train_tokens.to(device)
    generator = torch.Generator(device=device)
    generator.manual_seed(args.seed)
    offsets_arange = torch.arange(args.seq_len + 1, device=device)

    best_loss, best_state, best_step = math.inf, None, 0
    step, tokens_seen, running = 0, 0, []
    train_started = time.time()
    while True:
        elapsed = time.time() - train_started
        if elapsed >= args.time_budget or (args.max_steps and step >= args.max_steps):
            break
        # With --max-steps the schedule follows steps and the time budget is only a hard stop.
        progress = step / args.max_steps if args.max_steps else min(1.0, elapsed / args.time_budget)
        warm = min(1.0, (step + 1) / args.warmup_steps)
        lr = args.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = lr

        starts = torch.randint(0, len(train_on_device) - args.seq_len - 1, (args.batch, 1),
                               device=device, generator=generator)
        window = train_on_device[starts + offsets_arange]
        optimizer.zero_grad(set_to_none=True)
        try:
            loss = forward_backward(model, window)
        except Exception as error:  # a compiler failure must not cost the run: fall back to eager
            if model.layer_calls is None:
                raise
            log(f"torch.compile failed ({type(error).__name__}: {str(error)[:300]}); continuing eagerly")
            model.layer_calls = None
            optimizer.zero_grad(set_to_none=True)
            loss = forward_backward(model, window)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        tokens_seen += window[:, :-1].numel()
        running.append(loss.detach())

        if step % args.eval_every == 0 or step == 1:
            train_loss = torch.stack(running).mean().item()
            running = []
            val = held_out_loss(model, held_tokens, args.seq_len, 64, device)
            wall = time.time() - train_started
            marker = ""
            if val < best_loss:
                best_loss, best_step = val, step
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                marker = " *"
            log(f"step {step} tokens {tokens_seen} epoch {tokens_seen / len(train_tokens):.2f} lr {lr:.2e} "
                f"train {train_loss:.4f} held-out {val:.4f} (ppl {math.exp(val):.1f}) gnorm {grad_norm:.2f} "
                f"wall {wall:.0f}s tok/s {tokens_seen / wall:.0f}{marker}")

    val = held_out_loss(model, held_tokens, args.seq_len, 64, device)
    log(f"final step {step} held-out {val:.4f}; training wall {time.time() - train_started:.0f}s")
    if val < best_loss:
        best_loss, best_step = val, step
        best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    log(f"kept step {best_step}: held-out loss {best_loss:.4f} (ppl {math.exp(best_loss):.2f}); "
        f"steps {step}, tokens {tokens_seen}")
    save_hf_checkpoint(model.cpu(), args.out, args.tokenizer)
    log(f"saved {args.out}")


if __name__ == "__main__":
    main()
