"""Loads the same weights into the official mmfreelm code and into hgrn_bit.py and compares logits
(fp32, CUDA) and greedy continuations. Needs a CUDA machine (the official code is Triton-only).

Weights come either from an HF checkpoint folder (--checkpoint) or from a freshly initialised
official model of the given size (--random HIDDEN LAYERS VOCAB), copied into ours by name.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from hgrn_bit import HGRNBitConfig, HGRNBitForCausalLM, load_hf_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--official", type=Path, required=True, help="folder containing the patched mmfreelm package")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--random", type=int, nargs=3, metavar=("HIDDEN", "LAYERS", "VOCAB"))
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--text", type=Path, required=True, help="text to take evaluation windows from")
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--window-len", type=int, default=256)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    if (args.checkpoint is None) == (args.random is None):
        raise SystemExit("give exactly one of --checkpoint or --random")

    sys.path.insert(0, str(args.official.resolve()))
    import sentencepiece as spm
    from mmfreelm.models import HGRNBitConfig as OfficialConfig
    from mmfreelm.models import HGRNBitForCausalLM as OfficialModel

    device = torch.device("cuda")
    torch.manual_seed(7)
    if args.checkpoint is not None:
        official = OfficialModel.from_pretrained(str(args.checkpoint), dtype=torch.float32)
        ours = load_hf_checkpoint(args.checkpoint)
        source = str(args.checkpoint)
    else:
        hidden, layers, vocab = args.random
        official = OfficialModel(OfficialConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers))
        with torch.no_grad():  # official init leaves lower bounds at zero; make them matter in the check
            official.model.lower_bounds.normal_(0, 1)
        ours = HGRNBitForCausalLM(HGRNBitConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers))
        ours.load_state_dict(official.state_dict(), strict=True)
        source = f"random official init hidden {hidden} layers {layers} vocab {vocab}"
    official = official.to(device).float().eval()
    ours = ours.to(device).float().eval()

    processor = spm.SentencePieceProcessor(model_file=str(args.tokenizer))
    text = args.text.read_text(encoding="utf-8")
    stream = processor.encode(text)
    vocab = ours.config.vocab_size
    sequences = [[1] + processor.encode(p) for p in ("In the beginning", "And the LORD said unto Moses", "The")]
    step = max(1, (len(stream) - args.window_len) // max(1, args.windows))
    sequences += [[1] + stream[i * step : i * step + args.window_len - 1] for i in range(args.windows)]
    sequences = [[t % vocab for t in s] for s in sequences]

    worst_abs, worst_rel, rows, greedy_matches = 0.0, 0.0, [], 0
    with torch.no_grad():
        for ids in sequences:
            x = torch.tensor([ids], device=device)
            reference = official(input_ids=x, return_dict=True, output_attentions=False,
                                 output_hidden_states=False).logits[0].float()
            mine, _ = ours(x, parallel=False)
            diff = (mine[0] - reference).abs().max().item()
            spread = (reference.max() - reference.min()).item()
            argmax_agree = (mine[0].argmax(-1) == reference.argmax(-1)).float().mean().item()
            worst_abs = max(worst_abs, diff)
            worst_rel = max(worst_rel, diff / spread)
            rows.append({"tokens": len(ids), "max_abs_diff": diff, "logit_range": spread, "argmax_agree": argmax_agree})
        for ids in sequences[:3]:
            x = torch.tensor([ids], device=device)
            theirs = official.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=24,
                                       pad_token_id=2)[0, len(ids):].tolist()
            mine = ours.generate(ids, 24)
            greedy_matches += int(theirs == mine)
            rows.append({"prompt": processor.decode(ids[1:]), "official_greedy": processor.decode(theirs),
                         "ours_greedy": processor.decode(mine), "same_tokens": theirs == mine})
    report = {"source": source, "max_abs_logit_diff": worst_abs, "max_diff_over_logit_range": worst_rel,
              "greedy_identical": f"{greedy_matches}/3", "details": rows}
    args.report.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2), flush=True)


if __name__ == "__main__":
    main()
