#!/usr/bin/python3
"""Train the model of `egru export --format pytorch` in PyTorch: gradients, and one optimizer step.

The model is tools/egru_pytorch.py's (plain nn.Modules; the EGRU's event has the spec's
pseudo-derivative as its backward, and a layer whose _max_norm is > 0 clips its own gradients inside
backward as EvNN's grad_clip does). Both commands read an exported directory's config.json and
weights, and an inputs safetensors file: "x" [T, B, I] (classifiers) or "tokens" [T, B]
(language models, ids stored as floats), and the loss's data: "labels" [B] (classifiers) or
"targets" [T, B] (language models), for the mean cross-entropy; or "dlogits", shaped as the logits,
for the loss sum(logits * dlogits), whose gradient at the logits is dlogits.

    /usr/bin/python3 tools/pytorch_train_step.py grad --config DIR/config.json \
        --weights DIR/model.safetensors --inputs INPUTS.safetensors --out GRADS.safetensors

writes every trainable parameter's gradient under its state-dict name (a tied weight once, under
its first name) and prints {"loss", "layers"} as JSON ("layers": per EGRU layer its events and
margin, the smallest |c - theta|, as `egru_pytorch.py run` reports them).

    /usr/bin/python3 tools/pytorch_train_step.py step --config DIR/config.json \
        --weights DIR/model.safetensors --inputs INPUTS.safetensors \
        --optimizer adam|sgd --lr LR [--momentum M] --out MODEL.pt|MODEL.safetensors

takes one step of torch.optim.Adam (default betas and eps) or torch.optim.SGD and saves the
updated state dict: .pt with torch.save (tools/evnn_to_safetensors.py converts it for `egru
import`), .safetensors directly. It prints {"loss", "layers", "grad_norm"} (the global gradient
norm before the step) as JSON. Inputs are given, and the model has no dropout, so the step is
deterministic. With --processes N the step runs in torch.nn.parallel.DistributedDataParallel on N
CPU processes (the gloo backend), each on an equal slice of the batch: DDP averages their
gradients, which gives the one-process step on the whole batch when the clip inside backward does
not act (it acts on each process's own gradients, before they are averaged, as it would in EvNN).

Requirements: Debian's python3-torch (PyTorch 1.13) and the Python standard library.
"""

import argparse
import json
import os
import sys
import tempfile

import torch
from torch import distributed as dist
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from egru_pytorch import (  # noqa: E402
    build,
    forward_inputs,
    layer_stats,
    load_weights,
    read_config,
    read_safetensors,
    write_safetensors,
)


def load_model(a):
    cfg = read_config(a.config)
    model = build(cfg).train()
    load_weights(model, a.weights)
    return cfg, model


def batch_part(inputs, rank, processes):
    """Process rank's share of the batch: an equal slice of B (x, tokens, targets: dim 1; labels: dim 0)."""
    if processes == 1:
        return inputs
    part = {}
    for k, t in inputs.items():
        dim = 0 if k == "labels" else 1
        if k == "dlogits" or t.shape[dim] % processes:
            raise SystemExit(f"--processes {processes}: {k} {list(t.shape)} does not split into equal batch parts")
        n = t.shape[dim] // processes
        part[k] = t.narrow(dim, rank * n, n)
    return part


def loss_of(module, cfg, inputs):
    """The loss of `module` (the model, or the model in DistributedDataParallel) on the inputs."""
    logits = forward_inputs(module, cfg, inputs)
    if "dlogits" in inputs:
        return (logits * inputs["dlogits"].to(logits.dtype).reshape(logits.shape)).sum()
    if cfg["type"] == "language-model":
        return F.cross_entropy(logits, inputs["targets"].to(torch.int64).reshape(-1))
    return F.cross_entropy(logits, inputs["labels"].to(torch.int64))


def trainable(model):
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def cmd_grad(a):
    cfg, model = load_model(a)
    loss = loss_of(model, cfg, read_safetensors(a.inputs))
    loss.backward()
    grads = {n: p.grad if p.grad is not None else torch.zeros_like(p) for n, p in trainable(model)}
    write_safetensors(a.out, grads, {"format": "egru-pytorch-grads"})
    print(json.dumps({"loss": loss.item(), "layers": layer_stats(model)}))


def step(a, rank=0):
    """One optimizer step of process `rank` of a.processes (more than one: in DistributedDataParallel,
    each on its part of the batch); process 0 saves the state dict and prints the figures."""
    cfg, model = load_model(a)
    module = model if a.processes == 1 else DistributedDataParallel(model)
    params = [p for _, p in trainable(model)]
    if a.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=a.lr)
    else:
        opt = torch.optim.SGD(params, lr=a.lr, momentum=a.momentum)
    opt.zero_grad()
    loss = loss_of(module, cfg, batch_part(read_safetensors(a.inputs), rank, a.processes))
    loss.backward()
    norm = torch.sqrt(sum(p.grad.double().square().sum() for p in params if p.grad is not None))
    opt.step()
    mean_loss = loss.detach().clone()
    if a.processes > 1:
        dist.all_reduce(mean_loss)
        mean_loss /= a.processes
    if rank:
        return
    state = model.state_dict()
    if a.out.endswith(".safetensors"):
        write_safetensors(a.out, state, {"format": "egru-pytorch-1"})
    else:
        torch.save(state, a.out)
    print(json.dumps({"loss": mean_loss.item(), "layers": layer_stats(model), "grad_norm": float(norm)}))


def ddp_worker(rank, a, store):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=a.processes)
    try:
        step(a, rank)
    finally:
        dist.destroy_process_group()


def cmd_step(a):
    if a.processes == 1:
        step(a)
        return
    with tempfile.TemporaryDirectory() as d:
        torch.multiprocessing.spawn(ddp_worker, args=(a, os.path.join(d, "store")), nprocs=a.processes)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, func, what in (
        ("grad", cmd_grad, "write the gradients of the loss as safetensors"),
        ("step", cmd_step, "one optimizer step; save the updated state dict (.pt or .safetensors)"),
    ):
        c = sub.add_parser(name, help=what)
        c.add_argument("--config", required=True)
        c.add_argument("--weights", required=True)
        c.add_argument("--inputs", required=True)
        c.add_argument("--out", required=True)
        c.set_defaults(func=func)
        if name == "step":
            c.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
            c.add_argument("--lr", type=float, required=True)
            c.add_argument("--momentum", type=float, default=0.0)
            c.add_argument("--processes", type=int, default=1)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
