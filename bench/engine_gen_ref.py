#!/usr/bin/python3
"""The prototype's generation loop in PyTorch, for bench/engine.sh: the seed model (random weights:
speed does not depend on them), prompt ids [791] ("The" in cl100k_base), 100 new tokens; every step
crops to the last 16 tokens, computes the logits of all positions, softmax of the last, multinomial.
Prints {"tokens_per_s": median over --runs, "runs": [...]}. Runs under torch.no_grad() (PyTorch's
fastest form of the loop)."""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from engine_ref import Model  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--tokens", type=int, default=100)
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--vocab", type=int, default=100070)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1337)
cfg = {"vocab_size": a.vocab, "context_length": 16, "d_model": 64, "n_layer": 8, "n_head": 4, "d_ff": 256,
       "dropout": 0.1, "ln_eps": 1e-5}
model = Model(cfg)
model.eval()
rates = []
with torch.no_grad():
    for _ in range(a.runs):
        idx = torch.tensor([[791]], dtype=torch.long)
        t0 = time.time()
        for _ in range(a.tokens):
            logits, _ = model(idx[:, -16:])
            probs = F.softmax(logits[:, -1, :], dim=-1)
            idx = torch.cat((idx, torch.multinomial(probs, num_samples=1)), dim=1)
        rates.append(a.tokens / (time.time() - t0))
print(json.dumps({"tokens_per_s": statistics.median(rates), "runs": rates}))
