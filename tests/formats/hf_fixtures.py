#!/usr/bin/python3
"""Fixtures for teelm's Hugging Face loader tests (tests/formats/test_hf_load.c), made in one
process (one torch import):

  hf_fixtures.py OUT

OUT/good/NAME/        a matrix of valid directories (tests/reference/make_hf_model.py), and
OUT/good/NAME.sums    what the PyTorch reference reads from it (hf_sums.py lines) after a line
                      "config d heads kv_heads head_dim layers ff vocab ctx tied qkv_bias o_bias
                      rope_type eos..." from hf_models.parse_config / load_dir;
OUT/hostile/CASE/     every make_hf_model.py --hostile mode (plus hand-made cases), and
OUT/hostile.tsv       CASE<TAB>fragment<TAB>the reference's refusal, where the fragment is the
                      quoted wording of docs/architectures.md "What is refused". The reference is
                      asserted here to refuse each case with that fragment, so the C test checks
                      teelm against the reference's wording, not against itself."""
import hashlib
import json
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "reference"))
import hf_models as H  # noqa: E402
import make_hf_model as M  # noqa: E402
sys.path.insert(0, here)
import hf_sums  # noqa: E402

GOOD = {
    "llama-tied-f32": dict(family="llama", d=32, heads=4, kv_heads=2, vocab=97),
    "llama-untied-f16-bias-hd": dict(family="llama", d=48, heads=4, kv_heads=1, head_dim=16, vocab=101, untied=True,
                                     dtype="F16", attention_bias=True),
    "llama-bf16-sharded-llama3": dict(family="llama", d=32, heads=4, kv_heads=4, vocab=99, dtype="BF16", shards=3,
                                      rope_scaling="llama3:8,1,4,64", rope_theta=500000.0, eos="2,5,7"),
    "llama-linear-rope": dict(family="llama", d=32, heads=2, kv_heads=1, vocab=64, rope_scaling="linear:4", layers=3),
    "mistral-untied-f16-sharded": dict(family="mistral", d=32, heads=4, kv_heads=2, vocab=97, untied=True, dtype="F16",
                                       shards=2),
    "qwen2-tied-bf16": dict(family="qwen2", d=32, heads=4, kv_heads=2, vocab=97, dtype="BF16"),
    "qwen2-untied-sharded": dict(family="qwen2", d=48, heads=6, kv_heads=2, vocab=103, untied=True, shards=4),
    "gpt2-bare-f32": dict(family="gpt2", d=32, heads=4, vocab=97, ctx=64),
    "gpt2-prefix-buffers-f16-sharded": dict(family="gpt2", d=48, heads=3, vocab=89, ctx=32, gpt2_prefix=True,
                                            gpt2_buffers=True, dtype="F16", shards=2),
    "gpt2-prefix-bf16": dict(family="gpt2", d=32, heads=2, vocab=97, ctx=48, gpt2_prefix=True, dtype="BF16"),
}

# mode -> (extra options, fragment): the docs table's wording
MODES = {
    "missing-tensor": ({}, "tensor model.layers.0.mlp.up_proj.weight is missing"),
    "missing-lm-head": ({}, "tensor lm_head.weight is missing (config.json tie_word_embeddings is false)"),
    "extra-tensor": ({}, "tensor model.layers.0.mlp.extra_proj.weight (model.safetensors) is not part of "
                         "LlamaForCausalLM with this config.json"),
    "extra-layer": ({}, "tensor model.layers.1.input_layernorm.weight"),
    "wrong-shape": ({}, "tensor model.layers.0.self_attn.q_proj.weight: shape [31, 32], config.json implies [32, 32]"),
    "config-vocab": ({}, "tensor model.embed_tokens.weight: shape [97, 32], config.json implies [98, 32]"),
    "config-kv-heads": ({}, "tensor model.layers.0.self_attn.k_proj.weight: shape [16, 32], config.json implies [32, 32]"),
    "huge-dim": ({}, "config.json: hidden_size 1099511627776 is not an integer in [1, 16777216]"),
    "huge-product": ({}, "parameters (limit 68719476736)"),
    "shard-escape": ({}, "model.safetensors.index.json: shard '../escape.safetensors' is not a plain .safetensors "
                         "file name inside the model directory"),
    "shard-absolute": ({}, "is not a plain .safetensors file name inside the model directory"),
    "shard-missing": ({}, "model.safetensors.index.json: shard model-00003-of-00002.safetensors does not exist"),
    "shard-duplicate": ({}, "tensor model.embed_tokens.weight appears in both model-00001-of-00002.safetensors and "
                            "model-00002-of-00002.safetensors"),
    "index-mismatch": ({}, "model.safetensors.index.json: model.embed_tokens.weight is mapped to "
                           "model-00002-of-00002.safetensors, which does not hold it"),
    "dtype-mismatch": ({}, "tensor model.embed_tokens.weight: dtype F32 but config.json torch_dtype is bfloat16"),
    "truncated": ({}, "outside the data section"),
    "unknown-arch": ({}, "config.json: architectures: unsupported FalconForCausalLM (supported: "),
    "sliding-window": ({"family": "mistral"}, "config.json: sliding_window 4096 (sliding-window attention is not "
                                              "supported; null is)"),
    "rope-type": ({}, "config.json: rope_scaling type 'yarn' is not supported (only linear, llama3)"),
    "gqa-indivisible": ({}, "config.json: num_attention_heads 4 is not a multiple of num_key_value_heads 3"),
    "eos-range": ({}, "generation_config.json: eos_token_id 97 is outside the vocabulary of 97"),
}
OTHER = {  # the same modes in the other families
    "sliding-window-qwen2": ("sliding-window", dict(family="qwen2"), "config.json: use_sliding_window true"),
    "missing-tensor-gpt2": ("missing-tensor", dict(family="gpt2"), "tensor h.0.mlp.c_fc.bias is missing"),
    "missing-tensor-gpt2-prefix": ("missing-tensor", dict(family="gpt2", gpt2_prefix=True),
                                   "tensor h.0.mlp.c_fc.bias is missing"),
    "wrong-shape-gpt2": ("wrong-shape", dict(family="gpt2"),
                         "tensor h.0.attn.c_attn.weight: shape [96, 32], config.json implies [32, 96]"),
    "extra-tensor-gpt2": ("extra-tensor", dict(family="gpt2"), "tensor h.0.extra.weight (model.safetensors) is not "
                                                               "part of GPT2LMHeadModel"),
    "extra-layer-gpt2": ("extra-layer", dict(family="gpt2"), "tensor h.1."),
    "huge-dim-gpt2": ("huge-dim", dict(family="gpt2"), "config.json: n_embd 1099511627776 is not an integer"),
    "huge-product-gpt2": ("huge-product", dict(family="gpt2"), "parameters (limit 68719476736)"),
    "truncated-sharded": ("truncated", dict(shards=2), "outside the data section"),
}


def reference_refusal(d):
    try:
        H.load_dir(d)
    except H.Refused as e:
        return str(e)
    return None


def edit_json(path, **kv):
    with open(path) as f:
        c = json.load(f)
    for k, v in kv.items():
        if v is KeyError:
            c.pop(k, None)
        else:
            c[k] = v
    with open(path, "w") as f:
        json.dump(c, f)


def handmade(root):
    """Refusals of the docs' "Also refused" list and the GPT-2 naming rules: (case, dir, fragment)."""
    out = []
    base = dict(family="llama", d=32, heads=4, kv_heads=2, vocab=97, seed=3)

    def mk(name, **kw):
        d = os.path.join(root, name, "model")
        o = dict(base)
        o.update(kw)
        _, stored = M.make(d, **o)
        return d, stored

    def st_rewrite(d, stored, extra=None, drop=(), dtypes=None):
        t = {n: v for n, v in stored.items() if n not in drop}
        t.update(extra or {})
        M.write_safetensors(os.path.join(d, "model.safetensors"), t, "F32", {"format": "pt"}, dtypes)

    d, s = mk("tied-with-lm-head")
    st_rewrite(d, s, {"lm_head.weight": s["model.embed_tokens.weight"]})
    out.append(("tied-with-lm-head", d, "tensor lm_head.weight (model.safetensors) is not part of LlamaForCausalLM"))
    d, s = mk("gpt2-mixed-prefix", family="gpt2", gpt2_prefix=True)
    s = {("wte.weight" if n == "transformer.wte.weight" else n): v for n, v in s.items()}
    st_rewrite(d, s)
    out.append(("gpt2-mixed-prefix", d, "mixes names with and without the 'transformer.' prefix"))
    d, s = mk("gpt2-lm-head", family="gpt2")
    st_rewrite(d, s, {"lm_head.weight": s["wte.weight"]})
    out.append(("gpt2-lm-head", d, "tensor lm_head.weight: GPT-2's head is tied to wte"))
    d, s = mk("int-dtype")
    # an I64 tensor among the weights: written by hand (make_hf_model writes floats only)
    t = dict(s)
    hdr, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for n, v in t.items():
        b = v.numpy().astype("<f4").tobytes()
        hdr[n] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hdr["model.layers.0.self_attn.rotary_emb.inv_freq"] = {"dtype": "I64", "shape": [1], "data_offsets": [off, off + 8]}
    blobs.append(b"\0" * 8)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))
    out.append(("int-dtype", d, "dtype I64 (only F32, F16, BF16)"))
    for name, kv, frag in (
            ("hidden-act", dict(hidden_act="gelu"), "config.json: hidden_act"),
            ("mlp-bias", dict(mlp_bias=True), "config.json: mlp_bias true is not supported"),
            ("partial-rotary", dict(partial_rotary_factor=0.5), "config.json: partial_rotary_factor"),
            ("model-type", dict(model_type="mistral"), "config.json: model_type"),
            ("too-many-layers", dict(num_hidden_layers=5000), "config.json: num_hidden_layers 5000 exceeds 4096"),
            ("tie-not-bool", dict(tie_word_embeddings="yes"), "config.json: tie_word_embeddings"),
            ("attention-bias-not-bool", dict(attention_bias=1), "config.json: attention_bias"),
            ("rope-llama3-bands", dict(rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0,
                                                     "high_freq_factor": 1.0, "original_max_position_embeddings": 64}),
             "rope_scaling.high_freq_factor must exceed low_freq_factor"),
            ("rope-dynamic-legacy-type", dict(rope_scaling={"type": "dynamic", "factor": 2.0}),
             "config.json: rope_scaling type 'dynamic' is not supported"),
            ("odd-head-dim", dict(head_dim=7), "config.json: head_dim 7 is odd"),
            ("hidden-missing", dict(hidden_size=KeyError), "config.json: hidden_size is missing"),
            ("float-dim", dict(hidden_size=32.0), "config.json: hidden_size 32.0 is not an integer"),
            ("bool-dim", dict(num_hidden_layers=True), "config.json: num_hidden_layers"),
            ("eps-negative", dict(rms_norm_eps=-1e-5), "config.json: rms_norm_eps"),
            ("torch-dtype", dict(torch_dtype="int8"), "config.json: torch_dtype"),
            ("arch-list", dict(architectures=["LlamaForCausalLM", "LlamaModel"]), "must be a list of one class name")):
        d, _ = mk(name)
        edit_json(os.path.join(d, "config.json"), **kv)
        out.append((name, d, frag))
    d, _ = mk("mistral-default-window", family="mistral")
    edit_json(os.path.join(d, "config.json"), sliding_window=KeyError)
    out.append(("mistral-default-window", d, "sliding_window 4096"))
    for name, kv, frag in (
            ("gpt2-inverse-layer-idx", dict(scale_attn_by_inverse_layer_idx=True), "scale_attn_by_inverse_layer_idx"),
            ("gpt2-untied", dict(tie_word_embeddings=False), "tie_word_embeddings"),
            ("gpt2-activation", dict(activation_function="relu"), "activation_function"),
            ("gpt2-cross", dict(add_cross_attention=True), "add_cross_attention true is not supported"),
            ("gpt2-heads", dict(n_head=5), "config.json: n_embd 32 is not a multiple of n_head 5")):
        d, _ = mk(name, family="gpt2", kv_heads=4)
        edit_json(os.path.join(d, "config.json"), **kv)
        out.append((name, d, frag))
    d, _ = mk("shard-backslash", shards=2)
    ip = os.path.join(d, "model.safetensors.index.json")
    with open(ip) as f:
        idx = json.load(f)
    first = next(iter(idx["weight_map"]))
    idx["weight_map"][first] = "sub\\model-00001-of-00002.safetensors"
    with open(ip, "w") as f:
        json.dump(idx, f)
    out.append(("shard-backslash", d, "is not a plain .safetensors file name"))
    d, _ = mk("shard-unlisted", shards=2)
    with open(ip.replace("shard-backslash", "shard-unlisted")) as f:
        idx = json.load(f)
    gone = list(idx["weight_map"])[-1]
    del idx["weight_map"][gone]
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump(idx, f)
    out.append(("shard-unlisted", d, f"tensor {gone} is not in the index's weight_map"))
    d, _ = mk("no-weights")
    os.remove(os.path.join(d, "model.safetensors"))
    out.append(("no-weights", d, "neither model.safetensors nor model.safetensors.index.json"))
    d, _ = mk("config-not-json")
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write('{"architectures": ["LlamaForCausalLM"], ')
    out.append(("config-not-json", d, "config.json: not JSON"))
    d, _ = mk("gen-not-json")
    with open(os.path.join(d, "generation_config.json"), "w") as f:
        f.write("[1, 2]")
    out.append(("gen-not-json", d, "generation_config.json: not a JSON object"))
    d, _ = mk("eos-config-fallback")
    os.remove(os.path.join(d, "generation_config.json"))
    edit_json(os.path.join(d, "config.json"), eos_token_id=[1, "2"])
    out.append(("eos-config-fallback", d, "config.json: eos_token_id"))
    return out


def sums(d, s, eos):
    lines = []
    r = s.get("rope", {"type": "none"})
    lines.append("config %d %d %d %d %d %d %d %d %d %d %d %s %s" % (
        s["d"], s["heads"], s["kv_heads"], s["head_dim"], s["layers"], s["ff"], s["vocab"], s["ctx"], int(s["tied"]),
        int(s.get("qkv_bias", False)), int(s.get("o_bias", False)), r["type"], ",".join(map(str, eos)) or "-"))
    return "\n".join(lines) + "\n" + hf_sums.lines(d)


def main():
    root = sys.argv[1]
    os.makedirs(os.path.join(root, "good"), exist_ok=True)
    for i, (name, kw) in enumerate(GOOD.items()):
        d = os.path.join(root, "good", name)
        M.make(d, seed=i + 1, **kw)
        s, eos, _ = H.load_dir(d)
        with open(d + ".sums", "w") as f:
            f.write(sums(d, s, eos))
    # the persistent rotary buffer of old Llama checkpoints: accepted, ignored
    d = os.path.join(root, "good", "llama-inv-freq")
    _, stored = M.make(d, family="llama", d=32, heads=4, kv_heads=4, vocab=97, seed=42)
    stored["model.layers.1.self_attn.rotary_emb.inv_freq"] = torch.ones(4)
    M.write_safetensors(os.path.join(d, "model.safetensors"), stored, "F32", {"format": "pt"})
    s, eos, _ = H.load_dir(d)
    with open(d + ".sums", "w") as f:
        f.write(sums(d, s, eos))

    cases = []
    for mode, (kw, frag) in MODES.items():
        d = os.path.join(root, "hostile", mode, "model")
        o = dict(family="llama", d=32, heads=4, kv_heads=2, vocab=97, seed=1, hostile=mode)
        o.update(kw)
        M.make(d, **o)
        cases.append((mode, d, frag))
    for case, (mode, kw, frag) in OTHER.items():
        d = os.path.join(root, "hostile", case, "model")
        o = dict(family="llama", d=32, heads=4, kv_heads=4, vocab=97, ctx=32, seed=2, hostile=mode)
        o.update(kw)
        M.make(d, **o)
        cases.append((case, d, frag))
    cases += handmade(os.path.join(root, "hostile"))
    bad = 0
    with open(os.path.join(root, "hostile.tsv"), "w") as f:
        for case, d, frag in cases:
            msg = reference_refusal(d)
            if msg is None or frag not in msg:
                print(f"hf_fixtures: the reference refuses {case} with {msg!r}, not with {frag!r}", file=sys.stderr)
                bad += 1
            f.write(f"{case}\t{d}\t{frag}\t{(msg or '').replace(chr(9), ' ')}\n")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
