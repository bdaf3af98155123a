#!/usr/bin/python3
"""What the PyTorch reference reads from a Hugging Face directory, for teelm's loader tests:

  hf_sums.py DIR [--as F16|BF16|F32]

prints one line per tensor the model uses, in tests/reference/hf_models.py expected_tensors order:
  CANONICAL_NAME STORED_DTYPE SHA256(float32 values, little-endian, row-major)
The values are those hf_models.load_dir returns (every refusal applied first); --as rounds them
to that dtype as torch's .to() does (what `teelm export --dtype` must write), then widens back.
The dtype printed is the stored one, from the file headers (or the --as dtype)."""
import hashlib
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import hf_models as H  # noqa: E402

TORCH = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def stored_dtypes(d):
    single = os.path.join(d, "model.safetensors")
    if os.path.exists(single):
        files = [single]
    else:
        with open(os.path.join(d, "model.safetensors.index.json")) as f:
            files = sorted({os.path.join(d, s) for s in json.load(f)["weight_map"].values()})
    out = {}
    for p in files:
        header, _ = H.read_safetensors_header(p)
        for n, e in header.items():
            if n != "__metadata__":
                out[n[len("transformer."):] if n.startswith("transformer.") else n] = e["dtype"]
    return out


def lines(d, as_dt=None):
    s, _, w = H.load_dir(d)
    dts = stored_dtypes(d)
    out = []
    for name in H.expected_tensors(s):
        t = w[name].contiguous()
        if as_dt:
            t = t.to(TORCH[as_dt]).to(torch.float32)
        h = hashlib.sha256(t.numpy().astype("<f4").tobytes()).hexdigest()
        out.append(f"{name} {as_dt or dts[name]} {h}\n")
    return "".join(out)


def main():
    as_dt = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--as" else None
    sys.stdout.write(lines(sys.argv[1], as_dt))


if __name__ == "__main__":
    main()
