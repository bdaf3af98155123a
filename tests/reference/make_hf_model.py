#!/usr/bin/python3
"""Writes random-weight Hugging Face model directories in the real layout, for teelm's loader and
engine tests and for tests/reference/hf_models.py:

  config.json             as transformers' save_pretrained writes it for the class
  generation_config.json  bos/eos ids (eos an int, or a list with --eos 2,5)
  model.safetensors       or, with --shards N > 1, model.safetensors.index.json + model-0000K-of-0000N.safetensors

usage: make_hf_model.py OUT --family llama|mistral|qwen2|gpt2 [--d 64] [--layers 2] [--heads 4]
       [--kv-heads 2] [--head-dim H] [--ff 160] [--vocab 1001] [--ctx 256] [--untied] [--dtype F32|F16|BF16]
       [--shards N] [--seed S] [--rope-theta T] [--rope-scaling linear:F | llama3[:F,lo,hi,orig]]
       [--attention-bias] [--gpt2-prefix] [--gpt2-buffers] [--eos 2[,5..]] [--hostile MODE]

--hostile MODE writes a broken directory instead (the modes and the refusal each must produce are in
docs/architectures.md "What is refused"; `--hostile list` prints them).
`make_hf_model.py --batch FILE` (- = stdin) writes one directory per line of FILE (the arguments above as
shell words) in one process, since importing torch costs seconds a process.

Weights: embeddings N(0, 1/d), matrices N(0, 1/fan_in), norm gains 1 + N(0, 0.1), biases N(0, 0.1):
activations stay O(1) through any depth, so the logits have clear top-1 margins for greedy tests.
"""
import argparse
import json
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_models  # noqa: E402  (expected_tensors: the one list of names; run_batch; the reader is not used here)

ST_DTYPE = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
TORCH_NAME = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}

HOSTILE = {
    "missing-tensor": "model.layers.0.mlp.up_proj.weight (GPT-2: h.0.mlp.c_fc.bias) is absent",
    "missing-lm-head": "tie_word_embeddings false but lm_head.weight absent (Llama family)",
    "extra-tensor": "an unknown tensor model.layers.0.mlp.extra_proj.weight (GPT-2: h.0.extra.weight)",
    "extra-layer": "tensors of a layer beyond num_hidden_layers / n_layer",
    "wrong-shape": "q_proj (GPT-2: c_attn) stored transposed",
    "config-vocab": "config.json vocab_size one larger than the embedding rows",
    "config-kv-heads": "config.json num_key_value_heads differs from the k_proj/v_proj rows",
    "huge-dim": "config.json hidden_size (n_embd) 2^40",
    "huge-product": "config.json dimensions each within bounds but implying > 2^36 parameters",
    "shard-escape": "index weight_map names ../escape.safetensors",
    "shard-absolute": "index weight_map names /tmp/.../abs.safetensors",
    "shard-missing": "index weight_map names a shard that does not exist",
    "shard-duplicate": "one tensor stored in two shards",
    "index-mismatch": "index maps a tensor to a shard that does not hold it",
    "dtype-mismatch": "config.json torch_dtype bfloat16 but the tensors are F32",
    "truncated": "model.safetensors cut short (offsets point past the end)",
    "unknown-arch": "architectures [\"FalconForCausalLM\"]",
    "sliding-window": "Mistral sliding_window 4096 (Qwen2: use_sliding_window true)",
    "rope-type": "rope_scaling {\"rope_type\": \"yarn\", \"factor\": 4.0}",
    "gqa-indivisible": "num_attention_heads not a multiple of num_key_value_heads",
    "eos-range": "generation_config.json eos_token_id outside the vocabulary",
}


def hf_config(a):
    dt = TORCH_NAME[a.dtype]
    if a.family == "gpt2":
        return {
            "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
            "bos_token_id": a.bos, "embd_pdrop": 0.1, "eos_token_id": a.eos_ids[0], "initializer_range": 0.02,
            "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": a.ctx, "n_embd": a.d, "n_head": a.heads,
            "n_inner": None if a.ff == 4 * a.d else a.ff, "n_layer": a.layers, "n_positions": a.ctx,
            "reorder_and_upcast_attn": False, "resid_pdrop": 0.1, "scale_attn_by_inverse_layer_idx": False,
            "scale_attn_weights": True, "summary_activation": None, "summary_first_dropout": 0.1,
            "summary_proj_to_labels": True, "summary_type": "cls_index", "summary_use_proj": True,
            "torch_dtype": dt, "transformers_version": "4.46.0", "use_cache": True, "vocab_size": a.vocab,
            "tie_word_embeddings": not a.untied}
    arch = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}[a.family]
    c = {"architectures": [arch], "attention_dropout": 0.0, "bos_token_id": a.bos,
         "eos_token_id": a.eos_ids[0], "hidden_act": "silu", "hidden_size": a.d, "initializer_range": 0.02,
         "intermediate_size": a.ff, "max_position_embeddings": a.ctx, "model_type": a.family,
         "num_attention_heads": a.heads, "num_hidden_layers": a.layers, "num_key_value_heads": a.kv_heads,
         "rms_norm_eps": 1e-05 if a.family == "llama" else 1e-06, "rope_scaling": a.rope_scaling,
         "rope_theta": a.rope_theta, "tie_word_embeddings": not a.untied, "torch_dtype": dt,
         "transformers_version": "4.46.0", "use_cache": True, "vocab_size": a.vocab}
    if a.head_dim:
        c["head_dim"] = a.head_dim
    if a.family == "llama":
        c.update({"attention_bias": a.attention_bias, "mlp_bias": False, "pretraining_tp": 1})
        c.setdefault("head_dim", a.d // a.heads)
    elif a.family == "mistral":
        c["sliding_window"] = None
    else:
        c.update({"use_sliding_window": False, "sliding_window": 131072, "max_window_layers": a.layers})
    return c


def random_tensors(s, a):
    """{file name: float32 tensor} in HF order (the order save_pretrained's state_dict walks)."""
    g = torch.Generator().manual_seed(a.seed)
    out = {}
    for name, shape in hf_models.expected_tensors(s).items():
        leaf = name.rsplit(".", 2)
        if name.endswith("bias"):
            t = torch.randn(shape, generator=g) * 0.1
        elif "norm" in name or leaf[-2].startswith("ln_"):
            t = 1.0 + torch.randn(shape, generator=g) * 0.1
        elif name in ("model.embed_tokens.weight", "wte.weight", "wpe.weight"):
            # small against the blocks' O(1) outputs, or a tied head just echoes the last token
            t = torch.randn(shape, generator=g) / math.sqrt(shape[1])
        else:
            conv1d = s["family"] == "gpt2" and name != "lm_head.weight"
            fan_in = shape[0] if conv1d else shape[1]   # Conv1D [in,out] vs Linear [out,in]
            t = torch.randn(shape, generator=g) / math.sqrt(fan_in)
        out[name] = t
    if s["family"] == "gpt2":
        if a.gpt2_buffers:   # what openai-community/gpt2's file carries besides the weights
            for i in range(s["layers"]):
                out[f"h.{i}.attn.bias"] = torch.tril(torch.ones(s["ctx"], s["ctx"])).view(1, 1, s["ctx"], s["ctx"])
                out[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
        if a.gpt2_prefix:    # what GPT2LMHeadModel.save_pretrained writes (its own head unprefixed)
            out = {(n if n == "lm_head.weight" else "transformer." + n): t for n, t in out.items()}
    return out


def _bytes(t, dtype):
    t = t.to(ST_DTYPE[dtype]).contiguous()
    if dtype == "BF16":
        t = t.view(torch.int16)   # numpy has no bfloat16; the bytes are the same
    assert sys.byteorder == "little"
    return t.numpy().tobytes()


def write_safetensors(path, tensors, dtype, metadata=None, dtypes=None):
    """tensors {name: float32 tensor} stored as dtype (dtypes {name: dtype} overrides per tensor)."""
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        dt = (dtypes or {}).get(name, dtype)
        b = _bytes(t, dt)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)   # the safetensors library pads the header to 8 bytes with spaces
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def stored(t, dtype):
    """the float32 values a reader must get back for t stored as dtype"""
    return t.to(ST_DTYPE[dtype]).to(torch.float32)


def write_dir(out, cfg, gen, tensors, dtype, shards=1):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)
    names = list(tensors)
    if shards <= 1:
        write_safetensors(os.path.join(out, "model.safetensors"), tensors, dtype, {"format": "pt"})
        return {}
    per = -(-len(names) // shards)
    wm, total = {}, 0
    for k in range(shards):
        part = {n: tensors[n] for n in names[k * per:(k + 1) * per]}
        fn = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(os.path.join(out, fn), part, dtype, {"format": "pt"})
        for n, t in part.items():
            wm[n] = fn
            total += t.numel() * hf_models.DTYPE_SIZE[dtype]
    index = {"metadata": {"total_size": total}, "weight_map": wm}
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
    return index


def make(out, **kw):
    """Python entry point: same options as the command line; returns (config, tensors as stored)."""
    argv = [out]
    for k, v in kw.items():
        k = "--" + k.replace("_", "-")
        if v is True:
            argv.append(k)
        elif v is not False and v is not None:
            argv += [k, str(v)]
    return run(parse(argv))


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--family", default="llama", choices=["llama", "mistral", "qwen2", "gpt2"])
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int)
    ap.add_argument("--head-dim", type=int)
    ap.add_argument("--ff", type=int)
    ap.add_argument("--vocab", type=int, default=1001)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--untied", action="store_true")
    ap.add_argument("--dtype", default="F32", choices=list(ST_DTYPE))
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--rope-scaling")
    ap.add_argument("--attention-bias", action="store_true")
    ap.add_argument("--gpt2-prefix", action="store_true")
    ap.add_argument("--gpt2-buffers", action="store_true")
    ap.add_argument("--bos", type=int, default=1)
    ap.add_argument("--eos", default="2")
    ap.add_argument("--hostile")
    a = ap.parse_args(argv)
    if a.hostile == "list":
        for k, v in HOSTILE.items():
            print(f"{k:18} {v}")
        sys.exit(0)
    if a.hostile and a.hostile not in HOSTILE:
        ap.error(f"unknown --hostile {a.hostile} (--hostile list)")
    a.kv_heads = a.kv_heads or a.heads
    if a.family == "gpt2":
        a.kv_heads = a.heads
    a.ff = a.ff or (4 * a.d if a.family == "gpt2" else (8 * a.d) // 3 // 8 * 8 or 8)
    a.eos_ids = [int(x) for x in a.eos.split(",")]
    rs = a.rope_scaling
    if rs is None:
        a.rope_scaling = None
    elif rs.startswith("linear:"):
        a.rope_scaling = {"factor": float(rs.split(":")[1]), "rope_type": "linear", "type": "linear"}
    elif rs.startswith("llama3"):
        f, lo, hi, orig = ([float(x) for x in rs.split(":")[1].split(",")] if ":" in rs else [8.0, 1.0, 4.0, 64])
        # original_max_position_embeddings small by default so tiny contexts exercise all three bands
        a.rope_scaling = {"factor": f, "low_freq_factor": lo, "high_freq_factor": hi,
                          "original_max_position_embeddings": int(orig), "rope_type": "llama3"}
    else:
        ap.error("--rope-scaling is linear:F or llama3[:factor,low,high,original_max]")
    return a


def run(a):
    cfg = hf_config(a)
    s = hf_models.parse_config(cfg)
    tensors = random_tensors(s, a)
    gen = {"_from_model_config": True, "bos_token_id": a.bos,
           "eos_token_id": a.eos_ids[0] if len(a.eos_ids) == 1 else a.eos_ids,
           "transformers_version": "4.46.0"}
    h, out = a.hostile, a.out
    if h is None:
        write_dir(out, cfg, gen, tensors, a.dtype, a.shards)
        return cfg, {n: stored(t, a.dtype) for n, t in tensors.items()}
    gpt = a.family == "gpt2"
    pre = "transformer." if gpt and a.gpt2_prefix else ""
    shards = a.shards
    if h == "missing-tensor":
        del tensors[pre + ("h.0.mlp.c_fc.bias" if gpt else "model.layers.0.mlp.up_proj.weight")]
    elif h == "missing-lm-head":
        if gpt:
            sys.exit("missing-lm-head applies to the Llama family")
        cfg["tie_word_embeddings"] = False
    elif h == "extra-tensor":
        tensors[pre + ("h.0.extra.weight" if gpt else "model.layers.0.mlp.extra_proj.weight")] = torch.zeros(4)
    elif h == "extra-layer":
        cfg["n_layer" if gpt else "num_hidden_layers"] = a.layers - 1
    elif h == "wrong-shape":
        n = pre + ("h.0.attn.c_attn.weight" if gpt else "model.layers.0.self_attn.q_proj.weight")
        tensors[n] = tensors[n].T.contiguous() if gpt or a.heads * (a.head_dim or a.d // a.heads) != a.d \
            else tensors[n][:-1].contiguous()
    elif h == "config-vocab":
        cfg["vocab_size"] = a.vocab + 1
    elif h == "config-kv-heads":
        if gpt:
            sys.exit("config-kv-heads applies to the Llama family")
        cfg["num_key_value_heads"] = a.heads if a.kv_heads != a.heads else max(1, a.heads // 2)
    elif h == "huge-dim":
        cfg["n_embd" if gpt else "hidden_size"] = 1 << 40
    elif h == "huge-product":
        cfg["vocab_size"] = 1 << 24
        cfg["n_embd" if gpt else "hidden_size"] = 1 << 24
        cfg["n_head" if gpt else "num_attention_heads"] = 1 << 12
        if not gpt:
            cfg["num_key_value_heads"] = 1 << 12
            cfg["head_dim"] = 1 << 12
    elif h == "dtype-mismatch":
        cfg["torch_dtype"] = "bfloat16" if a.dtype != "BF16" else "float32"
    elif h == "unknown-arch":
        cfg["architectures"] = ["FalconForCausalLM"]
    elif h == "sliding-window":
        if a.family == "mistral":
            cfg["sliding_window"] = 4096
        elif a.family == "qwen2":
            cfg["use_sliding_window"] = True
        else:
            sys.exit("sliding-window applies to mistral and qwen2")
    elif h == "rope-type":
        cfg["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64}
    elif h == "gqa-indivisible":
        cfg["num_attention_heads"] = a.heads
        cfg["num_key_value_heads"] = a.heads - 1 if a.heads > 2 else 3
    elif h == "eos-range":
        gen["eos_token_id"] = [a.eos_ids[0], a.vocab]
    elif h in ("shard-escape", "shard-absolute", "shard-missing", "shard-duplicate", "index-mismatch"):
        shards = max(shards, 2)
    write_dir(out, cfg, gen, tensors, a.dtype, shards)
    if h == "truncated":
        p = os.path.join(out, "model.safetensors") if shards <= 1 else \
            os.path.join(out, f"model-00001-of-{shards:05d}.safetensors")
        with open(p, "r+b") as f:
            f.truncate(os.path.getsize(p) - 3)
    if h in ("shard-escape", "shard-absolute", "shard-missing", "shard-duplicate", "index-mismatch"):
        ip = os.path.join(out, "model.safetensors.index.json")
        with open(ip) as f:
            index = json.load(f)
        wm = index["weight_map"]
        first = next(iter(wm))
        last = list(wm)[-1]
        if h == "shard-escape":
            os.rename(os.path.join(out, wm[first]), os.path.join(out, "..", "escape.safetensors"))
            wm = {n: ("../escape.safetensors" if f == wm[first] else f) for n, f in wm.items()}
        elif h == "shard-absolute":
            absp = os.path.abspath(os.path.join(out, "..", "abs.safetensors"))
            os.rename(os.path.join(out, wm[first]), absp)
            wm = {n: (absp if f == wm[first] else f) for n, f in wm.items()}
        elif h == "shard-missing":
            wm[last] = f"model-{shards + 1:05d}-of-{shards:05d}.safetensors"
        elif h == "shard-duplicate":
            # the first shard's first tensor written into the last shard as well
            lp = os.path.join(out, wm[last])
            part = {n: tensors[n] for n, f in wm.items() if f == wm[last]}
            part[first] = tensors[first]
            write_safetensors(lp, part, a.dtype, {"format": "pt"})
        elif h == "index-mismatch":
            other = next(f for f in wm.values() if f != wm[first])
            wm[first] = other
        index["weight_map"] = wm
        with open(ip, "w") as f:
            json.dump(index, f, indent=2)
    return cfg, None


def batch(path):
    """`--batch FILE` (- = stdin): one command line per line, each run as its own call (hf_models.run_batch)."""
    def one(argv):
        run(parse(argv))
        return 0
    return hf_models.run_batch(path, one)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--batch":
        sys.exit(batch(sys.argv[2]))
    run(parse(sys.argv[1:]))


if __name__ == "__main__":
    main()
