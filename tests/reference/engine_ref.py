#!/usr/bin/python3
"""Independent PyTorch reference for the engine tests (tests/model/test_engine_torch.c).

The prototype's Model exactly as docs/engine.md and docs/model-config.md describe it (post-norm blocks, per-head
q/k/v without bias, scores divided by 1/sqrt(head), causal mask, sinusoidal positions, ReLU MLP,
final linear with bias), plus the variants as switches, written with plain torch.nn modules and
the prototype's state_dict names. It shares no code with the C engine.

usage: engine_ref.py DIR
DIR/manifest.json: {"config": {...model config JSON...}, "B": b, "T": t, "arena_floats": n,
                    "params": [{"name", "offset", "shape"}],
                    "adam": {"steps", "lr", "eps", "weight_decay"}, "greedy": {"prompt": [...], "new": k}}
DIR/params.bin (float32 arena), tokens.bin / targets.bin (uint32, B*T).
Writes DIR/logits.bin (float32 [B,T,V]), grads.bin (arena layout), params_step1.bin and
params_after.bin (arena after the first and after all AdamW steps) and out.json {"loss", "adam_losses", "greedy"}.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Head(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, ctx = cfg["d_model"], cfg["context_length"]
        self.hs = d // cfg["n_head"]
        self.inv_sqrt = cfg.get("attn_scale", "sqrt") == "inv_sqrt"
        self.q_lin = nn.Linear(d, self.hs, bias=False)
        self.k_lin = nn.Linear(d, self.hs, bias=False)
        self.v_lin = nn.Linear(d, self.hs, bias=False)
        self.register_buffer("mask", torch.tril(torch.ones(ctx, ctx)))

    def forward(self, x):
        _, t, _ = x.shape
        q, k, v = self.q_lin(x), self.k_lin(x), self.v_lin(x)
        w = q @ k.transpose(-2, -1)
        if self.inv_sqrt:
            w = w / math.sqrt(self.hs)
        else:
            w = w / (1.0 / math.sqrt(self.hs))  # the prototype's quirk: multiplies by sqrt(head)
        w = w.masked_fill(self.mask[:t, :t] == 0, float("-inf"))
        w = F.softmax(w, dim=-1)
        return w @ v


class MultiHeadAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["d_model"]
        self.attention_heads = nn.ModuleList([Head(cfg) for _ in range(cfg["n_head"])])
        self.projection_layer = nn.Linear(d, d)
        self.dropout = nn.Dropout(cfg["dropout"])

    def forward(self, x):
        out = torch.cat([h(x) for h in self.attention_heads], dim=-1)
        return self.dropout(self.projection_layer(out))


class FeedForward(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.linear1 = nn.Linear(cfg["d_model"], cfg["d_ff"])
        self.linear2 = nn.Linear(cfg["d_ff"], cfg["d_model"])
        self.act = nn.GELU() if cfg.get("act", "relu") == "gelu" else nn.ReLU()
        self.dropout = nn.Dropout(cfg["dropout"])

    def forward(self, x):
        return self.dropout(self.linear2(self.act(self.linear1(x))))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["d_model"], cfg["ln_eps"]
        self.prenorm = cfg.get("norm", "post") == "pre"
        self.attention = MultiHeadAttention(cfg)
        self.feed_forward = FeedForward(cfg)
        self.layer_norm1 = nn.LayerNorm(d, eps=eps)
        self.layer_norm2 = nn.LayerNorm(d, eps=eps)

    def forward(self, x):
        if self.prenorm:
            x = x + self.attention(self.layer_norm1(x))
            return x + self.feed_forward(self.layer_norm2(x))
        x = self.layer_norm1(x + self.attention(x))
        return self.layer_norm2(x + self.feed_forward(x))


class Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v, d, ctx = cfg["vocab_size"], cfg["d_model"], cfg["context_length"]
        self.cfg = cfg
        self.token_embedding_table = nn.Embedding(v, d)
        self.learned = cfg.get("pos", "sinusoidal") == "learned"
        if self.learned:
            self.position_embedding_table = nn.Embedding(ctx, d)
        else:
            pe = torch.zeros(ctx, d)
            position = torch.arange(0, ctx, dtype=torch.float).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d, 2).float() * (-math.log(10000.0) / d))
            pe[:, 0::2] = torch.sin(position * div_term)
            pe[:, 1::2] = torch.cos(position * div_term)
            self.register_buffer("pe", pe, persistent=False)
        self.transformer_blocks = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])])
        if cfg.get("norm", "post") == "pre":
            self.final_layer_norm = nn.LayerNorm(d, eps=cfg["ln_eps"])
        self.final_linear_layer = nn.Linear(d, v)
        if cfg.get("tie_embeddings", False):
            self.final_linear_layer.weight = self.token_embedding_table.weight

    def forward(self, idx, targets=None):
        _, t = idx.shape
        pos = self.position_embedding_table.weight[:t] if self.learned else self.pe[:t]
        x = self.token_embedding_table(idx) + pos
        for b in self.transformer_blocks:
            x = b(x)
        if hasattr(self, "final_layer_norm"):
            x = self.final_layer_norm(x)
        logits = self.final_linear_layer(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
        return logits, loss


class FixedMasks(nn.Module):
    """Dropout with given masks (0 or 1/(1-p)), consumed in forward order, so a training-mode
    forward can be compared exactly with the engine's (which draws the same masks)."""

    def __init__(self, state, masks):
        super().__init__()
        self.state, self.masks = state, masks

    def forward(self, x):
        m = self.masks[self.state["i"]]
        self.state["i"] += 1
        return x * m


def use_masks(model, masks):
    state = {"i": 0}
    for b in model.transformer_blocks:
        b.attention.dropout = FixedMasks(state, masks)
        b.feed_forward.dropout = FixedMasks(state, masks)
    return state


def load_arena(model, manifest, arena):
    params = dict(model.named_parameters())
    names = {p["name"] for p in manifest["params"]}
    if names != set(params):
        sys.exit("engine_ref: parameter names differ: only in file %s, only in model %s"
                 % (sorted(names - set(params)), sorted(set(params) - names)))
    with torch.no_grad():
        for p in manifest["params"]:
            n = int(np.prod(p["shape"]))
            src = torch.from_numpy(arena[p["offset"]:p["offset"] + n].copy()).view(*p["shape"])
            if tuple(params[p["name"]].shape) != tuple(p["shape"]):
                sys.exit("engine_ref: shape of %s differs" % p["name"])
            params[p["name"]].copy_(src)


def to_arena(manifest, tensors):
    out = np.zeros(manifest["arena_floats"], dtype=np.float32)
    for p in manifest["params"]:
        t = tensors[p["name"]].detach().reshape(-1).numpy()
        out[p["offset"]:p["offset"] + t.size] = t
    return out


def main():
    d = sys.argv[1]
    torch.set_num_threads(1)
    man = json.load(open(os.path.join(d, "manifest.json")))
    cfg = man["config"]
    B, T = man["B"], man["T"]
    arena = np.fromfile(os.path.join(d, "params.bin"), dtype=np.float32)
    tokens = torch.from_numpy(np.fromfile(os.path.join(d, "tokens.bin"), dtype=np.uint32).astype(np.int64)).view(B, T)
    targets = torch.from_numpy(np.fromfile(os.path.join(d, "targets.bin"), dtype=np.uint32).astype(np.int64)).view(B, T)

    model = Model(cfg)
    load_arena(model, man, arena)
    out = {}

    model.eval()
    logits, loss = model(tokens, targets)
    logits.detach().numpy().astype(np.float32).tofile(os.path.join(d, "logits.bin"))
    out["loss"] = loss.item()
    model.zero_grad()
    loss.backward()
    to_arena(man, {n: p.grad for n, p in model.named_parameters()}).tofile(os.path.join(d, "grads.bin"))

    if man.get("dropout_masks"):
        # training-mode forward/backward with the engine's dropout masks
        L, D = cfg["n_layer"], cfg["d_model"]
        masks = torch.from_numpy(np.fromfile(os.path.join(d, "masks.bin"), dtype=np.float32)).view(2 * L, B, T, D)
        model2 = Model(cfg)
        load_arena(model2, man, arena)
        st = use_masks(model2, masks)
        _, loss2 = model2(tokens, targets)
        assert st["i"] == 2 * L
        out["loss_dropout"] = loss2.item()
        loss2.backward()
        to_arena(man, {n: p.grad for n, p in model2.named_parameters()}).tofile(os.path.join(d, "grads_dropout.bin"))

    g = man.get("greedy")
    if g:
        with torch.no_grad():
            idx = torch.tensor([g["prompt"]], dtype=torch.long)
            for _ in range(g["new"]):
                cond = idx[:, -cfg["context_length"]:]
                lg, _ = model(cond)
                nxt = torch.argmax(lg[:, -1, :], dim=-1, keepdim=True)
                idx = torch.cat([idx, nxt], dim=1)
        out["greedy"] = idx[0, len(g["prompt"]):].tolist()

    a = man.get("adam")
    if a:
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=a["lr"], eps=a["eps"], weight_decay=a["weight_decay"])
        losses = []
        for _ in range(a["steps"]):
            _, loss = model(tokens, targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if len(losses) == 1:
                to_arena(man, dict(model.named_parameters())).tofile(os.path.join(d, "params_step1.bin"))
        out["adam_losses"] = losses
        to_arena(man, dict(model.named_parameters())).tofile(os.path.join(d, "params_after.bin"))

    json.dump(out, open(os.path.join(d, "out.json"), "w"))


if __name__ == "__main__":
    main()
