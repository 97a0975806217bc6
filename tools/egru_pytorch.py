#!/usr/bin/python3
"""The PyTorch side of egru's bridge: the models of `egru export --format pytorch` as plain nn.Modules.

`egru export RUN_DIR --format pytorch --out DIR` writes DIR/model.safetensors (the weights under the
names of the modules below) and DIR/config.json (the architecture). This script builds that model
with torch alone (no EvNN install), loads the weights, runs inputs and writes the outputs as JSON:

    /usr/bin/python3 tools/egru_pytorch.py run --config DIR/config.json --weights DIR/model.safetensors \
        --inputs INPUTS.safetensors [--out OUT.json]

INPUTS.safetensors holds "x" [T, B, I] (classifiers, time-major; with a CNN front-end I = C*H*W) or
"tokens" [T, B] (language models, word ids stored as floats). The JSON has "logits" (flat, [B, C] or
[T*B, V]), per layer "events" (how many o = 1) and "margin" (the smallest |c - theta| seen, which
says how far the nearest event decision was from flipping), and the "shape" of the logits.

    /usr/bin/python3 tools/egru_pytorch.py init --config CONFIG.json --seed S --out MODEL.pt \
        [--dtype float32|float16|bfloat16]

builds the same model with seeded random weights and saves its state_dict with torch.save, in
EvNN's layout (the checkpoints `egru import` reads, after tools/evnn_to_safetensors.py). With
float16/bfloat16 the weights are rounded to that type first and saved in it.

The models (names as in EvNN's benchmark code, so its checkpoints load by name):
  EGRU layer   kernel [I, 3H], recurrent_kernel [H, 3H], bias [3H], recurrent_bias [3H] (gate blocks
               z, r, g), thr [H] (EvNN v0.2: clamped to [0, 1] in place before each forward, then
               theta = thr) or thr_reparam [H] (v0.1: theta = sigmoid(thr_reparam)), and EvNN's fixed
               scalars dampening_factor (gamma), pseudo_derivative_support (s) and _max_norm [1]
               (the clip inside backward, config egru.gradClip; -1 = off)
  GRU, LSTM    torch.nn.GRU / torch.nn.LSTM of one layer each (weight_ih_l0, ...; PyTorch's gate order)
  classifier   conv.{k} (an nn.Sequential CNN applied to every frame, Flatten before its Linear),
               layers.{l} (one recurrent module per layer), fc (nn.Linear readout);
               forward(x [T, B, I]) -> logits [B, C]
  language     embeddings (nn.Embedding), rnns.{l}, decoder.decoder (nn.Linear whose weight IS the
  model        embedding's: tied); forward(tokens [T, B], state=None) -> logits [T*B, V], the state
               after the segment in model.final_state (per layer: EGRU y, GRU h, LSTM (h, c))
After a forward, model.stats holds per layer {events, margin} (EGRU, tensors) or None.

The EGRU equations are written here from the egru specification (egru-spec.md section 2), in
float32 (the default torch dtype), without dropout, DropConnect or zoneout masks:
  z = sigmoid(Wx_z + bx_z + Ry_z + br_z), r = sigmoid(Wx_r + bx_r + Ry_r + br_r)
  g = tanh(Wx_g + bx_g + r * (Ry_g + br_g)),  c = z * h + (1 - z) * g
  o = [c - theta > 0],  y = c * o,  h = c - o * theta,  tr = a * tr + (1 - a) * y
with y_0 = the given state or 0, h_0 = tr_0 = 0 and Ry = y_{t-1} @ recurrent_kernel. A stacked EGRU
layer reads the events y of the layer below; the readout reads the trace (readouts "trace",
"trace-mean") or the output. The modules are ordinary nn.Modules with nn.Parameters, so they train
(one device, or wrapped in DistributedDataParallel): autograd differentiates the equations, the
event's backward being the spec's pseudo-derivative (section 5) gamma * max(0, 1 - s * |c - theta|),
and a layer with _max_norm > 0 scales its own gradients of y_0, W, R, bx, br and theta (not x) by
clamp(max_norm / (norm + 1e-6), 0, 1) inside backward (section 7.3). tools/pytorch_train_step.py
takes an optimizer step and saves the state dict that `egru import` reads.

Requirements: Debian's python3-torch (PyTorch 1.13) and the Python standard library.
"""

import argparse
import json
import struct
import sys

import torch
from torch import nn

# ----------------------------------------------------------------------------- safetensors

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    """Tensors by name from a safetensors file (8-byte little-endian header length, JSON header, data)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    data = blob[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in DTYPES:
            raise SystemExit(f"{path}: tensor {name}: dtype {info['dtype']} is not one of {', '.join(DTYPES)}")
        begin, end = info["data_offsets"]
        raw = bytearray(data[begin:end])
        t = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]]) if end > begin else torch.empty(0)
        out[name] = t.reshape(info["shape"]).clone()
    return out


def write_safetensors(path, tensors, metadata=None):
    """Write tensors (float32, float16, bfloat16 or float64; little-endian, as torch stores them on x86 and arm)."""
    header = {"__metadata__": metadata} if metadata else {}
    chunks, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype not in NAMES:
            raise SystemExit(f"tensor {name}: dtype {t.dtype} cannot be written (float tensors only)")
        raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode("utf-8"))
        for c in chunks:
            f.write(c)


# ----------------------------------------------------------------------------- layers


class Heaviside(torch.autograd.Function):
    """The event o = [v > 0] (so H(0) = 0), v = c - theta; its backward is the spec's pseudo-derivative
    (section 5), the triangle gamma * max(0, 1 - s * |v|), with gamma and s tensors of shape [1]."""

    @staticmethod
    def forward(ctx, v, gamma, support):
        ctx.save_for_backward(v, gamma, support)
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        v, gamma, support = ctx.saved_tensors
        return grad * (gamma * torch.clamp(1 - support * v.abs(), min=0)), None, None


class ClipInBackward(torch.autograd.Function):
    """Identity in the forward. In the backward, the gradients of all its inputs (one layer's y0, W, R,
    bx, br and theta) are scaled together by clamp(max_norm / (norm + 1e-6), 0, 1), norm = their joint
    L2 norm (spec section 7.3, EvNN's grad_clip over exactly these six); the layer's input x does not
    pass through it, so dx is never scaled."""

    @staticmethod
    def forward(ctx, max_norm, *tensors):
        ctx.max_norm = max_norm
        return tuple(t.clone() for t in tensors)

    @staticmethod
    def backward(ctx, *grads):
        norm = torch.sqrt(sum(g.double().square().sum() for g in grads))
        factor = torch.clamp(ctx.max_norm / (norm + 1e-6), 0.0, 1.0)
        return (None, *(g * factor.to(g.dtype) for g in grads))


class EGRU(nn.Module):
    """One EGRU layer, time-major: forward(x [T, B, I], y0 [B, H] or None) -> y, h, o, trace, each
    [T, B, H]. Differentiable: the event's backward is the pseudo-derivative (Heaviside), and with
    _max_norm > 0 (EvNN's grad_clip) the layer's parameter and y0 gradients are clipped in backward."""

    def __init__(self, input_size, hidden_size, threshold_mode="clamp", trace_decay=0.9,
                 dampening_factor=0.7, pseudo_derivative_support=1.0, grad_clip=0.0):
        super().__init__()
        self.hidden_size = hidden_size
        self.threshold_mode = threshold_mode
        self.trace_decay = trace_decay
        self.kernel = nn.Parameter(torch.empty(input_size, 3 * hidden_size))
        self.recurrent_kernel = nn.Parameter(torch.empty(hidden_size, 3 * hidden_size))
        self.bias = nn.Parameter(torch.zeros(3 * hidden_size))
        self.recurrent_bias = nn.Parameter(torch.zeros(3 * hidden_size))
        fixed = lambda v: nn.Parameter(torch.tensor([float(v)]), requires_grad=False)  # noqa: E731
        self.dampening_factor = fixed(dampening_factor)
        self.pseudo_derivative_support = fixed(pseudo_derivative_support)
        self._max_norm = fixed(grad_clip if grad_clip and grad_clip > 0 else -1.0)  # EvNN: -1 = no clip
        thr = nn.Parameter(torch.zeros(hidden_size))
        if threshold_mode == "clamp":
            self.thr = thr
        elif threshold_mode == "sigmoid":
            self.thr_reparam = thr
        else:
            raise SystemExit(f"threshold mode {threshold_mode!r}: expected clamp or sigmoid")

    def thresholds(self):
        """theta [H]. v0.2 (clamp): thr is clamped to [0, 1] in place, outside autograd, and used as
        theta (its gradient is d theta); v0.1 (sigmoid): theta = sigmoid(thr_reparam), through autograd."""
        if self.threshold_mode == "clamp":
            with torch.no_grad():
                self.thr.clamp_(0.0, 1.0)
            return self.thr
        return torch.sigmoid(self.thr_reparam)

    def forward(self, x, y0=None):
        T, B, _ = x.shape
        H = self.hidden_size
        theta = self.thresholds()
        y = x.new_zeros(B, H) if y0 is None else y0
        W, R, bx, br = self.kernel, self.recurrent_kernel, self.bias, self.recurrent_bias
        max_norm = float(self._max_norm) if torch.is_grad_enabled() else -1.0
        if max_norm > 0:
            y, W, R, bx, br, theta = ClipInBackward.apply(max_norm, y, W, R, bx, br, theta)
        gamma, support = self.dampening_factor, self.pseudo_derivative_support
        wx = x @ W + bx
        h = x.new_zeros(B, H)
        tr = x.new_zeros(B, H)
        ys, hs, os, trs, margins = [], [], [], [], []
        a = self.trace_decay
        for t in range(T):
            ry = y @ R + br
            wz, wr, wg = wx[t].chunk(3, dim=1)
            rz, rr, rg = ry.chunk(3, dim=1)
            z = torch.sigmoid(wz + rz)
            r = torch.sigmoid(wr + rr)
            g = torch.tanh(wg + r * rg)
            c = z * h + (1 - z) * g
            v = c - theta
            o = Heaviside.apply(v, gamma, support)
            y = c * o
            h = c - o * theta
            tr = a * tr + (1 - a) * y
            ys.append(y)
            hs.append(h)
            os.append(o)
            trs.append(tr)
            margins.append(v.detach().abs().min())
        o = torch.stack(os)
        # what cmd_run reports (tensors: no device sync during training)
        self.last_events = o.detach().sum()
        self.last_margin = torch.stack(margins).min() if margins else x.new_tensor(float("inf"))
        return torch.stack(ys), torch.stack(hs), o, torch.stack(trs)


def recurrent_layer(cell, input_size, hidden_size, egru):
    if cell == "egru":
        return EGRU(input_size, hidden_size, egru["thresholdMode"], egru["traceDecay"],
                    egru["dampeningFactor"], egru["pseudoDerivativeSupport"], egru.get("gradClip", 0.0))
    if cell == "gru":
        return nn.GRU(input_size, hidden_size)
    if cell == "lstm":
        return nn.LSTM(input_size, hidden_size)
    raise SystemExit(f"cell {cell!r}: expected egru, gru or lstm")


def run_layers(layers, x, state=None):
    """Run a stack: each layer reads the one below's output (EGRU: its events y), from `state` (per
    layer: EGRU y0 [B, H], GRU h0 [1, B, H], LSTM (h0, c0); None: zeros). Returns the last layer's
    output and trace (None for GRU/LSTM), per layer {events, margin} (tensors) or None, and the
    final state (detached, to carry into the next segment)."""
    out, trace, stats, final = x, None, [], []
    for l, layer in enumerate(layers):
        s = state[l] if state is not None else None
        if isinstance(layer, EGRU):
            out, _, _, trace = layer(out, s)
            stats.append({"events": layer.last_events, "margin": layer.last_margin})
            final.append(out[-1].detach())
        else:
            out, last = layer(out, s)
            trace = None
            stats.append(None)
            final.append(tuple(t.detach() for t in last) if isinstance(last, tuple) else last.detach())
    return out, trace, stats, final


# ----------------------------------------------------------------------------- models


def cnn(spec):
    mods = []
    for s in spec:
        k = s["kind"]
        if k == "conv":
            mods.append(nn.Conv2d(s["in"], s["out"], s["kernel"], stride=s["stride"], padding=s["padding"]))
        elif k == "relu":
            mods.append(nn.ReLU())
        elif k == "pool":
            mods.append(nn.MaxPool2d(s["kernel"], stride=s["stride"]))
        elif k == "flatten":
            mods.append(nn.Flatten())
        elif k == "linear":
            mods.append(nn.Linear(s["in"], s["out"]))
        else:
            raise SystemExit(f"front-end layer kind {k!r}: expected conv, relu, pool, flatten or linear")
    return nn.Sequential(*mods)


class Classifier(nn.Module):
    """[CNN per frame] -> recurrent layers -> readout; forward(x [T, B, I]) -> logits [B, C]. After a
    forward, self.stats holds per layer {events, margin} (EGRU, tensors) or None."""

    def __init__(self, cfg):
        super().__init__()
        fe = cfg.get("frontEnd")
        self.frame = (fe["channels"], fe["height"], fe["width"]) if fe else None
        if fe:
            self.conv = cnn(fe["layers"])
        self.layers = nn.ModuleList(
            recurrent_layer(cfg["cell"], l["input"], l["hidden"], cfg.get("egru")) for l in cfg["layers"]
        )
        self.readout = cfg["readout"]
        self.fc = nn.Linear(cfg["layers"][-1]["hidden"], cfg["classes"])
        self.stats = []

    def forward(self, x):
        T, B = x.shape[0], x.shape[1]
        if self.frame:
            x = self.conv(x.reshape(T * B, *self.frame)).reshape(T, B, -1)
        out, trace, self.stats, _ = run_layers(self.layers, x)
        read = trace if self.readout.startswith("trace") else out
        if self.readout in ("trace", "last"):
            return self.fc(read[-1])
        return self.fc(read).mean(dim=0)  # "mean", "trace-mean": logits averaged over time


class Decoder(nn.Module):
    def __init__(self, dim, vocab):
        super().__init__()
        self.decoder = nn.Linear(dim, vocab)


class LanguageModel(nn.Module):
    """embedding -> layers E->H->...->E -> decoder tied to the embedding; forward(tokens [T, B],
    state=None) -> logits [T*B, V]. After a forward, self.stats as the classifier's, and
    self.final_state the state after the segment (detached: pass it as the next segment's state)."""

    def __init__(self, cfg):
        super().__init__()
        self.embeddings = nn.Embedding(cfg["vocab"], cfg["embedding"])
        self.rnns = nn.ModuleList(
            recurrent_layer(cfg["cell"], l["input"], l["hidden"], cfg.get("egru")) for l in cfg["layers"]
        )
        self.decoder = Decoder(cfg["embedding"], cfg["vocab"])
        self.decoder.decoder.weight = self.embeddings.weight  # tied
        self.stats, self.final_state = [], None

    def forward(self, tokens, state=None):
        out, _, self.stats, self.final_state = run_layers(self.rnns, self.embeddings(tokens), state)
        return self.decoder.decoder(out.reshape(-1, out.shape[-1]))


def build(cfg):
    if cfg.get("format") != "egru-pytorch-1":
        raise SystemExit(f"config format {cfg.get('format')!r}: expected 'egru-pytorch-1' (egru export --format pytorch)")
    if cfg["type"] == "sequence-classifier":
        return Classifier(cfg)
    if cfg["type"] == "language-model":
        return LanguageModel(cfg)
    raise SystemExit(f"model type {cfg['type']!r}: expected sequence-classifier or language-model")


# ----------------------------------------------------------------------------- commands


def load_weights(model, path):
    tensors = read_safetensors(path)
    want = model.state_dict()
    missing = [k for k in want if k not in tensors]
    unexpected = [k for k in tensors if k not in want]
    if missing or unexpected:
        raise SystemExit(f"{path}: missing {missing}, unexpected {unexpected}")
    for k, t in tensors.items():
        if tuple(t.shape) != tuple(want[k].shape):
            raise SystemExit(f"{path}: tensor {k}: shape {list(t.shape)}, the model has {list(want[k].shape)}")
    model.load_state_dict({k: t.to(torch.float32) for k, t in tensors.items()})


def read_config(path):
    with open(path) as f:
        return json.load(f)


def forward_inputs(model, cfg, inputs):
    """The model's logits for an inputs file's "tokens" (language models) or "x" (classifiers)."""
    if cfg["type"] == "language-model":
        return model(inputs["tokens"].to(torch.int64))
    return model(inputs["x"].to(torch.float32))


def layer_stats(model):
    """The last forward's per-layer figures as JSON: {events, margin} (EGRU) or None."""
    return [{"events": int(s["events"]), "margin": float(s["margin"])} if s else None for s in model.stats]


def write_json(result, out):
    text = json.dumps(result)
    if out:
        with open(out, "w") as f:
            f.write(text)
    else:
        print(text)


def cmd_run(a):
    cfg = read_config(a.config)
    model = build(cfg).eval()
    load_weights(model, a.weights)
    with torch.no_grad():
        logits = forward_inputs(model, cfg, read_safetensors(a.inputs))
    result = {"shape": list(logits.shape), "logits": logits.reshape(-1).tolist(), "layers": layer_stats(model)}
    write_json(result, a.out)


def cmd_init(a):
    cfg = read_config(a.config)
    torch.manual_seed(a.seed)
    model = build(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            if name.endswith("thr"):
                p.uniform_(0.0, 0.3)
            elif name.endswith("thr_reparam"):
                p.normal_(-2.0, 0.8)
            elif p.dim() >= 2:
                nn.init.xavier_normal_(p)
            else:
                p.normal_(0.0, 0.1)
    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[a.dtype]
    state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save(state, a.out)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="load exported weights, run inputs, print logits and events as JSON")
    r.add_argument("--config", required=True)
    r.add_argument("--weights", required=True)
    r.add_argument("--inputs", required=True)
    r.add_argument("--out")
    r.set_defaults(func=cmd_run)
    i = sub.add_parser("init", help="seeded random weights, saved as a .pt state dict in EvNN's layout")
    i.add_argument("--config", required=True)
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32")
    i.add_argument("--out", required=True)
    i.set_defaults(func=cmd_init)
    args = p.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
