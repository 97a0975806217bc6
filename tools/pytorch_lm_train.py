#!/usr/bin/python3
"""Whole language-model training steps in PyTorch, tokens per second: the companion of
bench/lm-train-vs-pytorch.ts, which runs the same model in egru.

The model: an embedding [V, E], a stack of nn.GRU layers E -> H -> ... -> H -> E (one nn.GRU per
layer, since the sizes differ), a decoder tied to the embedding (logits = h @ emb.T + bias), the
mean softmax cross-entropy over the T*B next tokens, backward, and one torch.optim.Adam step; the
state is carried between segments and detached, as truncated BPTT does. No dropout (the egru side
measures without it too). Tokens are random (Zipf-distributed like words): the speed does not
depend on the text.

    /usr/bin/python3 tools/pytorch_lm_train.py --vocab 10000 --embedding 750 --hidden 1350 \
        --layers 3 --batch 64 --bptt 16 --steps 3 --threads 1 [--warmup 1]

prints one JSON line: {"tokens_per_s", "step_s": [...], "threads", "blas", "phases": {...}}, where
"phases" are the mean seconds per step of forward (embedding, stack, decoder, loss), backward and
the optimizer step, and "blas" names the BLAS library the process loaded.

Debian's PyTorch calls the generic BLAS interface, so its products run on whatever libblas.so.3 is:
netlib's reference code unless an optimised one (libopenblas0-pthread) is installed, which is
many times slower; a figure with "blas": "reference" is not a fair baseline. OpenBLAS is given the
same thread count as PyTorch's own operations.

Requirements: Debian's python3-torch (PyTorch 1.13) and the Python standard library.
"""

import argparse
import ctypes
import json
import os
import time

import torch
import torch.nn.functional as F


def loaded_blas():
    """(name, path) of the BLAS library mapped into this process, from /proc/self/maps."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "/" in line}
    for path in sorted(paths):
        base = os.path.basename(path)
        for name in ("openblas", "mkl", "blis"):
            if name in base:
                return name, path
    for path in sorted(paths):
        if os.path.basename(path).startswith("libblas.so"):
            # Debian's alternatives: the reference library lives in .../blas/, OpenBLAS in .../openblas*/
            real = os.path.realpath(path)
            return ("openblas" if "openblas" in real else "reference"), real
    return "unknown", ""


def set_blas_threads(threads, path):
    """Tell OpenBLAS how many threads to use (PyTorch's set_num_threads does not reach it)."""
    try:
        lib = ctypes.CDLL(path)
        lib.openblas_set_num_threads(ctypes.c_int(threads))
    except (OSError, AttributeError):
        pass


def zipf_tokens(n, vocab, gen):
    """n ids drawn from a Zipf(1) law over the vocabulary."""
    weights = 1.0 / torch.arange(1, vocab + 1, dtype=torch.float64)
    return torch.multinomial(weights, n, replacement=True, generator=gen)


class LanguageModel(torch.nn.Module):
    def __init__(self, vocab, emb, hidden, layers):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, emb)
        torch.nn.init.uniform_(self.emb.weight, -0.1, 0.1)
        sizes = [emb] + [hidden] * (layers - 1) + [emb]
        self.rnns = torch.nn.ModuleList(torch.nn.GRU(sizes[i], sizes[i + 1]) for i in range(layers))
        self.bias = torch.nn.Parameter(torch.zeros(vocab))

    def forward(self, tokens, state, marks):
        x = self.emb(tokens)  # [T, B, E]
        marks("embedding")
        new_state = []
        for rnn, h0 in zip(self.rnns, state):
            x, h = rnn(x, h0)
            new_state.append(h.detach())
        marks("stack forward")
        logits = x.reshape(-1, x.shape[-1]) @ self.emb.weight.t() + self.bias  # tied decoder
        marks("decoder forward")
        return logits, new_state


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vocab", type=int, default=10000)
    p.add_argument("--embedding", type=int, default=750)
    p.add_argument("--hidden", type=int, default=1350)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--bptt", type=int, default=16)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.ones(2, 2) @ torch.ones(2, 2)  # loads the BLAS library
    blas, blas_path = loaded_blas()
    if blas == "openblas":
        set_blas_threads(a.threads, blas_path)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(7)
    T, B = a.bptt, a.batch
    total = a.warmup + a.steps
    data = zipf_tokens(T * B * total + B, a.vocab, gen).view(-1, B)  # [rows, B], time-major

    model = LanguageModel(a.vocab, a.embedding, a.hidden, a.layers)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    state = [torch.zeros(1, B, r.hidden_size) for r in model.rnns]

    phases = {}
    step_times = []
    for step in range(total):
        timing = step >= a.warmup
        t_last = [time.perf_counter()]

        def marks(name, timing=timing, t_last=t_last):
            now = time.perf_counter()
            if timing:
                phases[name] = phases.get(name, 0.0) + now - t_last[0]
            t_last[0] = now

        t0 = t_last[0]
        inputs = data[step * T : (step + 1) * T]
        targets = data[step * T + 1 : (step + 1) * T + 1].reshape(-1)
        opt.zero_grad(set_to_none=False)
        logits, state = model(inputs, state, marks)
        loss = F.cross_entropy(logits, targets)
        marks("softmax cross-entropy")
        loss.backward()
        marks("backward")
        opt.step()
        marks("optimizer")
        if timing:
            step_times.append(time.perf_counter() - t0)

    steps = max(1, len(step_times))
    print(
        json.dumps(
            {
                "tokens_per_s": T * B * len(step_times) / sum(step_times),
                "step_s": step_times,
                "threads": torch.get_num_threads(),
                "blas": blas,
                "torch": torch.__version__,
                "phases": {k: v / steps for k, v in phases.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
