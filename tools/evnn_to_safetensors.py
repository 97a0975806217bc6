#!/usr/bin/python3
"""Convert a PyTorch / EvNN checkpoint (.pt, .pth) into safetensors for `egru import`.

    /usr/bin/python3 tools/evnn_to_safetensors.py MODEL.pt OUT.safetensors

Reads the file with torch.load(map_location="cpu") and writes every floating-point tensor of its
state dict under its own name and in its own dtype (float32, float16, bfloat16, float64; egru reads
all four). The names are not changed: `egru import` maps them (EvNN v0.1 `thr_reparam`, v0.2 `thr`,
the language model's tied `decoder.decoder.weight`, WeightDrop's `module.` and `_raw` names) and
checks every name and shape against the model it builds.

What the file may hold: a state dict (name -> tensor), or a dict with the state dict under
"state_dict", "model_state_dict" or "model" (as training scripts often save it). A pickled whole
module (torch.save(model)) needs its classes to unpickle; save model.state_dict() instead.
Integer buffers (e.g. BatchNorm's num_batches_tracked) are left out and named on stderr.

Requirements: Debian's python3-torch (PyTorch 1.13) and the Python standard library.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from egru_pytorch import write_safetensors  # noqa: E402

NESTED = ("state_dict", "model_state_dict", "model")


def state_dict_of(obj, path):
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, dict):
        for key in NESTED:
            if key in obj:
                return state_dict_of(obj[key], f"{path}[{key!r}]")
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    raise SystemExit(
        f"{path}: expected a state dict (names -> tensors) or a dict holding one under "
        f"{', '.join(repr(k) for k in NESTED)}; got {type(obj).__name__}"
    )


def main(argv):
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    src, dst = argv
    try:
        obj = torch.load(src, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - report any unpickling failure as one line
        raise SystemExit(f"{src}: torch.load failed: {e}") from None
    state = state_dict_of(obj, src)
    keep, skipped = {}, []
    for name, t in state.items():
        if t.is_floating_point():
            keep[name] = t
        else:
            skipped.append(f"{name} ({t.dtype})")
    if skipped:
        print(f"{src}: left out (not floating point): {', '.join(skipped)}", file=sys.stderr)
    write_safetensors(dst, keep, {"source": os.path.basename(src), "converter": "evnn_to_safetensors"})
    print(f"{dst}: {len(keep)} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
