#!/usr/bin/python3
"""Independent reference for the server's greedy completions (tests/server/test_server_e2e.sh):
loads DIR/model.safetensors (header parsed here, tensors by their PyTorch names) into the
PyTorch model of engine_ref.py, continues the prompt ids greedily the prototype's way (crop to the
last context_length tokens, last position's argmax), and decodes the new ids with the .tiktoken
file's bytes (UTF-8, invalid bytes as U+FFFD). Prints one JSON line {"ids": [...], "text": "..."}.
usage: server_greedy_ref.py MODEL_DIR TIKTOKEN_FILE NEW_TOKENS PROMPT_ID...
"""
import base64
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_ref import Model  # noqa: E402


def load(model_dir):
    data = open(os.path.join(model_dir, "model.safetensors"), "rb").read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    cfg = json.loads(header["__metadata__"]["config"])
    model = Model(cfg)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, p in params.items():
            t = header[name]
            a, b = t["data_offsets"]
            arr = np.frombuffer(data, dtype=np.float32, count=(b - a) // 4, offset=8 + n + a)
            p.copy_(torch.from_numpy(arr.copy()).view(*t["shape"]))
    model.eval()
    return model, cfg


def main():
    model_dir, tik, new = sys.argv[1], sys.argv[2], int(sys.argv[3])
    prompt = [int(x) for x in sys.argv[4:]]
    torch.set_num_threads(1)
    model, cfg = load(model_dir)
    ranks = {}
    for line in open(tik, "rb"):
        tok, rank = line.split()
        ranks[int(rank)] = base64.b64decode(tok)
    idx = torch.tensor([prompt], dtype=torch.long)
    with torch.no_grad():
        for _ in range(new):
            lg, _ = model(idx[:, -cfg["context_length"]:])
            idx = torch.cat([idx, torch.argmax(lg[:, -1, :], dim=-1, keepdim=True)], dim=1)
    ids = idx[0, len(prompt):].tolist()
    text = b"".join(ranks[i] for i in ids).decode("utf-8", errors="replace")
    print(json.dumps({"ids": ids, "text": text}))


main()
