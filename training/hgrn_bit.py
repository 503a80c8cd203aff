"""HGRN-Bit (MatMul-free LM) in plain PyTorch, written from the official code's forward pass (docs/forward-pass.md).

Parameter names and shapes match the official `mmfreelm` checkpoints, so a state dict saved here
loads into the official code and into the Edge runtime. Quantisation is trained straight-through:
ternary weights with one absmean scale per tensor, int8 per-token absmax activations rounded half
away from zero, as the official fused Triton path does.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from safetensors_io import load_file, save_file

BITLINEAR_NORM_EPS = 1e-6  # the fused kernel's default; the module's own 1e-8 is never passed on


@dataclass
class HGRNBitConfig:
    vocab_size: int = 8192
    hidden_size: int = 512
    num_hidden_layers: int = 12
    attn_mode: str = "fused_recurrent"
    num_heads: int = 1
    expand_ratio: int = 1
    use_short_conv: bool = False
    conv_size: int = 4
    share_conv_kernel: bool = True
    use_lower_bound: bool = True
    hidden_ratio: int = 4
    intermediate_size: int | None = None
    hidden_act: str = "swish"
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    use_cache: bool = True
    pad_token_id: int | None = None
    bos_token_id: int = 1
    eos_token_id: int = 2
    tie_word_embeddings: bool = False
    initializer_range: float = 0.02
    fuse_cross_entropy: bool = True

    @property
    def mlp_size(self) -> int:
        if self.intermediate_size is not None:
            return self.intermediate_size
        size = int(self.hidden_size * self.hidden_ratio * 2 / 3)
        return 256 * ((size + 255) // 256)

    def to_hf_dict(self) -> dict:
        config = asdict(self)
        config.update(
            architectures=["HGRNBitForCausalLM"],
            model_type="hgrn_bit",
            dtype="bfloat16",
            torch_dtype="bfloat16",
        )
        return dict(sorted(config.items()))

    @classmethod
    def from_file(cls, path: Path) -> "HGRNBitConfig":
        raw = json.loads(Path(path).read_text())
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})


def round_half_away_from_zero(v: torch.Tensor) -> torch.Tensor:
    """Exact roundf semantics (libdevice.round); floor(|v|+0.5) is wrong just below .5 in fp32."""
    rounded = torch.round(v)
    truncated = torch.trunc(v)
    is_tie = (v - truncated).abs() == 0.5
    return torch.where(is_tie, truncated + torch.sign(v), rounded)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    xf = x.float()
    return xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * weight.float()


def quantize_activations(y: torch.Tensor) -> torch.Tensor:
    scale = 127.0 / y.abs().amax(-1, keepdim=True).clamp(min=1e-5)
    return round_half_away_from_zero(y * scale).clamp(-128, 127) / scale


def quantize_weights(w: torch.Tensor) -> torch.Tensor:
    scale = 1.0 / w.abs().mean().clamp(min=1e-5)
    return (w * scale).round().clamp(-1, 1) / scale


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


class BitLinear(nn.Module):
    """RMSNorm -> int8 activations -> ternary weights, straight-through in training."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.norm = RMSNorm(in_features, BITLINEAR_NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(x)
        y = y + (quantize_activations(y) - y).detach()
        w = self.weight
        w = w + (quantize_weights(w) - w).detach()
        return F.linear(y, w)


def linear_recurrence(i: torch.Tensor, f: torch.Tensor, h0: torch.Tensor | None, parallel: bool) -> torch.Tensor:
    """h_t = f_t * h_{t-1} + i_t over dim 1 of [B, T, H]; fp32.

    The parallel form is a Hillis-Steele scan (log2 T elementwise steps, autograd-friendly);
    the sequential form keeps the reference's summation order for inference checks.
    """
    i, f = i.float(), f.float()
    if h0 is not None:
        i = torch.cat([i[:, :1] + f[:, :1] * h0.float().unsqueeze(1), i[:, 1:]], dim=1)
    if not parallel:
        h = torch.zeros_like(i[:, 0])
        out = []
        for t in range(i.shape[1]):
            h = f[:, t] * h + i[:, t]
            out.append(h)
        return torch.stack(out, dim=1)
    h, a = i, f
    steps, length = 1, i.shape[1]
    while steps < length:
        h = h + a * F.pad(h, (0, 0, steps, 0))[:, :length]
        a = a * F.pad(a, (0, 0, steps, 0))[:, :length]
        steps *= 2
    return h


class HGRNBitAttention(nn.Module):
    def __init__(self, config: HGRNBitConfig, layer_idx: int):
        super().__init__()
        size = config.hidden_size * config.expand_ratio
        self.layer_idx = layer_idx
        self.i_proj = BitLinear(config.hidden_size, size)
        self.f_proj = BitLinear(config.hidden_size, size)
        self.g_proj = BitLinear(config.hidden_size, size)
        self.g_norm = RMSNorm(size, config.rms_norm_eps)
        self.o_proj = BitLinear(size, config.hidden_size)

    def forward(self, x, lower_bound, state, parallel):
        i = self.i_proj(x).float()
        f = torch.sigmoid(self.f_proj(x).float())
        if lower_bound is not None and self.layer_idx > 0:
            f = lower_bound.float() + (1 - lower_bound.float()) * f
        i = F.silu(i) * (1 - f)
        h = linear_recurrence(i, f, state, parallel)
        o = self.g_norm(self.g_proj(x)) * F.silu(h)
        return self.o_proj(o), h[:, -1]


class HGRNBitMLP(nn.Module):
    def __init__(self, config: HGRNBitConfig):
        super().__init__()
        self.gate_proj = BitLinear(config.hidden_size, 2 * config.mlp_size)
        self.down_proj = BitLinear(config.mlp_size, config.hidden_size)

    def forward(self, x):
        gate, up = self.gate_proj(x).float().chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class HGRNBitBlock(nn.Module):
    def __init__(self, config: HGRNBitConfig, layer_idx: int, dropout: float):
        super().__init__()
        self.attn_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.attn = HGRNBitAttention(config, layer_idx)
        self.mlp_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = HGRNBitMLP(config)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h, lower_bound, state, parallel):
        mixed, new_state = self.attn(self.attn_norm(h), lower_bound, state, parallel)
        s = self.dropout(mixed).float() + h.float()
        h = s + self.dropout(self.mlp(self.mlp_norm(s))).float()
        return h, new_state


class HGRNBitModel(nn.Module):
    def __init__(self, config: HGRNBitConfig, dropout: float):
        super().__init__()
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.lower_bounds = nn.Parameter(torch.zeros(config.num_hidden_layers, config.hidden_size))
        self.layers = nn.ModuleList(HGRNBitBlock(config, l, dropout) for l in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.dropout = nn.Dropout(dropout)


class HGRNBitForCausalLM(nn.Module):
    def __init__(self, config: HGRNBitConfig, dropout: float = 0.0):
        super().__init__()
        if config.num_heads != 1 or config.expand_ratio != 1 or config.use_short_conv or not config.use_lower_bound:
            raise ValueError("only num_heads=1, expand_ratio=1, no short conv, lower bounds on (as released)")
        self.config = config
        self.model = HGRNBitModel(config, dropout)
        self.lm_head = BitLinear(config.hidden_size, config.vocab_size)
        # Optional replacements for the blocks' __call__ (e.g. torch.compile'd), used by forward.
        self.layer_calls: list | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialisation as the official code does it (normal 0.02, residual outputs scaled down)."""
        std = self.config.initializer_range
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(p)
            elif name == "model.lower_bounds":
                nn.init.zeros_(p)
            else:
                nn.init.normal_(p, mean=0.0, std=std)
                if name.endswith(("o_proj.weight", "down_proj.weight")):
                    with torch.no_grad():
                        p /= math.sqrt(2 * self.config.num_hidden_layers)

    def forward(self, input_ids: torch.Tensor, states: list[torch.Tensor] | None = None, parallel: bool = True):
        """Returns (logits [B,T,V] fp32-or-autocast, new per-layer states [B,H] fp32)."""
        h = self.model.dropout(self.model.embeddings(input_ids))
        probabilities = self.model.lower_bounds.softmax(0)
        lower_bounds = probabilities.cumsum(0) - probabilities[0]
        new_states = []
        for index, layer in enumerate(self.layer_calls or self.model.layers):
            state = states[index] if states is not None else None
            h, new_state = layer(h, lower_bounds[index], state, parallel)
            new_states.append(new_state)
        logits = self.lm_head(self.model.norm(h))
        return logits, new_states

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def generate(self, prompt_ids: list[int], max_new_tokens: int, temperature: float = 0.0,
                 top_p: float = 1.0, generator: torch.Generator | None = None) -> list[int]:
        """Prefill once, then one token per call carrying the fp32 recurrent state."""
        device = self.lm_head.weight.device
        logits, states = self.forward(torch.tensor([prompt_ids], device=device), parallel=False)
        produced: list[int] = []
        for _ in range(max_new_tokens):
            last = logits[0, -1].float()
            if temperature <= 0:
                token = int(last.argmax())
            else:
                probs = torch.softmax(last / temperature, dim=-1)
                sorted_probs, order = probs.sort(descending=True)
                keep = sorted_probs.cumsum(0) - sorted_probs < top_p
                sorted_probs = sorted_probs * keep
                token = int(order[torch.multinomial(sorted_probs / sorted_probs.sum(), 1, generator=generator)])
            produced.append(token)
            if token == self.config.eos_token_id:
                break
            logits, states = self.forward(torch.tensor([[token]], device=device), states, parallel=False)
        return produced


def save_hf_checkpoint(model: HGRNBitForCausalLM, folder: Path, tokenizer_model: Path,
                       max_shard_bytes: int = 15_000_000) -> None:
    """config.json + bf16 safetensors (sharded with an index when above max_shard_bytes) + tokenizer.model."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(model.config.to_hf_dict(), indent=2) + "\n")
    tensors = {name: t.detach().to(torch.bfloat16).contiguous().cpu() for name, t in model.state_dict().items()}
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    if total <= max_shard_bytes:
        save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    else:
        shards: list[dict[str, torch.Tensor]] = [{}]
        sizes = [0]
        for name, t in tensors.items():
            size = t.numel() * t.element_size()
            if sizes[-1] and sizes[-1] + size > max_shard_bytes:
                shards.append({})
                sizes.append(0)
            shards[-1][name] = t
            sizes[-1] += size
        weight_map = {}
        for index, shard in enumerate(shards, start=1):
            file_name = f"model-{index:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, str(folder / file_name), metadata={"format": "pt"})
            weight_map.update({name: file_name for name in shard})
        index_json = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index_json, indent=2) + "\n")
    (folder / "tokenizer.model").write_bytes(Path(tokenizer_model).read_bytes())


def load_hf_checkpoint(folder: Path, dtype: torch.dtype = torch.float32) -> HGRNBitForCausalLM:
    folder = Path(folder)
    model = HGRNBitForCausalLM(HGRNBitConfig.from_file(folder / "config.json"))
    index = folder / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else ["model.safetensors"]
    state = {}
    for name in files:
        state.update(load_file(str(folder / name)))
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=True)
    return model.to(dtype)
