"""Makes a local copy of the official `mmfreelm` package (github.com/ridgerchu/matmulfreellm) run on
triton 3.6 / transformers 5.x, by the minimal edits listed below.

Edits (each must match exactly where expected, and the patch is idempotent):
1. ops/fusedbitnet.py: both Triton quantisation kernels (forward and the training backward) call a
   rounding function that Triton 3 removed from `tl.math`; they are pointed at libdevice's `round`
   (half away from zero, the behaviour the code had on Triton 2).
2. models/hgrn_bit/modeling_hgrn_bit.py: the causal-LM class also derives from transformers'
   GenerationMixin (PreTrainedModel no longer provides `generate`).
3. same class: `_supports_default_dynamic_cache` returns False, so generate() hands the model no
   DynamicCache and the model's own recurrent cache is used, as with transformers 4.40.
4. same class: `_tied_weights_keys` becomes None, so save_pretrained works (the model is not tied).
"""
from __future__ import annotations

import sys
from pathlib import Path

MARKER = "# patched for triton 3.6 / transformers 5 (training/reference/official_patch.py)"


def _replace(text: str, old: str, new: str, expected_count: int, where: str) -> str:
    found = text.count(old)
    if found != expected_count:
        raise SystemExit(f"{where}: expected {expected_count} occurrence(s) of {old!r}, found {found}; "
                         "is this the snapshot a016f72 of ridgerchu/matmulfreellm?")
    return text.replace(old, new)


def patch(package_dir: Path) -> None:
    package_dir = Path(package_dir)
    bitnet = package_dir / "ops" / "fusedbitnet.py"
    text = bitnet.read_text()
    if MARKER not in text:
        text = _replace(text, "tl.math.round(", "libdevice.round(", 2, str(bitnet))
        text = _replace(text, "import triton.language as tl\n",
                        f"import triton.language as tl\nfrom triton.language.extra import libdevice  {MARKER}\n",
                        1, str(bitnet))
        bitnet.write_text(text)

    modeling = package_dir / "models" / "hgrn_bit" / "modeling_hgrn_bit.py"
    text = modeling.read_text()
    if MARKER not in text:
        class_line = "class HGRNBitForCausalLM(HGRNBitPreTrainedModel):\n"
        tied_line = '    _tied_weights_keys = ["lm_head.weight"]\n'
        text = _replace(text, class_line,
                        "class HGRNBitForCausalLM(HGRNBitPreTrainedModel, GenerationMixin):\n", 1, str(modeling))
        text = _replace(text, tied_line,
                        "    _tied_weights_keys = None\n\n"
                        "    @classmethod\n"
                        "    def _supports_default_dynamic_cache(cls):\n"
                        "        return False\n", 1, str(modeling))
        text = _replace(text, "from transformers.utils import logging\n",
                        f"from transformers.utils import logging\nfrom transformers.generation import GenerationMixin  {MARKER}\n",
                        1, str(modeling))
        modeling.write_text(text)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: official_patch.py PATH/TO/mmfreelm  (the package folder of a copy of the official repo)")
    patch(Path(sys.argv[1]))
    print(f"patched {sys.argv[1]}")
