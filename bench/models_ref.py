#!/usr/bin/python3
"""PyTorch eager timing of the real-model shapes for bench/models.sh, with tests/reference/hf_models.py
(the independent reference: plain tensor ops, float32, KV cache as concatenated tensors).

  --shape smollm135: Llama, d 576, 30 layers, 9 heads, 3 KV heads, FF 1536, vocab 49152, tied
                     (SmolLM-135M's shape)
  --shape gpt2-124:  GPT-2, d 768, 12 layers, 12 heads, FF 3072, vocab 50257, ctx 1024
  --model DIR        time a model directory instead (e.g. make_hf_model.py output, so teelm and
                     PyTorch run the same weights)

Random weights (seeded, generated in memory) unless --model. Prompt: --prompt tokens (default 128)
processed in one forward pass -> prompt tokens/s; then --new (default 64) greedy tokens, one forward
each with the KV cache -> generated tokens/s. Best of --runs (default 3). torch.set_num_threads(--threads,
default 2), under torch.no_grad(). Prints JSON with the peak RSS of this process (ru_maxrss; it
includes generating the random weights) and the memory-bandwidth bound of generation: every weight
is read once per generated token, so tokens/s <= bandwidth / (parameters x 4 bytes).
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
import hf_models as H  # noqa: E402
import make_hf_model as M  # noqa: E402

SHAPES = {
    "smollm135": ["--family", "llama", "--d", "576", "--layers", "30", "--heads", "9", "--kv-heads", "3",
                  "--ff", "1536", "--vocab", "49152", "--ctx", "2048", "--rope-theta", "10000"],
    "gpt2-124": ["--family", "gpt2", "--d", "768", "--layers", "12", "--heads", "12", "--ff", "3072",
                 "--vocab", "50257", "--ctx", "1024"],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=list(SHAPES))
    ap.add_argument("--model")
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--prompt-ids", help="comma-separated prompt ids (default: --prompt seeded random ids)")
    ap.add_argument("--new", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bandwidth-gbs", type=float, default=19.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if not (a.shape or a.model):
        ap.error("--shape or --model")
    torch.set_num_threads(a.threads)
    if a.model:
        s, _, w = H.load_dir(a.model)
        name = a.model
    else:
        ma = M.parse(["unused"] + SHAPES[a.shape] + ["--seed", str(a.seed)])
        s = H.parse_config(M.hf_config(ma))
        w = M.random_tensors(s, ma)
        name = a.shape
    model = H.Model(s, w, torch.float32)
    del w
    params = sum(t.numel() for t in model.w.values())
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, s["vocab"], (a.prompt,), generator=g).tolist()
    if a.prompt_ids:
        prompt = [int(x) for x in a.prompt_ids.split(",")]
        a.prompt = len(prompt)
    best_p, best_g, toks = 0.0, 0.0, None
    with torch.no_grad():
        for _ in range(a.runs):
            cache = model.new_cache()
            t0 = time.perf_counter()
            logits = model.forward(prompt, cache)[-1]
            t1 = time.perf_counter()
            out = []
            for _ in range(a.new):
                t = int(torch.argmax(logits))
                out.append(t)
                logits = model.forward([t], cache)[-1]
            t2 = time.perf_counter()
            best_p = max(best_p, a.prompt / (t1 - t0))
            best_g = max(best_g, a.new / (t2 - t1))
            if toks is not None and toks != out:
                raise SystemExit("greedy output changed between runs")
            toks = out
    wbytes = params * 4
    print(json.dumps({
        "model": name, "arch": s["arch"], "params": params, "threads": a.threads,
        "prompt_tokens": a.prompt, "new_tokens": a.new, "runs": a.runs,
        "prompt_tokens_per_s": round(best_p, 2), "generated_tokens_per_s": round(best_g, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "f32_weight_bytes": wbytes, "bandwidth_gbs": a.bandwidth_gbs,
        "generation_bound_tokens_per_s": round(a.bandwidth_gbs * 1e9 / wbytes, 1),
        "first_tokens": toks[:8]}))


if __name__ == "__main__":
    main()
