#!/usr/bin/python3
"""Generate the fixtures of EvNN's gradient clip inside the EGRU backward (grad_clip).

What it generates
-----------------
test/fixtures/clip-egru-*.json (relative to the repository root), and their entries in
test/fixtures/MANIFEST.json (the other entries are left as they are). Each file holds one EGRU
layer's weights and TWO backward calls of it (two inputs, initial states, upstream gradients and,
in training, masks), each clipped as the project specification (egru-spec.md section 7.3) says:

    norm  = || (dy0, dW, dR, dbx, dbr, dvartheta) ||_2    over this call's gradients only
    scale = clamp(max_norm / (norm + 1e-6), 0, 1)
    dy0, dW, dR, dbx, dbr, dvartheta *= scale ;  dx is not scaled

where dR and dvartheta are the gradients of the effective recurrent matrix (after DropConnect) and
of the effective thresholds, as EvNN's kernel returns them; the chain rule through the DropConnect
mask and the threshold parameterisation (the sigmoid of the logits) runs after the clip, as PyTorch's
autograd runs it after EvNN's backward. The six norms are exactly six (EvNN's buffer has a seventh,
uninitialised entry, which the specification says to fix, not reproduce).

The EGRU forward is gen_fixtures.py's (written out from the specification's equations, with the
triangle surrogate in PyTorch autograd); its gradients are autograd's, in float64. Per call the
file stores the unclipped gradients, the norm, the scale, the clipped gradients, and after both
calls the accumulated parameter gradients  scale_1 * g_1 + scale_2 * g_2  (a layer accumulates its
parameter gradients over calls, and the clip acts on each call's own contribution).

How to run
----------
    /usr/bin/python3 tools/gen_clip_fixtures.py

from anywhere (paths derive from this file); needs Debian's python3-torch (PyTorch 1.13) and
gen_fixtures.py beside it.
"""

import hashlib
import json
import sys

import torch

from gen_fixtures import (MARGIN, OUT_DIR, draw_egru_case, effective_threshold, egru_cfg,
                          egru_forward, fixture_config, flat, flat_mask, margins, write_fixture)

PARAMS = ("kernel", "recurrent_kernel", "bias", "recurrent_bias")
# the clip's six terms, by the names the fixture uses for them
CLIP_TERMS = ("y0", "kernel", "recurrent_kernel_effective", "bias", "recurrent_bias", "threshold_effective")

# name, base seed, max_norm, case: sizes, threshold draw and layer configuration
CASES = [
    ("clamp-train-dropconnect-zoneout", 51000, 8.0,
     dict(T=5, B=3, I=4, H=7, config=egru_cfg("train", "clamp", 3.6, 3.6, 0.8, zoneout=0.25,
                                               drop_connect=0.3))),
    ("sigmoid-eval", 52000, 10.0,
     dict(T=6, B=5, I=3, H=9, thrLogitMean=-0.5, weightScale=2.0,
          config=egru_cfg("eval", "sigmoid", 0.7, 1.7, 0.9))),
]


def clipped_call(weights, d, cfg, max_norm):
    """One forward and backward of the layer on call data d, and the clip of its gradients."""
    leaves = {k: weights[k].detach().clone().requires_grad_(True) for k in PARAMS}
    x = d["x"].detach().clone().requires_grad_(True)
    y0 = d["y0"].detach().clone().requires_grad_(True)
    vartheta, thr_leaf = effective_threshold(weights["thr"], cfg["thresholdMode"])
    out, tape, R_eff = egru_forward(x, y0, leaves["kernel"], leaves["recurrent_kernel"], leaves["bias"],
                                    leaves["recurrent_bias"], vartheta, cfg, d["dc_mask"], d["zo_mask"])
    G = d["G"]
    loss = sum((out[k] * G[k]).sum() for k in ("y", "h", "o", "trace"))
    # the kernel's gradients: of the inputs, W, the biases, and the EFFECTIVE R and thresholds
    inputs = [x, y0, leaves["kernel"], R_eff, leaves["bias"], leaves["recurrent_bias"], vartheta]
    dx, dy0, dW, dReff, dbx, dbr, dth = torch.autograd.grad(loss, inputs, retain_graph=True)
    terms = dict(zip(CLIP_TERMS, (dy0, dW, dReff, dbx, dbr, dth)))
    norm = torch.sqrt(sum((g ** 2).sum() for g in terms.values()))
    scale = torch.clamp(max_norm / (norm + 1e-6), 0.0, 1.0)
    # unclipped parameter gradients (through the mask and the thresholds' parameterisation) ...
    dR, dthr = chain(R_eff, leaves["recurrent_kernel"], vartheta, thr_leaf, dReff, dth)
    unclipped = dict(x=dx, y0=dy0, kernel=dW, recurrent_kernel=dR, bias=dbx, recurrent_bias=dbr, thr=dthr)
    # ... and EvNN's order: scale the kernel's gradients, then the chain rule
    dR_c, dthr_c = chain(R_eff, leaves["recurrent_kernel"], vartheta, thr_leaf, scale * dReff, scale * dth)
    clipped = dict(x=dx, y0=scale * dy0, kernel=scale * dW, recurrent_kernel=dR_c, bias=scale * dbx,
                   recurrent_bias=scale * dbr, thr=dthr_c)
    # cross-checks: the chain rule equals autograd's own gradients of the stored parameters, and
    # clipping then chaining equals chaining then scaling (both steps are linear)
    direct = torch.autograd.grad(loss, [leaves["recurrent_kernel"], thr_leaf], retain_graph=True)
    for got, want in ((dR, direct[0]), (dthr, direct[1])):
        assert float((got - want).abs().max()) <= 1e-12 * max(1.0, float(want.abs().max()))
    for k, g in clipped.items():
        want = unclipped[k] if k == "x" else scale * unclipped[k]
        assert float((g - want).abs().max()) <= 1e-12 * max(1.0, float(want.abs().max())), k
    v = torch.stack([tp["v"].detach() for tp in tape])
    return out, v, unclipped, clipped, float(norm), float(scale)


def chain(R_eff, R, vartheta, thr_leaf, dReff, dth):
    """The stored R's and threshold parameter's gradients for given effective ones (autograd)."""
    outs, grads_out, wrt = [], [], []
    for o, g, leaf in ((R_eff, dReff, R), (vartheta, dth, thr_leaf)):
        if o is leaf:  # no DropConnect / clamp mode: the identity
            continue
        outs.append(o)
        grads_out.append(g)
        wrt.append(leaf)
    got = dict(zip([id(w) for w in wrt], torch.autograd.grad(outs, wrt, grads_out, retain_graph=True))) if outs else {}
    return got.get(id(R), dReff), got.get(id(thr_leaf), dth)


def draw_call(seed, spec, weights=None, max_attempts=1000):
    """Call data (x, y0, upstream gradients, masks; and weights, when none are given) from seed
    on, redrawn until some but not all units fire and no event sits within MARGIN of the threshold
    or of the surrogate's kinks, so that float32 decides the same."""
    cfg = spec["config"]
    for attempt in range(max_attempts):
        d = draw_egru_case(seed + attempt, spec)
        out, v = clipped_call(weights or d, d, cfg, 1.0)[:2]
        if min(margins(v, cfg["s"])) >= MARGIN and 0 < int(out["o"].sum()) < v.numel():
            return seed + attempt, d
    raise RuntimeError(f"no draw from seed {seed} kept the margin")


def clip_case(name, base_seed, max_norm, spec):
    cfg = spec["config"]
    T, B, I, H = spec["T"], spec["B"], spec["I"], spec["H"]
    # the layer's weights come from the first call's draw; the second call keeps them
    seed1, first = draw_call(base_seed, spec)
    weights = {k: first[k] for k in PARAMS + ("thr",)}
    seed2, second = draw_call(base_seed + 500, spec, weights)
    calls = []
    accumulated = {k: torch.zeros_like(weights[k]) for k in PARAMS + ("thr",)}
    for seed, d in ((seed1, first), (seed2, second)):
        out, v, unclipped, clipped, norm, scale = clipped_call(weights, d, cfg, max_norm)
        assert scale < 0.9, f"{name}: the clip must act (scale {scale})"
        for k in accumulated:
            accumulated[k] += clipped[k]
        thr_margin, kink_margin = margins(v, cfg["s"])
        calls.append({
            "seed": seed,
            "inputs": {"x": flat(d["x"]), "y0": flat(d["y0"])},
            "masks": {"dropConnect": flat_mask(d["dc_mask"]), "zoneout": flat_mask(d["zo_mask"])},
            "upstream": {k: flat(d["G"][k]) for k in ("y", "h", "o", "trace")},
            "outputs": {k: flat(out[k]) for k in ("y", "h", "o", "trace")},
            "norm": norm,
            "scale": scale,
            "grads": {k: flat(g) for k, g in unclipped.items()},
            "clipped": {k: flat(g) for k, g in clipped.items()},
            "events": int(out["o"].sum()),
            "margin": min(thr_margin, kink_margin),
        })
        print(f"  {name}: seed={seed} events={calls[-1]['events']}/{T * B * H} norm={norm:.4f} scale={scale:.4f}")
    fixture = {
        "cell": "egru",
        "case": name,
        "dims": {"T": T, "B": B, "I": I, "H": H},
        "config": {**fixture_config(cfg), "maxNorm": float(max_norm)},
        "weights": {k: flat(weights[k]) for k in PARAMS + ("thr",)},
        "calls": calls,
        "accumulated": {k: flat(g) for k, g in accumulated.items()},
    }
    return f"clip-egru-{name}.json", fixture


def main():
    written = []
    print("EGRU clip cases:")
    for name, seed, max_norm, spec in CASES:
        fname, fx = clip_case(name, seed, max_norm, spec)
        written.append(write_fixture(fname, fx))
    manifest_path = OUT_DIR / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    names = {p.name for p in written}
    files = [f for f in manifest["files"] if f["name"] not in names]
    for path in written:
        files.append({"name": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                      "generator": "tools/gen_clip_fixtures.py"})
    manifest["files"] = sorted(files, key=lambda f: f["name"])
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(written)} fixtures and their MANIFEST.json entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
