#!/usr/bin/python3
"""The prototype's training loop in PyTorch, for the engine's 500-step comparison and benchmark.

usage: train_ref.py TOKENS.bin --steps N [--eval-iters K] [--threads T] [--seed S] [--time-steps]
TOKENS.bin holds little-endian uint32 ids. Seed model (engine_ref.Model, docs/model-config.md) with
vocab_size = max id + 1, batch 4, context 16, dropout 0.1, AdamW(lr=1e-3) with PyTorch defaults;
first 90% of the tokens train, the rest validate; batches at torch.randint offsets like the prototype.
After training prints one JSON line: {"val_loss": mean over K random validation batches (eval mode),
"val_loss_full": mean over every non-overlapping window (offsets 0, 16, 32, ...) of the validation
split, "ms_per_step": ..., "steps": N}.

--shared DIR: start from a teelm checkpoint written by `teelm train --steps 0` (its weights, and its
training RNG state from optimizer.safetensors) and draw every batch offset and dropout mask exactly as
teelm does (splitmix64, re-implemented here with numpy), so both sides see the same random numbers:
the two runs then differ only by floating-point rounding.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_ref import Model, use_masks  # noqa: E402

M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


class SplitMix:
    """teelm's RNG (src/model/rng.h)."""

    def __init__(self, state):
        self.s = state & M64

    def u64(self, n):
        k = np.arange(1, n + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            z = np.uint64(self.s) + k * np.uint64(GAMMA)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        self.s = (self.s + n * GAMMA) & M64
        return z ^ (z >> np.uint64(31))

    def below(self, n):
        lim = ((1 << 64) - n) % n
        while True:
            x = int(self.u64(1)[0])
            if x >= lim:
                return x % n

    def floats(self, n):
        return (self.u64(n) >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        assert e["dtype"] == "F32"
        tensors[name] = torch.from_numpy(np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").copy()).view(*e["shape"])
    return tensors, meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokens")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--eval-iters", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--shared", help="teelm step-0 checkpoint: same init and random numbers as teelm")
    ap.add_argument("--no-eval", action="store_true", help="skip the losses after training (benchmarks)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    ids = torch.from_numpy(np.fromfile(a.tokens, dtype="<u4").astype(np.int64))
    cfg = {"vocab_size": int(ids.max()) + 1, "context_length": 16, "d_model": 64, "n_layer": 8, "n_head": 4,
           "d_ff": 256, "dropout": 0.1, "ln_eps": 1e-5}
    ctx, B = cfg["context_length"], a.batch
    n_train = int(len(ids) * 0.9)
    train, val = ids[:n_train], ids[n_train:]

    def get_batch(data):
        ix = torch.randint(low=0, high=len(data) - ctx, size=(B,))
        x = torch.stack([data[i:i + ctx] for i in ix])
        y = torch.stack([data[i + 1:i + ctx + 1] for i in ix])
        return x, y

    model = Model(cfg)
    rng = None
    if a.shared:
        weights, _ = read_safetensors(os.path.join(a.shared, "model.safetensors"))
        _, meta = read_safetensors(os.path.join(a.shared, "optimizer.safetensors"))
        assert meta["step"] == "0"
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(weights[name])
        rng = SplitMix(int(meta["rng_state"]))
        L, D, p_drop = cfg["n_layer"], cfg["d_model"], np.float32(cfg["dropout"])
        keep = np.float32(1) / (np.float32(1) - p_drop)

        def get_batch(data):  # noqa: F811 - teelm's sampling (train/dataset.c) and dropout (model.c)
            ix = [rng.below(len(data) - ctx) for _ in range(B)]
            x = torch.stack([data[i:i + ctx] for i in ix])
            y = torch.stack([data[i + 1:i + ctx + 1] for i in ix])
            u = rng.floats(2 * L * B * ctx * D)
            masks = torch.from_numpy(np.where(u < p_drop, np.float32(0), keep).astype(np.float32))
            use_masks(model, masks.view(2 * L, B, ctx, D))
            return x, y
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    t0 = time.time()
    for _ in range(a.steps):
        xb, yb = get_batch(train)
        _, loss = model(xb, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    ms = (time.time() - t0) * 1e3 / max(a.steps, 1)
    if a.shared:  # evaluation batches come from torch's RNG again, without the fixed masks
        for b in model.transformer_blocks:
            b.attention.dropout = torch.nn.Dropout(cfg["dropout"])
            b.feed_forward.dropout = torch.nn.Dropout(cfg["dropout"])

        def get_batch(data):  # noqa: F811
            ix = torch.randint(low=0, high=len(data) - ctx, size=(B,))
            return (torch.stack([data[i:i + ctx] for i in ix]), torch.stack([data[i + 1:i + ctx + 1] for i in ix]))
    if a.no_eval:
        print(json.dumps({"ms_per_step": ms, "steps": a.steps}))
        return
    model.eval()
    with torch.no_grad():
        losses = [model(*get_batch(val))[1].item() for _ in range(a.eval_iters)]
        starts = list(range(0, len(val) - ctx, ctx))  # i + ctx + 1 <= len(val)
        full = []
        for k in range(0, len(starts), B):
            ix = starts[k:k + B]
            x = torch.stack([val[i:i + ctx] for i in ix])
            y = torch.stack([val[i + 1:i + ctx + 1] for i in ix])
            full.append(model(x, y)[1].item() * len(ix))
    print(json.dumps({"val_loss": float(np.mean(losses)), "val_loss_full": sum(full) / len(starts),
                      "ms_per_step": ms, "steps": a.steps}))


if __name__ == "__main__":
    main()
