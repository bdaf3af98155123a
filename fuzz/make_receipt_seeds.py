#!/usr/bin/python3
"""Writes fuzz/corpus/fuzz_receipt: receipts made from docs/receipts.md (not from the C code), signed
with RFC 8032's test-vector-1 Ed25519 key, whose public half fuzz_receipt.c holds, so every seed
passes tl_receipt_check: a completion body, a chat body, an event stream, a receipt alone.
usage: make_receipt_seeds.py OUTDIR"""
import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SK = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


def jcs(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def receipt(endpoint, choices, usage, counter):
    key = Ed25519PrivateKey.from_private_bytes(SK)
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    doc = {"choices": [{"finish_reason": f, "index": i, "text_sha256": hashlib.sha256(t.encode()).hexdigest()}
                       for i, (t, f) in enumerate(choices)], "usage": usage}
    r = {"version": 1, "type": "teelm.receipt", "endpoint": endpoint,
         "request_sha256": hashlib.sha256(b'{"prompt":"hi"}').hexdigest(),
         "response_sha256": hashlib.sha256(jcs(doc)).hexdigest(),
         "model": {"kind": "plaintext", "name": "seed", "weights_sha256": "ab" * 32},
         "sampling": {"echo": False, "logprobs": None, "max_tokens": 8, "n": len(choices), "seed": "42",
                      "seed_source": "request", "temperature": "0.7", "top_k": 0, "top_p": "1"},
         "config_sha256": "cd" * 32, "evidence_sha256": "ef" * 32, "signing_key": pub.hex(),
         "server_started": 1764760000, "counter": counter, "time_ms": 1764760000123}
    sig = key.sign(b"teelm/receipt/v1\x00" + jcs(r))
    return {"receipt": r, "signature": base64.b64encode(sig).decode()}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    usage = {"completion_tokens": 3, "prompt_tokens": 2, "total_tokens": 5}
    seeds = {}
    ch = [(" one two", "length"), ("\u00e9\u4e2d \"q\"\n", "stop")]
    seeds["completion.json"] = json.dumps({"id": "cmpl-1", "object": "text_completion", "model": "seed",
        "choices": [{"index": i, "text": t, "finish_reason": f, "logprobs": None} for i, (t, f) in enumerate(ch)],
        "usage": usage, "teelm_receipt": receipt("/v1/completions", ch, usage, 1)})
    chat = [("Hello there", "stop")]
    seeds["chat.json"] = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": "seed",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": chat[0][0]}, "finish_reason": "stop"}],
        "usage": usage, "teelm_receipt": receipt("/v1/chat/completions", chat, usage, 2)})
    ev = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
          {"choices": [{"index": 0, "delta": {"content": "Hello"}}]},
          {"choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": "stop"}]},
          {"choices": [], "usage": usage, "teelm_receipt": receipt("/v1/chat/completions", chat, usage, 3)}]
    seeds["stream.txt"] = "".join("data: " + json.dumps(e) + "\n\n" for e in ev) + "data: [DONE]\n\n"
    seeds["alone.json"] = json.dumps(receipt("/v1/completions", ch, usage, 4))
    for name, text in seeds.items():
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
