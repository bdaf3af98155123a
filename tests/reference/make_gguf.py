#!/usr/bin/python3
"""An independent minimal GGUF writer (written from ggml's docs/gguf.md, not from teelm's reader) for
teelm's tests: random-weight llama / qwen2 / gpt2 models in F32, F16 or BF16, with llama.cpp's
metadata keys and tensor names, the tokenizer taken from a tokenizer.json written by
make_hf_tokenizers.py, and hostile variants of the file.

usage: make_gguf.py OUT --arch llama|qwen2|gpt2 --tokenizer DIR/tokenizer.json [--dtype F32|F16|BF16]
       [--d 64] [--layers 2] [--heads 4] [--kv-heads 2] [--ff 160] [--ctx 256] [--seed S]
       [--rope-theta T] [--untied] [--alignment A] [--version 2|3] [--hostile MODE | --hostile list]

The tokenizer: a byte-level BPE tokenizer.json becomes tokenizer.ggml.model "gpt2" (tokens, merges,
token_type, pre from --pre); a SentencePiece-style one (byte_fallback) becomes "llama" (tokens, scores
= minus the id, token_type with BYTE for <0xNN>, CONTROL for <s></s>, UNKNOWN for <unk>).

Weights: embeddings N(0, 1/d), matrices N(0, 1/fan_in), norm gains 1 + N(0, 0.1), biases N(0, 0.1),
as make_hf_model.py. Matrices are stored in --dtype, vectors in F32 (as llama.cpp's converter does).
For llama, q/k rows are permuted as llama.cpp's convert_hf_to_gguf.py does (--hf-out DIR also writes
the un-permuted HF safetensors + config.json of the same weights, for a cross-check through teelm's
HF loader).
"""
import argparse
import json
import struct
import sys

import numpy as np

T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
GG_F32, GG_F16, GG_BF16 = 0, 1, 30
# block types: rows quantized by quant_ref.py (ggml's _ref quantizers for Q8_0/Q4_0, simple ones for
# the K types; any valid blocks do for a reader and a product)
DT = {"F32": GG_F32, "F16": GG_F16, "BF16": GG_BF16, "Q4_0": 2, "Q8_0": 8, "Q4_K": 12, "Q6_K": 14}

HOSTILE = {
    "truncated-header": "the file ends inside the tensor infos",
    "truncated-data": "the file ends before the last tensor's data",
    "lying-kv-count": "metadata_kv_count 2^40",
    "lying-tensor-count": "tensor_count one more than the infos present",
    "huge-string": "a metadata key whose length is 2^63",
    "huge-array": "a metadata array of 2^62 uint32 elements",
    "nested-arrays": "an array of arrays nested 100 deep",
    "misaligned-offset": "a tensor offset that is not a multiple of general.alignment",
    "overlap": "two tensors' data ranges overlap",
    "unknown-type": "a tensor of ggml type id 200",
    "q5k-type": "blk.0.ffn_down.weight stored as Q5_K (block sizes right; a type teelm does not run)",
    "bad-alignment": "general.alignment 48 (not a power of two)",
    "bad-version": "version 4",
    "huge-dims": "a tensor whose dims multiply past 2^63",
    "duplicate-tensor": "two tensors named token_embd.weight",
    "duplicate-key": "the key general.architecture twice",
    "missing-tensor": "blk.0.ffn_up.weight absent",
    "wrong-shape": "blk.0.ffn_gate.weight with its two dims swapped",
    "bad-value-type": "a metadata value of type id 13",
}


def s(x):
    b = x.encode() if isinstance(x, str) else x
    return struct.pack("<Q", len(b)) + b


def val(t, v):
    if t == T_STR:
        return s(v)
    fmt = {T_U8: "B", T_I8: "b", T_U16: "H", T_I16: "h", T_U32: "I", T_I32: "i", T_F32: "f", T_BOOL: "?",
           T_U64: "Q", T_I64: "q", T_F64: "d"}[t]
    return struct.pack("<" + fmt, v)


def kv(key, t, v, et=None):
    out = s(key) + struct.pack("<I", t)
    if t == T_ARR:
        out += struct.pack("<IQ", et, len(v))
        if et == T_STR:
            out += b"".join(s(x) for x in v)
        elif et == T_I32:
            out += np.asarray(v, dtype="<i4").tobytes()
        elif et == T_F32:
            out += np.asarray(v, dtype="<f4").tobytes()
        else:
            out += b"".join(val(et, x) for x in v)
        return out
    return out + val(t, v)


def to_bytes(a, dtype):
    a = np.ascontiguousarray(a, dtype=np.float32)
    if dtype.startswith("Q"):
        import quant_ref  # beside this file
        if dtype in ("Q8_0", "Q4_0"):  # vectorized over all blocks (rows are whole blocks)
            return quant_ref.QUANT_W[dtype](a.reshape(-1))
        return b"".join(quant_ref.QUANT_W[dtype](row) for row in a.reshape(-1, a.shape[-1]))
    if dtype == "F32":
        return a.astype("<f4").tobytes()
    if dtype == "F16":
        return a.astype("<f2").tobytes()
    u = a.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")  # round to nearest even
    return r.tobytes()


def permute(w, n_head):
    """llama.cpp's convert_hf_to_gguf.py LlamaModel.permute: each head's rows (first halves, then
    second halves) become interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tokenizer_kvs(path, pre):
    tj = json.load(open(path, encoding="utf-8"))
    m = tj["model"]
    vocab = dict(m["vocab"])
    for a in tj.get("added_tokens", []):
        vocab[a["content"]] = a["id"]
    n = max(vocab.values()) + 1
    toks = ["[PAD%d]" % i for i in range(n)]
    for t, i in vocab.items():
        toks[i] = t
    special = {a["content"] for a in tj.get("added_tokens", []) if a.get("special")}
    out = []
    if m.get("byte_fallback"):
        types = []
        for t in toks:
            types.append(2 if t == "<unk>" else 3 if t in special else 6 if (len(t) == 6 and t.startswith("<0x")) else 1)
        out += [kv("tokenizer.ggml.model", T_STR, "llama"),
                kv("tokenizer.ggml.tokens", T_ARR, toks, T_STR),
                kv("tokenizer.ggml.scores", T_ARR, [-float(i) for i in range(n)], T_F32),
                kv("tokenizer.ggml.token_type", T_ARR, types, T_I32),
                kv("tokenizer.ggml.bos_token_id", T_U32, vocab["<s>"]),
                kv("tokenizer.ggml.eos_token_id", T_U32, vocab["</s>"]),
                kv("tokenizer.ggml.unknown_token_id", T_U32, vocab["<unk>"]),
                kv("tokenizer.ggml.add_bos_token", T_BOOL, True),
                kv("tokenizer.ggml.add_eos_token", T_BOOL, False)]
        return out, n, vocab["<s>"], vocab["</s>"]
    merges = [x if isinstance(x, str) else " ".join(x) for x in m["merges"]]
    user = {a["content"] for a in tj.get("added_tokens", []) if not a.get("special")}
    types = [3 if t in special else 4 if t in user else 1 for t in toks]
    eos = next((a["id"] for a in tj.get("added_tokens", []) if a["content"] in ("<|endoftext|>", "<|end_of_text|>")), n - 1)
    bos = next((a["id"] for a in tj.get("added_tokens", []) if a["content"] == "<|begin_of_text|>"), eos)
    out += [kv("tokenizer.ggml.model", T_STR, "gpt2"),
            kv("tokenizer.ggml.pre", T_STR, pre),
            kv("tokenizer.ggml.tokens", T_ARR, toks, T_STR),
            kv("tokenizer.ggml.token_type", T_ARR, types, T_I32),
            kv("tokenizer.ggml.merges", T_ARR, merges, T_STR),
            kv("tokenizer.ggml.bos_token_id", T_U32, bos),
            kv("tokenizer.ggml.eos_token_id", T_U32, eos),
            kv("tokenizer.ggml.add_bos_token", T_BOOL, pre == "llama-bpe")]
    return out, n, bos, eos


def tensors(a, V, rng):
    d, L, H = a.d, a.layers, a.heads
    KV = a.kv_heads or H
    hd = d // H
    ff = a.ff or (4 * d if a.arch == "gpt2" else 160)

    def mat(o, i):
        return (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)

    def gain(n):
        return (1 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    def bias(n):
        return (0.1 * rng.standard_normal(n)).astype(np.float32)

    t, hf = [], {}
    emb = (rng.standard_normal((V, d)) / np.sqrt(d)).astype(np.float32)
    t.append(("token_embd.weight", emb))
    if a.arch == "gpt2":
        t.append(("position_embd.weight", (rng.standard_normal((a.ctx, d)) / np.sqrt(d)).astype(np.float32)))
        for b in range(L):
            p = "blk.%d." % b
            t += [(p + "attn_norm.weight", gain(d)), (p + "attn_norm.bias", bias(d)),
                  (p + "attn_qkv.weight", mat(3 * d, d)), (p + "attn_qkv.bias", bias(3 * d)),
                  (p + "attn_output.weight", mat(d, d)), (p + "attn_output.bias", bias(d)),
                  (p + "ffn_norm.weight", gain(d)), (p + "ffn_norm.bias", bias(d)),
                  (p + "ffn_up.weight", mat(ff, d)), (p + "ffn_up.bias", bias(ff)),
                  (p + "ffn_down.weight", mat(d, ff)), (p + "ffn_down.bias", bias(d))]
        # llama.cpp's converter writes GPT-2's tied head as a copy of token_embd; --untied: a head of its own
        t += [("output_norm.weight", gain(d)), ("output_norm.bias", bias(d)), ("output.weight", mat(V, d) if a.untied else emb)]
        return t, hf, ff, KV
    for b in range(L):
        p, q = "blk.%d." % b, "model.layers.%d." % b
        wq, wk, wv, wo = mat(H * hd, d), mat(KV * hd, d), mat(KV * hd, d), mat(d, H * hd)
        hf.update({q + "self_attn.q_proj.weight": wq, q + "self_attn.k_proj.weight": wk,
                   q + "self_attn.v_proj.weight": wv, q + "self_attn.o_proj.weight": wo})
        if a.arch == "llama":
            wq, wk = permute(wq, H), permute(wk, KV)
        n1 = gain(d)
        t += [(p + "attn_norm.weight", n1), (p + "attn_q.weight", wq), (p + "attn_k.weight", wk),
              (p + "attn_v.weight", wv)]
        if a.arch == "qwen2":
            for nm, n in (("q", H * hd), ("k", KV * hd), ("v", KV * hd)):
                bb = bias(n)
                hf[q + "self_attn.%s_proj.bias" % nm] = bb
                t.append((p + "attn_%s.bias" % nm, bb))
        t += [(p + "attn_output.weight", wo), (p + "ffn_norm.weight", gain(d)),
              (p + "ffn_gate.weight", mat(ff, d)), (p + "ffn_up.weight", mat(ff, d)), (p + "ffn_down.weight", mat(d, ff))]
        hf[q + "input_layernorm.weight"] = n1
        hf[q + "post_attention_layernorm.weight"] = t[-4][1]
        hf[q + "mlp.gate_proj.weight"], hf[q + "mlp.up_proj.weight"], hf[q + "mlp.down_proj.weight"] = t[-3][1], t[-2][1], t[-1][1]
    t.append(("output_norm.weight", gain(d)))
    hf["model.embed_tokens.weight"], hf["model.norm.weight"] = emb, t[-1][1]
    if a.untied:
        head = mat(V, d)
        t.append(("output.weight", head))
        hf["lm_head.weight"] = head
    return t, hf, ff, KV


def write(a):
    rng = np.random.default_rng(a.seed)
    tok, V, bos, eos = tokenizer_kvs(a.tokenizer, a.pre)
    ts, hf, ff, KV = tensors(a, V, rng)
    arch = a.arch
    meta = [kv("general.architecture", T_STR, arch), kv("general.name", T_STR, "teelm-test-" + arch),
            kv("general.alignment", T_U32, a.alignment),
            kv(arch + ".context_length", T_U32, a.ctx), kv(arch + ".embedding_length", T_U32, a.d),
            kv(arch + ".block_count", T_U32, a.layers), kv(arch + ".feed_forward_length", T_U32, ff),
            kv(arch + ".attention.head_count", T_U32, a.heads)]
    if arch == "gpt2":
        meta.append(kv(arch + ".attention.layer_norm_epsilon", T_F32, 1e-5))
    else:
        meta += [kv(arch + ".attention.head_count_kv", T_U32, KV), kv(arch + ".rope.freq_base", T_F32, a.rope_theta),
                 kv(arch + ".attention.layer_norm_rms_epsilon", T_F32, 1e-6),
                 kv(arch + ".rope.dimension_count", T_U32, a.d // a.heads)]
    meta += tok
    if a.chat_template:
        meta.append(kv("tokenizer.chat_template", T_STR, open(a.chat_template, encoding="utf-8").read()))
    h = a.hostile
    if h == "duplicate-key":
        meta.append(kv("general.architecture", T_STR, arch))
    if h == "nested-arrays":
        inner = struct.pack("<IQ", T_U8, 0)
        for _ in range(100):
            inner = struct.pack("<IQ", T_ARR, 1) + inner
        meta.append(s("test.nested") + struct.pack("<I", T_ARR) + inner)
    if h == "bad-value-type":
        meta.append(s("test.bad") + struct.pack("<I", 13) + b"\0" * 8)
    if h == "bad-alignment":
        meta[2] = kv("general.alignment", T_U32, 48)
    if h == "missing-tensor":
        ts = [x for x in ts if x[0] != "blk.0.ffn_up.weight"]
    if h == "duplicate-tensor":
        ts.append(ts[0])
    al = a.alignment
    infos, blobs, off = [], [], 0
    for i, (name, arr) in enumerate(ts):
        dt = a.dtype if arr.ndim == 2 else "F32"
        if dt == "Q4_K_M":  # llama.cpp's mix, where rows are whole 256-blocks (else Q4_0, as for 576-wide rows)
            k_ok = arr.shape[-1] % 256 == 0
            six = name.endswith(("ffn_down.weight", "attn_v.weight")) or name in ("output.weight", "token_embd.weight")
            dt = ("Q6_K" if six else "Q4_K") if k_ok else "Q4_0"
        gtype = DT[dt]
        data = to_bytes(arr, dt)
        dims = list(reversed(arr.shape))
        if h == "wrong-shape" and name == "blk.0.ffn_gate.weight":
            dims = dims[::-1]
        if h == "unknown-type" and name == "blk.0.attn_k.weight":
            gtype = 200
        if h == "q5k-type" and name == "blk.0.ffn_down.weight":
            gtype = 13  # Q5_K: 256-element blocks of 176 bytes
            data = b"\0" * (arr.size // 256 * 176)
        if h == "huge-dims" and i == 1:
            dims = [1 << 32, 1 << 32] + dims[:0]
        o = off
        if h == "misaligned-offset" and i == 2:
            o += 4
        if h == "overlap" and i == 2:
            o = infos[-1][3]
        infos.append((name, dims, gtype, o))
        blobs.append((o, data))
        off = max(off, o + len(data))
        off = (off + al - 1) // al * al
    nkv = len(meta)
    ntens = len(infos) + (1 if h == "lying-tensor-count" else 0)
    if h == "lying-kv-count":
        nkv = 1 << 40
    head = b"GGUF" + struct.pack("<IQQ", 4 if h == "bad-version" else a.version, ntens, nkv)
    if h == "huge-string":
        meta.insert(0, struct.pack("<Q", 1 << 63) + b"general.x")
    if h == "huge-array":
        meta.insert(0, s("test.huge") + struct.pack("<IIQ", T_ARR, T_U32, 1 << 62))
    body = head + b"".join(meta)
    for name, dims, gtype, o in infos:
        body += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", x) for x in dims) + struct.pack("<IQ", gtype, o)
    if h == "truncated-header":
        body = body[: len(body) - 7]
        open(a.out, "wb").write(body)
        return
    pad = (len(body) + al - 1) // al * al - len(body)
    body += b"\0" * pad
    data = bytearray(off)
    for o, blob in blobs:
        data[o:o + len(blob)] = blob
    out = body + bytes(data)
    if h == "truncated-data":
        out = out[: len(out) - 100]
    with open(a.out, "wb") as f:
        f.write(out)
    if a.hf_out and arch != "gpt2":
        write_hf(a, hf, V, ff, KV, bos, eos)


def write_hf(a, hf, V, ff, KV, bos, eos):
    import os
    os.makedirs(a.hf_out, exist_ok=True)
    cls = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}[a.arch]
    cfg = {"architectures": [cls], "model_type": a.arch, "vocab_size": V, "hidden_size": a.d,
           "intermediate_size": ff, "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
           "num_key_value_heads": KV, "max_position_embeddings": a.ctx, "rms_norm_eps": 1e-6,
           "rope_theta": a.rope_theta, "tie_word_embeddings": not a.untied, "bos_token_id": bos, "eos_token_id": eos}
    json.dump(cfg, open(os.path.join(a.hf_out, "config.json"), "w"))
    names = sorted(hf)
    header, off, blobs = {}, 0, []
    for n in names:
        b = to_bytes(hf[n], "F32")
        header[n] = {"dtype": "F32", "shape": list(hf[n].shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    hj = json.dumps(header).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(os.path.join(a.hf_out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--arch", default="llama", choices=["llama", "qwen2", "gpt2"])
    ap.add_argument("--tokenizer")
    ap.add_argument("--pre", default="gpt-2")
    ap.add_argument("--dtype", default="F32", choices=list(DT) + ["Q4_K_M"])
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int)
    ap.add_argument("--ff", type=int)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--untied", action="store_true")
    ap.add_argument("--alignment", type=int, default=32)
    ap.add_argument("--version", type=int, default=3)
    ap.add_argument("--hostile")
    ap.add_argument("--hf-out")
    ap.add_argument("--chat-template", help="a Jinja file stored as tokenizer.chat_template")
    a = ap.parse_args()
    if a.hostile == "list":
        for k, v in HOSTILE.items():
            print("%-20s %s" % (k, v))
        return
    if a.hostile and a.hostile not in HOSTILE:
        sys.exit("unknown --hostile mode %s" % a.hostile)
    if not a.tokenizer:
        sys.exit("--tokenizer is required")
    write(a)


main()
