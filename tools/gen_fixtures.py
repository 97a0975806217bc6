#!/usr/bin/python3
"""Generate the numerical reference fixtures for the egru TypeScript library.

What it generates
-----------------
One JSON file per case under test/fixtures/ (relative to the repository root),
plus test/fixtures/MANIFEST.json with the SHA-256 of every fixture file:

* egru-*.json  Event-based GRU (one layer, time-major) forward outputs
               (y, h, o, trace) and autograd gradients for x, y0, kernel,
               recurrent_kernel, bias, recurrent_bias and thr, in float64,
               for the threshold modes "clamp" and "sigmoid", with and
               without DropConnect / zoneout, in train and eval mode.
               The EGRU equations are written out below (see egru_forward),
               following the project specification (egru-spec.md) sections 1, 2, 4, 5, 6, 7.
* gru-*.json   torch.nn.GRU (float64, one layer) outputs and gradients.
* lstm-*.json  torch.nn.LSTM (float64, one layer) outputs and gradients.
* cnn-*.json   the CNN front-end's operations (torch.nn.functional conv2d,
               relu, max_pool2d, linear; float64): outputs of every stage
               and autograd gradients for the input and every parameter.
* optim-*.json torch.optim SGD (momentum), Adam (beta1 = 0, coupled L2) and
               AdamW in float32 over five steps, with two parameter groups
               (weights; thresholds with their own learning rate and no weight
               decay) and clip_grad_norm_ before each step.

The last digit of a float64 result can depend on the BLAS library PyTorch runs
on (Debian's reference BLAS or OpenBLAS); the tests compare with tolerances far
above that, and verify the committed files against MANIFEST.json.

All tensors are stored as flat row-major arrays (time-major for sequences).
Everything is drawn from torch's global generator seeded per case with
torch.manual_seed(seed), so two runs produce byte-identical files.

For EGRU cases the random draw is rejected and redrawn with the next sub-seed
until every event pre-activation c - theta is at least MARGIN away from 0 and,
for the triangle surrogate, | |c - theta| * s - 1 | >= MARGIN (away from the
kinks), so a float32 implementation makes the same spike decisions.

How to run
----------
    /usr/bin/python3 tools/gen_fixtures.py

from the repository root (the output location is derived from this file's
location, so the working directory does not matter); it writes test/fixtures/.

Requirements
------------
Debian's python3-torch package (PyTorch 1.13) for /usr/bin/python3 and the
Python standard library only.
"""

import hashlib
import json
import math
import platform
import sys
from pathlib import Path

import torch

DTYPE = torch.float64
MARGIN = 1e-3
ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "test" / "fixtures"
GENERATOR = "tools/gen_fixtures.py"

torch.set_num_threads(1)
torch.set_default_dtype(DTYPE)


# ---------------------------------------------------------------------------
# Serialisation helpers
# ---------------------------------------------------------------------------

def flat(t):
    """Flat row-major list of Python floats; -0.0 is normalised to 0.0."""
    if t is None:
        return None
    return [float(v) + 0.0 for v in t.detach().reshape(-1).tolist()]


def flat_mask(t):
    if t is None:
        return None
    return [int(v) for v in t.detach().reshape(-1).tolist()]


def dump(obj, indent=0):
    """Deterministic JSON: dicts indented, number arrays on one line.

    Floats use Python's repr (shortest string that round-trips the float64).
    """
    pad = "  " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = []
        for k, v in obj.items():
            items.append(pad + "  " + json.dumps(k) + ": " + dump(v, indent + 1))
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        return "[" + ",".join(dump(v, indent + 1) for v in obj) + "]"
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError("non-finite value in fixture")
        return repr(obj)
    return json.dumps(obj)


def write_fixture(name, obj):
    path = OUT_DIR / name
    text = dump(obj) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# EGRU
# ---------------------------------------------------------------------------

class TriangleSpike(torch.autograd.Function):
    """Heaviside step with a triangular pseudo-derivative.

    forward:  o = 1 if v > 0 else 0          (so v == 0 gives 0)
    backward: dv = do * gamma * max(0, 1 - s * |v|)
    """

    @staticmethod
    def forward(ctx, v, gamma, s):
        ctx.save_for_backward(v)
        ctx.gamma = gamma
        ctx.s = s
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_o):
        (v,) = ctx.saved_tensors
        surrogate = ctx.gamma * torch.clamp(1.0 - ctx.s * v.abs(), min=0.0)
        return grad_o * surrogate, None, None


def effective_threshold(thr, mode):
    """Return (vartheta, leaf_for_thr_gradient).

    clamp:   vartheta = clamp(thr, 0, 1) computed outside autograd (like the
             in-place `thr.data.clamp_(0, 1)` before each forward); the
             gradient reported for thr is the gradient w.r.t. vartheta.
    sigmoid: thr is a logit, vartheta = sigmoid(thr) inside autograd.
    """
    if mode == "clamp":
        leaf = thr.detach().clamp(0.0, 1.0).requires_grad_(True)
        return leaf, leaf
    if mode == "sigmoid":
        leaf = thr.detach().clone().requires_grad_(True)
        return torch.sigmoid(leaf), leaf
    raise ValueError(mode)


def egru_forward(x, y0, W, R, bx, br, vartheta, cfg, dc_mask, zo_mask):
    """EGRU forward pass, time-major.

    x [T,B,I], y0 [B,H], W [I,3H], R [H,3H], bx [3H], br [3H], vartheta [H].
    Gate column blocks are ordered (z, r, g).  Per step t = 1..T:
        a   = x_t W + bx                      -> a_z, a_r, a_g
        q   = y_{t-1} R_eff + br              -> q_z, q_r, q_g
        z   = sigmoid(a_z + q_z)
        r   = sigmoid(a_r + q_r)
        g   = tanh(a_g + r * q_g)
        c   = z * h_{t-1} + (1 - z) * g
        zoneout (train): c = (c - h_{t-1}) * m_t + h_{t-1}
        zoneout (eval):  c = p * h_{t-1} + (1 - p) * c
        o   = Spike(c - vartheta)
        y   = c * o
        h   = c - o * vartheta
        tr  = alpha * tr_{t-1} + (1 - alpha) * y
    with h_0 = 0, tr_0 = 0 and y_{0} = y0.
    DropConnect (train): R_eff = R * M / (1 - p); eval: R_eff = R.
    """
    T, B, _ = x.shape
    H = y0.shape[1]
    train = cfg["mode"] == "train"
    pdc = cfg["dropConnect"]
    pzo = cfg["zoneout"]
    gamma, s, alpha = cfg["gamma"], cfg["s"], cfg["alpha"]

    if train and pdc > 0:
        R_eff = R * dc_mask / (1.0 - pdc)
    else:
        R_eff = R

    a_all = torch.matmul(x, W) + bx  # [T,B,3H]
    y_prev = y0
    h_prev = torch.zeros(B, H, dtype=x.dtype)
    tr_prev = torch.zeros(B, H, dtype=x.dtype)
    ys, hs, os_, trs = [], [], [], []
    tape = []
    for t in range(T):
        a = a_all[t]
        q = torch.matmul(y_prev, R_eff) + br
        a_z, a_r, a_g = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
        q_z, q_r, q_g = q[:, :H], q[:, H:2 * H], q[:, 2 * H:]
        z = torch.sigmoid(a_z + q_z)
        r = torch.sigmoid(a_r + q_r)
        g = torch.tanh(a_g + r * q_g)
        c = z * h_prev + (1.0 - z) * g
        if pzo > 0:
            if train:
                c = (c - h_prev) * zo_mask[t] + h_prev
            else:
                c = pzo * h_prev + (1.0 - pzo) * c
        v = c - vartheta
        o = TriangleSpike.apply(v, gamma, s)
        y = c * o
        h = c - o * vartheta
        tr = alpha * tr_prev + (1.0 - alpha) * y
        tape.append(dict(z=z, r=r, g=g, q_g=q_g, c=c, v=v, o=o,
                         h_prev=h_prev, y_prev=y_prev))
        ys.append(y)
        hs.append(h)
        os_.append(o)
        trs.append(tr)
        y_prev, h_prev, tr_prev = y, h, tr
    out = dict(y=torch.stack(ys), h=torch.stack(hs), o=torch.stack(os_),
               trace=torch.stack(trs))
    return out, tape, R_eff


def egru_manual_backward(x, W, R_eff, vartheta, cfg, dc_mask, zo_mask, tape, G):
    """Adjoint of egru_forward written from egru-spec.md section 6.1.

    Used only as a cross-check of the autograd gradients.
    """
    with torch.no_grad():
        T, B, I = x.shape
        H = vartheta.shape[0]
        th = vartheta.detach()
        gamma, s, alpha = cfg["gamma"], cfg["s"], cfg["alpha"]
        train = cfg["mode"] == "train"
        pzo, pdc = cfg["zoneout"], cfg["dropConnect"]
        Rd = R_eff.detach()
        dy_rec = torch.zeros(B, H)
        dh_rec = torch.zeros(B, H)
        dtr_carry = torch.zeros(B, H)
        dth = torch.zeros(H)
        dbr = torch.zeros(3 * H)
        dR = torch.zeros(H, 3 * H)
        dp_all = torch.zeros(T, B, 3 * H)
        for t in reversed(range(T)):
            tp = {k: v.detach() for k, v in tape[t].items()}
            dtr = G["trace"][t] + dtr_carry
            dtr_carry = alpha * dtr
            dy = G["y"][t] + dy_rec + (1.0 - alpha) * dtr
            dh = G["h"][t] + dh_rec
            c, o, v = tp["c"], tp["o"], tp["v"]
            do = G["o"][t] + c * dy - th * dh
            dS = gamma * torch.clamp(1.0 - s * v.abs(), min=0.0) * do
            dth += -(dS + o * dh).sum(0)
            dc = o * dy + dS + dh
            dh_rec = torch.zeros(B, H)
            if pzo > 0:
                if train:
                    m = zo_mask[t]
                    dh_rec = (1.0 - m) * dc
                    dc = m * dc
                else:
                    dh_rec = pzo * dc
                    dc = (1.0 - pzo) * dc
            z, r, g = tp["z"], tp["r"], tp["g"]
            dh_rec = dh_rec + z * dc
            dg = (1.0 - z) * dc
            dz = (tp["h_prev"] - g) * dc
            dp_g = (1.0 - g * g) * dg
            dq_g = dp_g * r
            dr = dp_g * tp["q_g"]
            dp_r = r * (1.0 - r) * dr
            dp_z = z * (1.0 - z) * dz
            dp = torch.cat([dp_z, dp_r, dp_g], dim=1)
            dq = torch.cat([dp_z, dp_r, dq_g], dim=1)
            dp_all[t] = dp
            dbr += dq.sum(0)
            dR += tp["y_prev"].t() @ dq
            dy_rec = dq @ Rd.t()
        dx = dp_all @ W.detach().t()
        dW = x.detach().reshape(T * B, I).t() @ dp_all.reshape(T * B, 3 * H)
        dbx = dp_all.sum((0, 1))
        if train and pdc > 0:
            dR = dR * dc_mask / (1.0 - pdc)
        if cfg["thresholdMode"] == "sigmoid":
            dth = dth * th * (1.0 - th)
        return dict(x=dx, y0=dy_rec, kernel=dW, recurrent_kernel=dR,
                    bias=dbx, recurrent_bias=dbr, thr=dth)


def xavier_std(fan_in, fan_out, gain=1.0):
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def draw_egru_case(seed, spec):
    """Draw all random tensors of one EGRU case from torch.manual_seed(seed)."""
    torch.manual_seed(seed)
    T, B, I, H = spec["T"], spec["B"], spec["I"], spec["H"]
    cfg = spec["config"]
    ws = spec.get("weightScale", 1.75)
    W = torch.randn(I, 3 * H) * xavier_std(I, 3 * H) * ws
    R = torch.randn(H, 3 * H) * xavier_std(H, 3 * H) * ws
    bx = torch.randn(3 * H) * 0.1
    br = torch.randn(3 * H) * 0.1
    if cfg["thresholdMode"] == "clamp":
        if spec.get("thrAllOne"):
            thr = torch.ones(H)
        else:
            m = 0.3
            beta = torch.distributions.Beta(torch.tensor(3.0 * m / (1.0 - m)),
                                            torch.tensor(3.0))
            thr = beta.sample((H,))
            raw = spec.get("thrOutOfRange", [])
            for i, val in enumerate(raw):
                if i < H:
                    thr[i] = val
    else:
        thr = torch.randn(H) * math.sqrt(2.0) + spec["thrLogitMean"]
    x = torch.randn(T, B, I)
    if spec.get("y0Zero"):
        y0 = torch.zeros(B, H)
    else:
        y0 = torch.randn(B, H) * 0.5
    train = cfg["mode"] == "train"
    dc_mask = None
    zo_mask = None
    if train and cfg["dropConnect"] > 0:
        dc_mask = (torch.rand(H, 3 * H) < 1.0 - cfg["dropConnect"]).to(DTYPE)
    if train and cfg["zoneout"] > 0:
        zo_mask = (torch.rand(T, B, H) < 1.0 - cfg["zoneout"]).to(DTYPE)
    G = dict(y=torch.randn(T, B, H), h=torch.randn(T, B, H),
             o=torch.randn(T, B, H), trace=torch.randn(T, B, H))
    return dict(x=x, y0=y0, kernel=W, recurrent_kernel=R, bias=bx,
                recurrent_bias=br, thr=thr, dc_mask=dc_mask, zo_mask=zo_mask, G=G)


def run_egru(d, cfg):
    leaves = {k: d[k].detach().clone().requires_grad_(True)
              for k in ("x", "y0", "kernel", "recurrent_kernel", "bias", "recurrent_bias")}
    vartheta, thr_leaf = effective_threshold(d["thr"], cfg["thresholdMode"])
    out, tape, R_eff = egru_forward(leaves["x"], leaves["y0"], leaves["kernel"],
                                    leaves["recurrent_kernel"], leaves["bias"],
                                    leaves["recurrent_bias"], vartheta, cfg,
                                    d["dc_mask"], d["zo_mask"])
    G = d["G"]
    loss = ((out["y"] * G["y"]).sum() + (out["h"] * G["h"]).sum()
            + (out["o"] * G["o"]).sum() + (out["trace"] * G["trace"]).sum())
    loss.backward()
    grads = {k: leaves[k].grad for k in leaves}
    grads["thr"] = thr_leaf.grad
    v = torch.stack([tp["v"].detach() for tp in tape])  # c - vartheta, [T,B,H]
    manual = egru_manual_backward(leaves["x"], leaves["kernel"], R_eff, vartheta,
                                  cfg, d["dc_mask"], d["zo_mask"], tape, G)
    return out, grads, v, manual


def fixture_config(cfg):
    """An EGRU case's configuration as its fixture records it."""
    return {
        "mode": cfg["mode"],
        "thresholdMode": cfg["thresholdMode"],
        "gamma": float(cfg["gamma"]),
        "s": float(cfg["s"]),
        "alpha": float(cfg["alpha"]),
        "zoneout": float(cfg["zoneout"]),
        "dropConnect": float(cfg["dropConnect"]),
    }


def margins(v, s):
    """How far the event pre-activations v = c - vartheta stay from the threshold (v = 0) and,
    for the triangle surrogate of support 1/s, from its kinks (|v| * s = 1)."""
    av = v.abs()
    return float(av.min()), float((av * s - 1.0).abs().min())


def egru_case(name, base_seed, spec, max_attempts=1000):
    cfg = spec["config"]
    T, B, I, H = spec["T"], spec["B"], spec["I"], spec["H"]
    n = T * B * H
    for attempt in range(max_attempts):
        seed = base_seed + attempt
        d = draw_egru_case(seed, spec)
        out, grads, v, manual = run_egru(d, cfg)
        thr_margin, kink_margin = margins(v, cfg["s"])
        if thr_margin < MARGIN or kink_margin < MARGIN:
            continue
        events = int(out["o"].sum().item())
        want = spec["events"]
        if want == "none" and events != 0:
            continue
        if want == "all" and events != n:
            continue
        if want == "some":
            frac = events / n
            if not (0.1 <= frac <= 0.9):
                continue
            # make sure the surrogate support is exercised on both sides
            inside = int((v.abs() < 1.0 / cfg["s"]).sum())
            if inside == 0:
                continue
        break
    else:
        raise RuntimeError(f"{name}: no draw satisfied the margin/event constraints")

    # Cross-check autograd against the hand-written adjoint (spec section 6.1).
    for k, g in grads.items():
        ref = manual[k]
        scale = max(1.0, float(g.abs().max()))
        err = float((g - ref).abs().max())
        assert err <= 1e-10 * scale, f"{name}: manual backward mismatch for {k}: {err}"

    activity_sparsity = float((out["y"] == 0).sum().item()) / n
    if want == "none":
        assert events == 0 and activity_sparsity == 1.0
    elif want == "some":
        assert 0 < events < n and 0.0 < activity_sparsity < 1.0

    fixture = {
        "cell": "egru",
        "case": name,
        "seed": seed,
        "dims": {"T": T, "B": B, "I": I, "H": H},
        "config": fixture_config(cfg),
        "inputs": {"x": flat(d["x"]), "y0": flat(d["y0"])},
        "weights": {k: flat(d[k]) for k in
                    ("kernel", "recurrent_kernel", "bias", "recurrent_bias", "thr")},
        "masks": {"dropConnect": flat_mask(d["dc_mask"]),
                  "zoneout": flat_mask(d["zo_mask"])},
        "upstream": {k: flat(d["G"][k]) for k in ("y", "h", "o", "trace")},
        "outputs": {k: flat(out[k]) for k in ("y", "h", "o", "trace")},
        "grads": {k: flat(grads[k]) for k in
                  ("x", "y0", "kernel", "recurrent_kernel", "bias", "recurrent_bias", "thr")},
        "stats": {
            "events": events,
            "activitySparsity": activity_sparsity,
            "margin": min(thr_margin, kink_margin),
            "thresholdMargin": thr_margin,
            "kinkMargin": kink_margin,
        },
    }
    print(f"  {name}: seed={seed} events={events}/{n} sparsity={activity_sparsity:.3f} "
          f"margin={thr_margin:.4g} kink={kink_margin:.4g}")
    return f"egru-{name}.json", fixture


# ---------------------------------------------------------------------------
# GRU / LSTM baselines (torch.nn modules)
# ---------------------------------------------------------------------------

def gru_reference(x, h0, w_ih, w_hh, b_ih, b_hh):
    """Reset-after GRU in PyTorch layout (gate order r, z, n), written out:
        r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h
    """
    H = h0.shape[-1]
    h = h0
    outs = []
    for t in range(x.shape[0]):
        gi = x[t] @ w_ih.t() + b_ih
        gh = h @ w_hh.t() + b_hh
        r = torch.sigmoid(gi[:, :H] + gh[:, :H])
        z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1.0 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs), h


def lstm_reference(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    """LSTM in PyTorch layout (gate order i, f, g, o):
        i = sigmoid(.), f = sigmoid(.), g = tanh(.), o = sigmoid(.)
        c' = f * c + i * g ;  h' = o * tanh(c')
    """
    H = h0.shape[-1]
    h, c = h0, c0
    outs = []
    for t in range(x.shape[0]):
        gates = x[t] @ w_ih.t() + b_ih + h @ w_hh.t() + b_hh
        i = torch.sigmoid(gates[:, :H])
        f = torch.sigmoid(gates[:, H:2 * H])
        g = torch.tanh(gates[:, 2 * H:3 * H])
        o = torch.sigmoid(gates[:, 3 * H:])
        c = f * c + i * g
        h = o * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs), h, c


WEIGHT_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def baseline_case(cell, name, seed, T, B, I, H):
    torch.manual_seed(seed)
    if cell == "gru":
        mod = torch.nn.GRU(I, H, num_layers=1, batch_first=False).to(DTYPE)
    else:
        mod = torch.nn.LSTM(I, H, num_layers=1, batch_first=False).to(DTYPE)
    with torch.no_grad():
        # re-draw biases so that bias_ih and bias_hh are distinct and non-trivial
        mod.bias_ih_l0.copy_(torch.randn(mod.bias_ih_l0.shape) * 0.1)
        mod.bias_hh_l0.copy_(torch.randn(mod.bias_hh_l0.shape) * 0.1)
    weights = {k: getattr(mod, k).detach().clone() for k in WEIGHT_NAMES}
    x = torch.randn(T, B, I).requires_grad_(True)
    h0 = (torch.randn(1, B, H) * 0.5).requires_grad_(True)
    c0 = (torch.randn(1, B, H) * 0.5).requires_grad_(True) if cell == "lstm" else None
    G_out = torch.randn(T, B, H)
    G_hn = torch.randn(1, B, H)
    G_cn = torch.randn(1, B, H) if cell == "lstm" else None

    if cell == "gru":
        output, h_n = mod(x, h0)
        loss = (output * G_out).sum() + (h_n * G_hn).sum()
    else:
        output, (h_n, c_n) = mod(x, (h0, c0))
        loss = (output * G_out).sum() + (h_n * G_hn).sum() + (c_n * G_cn).sum()
    loss.backward()

    # Prove the layout reading with hand-written equations.
    with torch.no_grad():
        if cell == "gru":
            ref_out, ref_h = gru_reference(x, h0[0], *[weights[k] for k in WEIGHT_NAMES])
            assert torch.allclose(ref_out, output, rtol=0, atol=1e-12), "GRU output mismatch"
            assert torch.allclose(ref_h, h_n[0], rtol=0, atol=1e-12), "GRU h_n mismatch"
        else:
            ref_out, ref_h, ref_c = lstm_reference(x, h0[0], c0[0],
                                                   *[weights[k] for k in WEIGHT_NAMES])
            assert torch.allclose(ref_out, output, rtol=0, atol=1e-12), "LSTM output mismatch"
            assert torch.allclose(ref_h, h_n[0], rtol=0, atol=1e-12), "LSTM h_n mismatch"
            assert torch.allclose(ref_c, c_n[0], rtol=0, atol=1e-12), "LSTM c_n mismatch"

    inputs = {"x": flat(x), "h0": flat(h0)}
    upstream = {"output": flat(G_out), "h_n": flat(G_hn)}
    outputs = {"output": flat(output), "h_n": flat(h_n)}
    grads = {"x": flat(x.grad), "h0": flat(h0.grad)}
    if cell == "lstm":
        inputs["c0"] = flat(c0)
        upstream["c_n"] = flat(G_cn)
        outputs["c_n"] = flat(c_n)
        grads["c0"] = flat(c0.grad)
    for k in WEIGHT_NAMES:
        grads[k] = flat(getattr(mod, k).grad)
    fixture = {
        "cell": cell,
        "case": name,
        "seed": seed,
        "dims": {"T": T, "B": B, "I": I, "H": H},
        "inputs": inputs,
        "weights": {k: flat(weights[k]) for k in WEIGHT_NAMES},
        "upstream": upstream,
        "outputs": outputs,
        "grads": grads,
    }
    print(f"  {cell}-{name}: seed={seed} T={T} B={B} I={I} H={H}")
    return f"{cell}-{name}.json", fixture


# ---------------------------------------------------------------------------
# Case table
# ---------------------------------------------------------------------------

def egru_cfg(mode, thr_mode, gamma, s, alpha, zoneout=0.0, drop_connect=0.0):
    return dict(mode=mode, thresholdMode=thr_mode, gamma=gamma, s=s, alpha=alpha,
                zoneout=zoneout, dropConnect=drop_connect)


EGRU_CASES = [
    # 1. clamp, eval, no regularisers, events present; two raw thr outside [0,1]
    ("clamp-eval-events", 11000,
     dict(T=5, B=3, I=4, H=7, events="some", thrOutOfRange=[-0.05, 1.2],
          config=egru_cfg("eval", "clamp", 0.7, 1.0, 0.9))),
    # 2. sigmoid thresholds (logit mean 0), eval, LM v0.1 surrogate width
    ("sigmoid-eval-events", 12000,
     dict(T=5, B=3, I=4, H=7, events="some", thrLogitMean=0.0, weightScale=2.0,
          config=egru_cfg("eval", "sigmoid", 0.7, 2.179, 0.9))),
    # 3. clamp, all thresholds 1.0: c < 1 always, so no events
    ("clamp-eval-noevents", 13000,
     dict(T=5, B=3, I=4, H=7, events="none", thrAllOne=True,
          config=egru_cfg("eval", "clamp", 0.7, 1.0, 0.9))),
    # 4. clamp, training with DropConnect and zoneout masks, LM v0.2 surrogate
    ("clamp-train-dropconnect-zoneout", 14000,
     dict(T=5, B=3, I=4, H=7, events="some", thrOutOfRange=[-0.05, 1.2],
          config=egru_cfg("train", "clamp", 3.6, 3.6, 0.8, zoneout=0.25, drop_connect=0.3))),
    # 5. clamp, eval with zoneout and DropConnect configured (R unchanged, eval zoneout)
    ("clamp-eval-dropconnect-zoneout", 15000,
     dict(T=5, B=3, I=4, H=7, events="some",
          config=egru_cfg("eval", "clamp", 0.7, 1.0, 0.9, zoneout=0.25, drop_connect=0.3))),
    # 6. sigmoid (logit mean -1), training with zoneout only, y0 = 0
    ("sigmoid-train-zoneout", 16000,
     dict(T=9, B=2, I=3, H=5, events="some", thrLogitMean=-1.0, y0Zero=True,
          config=egru_cfg("train", "sigmoid", 0.7, 1.7, 0.9, zoneout=0.5))),
    # 7. more seeds of case 1 at other sizes
    ("clamp-eval-events-seed2", 17000,
     dict(T=7, B=3, I=7, H=17, events="some", thrOutOfRange=[-0.05, 1.2],
          config=egru_cfg("eval", "clamp", 0.7, 1.0, 0.9))),
    ("clamp-eval-events-seed3", 18000,
     dict(T=3, B=7, I=1, H=3, events="some",
          config=egru_cfg("eval", "clamp", 0.7, 1.0, 0.9))),
    # 8. degenerate sizes T=B=I=H=1 with the single unit firing
    ("clamp-eval-tiny", 19000,
     dict(T=1, B=1, I=1, H=1, events="all",
          config=egru_cfg("eval", "clamp", 0.7, 1.0, 0.9))),
]

BASELINE_SIZES = [
    ("small", 5, 3, 4, 7),
    ("tiny", 1, 1, 1, 1),
    ("medium", 8, 2, 5, 11),
]


# ---------------------------------------------------------------------------------------------
# Optimizers: torch.optim's SGD (momentum), Adam (coupled L2) and AdamW (decoupled), with two
# parameter groups as egru forms them (weights; thresholds with their own learning-rate
# multiplier and no weight decay) and torch.nn.utils.clip_grad_norm_ before every step.

OPTIM_CASES = [
    # name, kind, options, threshold lr multiplier, clip, learning rates per step
    ("sgd-momentum", "sgd", {"momentum": 0.9, "weight_decay": 0.01}, 0.5, 0.0, [0.1, 0.1, 0.05, 0.05, 0.02]),
    ("adam-beta1-0", "adam", {"betas": (0.0, 0.999), "eps": 1e-8, "weight_decay": 0.1}, 0.0, 0.7, [1e-2] * 5),
    ("adamw", "adamw", {"betas": (0.9, 0.98), "eps": 1e-6, "weight_decay": 0.12}, 2.0, 0.3, [3e-3, 2e-3, 1e-3, 1e-3, 5e-4]),
]


def optim_case(name, kind, opts, thr_mult, clip, lrs, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(13, generator=g).requires_grad_(False)
    thr = torch.rand(5, generator=g)
    init = {"w": w.clone(), "thr": thr.clone()}
    pw = torch.nn.Parameter(w.clone())
    pt = torch.nn.Parameter(thr.clone())
    wd = opts.get("weight_decay", 0.0)
    base = {k: v for k, v in opts.items() if k != "weight_decay"}
    groups = [{"params": [pw], "lr": lrs[0], "weight_decay": wd},
              {"params": [pt], "lr": lrs[0] * thr_mult, "weight_decay": 0.0}]
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    opt = cls(groups, lr=lrs[0], **base)
    steps = []
    for lr in lrs:
        gw = torch.randn(13, generator=g)
        gt = torch.randn(5, generator=g) * 0.3
        pw.grad = gw.clone()
        pt.grad = gt.clone()
        norm = torch.nn.utils.clip_grad_norm_([pw, pt], clip) if clip > 0 else torch.sqrt((gw ** 2).sum() + (gt ** 2).sum())
        opt.param_groups[0]["lr"] = lr
        opt.param_groups[1]["lr"] = lr * thr_mult
        opt.step()
        steps.append({"lr": lr, "grads": {"w": flat(gw), "thr": flat(gt)}, "norm": float(norm),
                      "after": {"w": flat(pw.detach()), "thr": flat(pt.detach())}})
    config = {"kind": kind, "thresholdLrMultiplier": thr_mult, "weightDecay": wd}
    if kind == "sgd":
        config["momentum"] = opts["momentum"]
    else:
        config.update({"beta1": opts["betas"][0], "beta2": opts["betas"][1], "eps": opts["eps"]})
    return f"optim-{name}.json", {"config": config, "clip": clip, "init": {k: flat(v) for k, v in init.items()}, "steps": steps}



# ---------------------------------------------------------------------------
# CNN front-end (DVS Gesture, ICLR setup): Conv2d, ReLU, MaxPool2d, Linear
# ---------------------------------------------------------------------------

# (name, seed, N, C, H, W, layers); layers as ("conv", O, k, stride, pad), ("relu",),
# ("pool", k, stride), ("linear", out) -- a linear layer flattens its input first.
CNN_CASES = [
    ("cnn-conv-s2-p1", 41000, 3, 2, 13, 11, [("conv", 3, 5, 2, 1)]),
    ("cnn-pool-3-2", 41100, 2, 3, 9, 8, [("pool", 3, 2)]),
    ("cnn-stack", 41200, 2, 1, 19, 17, [("conv", 4, 5, 2, 2), ("relu",), ("pool", 3, 2), ("conv", 5, 3, 1, 1),
                                         ("relu",), ("pool", 2, 2), ("linear", 6)]),
]


def cnn_case(name, seed, N, C, H, W, layers):
    torch.manual_seed(seed)
    x = torch.randn(N, C, H, W, dtype=DTYPE, requires_grad=True)
    params = []
    h = x
    shape = (C, H, W)
    outs = []
    for k, spec in enumerate(layers):
        if spec[0] == "conv":
            _, O, ks, stride, pad = spec
            w = (torch.rand(O, shape[0], ks, ks, dtype=DTYPE) * 2 - 1).requires_grad_()
            b = (torch.rand(O, dtype=DTYPE) * 2 - 1).requires_grad_()
            params += [(f"{k}.weight", w), (f"{k}.bias", b)]
            h = torch.nn.functional.conv2d(h, w, b, stride=stride, padding=pad)
        elif spec[0] == "relu":
            h = torch.relu(h)
        elif spec[0] == "pool":
            h = torch.nn.functional.max_pool2d(h, spec[1], spec[2])
        elif spec[0] == "linear":
            h = h.reshape(N, -1)
            w = (torch.rand(spec[1], h.shape[1], dtype=DTYPE) * 2 - 1).requires_grad_()
            b = (torch.rand(spec[1], dtype=DTYPE) * 2 - 1).requires_grad_()
            params += [(f"{k}.weight", w), (f"{k}.bias", b)]
            h = torch.nn.functional.linear(h, w, b)
        h.retain_grad()
        outs.append(h)
        shape = tuple(h.shape[1:])
    dy = torch.randn_like(h)
    (h * dy).sum().backward()
    fx = {
        "case": name, "N": N, "C": C, "H": H, "W": W,
        "layers": [list(s) for s in layers],
        "x": flat(x), "dy": flat(dy),
        "params": {n: flat(t) for n, t in params},
        "outputs": [flat(o) for o in outs],
        "out_shapes": [list(o.shape[1:]) for o in outs],
        "dx": flat(x.grad),
        "grads": {n: flat(t.grad) for n, t in params},
    }
    return name + ".json", fx


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    print("EGRU cases:")
    for name, seed, spec in EGRU_CASES:
        fname, fx = egru_case(name, seed, spec)
        written.append(write_fixture(fname, fx))
    for cell, base in (("gru", 21000), ("lstm", 22000)):
        print(f"{cell.upper()} cases:")
        for k, (name, T, B, I, H) in enumerate(BASELINE_SIZES):
            fname, fx = baseline_case(cell, name, base + 100 * k, T, B, I, H)
            written.append(write_fixture(fname, fx))

    print("optimizer cases:")
    for k, (name, kind, opts, thr_mult, clip, lrs) in enumerate(OPTIM_CASES):
        fname, fx = optim_case(name, kind, opts, thr_mult, clip, lrs, 31000 + k)
        written.append(write_fixture(fname, fx))

    print("CNN cases:")
    for case in CNN_CASES:
        fname, fx = cnn_case(*case)
        written.append(write_fixture(fname, fx))

    files = []
    for path in sorted(written, key=lambda p: p.name):
        files.append({"name": path.name,
                      "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    # keep the entries other generators (tools/gen_clip_fixtures.py) added
    manifest_path = OUT_DIR / "MANIFEST.json"
    if manifest_path.exists():
        previous = json.loads(manifest_path.read_text(encoding="utf-8"))["files"]
        files = sorted(files + [f for f in previous if f.get("generator", GENERATOR) != GENERATOR],
                       key=lambda f: f["name"])
    manifest = {
        "magic": "egru-fixtures",
        "version": 1,
        "generator": GENERATOR,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "command": "/usr/bin/python3 tools/gen_fixtures.py",
        "files": files,
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} fixtures + MANIFEST.json, {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
