#!/usr/bin/python3
"""The prototype's training loop in PyTorch, for the engine's 500-step comparison and benchmark.

usage: train_ref.py TOKENS.bin --steps N [--eval-iters K] [--threads T] [--seed S] [--time-steps]
TOKENS.bin holds little-endian uint32 ids. Seed model (engine_ref.Model, design.md section 3) with
vocab_size = max id + 1, batch 4, context 16, dropout 0.1, AdamW(lr=1e-3) with PyTorch defaults;
first 90% of the tokens train, the rest validate; batches at torch.randint offsets like the prototype.
After training prints one JSON line: {"val_loss": mean over K random validation batches (eval mode),
"val_loss_full": mean over every non-overlapping window (offsets 0, 16, 32, ...) of the validation
split, "ms_per_step": ..., "steps": N}.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_ref import Model  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokens")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--eval-iters", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--batch", type=int, default=4)
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
    model.eval()
    with torch.no_grad():
        losses = [model(*get_batch(val))[1].item() for _ in range(a.eval_iters)]
        starts = list(range(0, len(val) - ctx, ctx))  # i + ctx + 1 <= len(val)
        full = []
        for k in range(0, len(starts), 64):
            ix = starts[k:k + 64]
            x = torch.stack([val[i:i + ctx] for i in ix])
            y = torch.stack([val[i + 1:i + ctx + 1] for i in ix])
            full.append(model(x, y)[1].item() * len(ix))
    print(json.dumps({"val_loss": float(np.mean(losses)), "val_loss_full": sum(full) / len(starts),
                      "ms_per_step": ms, "steps": a.steps}))


if __name__ == "__main__":
    main()
