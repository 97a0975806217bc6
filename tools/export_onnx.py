#!/usr/bin/python3
"""Export the dense GRU baselines of the benchmarks to ONNX, with their weights for cross-checks.

What the models are
-------------------
Every layer is a torch.nn.GRU with one layer, batch 1, time-major input, float32, initialised
by PyTorch's default (every parameter uniform in [-1/sqrt(H), 1/sqrt(H))) after
torch.manual_seed(seed). One step of a layer with input x_t [1, I] and state h_{t-1} [1, H]
(PyTorch's gate order r, z, n; reset gate applied after the recurrent product, as in cuDNN):

    r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}

which is egru's GRU layer (src/layers/gru.ts) exactly. torch.onnx exports each layer as one ONNX
GRU node with linear_before_reset = 1.

Models written (into bench/.cache/, git-ignored; the benchmarks regenerate them when missing):

* gru-lm-step.onnx   the language-model stack of the spec (section 10.1, v0.2 sizes): three GRU
                     layers 750 -> 1350, 1350 -> 1350, 1350 -> 750, each layer's output the next
                     layer's input. ONE time step, for timing streaming inference per token:
                       inputs  x [1, 1, 750], h1 [1, 1, 1350], h2 [1, 1, 1350], h3 [1, 1, 750]
                       outputs y [1, 1, 750] (the top layer's output), h1_out, h2_out, h3_out
* gru-lm-seq.onnx    the same stack and weights over a whole sequence (T is a dynamic axis):
                       inputs  x [T, 1, 750], h1, h2, h3 as above
                       outputs y [T, 1, 750], h1_out, h2_out, h3_out (the states after step T)
                     (skipped with --no-sequence)
* gru-h1024-step.onnx one GRU layer 1024 -> 1024, one step:
                       inputs x [1, 1, 1024], h [1, 1, 1024]; outputs y [1, 1, 1024], h_out

Next to them, for each stack (gru-lm, gru-h1024):

* <stack>.weights.bin   every parameter as raw little-endian float32, concatenated in the order
                        the sidecar lists them, in nn.GRU's names and layout per layer
                        (weight_ih_l0 [3H, I], weight_hh_l0 [3H, H], bias_ih_l0 [3H], bias_hh_l0 [3H])
* <stack>.weights.json  the sidecar: sizes, per-tensor offsets (in float32 elements) and shapes,
                        the seed, the torch version, the SHA-256 of the .bin and of each .onnx
                        file exported with these weights, and a check vector: one step's inputs
                        (x and the states, drawn from N(0, 1) and N(0, 0.5^2)) and PyTorch's outputs
                        for them, so a reader can check ONNX Runtime and egru against PyTorch.

The directory gets a .gitignore of "*" so that its contents are never committed even before the
repository's own .gitignore lists it. Files are written to a temporary name and renamed, so a concurrent reader never sees half a file.

How to run
----------
    /usr/bin/python3 tools/export_onnx.py [--out DIR] [--seed N] [--no-sequence] [--force]

from anywhere (the default output directory is bench/.cache/ under the repository root, found
from this file's location). Existing files are kept unless --force is given or a file is missing.

Requirements
------------
Debian's python3-torch (PyTorch 1.13) for /usr/bin/python3, with its numpy; torch.onnx.export
needs no separate onnx package.
"""

import argparse
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / ".cache"
OPSET = 14
FORMAT = "egru-bench-gru-weights-1"

# name -> (layer sizes [I, H1, H2, ...], step model file, sequence model file or None)
STACKS = {
    "gru-lm": ([750, 1350, 1350, 750], "gru-lm-step.onnx", "gru-lm-seq.onnx"),
    "gru-h1024": ([1024, 1024], "gru-h1024-step.onnx", None),
}


class GruStack(nn.Module):
    """Single-layer nn.GRU modules chained: layer l maps sizes[l] -> sizes[l + 1]."""

    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList(nn.GRU(sizes[i], sizes[i + 1], num_layers=1) for i in range(len(sizes) - 1))

    def forward(self, x, *states):
        outs = []
        for layer, h in zip(self.layers, states):
            x, h_out = layer(x, h)
            outs.append(h_out)
        return (x, *outs)


def state_names(n):
    return ["h"] if n == 1 else [f"h{i + 1}" for i in range(n)]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export(model, sizes, path, sequence):
    n = len(sizes) - 1
    hs = state_names(n)
    x = torch.zeros(3 if sequence else 1, 1, sizes[0])
    states = tuple(torch.zeros(1, 1, sizes[i + 1]) for i in range(n))
    inputs = ["x", *hs]
    outputs = ["y", *[f"{h}_out" for h in hs]]
    dynamic = {"x": {0: "T"}, "y": {0: "T"}} if sequence else None
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # batch-size and shape-inference notices of the GRU exporter
        torch.onnx.export(
            model, (x, *states), str(tmp), input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
            opset_version=OPSET, do_constant_folding=True,
        )
    os.replace(tmp, path)
    print(f"export_onnx: wrote {path.name} ({path.stat().st_size / 2**20:.1f} MiB)", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description="Export egru's dense GRU baselines to ONNX (see the header).")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default bench/.cache/)")
    ap.add_argument("--seed", type=int, default=0, help="torch.manual_seed before each stack (default 0)")
    ap.add_argument("--no-sequence", action="store_true", help="skip the whole-sequence model")
    ap.add_argument("--force", action="store_true", help="rewrite files that exist")
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    # the cache ignores itself, so its hundreds of MiB cannot be committed by accident
    ignore = out / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by tools/export_onnx.py: generated, large, never committed\n*\n")
    torch.set_num_threads(1)

    for name, (sizes, step_file, seq_file) in STACKS.items():
        if args.no_sequence and seq_file:
            (out / seq_file).unlink(missing_ok=True)  # it would not match the weights written now
            seq_file = None
        files = [step_file] + ([seq_file] if seq_file else [])
        wanted = [out / f for f in files] + [out / f"{name}.weights.bin", out / f"{name}.weights.json"]
        if not args.force and all(p.exists() for p in wanted):
            print(f"export_onnx: {name}: all files present (use --force to rewrite)", file=sys.stderr)
            continue

        torch.manual_seed(args.seed)
        model = GruStack(sizes).eval()
        n = len(sizes) - 1

        # one step's check vector, drawn after the weights
        x = torch.randn(1, 1, sizes[0])
        states = tuple(0.5 * torch.randn(1, 1, sizes[i + 1]) for i in range(n))
        with torch.inference_mode():
            outs = model(x, *states)

        onnx_sha = {}
        for f, sequence in [(step_file, False)] + ([(seq_file, True)] if seq_file else []):
            export(model, sizes, out / f, sequence)
            onnx_sha[f] = sha256(out / f)

        tensors = []
        offset = 0
        chunks = []
        for li, layer in enumerate(model.layers):
            entry = {"inputSize": sizes[li], "hiddenSize": sizes[li + 1], "tensors": {}}
            for pname in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                t = getattr(layer, pname).detach().contiguous()
                arr = np.ascontiguousarray(t.numpy(), dtype="<f4")
                entry["tensors"][pname] = {"offset": offset, "shape": list(t.shape)}
                offset += arr.size
                chunks.append(arr.tobytes())
            tensors.append(entry)
        bin_path = out / f"{name}.weights.bin"
        tmp = bin_path.with_name(bin_path.name + f".tmp{os.getpid()}")
        with open(tmp, "wb") as fh:
            for c in chunks:
                fh.write(c)
        os.replace(tmp, bin_path)

        hs = state_names(n)
        flat = lambda t: [float(v) for v in t.reshape(-1).tolist()]  # noqa: E731
        sidecar = {
            "format": FORMAT,
            "generator": "tools/export_onnx.py",
            "stack": name,
            "sizes": sizes,
            "seed": args.seed,
            "torch": torch.__version__,
            "opset": OPSET,
            "dtype": "float32",
            "byteOrder": "little",
            "floats": offset,
            "weightsSha256": sha256(bin_path),
            "onnx": {"step": step_file, **({"sequence": seq_file} if seq_file else {})},
            "onnxSha256": onnx_sha,
            "layers": tensors,
            "check": {
                "inputs": {"x": flat(x), **{h: flat(s) for h, s in zip(hs, states)}},
                "outputs": {"y": flat(outs[0]), **{f"{h}_out": flat(o) for h, o in zip(hs, outs[1:])}},
            },
        }
        json_path = out / f"{name}.weights.json"
        tmp = json_path.with_name(json_path.name + f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(sidecar, indent=1) + "\n")
        os.replace(tmp, json_path)
        print(f"export_onnx: wrote {name}.weights.bin ({offset} floats) and {name}.weights.json", file=sys.stderr)


if __name__ == "__main__":
    main()
