#!/usr/bin/python3
"""Self-test of tests/reference/hf_models.py and make_hf_model.py: the reference checked against
itself and against second, deliberately different transcriptions of the same equations, in ways
that fail when a convention is wrong (negative controls included, so the comparisons are shown to be
sensitive). Exit 77 (skip, with the reason) when torch or numpy is absent."""
import json
import math
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print(f"test_hf_reference: skipped: {e} (Debian python3-torch and python3-numpy are needed)")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hf_models as H  # noqa: E402
import make_hf_model as M  # noqa: E402

torch.set_num_threads(2)
FAILS = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILS.append(what)


# ---- a second transcription: loops over heads, einsum, per-pair rotation, Meta's llama3 loop ----

def meta_llama3_scaling(freqs, factor, lo, hi, old):
    """Meta llama-models, models/llama3/reference_impl/model.py apply_scaling, as published."""
    lo_wl, hi_wl = old / lo, old / hi
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < hi_wl:
            out.append(f)
        elif wl > lo_wl:
            out.append(f / factor)
        else:
            sm = (old / wl - lo) / (hi - lo)
            out.append((1 - sm) * f / factor + sm * f)
    return np.array(out)


def naive_inv_freq(s):
    hd = s["head_dim"]
    inv = np.array([1.0 / s["theta"] ** (2 * i / hd) for i in range(hd // 2)])
    r = s["rope"]
    if r["type"] == "linear":
        inv = inv / r["factor"]
    elif r["type"] == "llama3":
        inv = meta_llama3_scaling(inv, r["factor"], r["low_freq_factor"], r["high_freq_factor"],
                                  r["original_max_position_embeddings"])
    return inv


def naive_rope(x, inv, interleaved=False):
    """x [T, hd] at positions 0..T-1: rotate pair (i, i + hd/2) (HF) or (2i, 2i+1) (negative control)."""
    T, hd = x.shape
    y = x.clone()
    for t in range(T):
        for i in range(hd // 2):
            a = t * float(inv[i])
            c, s_ = math.cos(a), math.sin(a)
            i1, i2 = (2 * i, 2 * i + 1) if interleaved else (i, i + hd // 2)
            y[t, i1] = x[t, i1] * c - x[t, i2] * s_
            y[t, i2] = x[t, i2] * c + x[t, i1] * s_
    return y


def naive_llama(s, w, ids, interleaved=False, kv_map="interleave"):
    w = {n: t.double() for n, t in w.items()}
    inv = naive_inv_freq(s)
    nh, nkv, hd = s["heads"], s["kv_heads"], s["head_dim"]
    rep = nh // nkv
    T = len(ids)

    def norm(x, g):
        return x / torch.sqrt((x * x).sum(-1, keepdim=True) / x.shape[-1] + s["eps"]) * g

    def lin(x, n):
        y = torch.einsum("td,od->to", x, w[n + ".weight"])
        return y + w[n + ".bias"] if n + ".bias" in w else y
    h = torch.stack([w["model.embed_tokens.weight"][i] for i in ids])
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    for layer in range(s["layers"]):
        p = f"model.layers.{layer}."
        x = norm(h, w[p + "input_layernorm.weight"])
        Q, K, V = (lin(x, p + "self_attn." + n) for n in ("q_proj", "k_proj", "v_proj"))
        heads = []
        for hh in range(nh):
            j = hh // rep if kv_map == "interleave" else hh % nkv
            q = naive_rope(Q[:, hh * hd:(hh + 1) * hd], inv, interleaved)
            k = naive_rope(K[:, j * hd:(j + 1) * hd], inv, interleaved)
            sc = torch.einsum("id,jd->ij", q, k) / math.sqrt(hd)
            sc = sc.masked_fill(mask, -math.inf)
            pr = torch.exp(sc - sc.max(-1, keepdim=True).values)
            pr = pr / pr.sum(-1, keepdim=True)
            heads.append(torch.einsum("ij,jd->id", pr, V[:, j * hd:(j + 1) * hd]))
        h = h + lin(torch.cat(heads, dim=1), p + "self_attn.o_proj")
        x = norm(h, w[p + "post_attention_layernorm.weight"])
        g = lin(x, p + "mlp.gate_proj")
        h = h + lin(g / (1 + torch.exp(-g)) * lin(x, p + "mlp.up_proj"), p + "mlp.down_proj")
    h = norm(h, w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if s["tied"] else w["lm_head.weight"]
    return torch.einsum("td,vd->tv", h, head)


def naive_gpt2(s, w, ids):
    """nn.Linear with the Conv1D weights transposed, nn.LayerNorm, torch's tanh GELU."""
    w = {n: t.double() for n, t in w.items()}
    d, nh = s["d"], s["heads"]
    hd = d // nh

    def linear(n):
        W = w[n + ".weight"]
        m = torch.nn.Linear(W.shape[0], W.shape[1]).double()
        m.weight.data = W.T.contiguous()   # Conv1D stores [in, out]; Linear [out, in]
        m.bias.data = w[n + ".bias"]
        return m

    def ln(n):
        m = torch.nn.LayerNorm(d, eps=s["eps"]).double()
        m.weight.data, m.bias.data = w[n + ".weight"], w[n + ".bias"]
        return m
    T = len(ids)
    h = w["wte.weight"][torch.tensor(ids)] + w["wpe.weight"][:T]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    with torch.no_grad():
        for layer in range(s["layers"]):
            p = f"h.{layer}."
            qkv = linear(p + "attn.c_attn")(ln(p + "ln_1")(h))
            outs = []
            for hh in range(nh):
                q = qkv[:, hh * hd:(hh + 1) * hd]
                k = qkv[:, d + hh * hd:d + (hh + 1) * hd]
                v = qkv[:, 2 * d + hh * hd:2 * d + (hh + 1) * hd]
                sc = torch.einsum("id,jd->ij", q, k) / math.sqrt(hd)
                outs.append(torch.einsum("ij,jd->id", torch.softmax(sc.masked_fill(mask, -math.inf), -1), v))
            h = h + linear(p + "attn.c_proj")(torch.cat(outs, 1))
            m = F.gelu(linear(p + "mlp.c_fc")(ln(p + "ln_2")(h)), approximate="tanh")
            h = h + linear(p + "mlp.c_proj")(m)
        h = ln("ln_f")(h)
    return h @ w["wte.weight"].T


def rel(a, b):
    return H.rel_err(a.detach().numpy() if torch.is_tensor(a) else a,
                     b.detach().numpy() if torch.is_tensor(b) else b)[0]


# ---- the matrix of shapes ----

CASES = [
    ("llama MHA (GQA 1) tied, odd vocab", dict(family="llama", d=32, heads=4, kv_heads=4, vocab=257)),
    ("llama GQA 2 untied", dict(family="llama", d=48, heads=4, kv_heads=2, vocab=311, untied=True, layers=3)),
    ("llama GQA 4 tied, head_dim 16 != d/heads", dict(family="llama", d=40, heads=8, kv_heads=2,
                                                      head_dim=16, vocab=199)),
    ("llama GQA 4, rope llama3", dict(family="llama", d=64, heads=4, kv_heads=1, vocab=263,
                                      rope_scaling="llama3:8,1,4,64", rope_theta=500000.0,
                                      seed=9)),
    ("llama rope linear:4, attention_bias", dict(family="llama", d=32, heads=2, kv_heads=1, vocab=131,
                                                 rope_scaling="linear:4", attention_bias=True)),
    ("llama BF16", dict(family="llama", d=32, heads=4, kv_heads=2, vocab=97, dtype="BF16")),
    ("mistral F16 untied", dict(family="mistral", d=32, heads=4, kv_heads=2, vocab=101, dtype="F16", untied=True)),
    ("qwen2 GQA 2 tied", dict(family="qwen2", d=32, heads=4, kv_heads=2, vocab=251)),
    ("qwen2 GQA 4 untied BF16", dict(family="qwen2", d=64, heads=8, kv_heads=2, vocab=173, untied=True,
                                     dtype="BF16")),
    ("gpt2 bare names", dict(family="gpt2", d=32, heads=4, vocab=241, ctx=64)),
    ("gpt2 transformer. prefix + attn.bias buffers, F16", dict(family="gpt2", d=48, heads=3, vocab=203,
                                                                ctx=64, gpt2_prefix=True, gpt2_buffers=True,
                                                                dtype="F16")),
]
IDS = [3, 17, 5, 96, 42, 7, 11, 64, 2, 9, 30, 1]


def test_case(tmp, name, kw):
    d = os.path.join(tmp, name.split()[0] + str(abs(hash(name)) % 10000))
    kw = dict(kw)
    kw.setdefault("seed", 7)
    cfg, stored = M.make(d, **kw)
    s, eos, w = H.load_dir(d)
    check(H.param_count(s) == sum(t.numel() for t in w.values()), f"{name}: param_count is exact")
    pre = "transformer." if kw.get("gpt2_prefix") else ""
    check(set(w) == set(H.expected_tensors(s)) and all(torch.equal(w[n], stored[pre + n]) for n in w),
          f"{name}: safetensors reader returns exactly the stored values")
    m32 = H.Model(s, w, torch.float32)
    m64 = H.Model(s, w, torch.float64)
    with torch.no_grad():
        l32 = m32.forward(IDS)
        l64 = m64.forward(IDS)
        check(rel(l32, l64) <= 1e-4, f"{name}: float32 vs float64 logits rel err {rel(l32, l64):.2e} <= 1e-4")
        if s["family"] == "gpt2":
            nv = naive_gpt2(s, w, IDS)
        else:
            nv = naive_llama(s, w, IDS)
        check(rel(l64, nv) <= 1e-9, f"{name}: matches the naive per-head transcription ({rel(l64, nv):.1e})")
        # a cache fed one token at a time and in two chunks gives the full pass's logits
        c = m64.new_cache()
        parts = [m64.forward(IDS[:5], c), m64.forward(IDS[5:9], c)] + [m64.forward([t], c) for t in IDS[9:]]
        check(rel(torch.cat(parts), l64) <= 1e-12, f"{name}: chunked KV-cache logits equal the full pass")
        toks, why, margin = H.greedy_checked(m32, IDS[:4], 24)
        check(why == "length" and len(toks) == 24 and len(set(toks)) > 2,
              f"{name}: 24 greedy tokens, cached == uncached, {len(set(toks))} distinct, margin {margin:.3g}")
    return s, w


def test_negative_controls(tmp):
    """The comparisons above would notice the classic mistakes."""
    d = os.path.join(tmp, "neg")
    M.make(d, family="llama", d=32, heads=4, kv_heads=2, vocab=97, seed=3)
    s, _, w = H.load_dir(d)
    with torch.no_grad():
        good = H.Model(s, w, torch.float64).forward(IDS)
        e1 = rel(naive_llama(s, w, IDS, interleaved=True), good)
        e2 = rel(naive_llama(s, w, IDS, kv_map="modulo"), good)
    check(e1 > 1e-2, f"negative control: interleaved-pair rotary differs from rotate_half ({e1:.2e})")
    check(e2 > 1e-2, f"negative control: KV head h % n_kv instead of h // rep differs ({e2:.2e})")
    # GPT-2: the Conv1D weight used as nn.Linear's (x W^T instead of x W) changes the output
    d = os.path.join(tmp, "neg2")
    M.make(d, family="gpt2", d=32, heads=4, vocab=97, ctx=32, seed=3)
    s, _, w = H.load_dir(d)
    w2 = dict(w)
    for n in list(w2):
        if n.endswith("attn.c_proj.weight"):
            w2[n] = w2[n].T.contiguous()
    with torch.no_grad():
        e3 = rel(H.Model(s, w2, torch.float64).forward(IDS), H.Model(s, w, torch.float64).forward(IDS))
    check(e3 > 1e-2, f"negative control: a Conv1D weight applied transposed differs ({e3:.2e})")


def test_rope_complex():
    """rotate_half on HF-permuted q/k == Meta's complex multiplication on the original layout."""
    torch.manual_seed(0)
    nh, hd, dm, T = 3, 8, 24, 7
    wq_meta = torch.randn(nh * hd, dm, dtype=torch.float64)
    # transformers' convert_llama_weights_to_hf.py permute()
    wq_hf = wq_meta.view(nh, hd // 2, 2, dm).transpose(1, 2).reshape(nh * hd, dm)
    x = torch.randn(T, dm, dtype=torch.float64)
    inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    pos = torch.arange(T)
    q_meta = (x @ wq_meta.T).view(T, nh, hd)
    fc = torch.polar(torch.ones(T, hd // 2, dtype=torch.float64), pos[:, None].double() * inv[None, :])
    qc = torch.view_as_complex(q_meta.reshape(T, nh, hd // 2, 2)) * fc[:, None, :]
    r_meta = torch.view_as_real(qc).reshape(T, nh, hd)
    r_hf = H.apply_rope((x @ wq_hf.T).view(T, nh, hd).transpose(0, 1), pos, inv).transpose(0, 1)
    # HF index j < hd/2 holds Meta's 2j, j + hd/2 holds 2j + 1
    perm = torch.cat((torch.arange(0, hd, 2), torch.arange(1, hd, 2)))
    err = float((r_hf - r_meta[:, :, perm]).abs().max())
    check(err < 1e-12, f"rotate_half rope == complex multiplication after the HF permutation ({err:.1e})")


def test_llama3_formula():
    for (theta, hd, f, lo, hi, old) in ((500000.0, 128, 8.0, 1.0, 4.0, 8192),   # Llama 3.1 8B
                                        (500000.0, 64, 32.0, 1.0, 4.0, 8192),   # Llama 3.2 1B
                                        (10000.0, 16, 8.0, 1.0, 4.0, 64)):
        s = {"head_dim": hd, "theta": theta, "rope": {"type": "llama3", "factor": f, "low_freq_factor": lo,
                                                      "high_freq_factor": hi,
                                                      "original_max_position_embeddings": old}}
        mine = H.rope_inv_freq(s, torch.float64).numpy()
        base = np.array([1.0 / theta ** (2 * i / hd) for i in range(hd // 2)])
        ref = meta_llama3_scaling(base, f, lo, hi, old)
        kept = int((np.abs(ref - base) < 1e-300).sum())
        divided = int((np.abs(ref - base / f) <= 1e-15 * base).sum())
        err = float(np.abs(mine - ref).max() / ref.max())
        check(err < 1e-12 and kept > 0 and divided > 0 and kept + divided < hd // 2,
              f"llama3 rope_scaling (theta {theta:g}, hd {hd}, factor {f:g}) == Meta's loop ({err:.1e}); "
              f"{kept} kept, {divided} divided, {hd // 2 - kept - divided} interpolated")
        m32 = H.rope_inv_freq(s, torch.float32).numpy()
        check(float(np.abs(m32 - ref).max() / ref.max()) < 1e-6, "llama3 inv_freq in float32 within 1e-6")


def test_roundtrip_and_shards(tmp):
    for dt in ("F32", "F16", "BF16"):
        a, b = os.path.join(tmp, "one" + dt), os.path.join(tmp, "sh" + dt)
        kw = dict(family="qwen2", d=32, heads=4, kv_heads=2, vocab=127, dtype=dt, seed=11, untied=True)
        _, stored = M.make(a, **kw)
        M.make(b, shards=3, **kw)
        idx = json.load(open(os.path.join(b, "model.safetensors.index.json")))
        files = sorted(set(idx["weight_map"].values()))
        check(files == [f"model-0000{k}-of-00003.safetensors" for k in (1, 2, 3)],
              f"{dt}: three shards named model-0000K-of-00003.safetensors")
        back = {}
        for fn in files:
            back.update(H.read_safetensors(os.path.join(b, fn)))
        check(set(back) == set(stored) and all(torch.equal(back[n][1], stored[n]) for n in stored)
              and all(back[n][0] == dt for n in back),
              f"{dt}: sharded files read back bit-exactly as stored {dt}")
        with open(os.path.join(a, "model.safetensors"), "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            hdr = json.loads(f.read(n))
        check(n % 8 == 0 and hdr.get("__metadata__") == {"format": "pt"}, f"{dt}: header padded, metadata pt")
        sa, _, wa = H.load_dir(a)
        sb, _, wb = H.load_dir(b)
        with torch.no_grad():
            la = H.Model(sa, wa).forward(IDS)
            lb = H.Model(sb, wb).forward(IDS)
        check(torch.equal(la, lb), f"{dt}: sharded and single-file models give identical logits")
    # F16/BF16 rounding is really applied (not stored as float32 in disguise)
    t = torch.tensor([1.0 + 2 ** -10, 1.0 + 2 ** -9])
    check(float(M.stored(t, "BF16")[0]) == 1.0 and float(M.stored(t, "F16")[1]) == 1.0 + 2 ** -9,
          "BF16/F16 conversions round as torch does")


HOSTILE_EXPECT = {
    # mode: (make options, fragment the refusal must contain)
    "missing-tensor": ({}, "model.layers.0.mlp.up_proj.weight is missing"),
    "missing-lm-head": ({}, "lm_head.weight is missing"),
    "extra-tensor": ({}, "model.layers.0.mlp.extra_proj.weight"),
    "extra-layer": ({}, "model.layers.1."),
    "wrong-shape": ({}, "q_proj.weight: shape"),
    "config-vocab": ({}, "model.embed_tokens.weight: shape"),
    "config-kv-heads": ({}, "k_proj.weight: shape"),
    "huge-dim": ({}, "hidden_size 1099511627776"),
    "huge-product": ({}, "parameters (limit"),
    "shard-escape": ({}, "../escape.safetensors"),
    "shard-absolute": ({}, "is not a plain .safetensors file name"),
    "shard-missing": ({}, "does not exist"),
    "shard-duplicate": ({}, "appears in both"),
    "index-mismatch": ({}, "which does not hold it"),
    "dtype-mismatch": ({}, "torch_dtype is bfloat16"),
    "truncated": ({}, "outside the data section"),
    "unknown-arch": ({}, "architectures: unsupported FalconForCausalLM"),
    "sliding-window": ({"family": "mistral"}, "sliding_window 4096"),
    "rope-type": ({}, "rope_scaling type 'yarn'"),
    "gqa-indivisible": ({}, "not a multiple of num_key_value_heads"),
    "eos-range": ({}, "eos_token_id 97 is outside the vocabulary"),
}


def test_hostile(tmp):
    check(set(HOSTILE_EXPECT) == set(M.HOSTILE), "every --hostile mode has an expected refusal here")
    for mode, (kw, frag) in HOSTILE_EXPECT.items():
        d = os.path.join(tmp, "h", mode, "model")
        opts = dict(family="llama", d=32, heads=4, kv_heads=2, vocab=97, seed=1, hostile=mode)
        opts.update(kw)
        M.make(d, **opts)
        try:
            H.load_dir(d)
            check(False, f"hostile {mode}: refused")
        except H.Refused as e:
            check(frag in str(e), f"hostile {mode}: refused with '{e}'")
    for mode, frag in (("sliding-window", "use_sliding_window true"), ("missing-tensor", "h.0.mlp.c_fc.bias"),
                       ("wrong-shape", "c_attn.weight: shape")):
        d = os.path.join(tmp, "h2", mode, "model")
        M.make(d, family="qwen2" if mode == "sliding-window" else "gpt2", d=32, heads=4, kv_heads=4, vocab=97,
               ctx=32, hostile=mode)
        try:
            H.load_dir(d)
            check(False, f"hostile {mode} (other family): refused")
        except H.Refused as e:
            check(frag in str(e), f"hostile {mode} (other family): refused with '{e}'")
    # accepted extras: the persistent rotary buffer of old Llama checkpoints
    d = os.path.join(tmp, "invfreq")
    _, stored = M.make(d, family="llama", d=32, heads=4, vocab=97)
    stored["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(4)
    M.write_safetensors(os.path.join(d, "model.safetensors"), stored, "F32", {"format": "pt"})
    try:
        H.load_dir(d)
        check(True, "rotary_emb.inv_freq buffer accepted and ignored")
    except H.Refused as e:
        check(False, f"rotary_emb.inv_freq buffer accepted ({e})")
    # a mixed GPT-2 file (some names with the prefix, some without) is refused
    d = os.path.join(tmp, "mixed")
    _, stored = M.make(d, family="gpt2", d=32, heads=4, vocab=97, ctx=32)
    stored["transformer.ln_f.bias"] = stored.pop("ln_f.bias")
    M.write_safetensors(os.path.join(d, "model.safetensors"), stored, "F32")
    try:
        H.load_dir(d)
        check(False, "mixed transformer. prefix refused")
    except H.Refused as e:
        check("prefix" in str(e), f"mixed transformer. prefix refused: '{e}'")


def test_eos(tmp):
    d = os.path.join(tmp, "eos")
    M.make(d, family="llama", d=32, heads=4, kv_heads=2, vocab=97, seed=7)
    s, _, w = H.load_dir(d)
    m = H.Model(s, w)
    with torch.no_grad():
        toks, _, _ = H.greedy_checked(m, IDS[:3], 20)
    first = {}
    for i, t in enumerate(toks):
        first.setdefault(t, i)
    late = max(first, key=first.get)   # the token that appears first the latest
    unused = min(set(range(97)) - set(toks))
    check(first[late] >= 5, f"eos test: greedy run has a token first produced at step {first[late] + 1}")
    for eos in (late, [unused, late]):
        M.make(d, family="llama", d=32, heads=4, kv_heads=2, vocab=97, seed=7,
               eos=",".join(map(str, eos if isinstance(eos, list) else [eos])))
        s, ids, w = H.load_dir(d)
        g = json.load(open(os.path.join(d, "generation_config.json")))
        with torch.no_grad():
            out, why, _ = H.greedy_checked(H.Model(s, w), IDS[:3], 20, ids)
        check(g["eos_token_id"] == eos and why == "eos" and out == toks[:first[late] + 1],
              f"generation_config eos_token_id {eos!r}: stops after the first {late} (step {first[late] + 1})")


def test_cli(tmp):
    d = os.path.join(tmp, "cli")
    M.make(d, family="gpt2", d=32, heads=4, vocab=97, ctx=32, seed=2)
    py = sys.executable
    ref = os.path.join(tmp, "ref")
    r = subprocess.run([py, os.path.join(HERE, "hf_models.py"), "logits", d, "--ids", "1,2,3,4", "--out", ref])
    meta = json.load(open(ref + ".json"))
    check(r.returncode == 0 and meta["shape"] == [4, 97] and meta["dtype"] == "f32le"
          and os.path.getsize(ref + ".bin") == 4 * 97 * 4, "logits CLI writes [T, V] float32 + sidecar")
    a = np.fromfile(ref + ".bin", dtype="<f4")
    a[200] += abs(a).max() * 3e-4
    a.tofile(os.path.join(tmp, "bad.bin"))
    cmp = [py, os.path.join(HERE, "hf_models.py"), "compare", ref + ".json"]
    ok = subprocess.run(cmp + [ref + ".bin"], capture_output=True).returncode
    bad = subprocess.run(cmp + [os.path.join(tmp, "bad.bin")], capture_output=True).returncode
    check(ok == 0 and bad == 1, "compare CLI accepts itself and rejects a 3e-4 relative error")
    r = subprocess.run([py, os.path.join(HERE, "hf_models.py"), "check", os.path.join(tmp, "h", "truncated",
                                                                                      "model")],
                       capture_output=True, text=True)
    check(r.returncode == 1 and "refused:" in r.stderr, "check CLI exits 1 on a hostile directory")


def main():
    with tempfile.TemporaryDirectory(prefix="teelm-hfref.") as tmp:
        for name, kw in CASES:
            test_case(tmp, name, kw)
        test_negative_controls(tmp)
        test_rope_complex()
        test_llama3_formula()
        test_roundtrip_and_shards(tmp)
        test_hostile(tmp)
        test_eos(tmp)
        test_cli(tmp)
    print(f"{len(FAILS)} failure(s)" if FAILS else "all passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
