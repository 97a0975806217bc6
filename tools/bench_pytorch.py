#!/usr/bin/python3
"""Time PyTorch's dense GRU baselines on the CPU (float32), one JSON line per measurement.

What it measures, for each thread count N (torch.set_num_threads(N), default N in {1, 2}):

  (a) streaming inference of the language-model stack (spec section 10.1: three single-layer
      nn.GRU 750 -> 1350 -> 1350 -> 750, batch 1), one token per step: x [1, 1, 750] is one
      token embedding (a fixed set of N(0, 1) vectors, cycled), the three states carried from step
      to step; median wall time per step over --steps steps (default 200) after --warmup steps,
      under torch.inference_mode();
  (b) the same for one nn.GRU layer 1024 -> 1024, batch 1;
  (c) one training step of the LM stack: forward and backward (no optimiser update) at B = 64,
      T = 70 (BPTT 70), loss = sum(output * G) with a fixed random G, gradients for every parameter
      and for the input; median over --train-reps steps (default 3) after one warm-up step;
      reported as ms per step and tokens/s = B * T / time. The warm-up step (T = 4) estimates the cost;
      if T = 70 would take longer than --train-budget seconds (default 15) per step, T is cut to
      fit and the row says so (tokens/s is per token and nearly independent of T);
  (d) a 1024 x 1024 x 1024 float32 matmul: median of 20, GFLOP/s = 2 * 1024^3 / time.

Each GRU layer computes (PyTorch's gates r, z, n; the reset gate after the recurrent product):
    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h
which is egru's GRU layer (src/layers/gru.ts) exactly.

Output: one JSON object per line on stdout,
    {"tool": "pytorch", "what": ..., "threads": N, "ms": ..., "samples": ..., "blas": ...,
     "tokensPerSecond"?: ..., "gflops"?: ..., "T"?: ..., "note"?: ...}
("T" on training rows: the BPTT length the step ran at; "what" always names T = 70.)
progress and notes on stderr. bench/baselines.ts runs this script and parses the lines.

BLAS. Debian builds PyTorch against the generic BLAS interface, so its matmuls (and the GEMMs of
nn.GRU over whole sequences) run on whatever libblas.so.3 resolves to. With only Debian's
reference BLAS (libblas3) installed that is netlib's unoptimised code, some 15x slower than
OpenBLAS; every row carries "blas" ("reference", "openblas", ...) so a figure is never read
without it. For a fair baseline install libopenblas0-pthread (it takes over libblas.so.3 through
Debian's alternatives), or, without changing the system, unpack that package's .deb somewhere
and run this script with LD_LIBRARY_PATH set to its openblas-pthread library folder.

How to run
----------
    /usr/bin/python3 tools/bench_pytorch.py [--threads 1,2] [--steps 200] [--warmup 20]
                                            [--train-reps 3] [--quick]

--quick uses tiny sizes (for tests of the harness: the row format, not the figures). A full run
takes about 1-2 minutes on a 2-core machine. Requirements: Debian's python3-torch (PyTorch 1.13).
"""

import argparse
import ctypes
import json
import os
import statistics
import sys
import time

import torch
from torch import nn

FULL = {"lm": [750, 1350, 1350, 750], "single": [1024, 1024], "B": 64, "T": 70, "matmul": 1024}
QUICK = {"lm": [6, 10, 10, 6], "single": [16, 16], "B": 4, "T": 5, "matmul": 64}


def log(msg):
    print(f"bench_pytorch: {msg}", file=sys.stderr, flush=True)


def emit(row):
    print(json.dumps(row), flush=True)


def stack(sizes):
    return nn.ModuleList(nn.GRU(sizes[i], sizes[i + 1], num_layers=1) for i in range(len(sizes) - 1))


def label(sizes):
    return "->".join(str(s) for s in sizes)


def step_latency(layers, sizes, steps, warmup):
    """Median ms per streaming step at B = 1 (all layers, one token)."""
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randn(64, 1, 1, sizes[0], generator=gen)
    states = [torch.zeros(1, 1, sizes[i + 1]) for i in range(len(layers))]
    times = []
    with torch.inference_mode():
        for i in range(warmup + steps):
            x = tokens[i % tokens.shape[0]]
            t0 = time.perf_counter()
            for li, layer in enumerate(layers):
                x, states[li] = layer(x, states[li])
            t1 = time.perf_counter()
            if i >= warmup:
                times.append((t1 - t0) * 1e3)
    return statistics.median(times), len(times)


def train_step_time(layers, sizes, B, Tmax, reps, budget_s):
    """Median ms of forward + backward through the stack, and the T it ran at.

    After an untimed step at T = 1, a warm-up step at T = 4 estimates the cost per time step;
    when Tmax would take longer than budget_s per step, T is cut to fit (tokens/s is per token
    and nearly independent of T). Then `reps` timed steps at that T.
    """
    gen = torch.Generator().manual_seed(2)
    x_full = torch.randn(Tmax, B, sizes[0], generator=gen)
    G_full = torch.randn(Tmax, B, sizes[-1], generator=gen)

    def run(T):
        for p in layers.parameters():
            p.grad = None
        x = x_full[:T].clone().requires_grad_(True)
        t0 = time.perf_counter()
        y = x
        for layer in layers:
            y, _ = layer(y)  # initial state 0
        loss = (y * G_full[:T]).sum()
        loss.backward()
        return (time.perf_counter() - t0) * 1e3

    run(1)  # first call: allocations, kernel selection
    probe_t = min(Tmax, 4)
    per_t = run(probe_t) / probe_t  # the warm-up step proper
    T = Tmax if per_t * Tmax <= budget_s * 1e3 else max(1, min(Tmax, int(budget_s * 1e3 // per_t)))
    times = [run(T) for _ in range(reps)]
    return statistics.median(times), len(times), T


def loaded_libraries():
    try:
        with open("/proc/self/maps") as f:
            return {line.split()[-1] for line in f if len(line.split()) >= 6}
    except OSError:
        return None


def blas_library():
    """The BLAS library this process loaded (PyTorch's "generic" BLAS is whatever libblas.so.3 resolves to)."""
    libs = loaded_libraries()
    if libs is None:
        return "unknown"
    for name in ("mkl", "openblas", "blis", "atlas"):
        if any(name in os.path.basename(lib) or f"/{name}" in lib for lib in libs):
            return name
    if any(os.path.basename(lib).startswith("libblas.so") for lib in libs):
        return "reference"  # netlib's reference BLAS: unoptimised, far slower than the above
    return "none"


def set_blas_threads(n):
    """torch.set_num_threads does not reach OpenBLAS's own thread pool: set it directly."""
    for lib in sorted(loaded_libraries() or ()):
        if "openblas" in lib or os.path.basename(lib).startswith("libblas.so"):
            try:
                handle = ctypes.CDLL(lib)
                handle.openblas_set_num_threads(ctypes.c_int(n))
                return
            except (OSError, AttributeError):
                continue


def matmul_time(n, reps=20):
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(n, n, generator=gen)
    b = torch.randn(n, n, generator=gen)
    out = torch.empty(n, n)
    for _ in range(3):
        torch.matmul(a, b, out=out)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.matmul(a, b, out=out)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), len(times)


def main():
    ap = argparse.ArgumentParser(description="PyTorch CPU baselines for egru's benchmarks (see the header).")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--steps", type=int, default=200, help="timed streaming steps (default 200)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed streaming steps first (default 20)")
    ap.add_argument("--train-reps", type=int, default=3, help="timed training steps after 1 warm-up (default 3)")
    ap.add_argument("--train-budget", type=float, default=15.0,
                    help="seconds one training step may take; T is cut below 70 to fit (default 15)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for testing the harness")
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    if args.quick:
        args.steps, args.warmup, args.train_reps = min(args.steps, 10), min(args.warmup, 2), 1

    torch.manual_seed(0)
    lm = stack(cfg["lm"])
    single = stack(cfg["single"])
    B, T = cfg["B"], cfg["T"]
    blas = blas_library()
    log(f"torch {torch.__version__}, BLAS {blas}, threads {threads}, {torch.get_num_interop_threads()} inter-op thread(s)")
    if blas == "reference":
        log("warning: PyTorch runs on the reference (netlib) BLAS here: its matmul and training figures are not a fair baseline; "
            "see the header for running it on OpenBLAS")

    def emit_row(row):
        emit({**row, "blas": blas})

    for n in threads:
        torch.set_num_threads(n)
        set_blas_threads(n)
        lm.eval()
        single.eval()
        ms, k = step_latency(lm, cfg["lm"], args.steps, args.warmup)
        emit_row({"tool": "pytorch", "what": f"GRU stack {label(cfg['lm'])} step B=1", "threads": n, "ms": ms, "samples": k})
        ms, k = step_latency(single, cfg["single"], args.steps, args.warmup)
        emit_row({"tool": "pytorch", "what": f"GRU H={cfg['single'][1]} step B=1", "threads": n, "ms": ms, "samples": k})
        lm.train()
        log(f"training step B={B} T<={T} with {n} thread(s)...")
        ms, k, t_used = train_step_time(lm, cfg["lm"], B, T, args.train_reps, args.train_budget)
        row = {
            "tool": "pytorch", "what": f"GRU stack {label(cfg['lm'])} train fwd+bwd B={B} T={T}", "threads": n,
            "ms": ms, "samples": k, "tokensPerSecond": B * t_used / (ms / 1e3), "T": t_used,
        }
        if t_used < T:
            row["note"] = (f"ran at T={t_used}, cut from {T} to fit the time budget: "
                           f"ms is per T={t_used} step, tokens/s per token")
        emit_row(row)
        m = cfg["matmul"]
        ms, k = matmul_time(m)
        emit_row({
            "tool": "pytorch", "what": f"matmul {m}x{m}x{m}", "threads": n, "ms": ms, "samples": k,
            "gflops": 2 * m**3 / (ms / 1e3) / 1e9,
        })


if __name__ == "__main__":
    main()
