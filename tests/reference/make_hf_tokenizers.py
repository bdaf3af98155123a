#!/usr/bin/python3
"""Writes tokenizer.json files in the real layouts of GPT-2, Llama 3, Qwen2, SmolLM2 (byte-level BPE)
and Llama 2 / Mistral (SentencePiece-style BPE with byte fallback) into DIR, for the tests. The
structure is copied from those models' files; the contents are our own: the byte-level vocabularies
are the first N ranks of cl100k_base (tests/util/cl100k.py) turned into HF merges (each token's two
parts are what tiktoken's merge of its bytes, restricted to lower ranks, ends with); the SentencePiece
vocabulary is trained here on CORPUS (character-level BPE over ▁-prefixed words).
Usage: make_hf_tokenizers.py DIR CORPUS [N]"""
import base64
import collections
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "util"))
import cl100k  # noqa: E402

CL100K_PAT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN_PAT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()


def split2(tok, ranks, r):
    parts = [bytes([b]) for b in tok]
    while len(parts) > 2:
        best = None
        for i in range(len(parts) - 1):
            q = ranks.get(parts[i] + parts[i + 1])
            if q is not None and q < r and (best is None or q < best[0]):
                best = (q, i)
        if best is None:
            return None
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts


def bytelevel_vocab(n):
    path = cl100k.path(os.environ.get("TMPDIR", "/tmp"))
    if not path:
        sys.exit("no cl100k_base")
    ranks = {}
    with open(path) as f:
        for line in f:
            t, r = line.split()
            if int(r) < n:
                ranks[base64.b64decode(t)] = int(r)
    vocab, merges = {}, []
    for tok, r in sorted(ranks.items(), key=lambda x: x[1]):
        s = "".join(B2U[b] for b in tok)
        if len(tok) >= 2:
            p = split2(tok, ranks, r)
            if not p:
                continue
            merges.append(("".join(B2U[b] for b in p[0]), "".join(B2U[b] for b in p[1])))
        vocab[s] = r
    return vocab, merges, n


def added(i, content, special=True, normalized=False, lstrip=False, rstrip=False):
    return {"id": i, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


def bl(prefix=False, regex=True):
    return {"type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": True, "use_regex": regex}


def bpe(vocab, merges, list_form, unk=None, fuse=False, fb=False, ignore=False):
    m = {"type": "BPE", "dropout": None, "unk_token": unk, "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": fuse, "byte_fallback": fb}
    if ignore is not None:
        m["ignore_merges"] = ignore
    m["vocab"] = vocab
    m["merges"] = [list(x) for x in merges] if list_form else [a + " " + b for a, b in merges]
    return m


def doc(added_tokens, normalizer, pre, post, decoder, model):
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
            "normalizer": normalizer, "pre_tokenizer": pre, "post_processor": post, "decoder": decoder, "model": model}


def sp_train(corpus, n_merges):
    text = open(corpus, encoding="utf-8", errors="replace").read()[:300000]
    words = collections.Counter("▁" + w for w in text.replace("\n", " ").split(" ") if w)
    chars = collections.Counter()
    for w, c in words.items():
        for ch in w:
            chars[ch] += c
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for ch, c in chars.most_common():
        if c >= 3 and ch not in vocab:
            vocab[ch] = len(vocab)
    seqs = {w: list(w) for w in words}
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            s = seqs[w]
            for i in range(len(s) - 1):
                if s[i] in vocab and s[i + 1] in vocab:
                    pairs[(s[i], s[i + 1])] += c
        if not pairs:
            break
        (a, b), c = max(pairs.items(), key=lambda x: (x[1], x[0]))
        if c < 2:
            break
        merges.append((a, b))
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
        for w in words:
            s = seqs[w]
            i, o = 0, []
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    o.append(a + b)
                    i += 2
                else:
                    o.append(s[i])
                    i += 1
            seqs[w] = o
    return vocab, merges


def main():
    out, corpus = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 12000
    os.makedirs(out, exist_ok=True)
    vocab, merges, nid = bytelevel_vocab(n)
    files = {}
    files["gpt2"] = (doc([added(nid, "<|endoftext|>")], None, bl(), bl(True, True), bl(True, True),
                         bpe(dict(vocab, **{"<|endoftext|>": nid}), merges, False, ignore=None)), {"model_max_length": 1024})
    l3 = [added(nid + i, t) for i, t in enumerate(["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                                                     "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"])]
    tp = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                                                    {"Sequence": {"id": "A", "type_id": 0}}],
          "pair": [], "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [nid], "tokens": ["<|begin_of_text|>"]}}}
    files["llama3"] = (doc(l3, None, {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": CL100K_PAT}, "behavior": "Isolated", "invert": False}, bl(False, False)]},
        {"type": "Sequence", "processors": [bl(True, False), tp]}, bl(True, True), bpe(vocab, merges, True, ignore=True)),
        {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>", "clean_up_tokenization_spaces": True})
    qw = [added(nid, "<|endoftext|>"), added(nid + 1, "<|im_start|>"), added(nid + 2, "<|im_end|>"),
          added(nid + 3, "<tool_call>", special=False), added(nid + 4, "</tool_call>", special=False)]
    files["qwen2"] = (doc(qw, {"type": "NFC"}, {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN_PAT}, "behavior": "Isolated", "invert": False}, bl(False, False)]},
        bl(False, False), bl(False, False), bpe(vocab, merges, False, ignore=False)),
        {"eos_token": "<|im_end|>", "bos_token": None, "clean_up_tokenization_spaces": False})
    sm = [added(i, t) for i, t in enumerate(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])]
    shift = {k: v + 3 for k, v in vocab.items()}
    files["smollm"] = (doc(sm, None, {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True}, bl(False, True)]}, bl(True, False), bl(True, True),
        bpe(dict(shift, **{"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2}), merges, False, ignore=None)),
        {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"})
    spv, spm = sp_train(corpus, 400)
    sp_added = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")]
    sp_dec = {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                               {"type": "ByteFallback"}, {"type": "Fuse"},
                                               {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    sp_post = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                         {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {}}
    files["llama2"] = (doc(sp_added, {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                                          {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
                           None, sp_post, sp_dec, bpe(spv, spm, False, unk="<unk>", fuse=True, fb=True, ignore=False)),
                       {"add_bos_token": True, "add_eos_token": False, "bos_token": {"content": "<s>"}, "eos_token": "</s>",
                        "clean_up_tokenization_spaces": False, "legacy": False})
    files["mistral"] = (doc(sp_added, None, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False},
                            sp_post, {"type": "Sequence", "decoders": [{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False},
                                                                       {"type": "ByteFallback"}, {"type": "Fuse"}]},
                            bpe(spv, [list(x) for x in spm], True, unk="<unk>", fuse=True, fb=True, ignore=None)),
                        {"add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>"})
    for name, (d, cfg) in files.items():
        os.makedirs(os.path.join(out, name), exist_ok=True)
        with open(os.path.join(out, name, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(d, f, ensure_ascii=False, indent=1)
        with open(os.path.join(out, name, "tokenizer_config.json"), "w") as f:
            json.dump(cfg, f)
    print(" ".join(files))


main()
