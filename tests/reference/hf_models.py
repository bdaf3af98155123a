#!/usr/bin/python3
"""Independent PyTorch reference for Hugging Face causal LMs: Llama (also Mistral without a sliding
window), Qwen2 and GPT-2, written from the published equations (docs/architectures.md) because
Debian's torch has no `transformers`. It shares no code with teelm's C loader or engine.

  logits DIR --ids 1,2,3 [--f64] --out PREFIX
        logits of every position of the id sequence: PREFIX.bin (raw little-endian float32, or
        float64 with --f64, row-major [T, vocab]) and PREFIX.json {"shape", "dtype", "ids", ...}.
  generate DIR --ids 1,2,3 --new N [--no-eos] [--out FILE.json]
        greedy continuation of N tokens (argmax, lowest id on ties), once with a KV cache and once
        recomputing every position; asserts both agree; stops after an EOS id from
        generation_config.json (the EOS token is the last one listed). Prints/writes
        {"tokens", "stopped": "eos"|"length", "min_margin"} (min_margin: the smallest
        top-1 minus top-2 logit over the steps, so a test can tell whether greedy ties are near).
  compare REF.json OTHER.bin [--rtol 1e-4]
        compares another implementation's float32 logits with this one's: for each position,
        max|a - b| / max|b| over the vocabulary must be <= rtol. Exit 1 with the worst position.
  check DIR
        loads and validates DIR (every refusal the C loader must give, docs/architectures.md
        "What is refused"); exit 1 printing the refusal.
  batch FILE
        runs every line of FILE (- = stdin; shell words, one of the commands above) in this one
        process, since importing torch costs seconds a process; a failing line is named on stderr,
        the others still run; exit 1 if any failed.

Computation: weights (F32/F16/BF16 on disk) are upcast to float32 (or float64 with --f64) and every
operation runs in that type, the norms' statistics and the softmax included.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# safetensors: 8-byte little-endian header length N, N bytes of JSON header, then the data
# section. Header: {"__metadata__": {str: str}?, name: {"dtype", "shape", "data_offsets": [b, e]}}
# with offsets relative to the start of the data section. Written and read here with struct+json.

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2}
TORCH_DTYPE = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}
MAX_HEADER = 100 << 20  # the safetensors library's own cap on the header length
MAX_DIM = 1 << 24       # any single config dimension (the C loader uses the same bound)
MAX_PARAMS = 1 << 36    # 64 Gi parameters: far beyond anything teelm runs, small enough not to overflow
MAX_LAYERS = 4096       # bounds the tensor-name table built from the config


class Refused(Exception):
    """A model directory the loader must refuse; the message names the file and the field."""


def _bf16_to_f32(raw):
    u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
    return u.view(np.float32)


def read_safetensors_header(path):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise Refused(f"{path}: shorter than the 8-byte header length")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER or 8 + n > size:
            raise Refused(f"{path}: header length {n} exceeds the file ({size} bytes) or 100 MiB")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise Refused(f"{path}: header is not JSON: {e}")
    if not isinstance(header, dict):
        raise Refused(f"{path}: header is not a JSON object")
    data_len = size - 8 - n
    spans = []
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise Refused(f"{path}: tensor {name}: entry needs exactly dtype, shape, data_offsets")
        if e["dtype"] not in DTYPE_SIZE:
            raise Refused(f"{path}: tensor {name}: dtype {e['dtype']} (only F32, F16, BF16)")
        shape = e["shape"]
        if not isinstance(shape, list) or not all(isinstance(d, int) and 0 <= d <= MAX_PARAMS for d in shape):
            raise Refused(f"{path}: tensor {name}: bad shape {shape}")
        count = 1
        for d in shape:
            count *= d
        b, en = e["data_offsets"]
        if not (isinstance(b, int) and isinstance(en, int) and 0 <= b <= en <= data_len):
            raise Refused(f"{path}: tensor {name}: data_offsets {[b, en]} outside the data section "
                          f"({data_len} bytes; file truncated?)")
        if en - b != count * DTYPE_SIZE[e["dtype"]]:
            raise Refused(f"{path}: tensor {name}: data_offsets span {en - b} bytes, shape {shape} "
                          f"{e['dtype']} needs {count * DTYPE_SIZE[e['dtype']]}")
        spans.append((b, en, name))
    spans.sort()
    pos = 0
    for b, en, name in spans:
        if b != pos:
            raise Refused(f"{path}: tensor {name}: data_offsets overlap or leave a hole at byte {pos}")
        pos = en
    if pos != data_len:
        raise Refused(f"{path}: {data_len - pos} bytes after the last tensor")
    return header, 8 + n


def read_safetensors(path, names=None):
    """{name: (dtype string, float32 torch tensor)} for every tensor (or only `names`)."""
    header, base = read_safetensors_header(path)
    out = {}
    with open(path, "rb") as f:
        for name, e in header.items():
            if name == "__metadata__" or (names is not None and name not in names):
                continue
            b, en = e["data_offsets"]
            f.seek(base + b)
            raw = f.read(en - b)
            if e["dtype"] == "F32":
                a = np.frombuffer(raw, dtype="<f4")
            elif e["dtype"] == "F16":
                a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
            else:
                a = _bf16_to_f32(raw)
            out[name] = (e["dtype"], torch.from_numpy(a.astype(np.float32).reshape(e["shape"])))
    return out


# ---------------------------------------------------------------------------------------------
# config.json

FAMILY = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2",
          "GPT2LMHeadModel": "gpt2"}
MODEL_TYPE = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral",
              "Qwen2ForCausalLM": "qwen2", "GPT2LMHeadModel": "gpt2"}
# class defaults of transformers' configuration classes, used when config.json omits a field
DEFAULTS = {
    "llama": dict(rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False, hidden_act="silu",
                  max_position_embeddings=2048, attention_bias=False, mlp_bias=False),
    "mistral": dict(rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False, hidden_act="silu",
                    max_position_embeddings=4096 * 32, sliding_window=4096),
    "qwen2": dict(rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False, hidden_act="silu",
                  max_position_embeddings=32768, use_sliding_window=False),
    "gpt2": dict(layer_norm_epsilon=1e-5, tie_word_embeddings=True, activation_function="gelu_new",
                 n_positions=1024, n_inner=None, scale_attn_weights=True,
                 scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False),
}


def _field(cfg, key, kind, lo=1, hi=MAX_DIM):
    if key not in cfg:
        raise Refused(f"config.json: {key} is missing")
    v = cfg[key]
    if kind is int:
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise Refused(f"config.json: {key} {v!r} is not an integer in [{lo}, {hi}]")
    else:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v > 0 and math.isfinite(v)):
            raise Refused(f"config.json: {key} {v!r} is not a positive number")
        v = float(v)
    return v


def parse_config(cfg):
    """The validated settings the forward pass uses; Refused names the field otherwise."""
    if not isinstance(cfg, dict):
        raise Refused("config.json: not a JSON object")
    arch = cfg.get("architectures")
    if not (isinstance(arch, list) and len(arch) == 1 and isinstance(arch[0], str)):
        raise Refused(f"config.json: architectures {arch!r} must be a list of one class name")
    arch = arch[0]
    if arch not in FAMILY:
        raise Refused(f"config.json: architectures: unsupported {arch} "
                      f"(supported: {', '.join(sorted(FAMILY))})")
    mt = cfg.get("model_type")
    if mt != MODEL_TYPE[arch]:
        raise Refused(f"config.json: model_type {mt!r} does not match architectures {arch} "
                      f"(expected {MODEL_TYPE[arch]!r})")
    fam = FAMILY[arch]
    c = dict(DEFAULTS[mt])
    c.update(cfg)
    s = {"arch": arch, "family": fam, "model_type": mt}
    if fam == "gpt2":
        s["d"] = _field(c, "n_embd", int)
        s["heads"] = _field(c, "n_head", int)
        s["kv_heads"] = s["heads"]
        s["layers"] = _field(c, "n_layer", int)
        s["ctx"] = _field(c, "n_positions", int)
        s["vocab"] = _field(c, "vocab_size", int)
        s["ff"] = 4 * s["d"] if c["n_inner"] is None else _field(c, "n_inner", int)
        s["eps"] = _field(c, "layer_norm_epsilon", float)
        if s["d"] % s["heads"]:
            raise Refused(f"config.json: n_embd {s['d']} is not a multiple of n_head {s['heads']}")
        s["head_dim"] = s["d"] // s["heads"]
        if c["activation_function"] not in ("gelu_new", "gelu_pytorch_tanh"):
            raise Refused(f"config.json: activation_function {c['activation_function']!r} "
                          "(only gelu_new / gelu_pytorch_tanh)")
        for k, want in (("scale_attn_weights", True), ("scale_attn_by_inverse_layer_idx", False),
                        ("reorder_and_upcast_attn", False)):
            if c[k] is not want:
                raise Refused(f"config.json: {k} {c[k]!r} is not supported (only {want})")
        if c.get("add_cross_attention"):
            raise Refused("config.json: add_cross_attention true is not supported")
        if type(c.get("tie_word_embeddings", True)) is not bool:
            raise Refused(f"config.json: tie_word_embeddings {c.get('tie_word_embeddings')!r} is not a boolean")
        s["tied"] = c.get("tie_word_embeddings", True)
    else:
        s["d"] = _field(c, "hidden_size", int)
        s["heads"] = _field(c, "num_attention_heads", int)
        s["kv_heads"] = _field(c, "num_key_value_heads", int) if c.get("num_key_value_heads") is not None \
            else s["heads"]
        s["layers"] = _field(c, "num_hidden_layers", int)
        s["ff"] = _field(c, "intermediate_size", int)
        s["vocab"] = _field(c, "vocab_size", int)
        s["ctx"] = _field(c, "max_position_embeddings", int, hi=1 << 24)
        s["eps"] = _field(c, "rms_norm_eps", float)
        s["theta"] = _field(c, "rope_theta", float)
        if c.get("head_dim") is not None:
            s["head_dim"] = _field(c, "head_dim", int)
        else:
            if s["d"] % s["heads"]:
                raise Refused(f"config.json: hidden_size {s['d']} is not a multiple of "
                              f"num_attention_heads {s['heads']}")
            s["head_dim"] = s["d"] // s["heads"]
        if s["head_dim"] % 2:
            raise Refused(f"config.json: head_dim {s['head_dim']} is odd (rotary needs pairs)")
        if s["heads"] % s["kv_heads"]:
            raise Refused(f"config.json: num_attention_heads {s['heads']} is not a multiple of "
                          f"num_key_value_heads {s['kv_heads']}")
        if c["hidden_act"] != "silu":
            raise Refused(f"config.json: hidden_act {c['hidden_act']!r} (only silu)")
        if type(c.get("tie_word_embeddings")) is not bool:
            raise Refused(f"config.json: tie_word_embeddings {c.get('tie_word_embeddings')!r} is not a boolean")
        s["tied"] = c["tie_word_embeddings"]
        if c.get("partial_rotary_factor", 1.0) != 1.0:
            raise Refused(f"config.json: partial_rotary_factor {c['partial_rotary_factor']} (only 1.0)")
        if mt == "mistral" and c.get("sliding_window") is not None:
            raise Refused(f"config.json: sliding_window {c['sliding_window']} (sliding-window attention "
                          "is not supported; null is)")
        if mt == "qwen2" and c.get("use_sliding_window"):
            raise Refused(f"config.json: use_sliding_window true (sliding_window {c.get('sliding_window')}) "
                          "is not supported")
        s["qkv_bias"] = mt == "qwen2" or (mt == "llama" and c.get("attention_bias") is True)
        s["o_bias"] = mt == "llama" and c.get("attention_bias") is True
        if mt == "llama" and type(c.get("attention_bias")) is not bool:
            raise Refused(f"config.json: attention_bias {c.get('attention_bias')!r} is not a boolean")
        if c.get("mlp_bias"):
            raise Refused("config.json: mlp_bias true is not supported")
        s["rope"] = parse_rope_scaling(c.get("rope_scaling"))
    if s["layers"] > MAX_LAYERS:
        raise Refused(f"config.json: {'n_layer' if fam == 'gpt2' else 'num_hidden_layers'} {s['layers']} "
                      f"exceeds {MAX_LAYERS}")
    total = param_count(s)
    if total > MAX_PARAMS:
        raise Refused(f"config.json: dimensions imply {total} parameters (limit {MAX_PARAMS})")
    return s


def param_count(s):
    """Parameters the config implies, exactly (Python integers: no overflow)."""
    d, ff, V, L = s["d"], s["ff"], s["vocab"], s["layers"]
    if s["family"] == "gpt2":
        return V * d * (1 if s["tied"] else 2) + s["ctx"] * d + 2 * d + \
            L * (4 * d + 3 * d * d + 3 * d + d * d + d + 2 * d * ff + ff + d)
    q, kv = s["heads"] * s["head_dim"], s["kv_heads"] * s["head_dim"]
    per = 2 * d + 2 * d * q + 2 * d * kv + 3 * d * ff
    per += (q + 2 * kv if s["qkv_bias"] else 0) + (d if s["o_bias"] else 0)
    return V * d * (1 if s["tied"] else 2) + d + L * per


def parse_rope_scaling(rs):
    if rs is None:
        return {"type": "default"}
    if not isinstance(rs, dict):
        raise Refused(f"config.json: rope_scaling {rs!r} is not an object")
    # transformers >= 4.45 writes "rope_type"; older files (and Llama 2 linear scaling) write "type"
    t = rs.get("rope_type", rs.get("type"))
    if t == "default":
        return {"type": "default"}
    if t not in ("linear", "llama3"):
        raise Refused(f"config.json: rope_scaling type {t!r} is not supported (only linear, llama3)")

    def num(k):
        v = rs.get(k)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v > 0 and math.isfinite(v)):
            raise Refused(f"config.json: rope_scaling.{k} {v!r} is not a positive number")
        return float(v)
    out = {"type": t, "factor": num("factor")}
    if t == "llama3":
        out["low_freq_factor"] = num("low_freq_factor")
        out["high_freq_factor"] = num("high_freq_factor")
        out["original_max_position_embeddings"] = num("original_max_position_embeddings")
        if out["high_freq_factor"] <= out["low_freq_factor"]:
            raise Refused("config.json: rope_scaling.high_freq_factor must exceed low_freq_factor")
    return out


def _read_json(path):
    """The JSON value in the file at path, read as UTF-8; refused naming the file when it is not JSON."""
    with open(path, "rb") as f:
        try:
            return json.loads(f.read().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise Refused(f"{os.path.basename(path)}: not JSON: {e}")


def parse_generation_config(path, cfg, vocab):
    """EOS ids: generation_config.json's eos_token_id (an int or a list), else config.json's."""
    src, eos = "config.json", cfg.get("eos_token_id")
    if os.path.exists(path):
        g = _read_json(path)
        if not isinstance(g, dict):
            raise Refused("generation_config.json: not a JSON object")
        if "eos_token_id" in g:
            src, eos = "generation_config.json", g["eos_token_id"]
    if eos is None:
        return []
    ids = eos if isinstance(eos, list) else [eos]
    for i in ids:
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < vocab:
            raise Refused(f"{src}: eos_token_id {i!r} is outside the vocabulary of {vocab}")
    return ids


# ---------------------------------------------------------------------------------------------
# tensor names and shapes

def expected_tensors(s):
    """{HF name: shape} the architecture needs, without GPT-2's optional "transformer." prefix."""
    d, ff, V, L = s["d"], s["ff"], s["vocab"], s["layers"]
    t = {}
    if s["family"] == "gpt2":
        t["wte.weight"] = [V, d]
        t["wpe.weight"] = [s["ctx"], d]
        for i in range(L):
            p = f"h.{i}."
            for ln in ("ln_1", "ln_2"):
                t[p + ln + ".weight"] = [d]
                t[p + ln + ".bias"] = [d]
            t[p + "attn.c_attn.weight"] = [d, 3 * d]   # Conv1D: [in, out]
            t[p + "attn.c_attn.bias"] = [3 * d]
            t[p + "attn.c_proj.weight"] = [d, d]
            t[p + "attn.c_proj.bias"] = [d]
            t[p + "mlp.c_fc.weight"] = [d, ff]
            t[p + "mlp.c_fc.bias"] = [ff]
            t[p + "mlp.c_proj.weight"] = [ff, d]
            t[p + "mlp.c_proj.bias"] = [d]
        t["ln_f.weight"] = [d]
        t["ln_f.bias"] = [d]
        if not s["tied"]:
            t["lm_head.weight"] = [V, d]   # nn.Linear: [out, in]
        return t
    hd, H, KV = s["head_dim"], s["heads"], s["kv_heads"]
    t["model.embed_tokens.weight"] = [V, d]
    for i in range(L):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = [d]
        t[p + "self_attn.q_proj.weight"] = [H * hd, d]   # nn.Linear: [out, in]
        t[p + "self_attn.k_proj.weight"] = [KV * hd, d]
        t[p + "self_attn.v_proj.weight"] = [KV * hd, d]
        t[p + "self_attn.o_proj.weight"] = [d, H * hd]
        if s["qkv_bias"]:
            t[p + "self_attn.q_proj.bias"] = [H * hd]
            t[p + "self_attn.k_proj.bias"] = [KV * hd]
            t[p + "self_attn.v_proj.bias"] = [KV * hd]
        if s["o_bias"]:
            t[p + "self_attn.o_proj.bias"] = [d]
        t[p + "post_attention_layernorm.weight"] = [d]
        t[p + "mlp.gate_proj.weight"] = [ff, d]
        t[p + "mlp.up_proj.weight"] = [ff, d]
        t[p + "mlp.down_proj.weight"] = [d, ff]
    t["model.norm.weight"] = [d]
    if not s["tied"]:
        t["lm_head.weight"] = [V, d]
    return t


def ignorable(s, name):
    """Buffers real checkpoints carry that the forward pass recomputes: accepted, not used."""
    parts = name.split(".")
    if s["family"] == "gpt2":
        # h.N.attn.bias (the [1,1,n_ctx,n_ctx] causal mask) and h.N.attn.masked_bias (-1e4)
        return len(parts) == 4 and parts[0] == "h" and parts[1].isdigit() and \
            int(parts[1]) < s["layers"] and parts[2] == "attn" and parts[3] in ("bias", "masked_bias")
    # old transformers saved the rotary inverse frequencies as a persistent buffer
    return len(parts) == 6 and parts[:2] == ["model", "layers"] and parts[2].isdigit() and \
        int(parts[2]) < s["layers"] and parts[3:] == ["self_attn", "rotary_emb", "inv_freq"]


def _shard_path(d, name):
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", "..") \
            or "\0" in name or not name.endswith(".safetensors"):
        raise Refused(f"model.safetensors.index.json: shard {name!r} is not a plain .safetensors "
                      "file name inside the model directory")
    p = os.path.join(d, name)
    if not os.path.isfile(p):
        raise Refused(f"model.safetensors.index.json: shard {name} does not exist")
    return p


def load_dir(d):
    """(settings, eos ids, {name: float32 tensor}) of a model directory, after every check."""
    try:
        cfg = _read_json(os.path.join(d, "config.json"))
    except FileNotFoundError:
        raise Refused(f"{d}: config.json is missing")
    s = parse_config(cfg)
    eos = parse_generation_config(os.path.join(d, "generation_config.json"), cfg, s["vocab"])
    single = os.path.join(d, "model.safetensors")
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(single):
        files = {single: None}
    elif os.path.exists(index):
        idx = _read_json(index)
        wm = idx.get("weight_map") if isinstance(idx, dict) else None
        if not isinstance(wm, dict):
            raise Refused("model.safetensors.index.json: weight_map is missing or not an object")
        files = {}
        for name, shard in wm.items():
            files.setdefault(_shard_path(d, shard), set()).add(name)
    else:
        raise Refused(f"{d}: neither model.safetensors nor model.safetensors.index.json")

    want = expected_tensors(s)
    prefix = None
    where = {}
    headers = {}
    for path, listed in files.items():
        header, _ = read_safetensors_header(path)
        headers[path] = header
        names = {n for n in header if n != "__metadata__"}
        if listed is not None:
            for n in listed - names:
                raise Refused(f"model.safetensors.index.json: {n} is mapped to {os.path.basename(path)}, "
                              "which does not hold it")
        for n in sorted(names):
            if n in where:
                raise Refused(f"tensor {n} appears in both {os.path.basename(where[n])} and "
                              f"{os.path.basename(path)}")
            where[n] = path
            if listed is not None and n not in listed:
                raise Refused(f"{os.path.basename(path)}: tensor {n} is not in the index's weight_map")

    def bare(n):
        nonlocal prefix
        if s["family"] != "gpt2":
            return n
        # GPT2LMHeadModel.save_pretrained writes "transformer.h.0..."; the original OpenAI
        # conversion (openai-community/gpt2) writes "h.0...". One file uses one form.
        has = n.startswith("transformer.")
        if prefix is None:
            prefix = has
        elif prefix != has:
            raise Refused(f"tensor {n}: mixes names with and without the 'transformer.' prefix")
        return n[len("transformer."):] if has else n

    got = {}
    for n, path in where.items():
        if s["family"] == "gpt2" and n == "lm_head.weight":
            if s["tied"]:
                raise Refused("tensor lm_head.weight: GPT-2's head is tied to wte (config.json "
                              "tie_word_embeddings is not false); a separate lm_head is not used")
            got[n] = (n, path)   # GPT2LMHeadModel's own head: never prefixed
            continue
        b = bare(n)
        if b in want:
            got[b] = (n, path)
        elif not ignorable(s, b):
            raise Refused(f"tensor {n} ({os.path.basename(path)}) is not part of {s['arch']} "
                          f"with this config.json")
    for b in want:
        if b not in got:
            hint = " (config.json tie_word_embeddings is false)" if b == "lm_head.weight" else ""
            raise Refused(f"tensor {b} is missing{hint}")
    torch_dtype = cfg.get("torch_dtype")
    want_dt = TORCH_DTYPE.get(torch_dtype) if torch_dtype is not None else None
    if torch_dtype is not None and want_dt is None:
        raise Refused(f"config.json: torch_dtype {torch_dtype!r} (only float32, float16, bfloat16)")
    for b, (n, path) in got.items():
        e = headers[path][n]
        if e["shape"] != want[b]:
            raise Refused(f"tensor {n}: shape {e['shape']}, config.json implies {want[b]}")
        if want_dt is not None and e["dtype"] != want_dt:
            raise Refused(f"tensor {n}: dtype {e['dtype']} but config.json torch_dtype is {torch_dtype}")
    weights = {}
    for path in files:
        mine = {n for b, (n, p) in got.items() if p == path}
        for n, (_, t) in read_safetensors(path, mine).items():
            weights[n if n == "lm_head.weight" else bare(n)] = t
    return s, eos, weights


# ---------------------------------------------------------------------------------------------
# the forward passes

def rope_inv_freq(s, dtype):
    """inv_freq[i] = 1 / theta^(2i/hd), then the rope_scaling rescaling (HF computes it in float32)."""
    hd = s["head_dim"]
    inv = 1.0 / (s["theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).to(dtype) / hd))
    r = s["rope"]
    if r["type"] == "linear":
        # HF's linear type: positions / factor, implemented by dividing inv_freq by factor
        inv = inv / r["factor"]
    elif r["type"] == "llama3":
        # Llama 3.1 (Meta llama-models, reference_impl/model.py apply_scaling; transformers
        # modeling_rope_utils._compute_llama3_parameters): wavelengths shorter than
        # old_ctx/high_freq_factor keep their frequency, longer than old_ctx/low_freq_factor are
        # divided by factor, and the band between interpolates with
        # smooth = (old_ctx/wavelen - low) / (high - low).
        factor, lo, hi = r["factor"], r["low_freq_factor"], r["high_freq_factor"]
        old = r["original_max_position_embeddings"]
        lo_wl, hi_wl = old / lo, old / hi
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > lo_wl, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < hi_wl) & ~(wavelen > lo_wl)
        inv = torch.where(medium, smoothed, scaled)
    return inv


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def apply_rope(x, pos, inv):
    """x [heads, T, hd]; angle(p, i) = p * inv[i mod hd/2] (cat(freqs, freqs): halves, not pairs)."""
    freqs = pos.to(inv.dtype)[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return x * emb.cos() + rotate_half(x) * emb.sin()


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = (x - mu).pow(2).mean(-1, keepdim=True)   # biased variance, as torch.nn.LayerNorm
    return (x - mu) * torch.rsqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def attend(q, k, v, p0):
    """q [H, T, hd] at positions p0.., k/v [H, p0+T, hd] (already repeated for GQA): causal."""
    T, S = q.shape[1], k.shape[1]
    scores = (q @ k.transpose(1, 2)) / math.sqrt(q.shape[-1])
    qpos = torch.arange(p0, p0 + T)[:, None]
    kpos = torch.arange(S)[None, :]
    scores = scores.masked_fill(kpos > qpos, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


class Model:
    def __init__(self, s, weights, dtype=torch.float32):
        self.s, self.dtype = s, dtype
        self.w = {n: t.to(dtype) for n, t in weights.items()}
        if s["family"] != "gpt2":
            self.inv_freq = rope_inv_freq(s, dtype)

    def new_cache(self):
        return {"k": [None] * self.s["layers"], "v": [None] * self.s["layers"], "n": 0}

    def forward(self, ids, cache=None):
        """logits [T, vocab] of the new ids; with a cache, appends to it (positions continue)."""
        if cache is None:
            cache = self.new_cache()
        p0, T = cache["n"], len(ids)
        if p0 + T > self.s["ctx"]:
            raise Refused(f"sequence of {p0 + T} tokens exceeds the context of {self.s['ctx']}")
        ids = torch.tensor(ids, dtype=torch.long)
        if int(ids.min()) < 0 or int(ids.max()) >= self.s["vocab"]:
            raise Refused("token id outside the vocabulary")
        out = self._gpt2(ids, p0, cache) if self.s["family"] == "gpt2" else self._llama(ids, p0, cache)
        cache["n"] = p0 + T
        return out

    def _llama(self, ids, p0, cache):
        s, w = self.s, self.w
        H, KV, hd = s["heads"], s["kv_heads"], s["head_dim"]
        pos = torch.arange(p0, p0 + len(ids))
        h = w["model.embed_tokens.weight"][ids]
        for i in range(s["layers"]):
            p = f"model.layers.{i}."
            x = rms_norm(h, w[p + "input_layernorm.weight"], s["eps"])

            def proj(n):   # F.linear = x W^T + b, what nn.Linear runs
                return F.linear(x, w[p + n + ".weight"], w.get(p + n + ".bias"))
            q = proj("self_attn.q_proj").view(-1, H, hd).transpose(0, 1)
            k = proj("self_attn.k_proj").view(-1, KV, hd).transpose(0, 1)
            v = proj("self_attn.v_proj").view(-1, KV, hd).transpose(0, 1)
            q = apply_rope(q, pos, self.inv_freq)
            k = apply_rope(k, pos, self.inv_freq)
            if cache["k"][i] is not None:
                k = torch.cat((cache["k"][i], k), dim=1)
                v = torch.cat((cache["v"][i], v), dim=1)
            cache["k"][i], cache["v"][i] = k, v
            # repeat_kv: KV head j serves query heads j*rep .. j*rep + rep - 1
            rep = H // KV
            a = attend(q, k.repeat_interleave(rep, dim=0), v.repeat_interleave(rep, dim=0), p0)
            a = a.transpose(0, 1).reshape(-1, H * hd)
            h = h + F.linear(a, w[p + "self_attn.o_proj.weight"], w.get(p + "self_attn.o_proj.bias"))
            x = rms_norm(h, w[p + "post_attention_layernorm.weight"], s["eps"])
            g = F.silu(F.linear(x, w[p + "mlp.gate_proj.weight"]))
            h = h + F.linear(g * F.linear(x, w[p + "mlp.up_proj.weight"]), w[p + "mlp.down_proj.weight"])
        h = rms_norm(h, w["model.norm.weight"], s["eps"])
        head = w["model.embed_tokens.weight"] if s["tied"] else w["lm_head.weight"]
        return F.linear(h, head)

    def _gpt2(self, ids, p0, cache):
        s, w = self.s, self.w
        H, hd, d = s["heads"], s["head_dim"], s["d"]
        h = w["wte.weight"][ids] + w["wpe.weight"][p0:p0 + len(ids)]
        for i in range(s["layers"]):
            p = f"h.{i}."
            x = layer_norm(h, w[p + "ln_1.weight"], w[p + "ln_1.bias"], s["eps"])
            qkv = x @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]   # Conv1D: x W + b
            q, k, v = (t.reshape(-1, H, hd).transpose(0, 1) for t in qkv.split(d, dim=-1))
            if cache["k"][i] is not None:
                k = torch.cat((cache["k"][i], k), dim=1)
                v = torch.cat((cache["v"][i], v), dim=1)
            cache["k"][i], cache["v"][i] = k, v
            a = attend(q, k, v, p0).transpose(0, 1).reshape(-1, d)
            h = h + a @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            x = layer_norm(h, w[p + "ln_2.weight"], w[p + "ln_2.bias"], s["eps"])
            m = gelu_new(x @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
            h = h + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        h = layer_norm(h, w["ln_f.weight"], w["ln_f.bias"], s["eps"])
        return F.linear(h, w["wte.weight"] if s["tied"] else w["lm_head.weight"])


def load_model(d, dtype=torch.float32):
    s, eos, weights = load_dir(d)
    return Model(s, weights, dtype), eos


def _margin(row):
    top = torch.topk(row, 2).values
    return float(top[0] - top[1])


def greedy(model, ids, n, eos=(), cached=True):
    """(new tokens, "eos"|"length", min top-1 minus top-2 margin); torch.argmax picks the lowest id on ties."""
    out, margin = [], math.inf
    if cached:
        cache = model.new_cache()
        logits = model.forward(list(ids), cache)[-1]
    else:
        logits = model.forward(list(ids))[-1]
    while len(out) < n:
        margin = min(margin, _margin(logits))
        t = int(torch.argmax(logits))
        out.append(t)
        if t in eos:
            return out, "eos", margin
        if len(out) == n:
            break
        if cached:
            logits = model.forward([t], cache)[-1]
        else:
            logits = model.forward(list(ids) + out)[-1]
    return out, "length", margin


def greedy_checked(model, ids, n, eos=()):
    a = greedy(model, ids, n, eos, cached=True)
    b = greedy(model, ids, n, eos, cached=False)
    if a[:2] != b[:2]:
        raise AssertionError(f"cached greedy {a[:2]} differs from uncached {b[:2]}")
    return a


def rel_err(a, b):
    """per position: max|a - b| / max|b|; returns (worst, position)."""
    a = np.asarray(a, dtype=np.float64).reshape(np.shape(b))
    b = np.asarray(b, dtype=np.float64)
    e = np.abs(a - b).max(axis=-1) / np.maximum(np.abs(b).max(axis=-1), 1e-30)
    return float(e.max()), int(e.argmax())


def _ids(text):
    return [int(x) for x in text.split(",") if x.strip()]


def run_batch(path, call):
    """Runs the command lines of FILE (- = stdin; shell words, one line each, blank lines skipped) as
    call(argv) -> exit status, all in this one process (importing torch costs seconds a process). A failing
    line is reported on stderr with its number and the rest still run; returns 1 if any failed."""
    import shlex
    bad = 0
    with (sys.stdin if path == "-" else open(path)) as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rc = call(shlex.split(line))
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
        except Exception as e:   # noqa: BLE001 (one bad line must not hide the others)
            print(f"batch line {i}: {type(e).__name__}: {e}", file=sys.stderr)
            rc = 1
        if rc:
            print(f"batch line {i}: exit {rc}: {line}", file=sys.stderr)
            bad = 1
    return bad


def batch(path):
    """`batch FILE` (- = stdin): one command line per line (logits/generate/compare/check ...), each run as
    its own call to main (run_batch)."""
    return run_batch(path, main)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "batch":
        return batch(argv[1])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("logits")
    p.add_argument("dir")
    p.add_argument("--ids", required=True)
    p.add_argument("--f64", action="store_true")
    p.add_argument("--out", required=True)
    p = sub.add_parser("generate")
    p.add_argument("dir")
    p.add_argument("--ids", required=True)
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--no-eos", action="store_true")
    p.add_argument("--out")
    p = sub.add_parser("compare")
    p.add_argument("ref")
    p.add_argument("other")
    p.add_argument("--rtol", type=float, default=1e-4)
    p = sub.add_parser("check")
    p.add_argument("dir")
    a = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("TEELM_REF_THREADS", "2")))
    try:
        if a.cmd == "check":
            s, eos, _ = load_dir(a.dir)
            print(json.dumps({"arch": s["arch"], "eos": eos}))
        elif a.cmd == "logits":
            dt = torch.float64 if a.f64 else torch.float32
            m, _ = load_model(a.dir, dt)
            ids = _ids(a.ids)
            with torch.no_grad():
                lg = m.forward(ids).numpy()
            lg.astype("<f8" if a.f64 else "<f4").tofile(a.out + ".bin")
            with open(a.out + ".json", "w") as f:
                json.dump({"shape": list(lg.shape), "dtype": "f64le" if a.f64 else "f32le", "ids": ids,
                           "model": os.path.abspath(a.dir), "arch": m.s["arch"],
                           "data": os.path.basename(a.out + ".bin")}, f)
        elif a.cmd == "generate":
            m, eos = load_model(a.dir)
            with torch.no_grad():
                toks, why, margin = greedy_checked(m, _ids(a.ids), a.new, () if a.no_eos else eos)
            r = json.dumps({"tokens": toks, "stopped": why, "min_margin": margin})
            if a.out:
                with open(a.out, "w") as f:
                    f.write(r + "\n")
            else:
                print(r)
        else:
            with open(a.ref) as f:
                meta = json.load(f)
            ref = np.fromfile(os.path.join(os.path.dirname(os.path.abspath(a.ref)), meta["data"]),
                              dtype="<f8" if meta["dtype"] == "f64le" else "<f4").reshape(meta["shape"])
            other = np.fromfile(a.other, dtype="<f4")
            if other.size != ref.size:
                print(f"compare: {a.other} holds {other.size} floats, reference {ref.size}")
                return 1
            err, at = rel_err(other, ref)
            print(json.dumps({"max_rel_err": err, "position": at, "rtol": a.rtol}))
            return 0 if err <= a.rtol else 1
    except Refused as e:
        print(f"refused: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
