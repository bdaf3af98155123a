#!/usr/bin/env python3
"""An independent receipt verifier, written from docs/receipts.md and docs/bindings.md (not from the C
code): Python's json, hashlib and the `cryptography` package (Ed25519, X.509).

usage: receipt_verify.py --receipt FILE --attestation ATTESTATION.json [--request FILE] [--model-sha256 HEX]

ATTESTATION.json is the server's GET /attestation. Checks: evidence_sha256 and the ra-tls binding of
(SHA-256(SPKI of the certificate), SHA-256(configuration), receipt_key) at the SGX quote's report data
(bytes 368..431; sim and Occlum quotes), then the receipt checks 2-11 of docs/receipts.md "Verifying".
(The quote's own signature is the C verifier's job: teelm attest verify.) Prints one JSON line
{"ok": true, ...} or {"ok": false, "error": "..."}; exit 0 or 1.
"""
import argparse
import base64
import hashlib
import json
import struct
import subprocess
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Refused(Exception):
    pass


def binding(purpose, *fields):
    h = hashlib.sha512(b"teelm/" + purpose.encode() + b"/v1\0")
    for f in fields:
        h.update(struct.pack(">I", len(f)) + f)
    return h.digest()


def jcs(v):
    """RFC 8785 for objects, strings, integers, true/false/null (docs/receipts.md)."""
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, int):
        if abs(v) >= 2 ** 53:
            raise Refused("an integer beyond 2^53 is not canonical")
        return str(v)
    if isinstance(v, float):
        raise Refused("receipt: has a number that is not an integer (not canonical)")
    if isinstance(v, str):
        out = ['"']
        for ch in v:
            o = ord(ch)
            if ch == '"':
                out.append('\\"')
            elif ch == "\\":
                out.append("\\\\")
            elif o < 0x20:
                out.append({8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(o, "\\u%04x" % o))
            else:
                out.append(ch)
        out.append('"')
        return "".join(out)
    if isinstance(v, list):
        return "[" + ",".join(jcs(x) for x in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(jcs(k) + ":" + jcs(v[k]) for k in keys) + "}"
    raise Refused("not JSON")


def no_dups(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise Refused("duplicate key %r" % k)
        d[k] = v
    return d


def loads(b):
    return json.loads(b, object_pairs_hook=no_dups)


def read_input(data):
    """-> (teelm_receipt, choices {index: [text, finish]}, usage or None, has_response)"""
    text = data.decode("utf-8")
    choices, usage, receipt = {}, None, None

    def take(o):
        nonlocal usage, receipt
        if "error" in o:
            raise Refused("an error response carries no receipt")
        for c in o.get("choices", []):
            i = c["index"]
            ent = choices.setdefault(i, ["", None])
            t = c.get("text")
            if t is None and isinstance(c.get("message"), dict):
                t = c["message"].get("content")
            if t is None and isinstance(c.get("delta"), dict):
                t = c["delta"].get("content")
            if t is not None:
                ent[0] += t
            if c.get("finish_reason") is not None:
                ent[1] = c["finish_reason"]
        if isinstance(o.get("usage"), dict):
            usage = o["usage"]
        if "teelm_receipt" in o:
            if receipt is not None:
                raise Refused("a second teelm_receipt")
            receipt = o["teelm_receipt"]

    if text.lstrip().startswith("data:"):
        for line in text.split("\n"):
            line = line.rstrip("\r")
            if not line.startswith("data:"):
                continue
            payload = line[5:][1:] if line[5:6] == " " else line[5:]
            if payload == "[DONE]":
                break
            if receipt is not None:
                raise Refused("an event after the receipt's")
            take(loads(payload))
        if receipt is None:
            raise Refused("the stream has no event with a teelm_receipt")
        return receipt, choices, usage, True
    o = loads(text)
    if "teelm_receipt" in o:
        take(o)
        return receipt, choices, usage, True
    if "receipt" in o and "signature" in o:
        return o, {}, None, False
    raise Refused("neither a response with a teelm_receipt nor a receipt")


FIELDS = {"version": int, "type": str, "endpoint": str, "request_sha256": str, "response_sha256": str,
          "model": dict, "sampling": dict, "config_sha256": str, "evidence_sha256": str, "signing_key": str,
          "server_started": int, "counter": int, "time_ms": int}


def verify(receipt_bytes, att, request=None, model_sha256=None):
    evidence = base64.b64decode(att["evidence"])
    config = att["configuration"].encode()
    rkey = bytes.fromhex(att["receipt_key"])
    # the openssl CLI reads the SPKI: cryptography's ASN.1 parser refuses the certificate's 2.25.<UUID>
    # extension OID (an arc wider than 64 bits)
    pem = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=att["certificate"].encode(),
                         capture_output=True, check=True).stdout
    spki = serialization.load_pem_public_key(pem).public_bytes(serialization.Encoding.DER,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    ev_h = hashlib.sha256(evidence).hexdigest()
    if att["evidence_sha256"] != ev_h:
        raise Refused("attestation: evidence_sha256 is not the SHA-256 of evidence")
    rd = binding("ra-tls", hashlib.sha256(spki).digest(), hashlib.sha256(config).digest(), rkey)
    if evidence[368:432] != rd:
        raise Refused("attestation: the quote's report data is not the ra-tls binding of key, configuration and receipt key")

    tr, choices, usage, has_response = read_input(receipt_bytes)
    if not isinstance(tr, dict) or set(tr) != {"receipt", "signature"} or not isinstance(tr["signature"], str):
        raise Refused("teelm_receipt must have exactly receipt and signature")
    r = tr["receipt"]
    if not isinstance(r, dict):
        raise Refused("receipt is not an object")
    for k in r:
        if k not in FIELDS:
            raise Refused("receipt: unknown field %s" % k)
    for k, t in FIELDS.items():
        if k not in r or not isinstance(r[k], t) or (t is int and isinstance(r[k], bool)):
            raise Refused("receipt: %s is missing or of the wrong type" % k)
    if r["version"] != 1 or r["type"] != "teelm.receipt" or r["counter"] < 1:
        raise Refused("receipt: version, type or counter")
    if r["signing_key"] != rkey.hex():
        raise Refused("receipt: signing_key differs from the receipt key the evidence binds")
    if r["evidence_sha256"] != ev_h:
        raise Refused("receipt: evidence_sha256 differs")
    if r["config_sha256"] != hashlib.sha256(config).hexdigest():
        raise Refused("receipt: config_sha256 differs")
    dm = json.loads(config)["model"]
    m = r["model"]
    if m.get("kind") != dm.get("kind"):
        raise Refused("receipt: model.kind differs from the configuration document's")
    if m.get("model_id") != dm.get("model_id"):
        raise Refused("receipt: model.model_id differs from the configuration document's")
    msg = b"teelm/receipt/v1\0" + jcs(r).encode("utf-8")
    sig = base64.b64decode(tr["signature"], validate=True)
    if len(sig) != 64:
        raise Refused("signature is not 64 bytes")
    try:
        Ed25519PublicKey.from_public_bytes(rkey).verify(sig, msg)
    except InvalidSignature:
        raise Refused("receipt: signature does not verify")
    if model_sha256 is not None and m["weights_sha256"] != model_sha256:
        raise Refused("receipt: model.weights_sha256 differs from the required model_sha256")
    if request is not None and hashlib.sha256(request).hexdigest() != r["request_sha256"]:
        raise Refused("receipt: request_sha256 differs from the SHA-256 of the request")
    if has_response:
        n = max(choices) + 1 if choices else 0
        if set(choices) != set(range(n)) or usage is None:
            raise Refused("response: missing choices or usage")
        doc = {"choices": [{"finish_reason": choices[i][1] or "", "index": i,
                            "text_sha256": hashlib.sha256(choices[i][0].encode("utf-8")).hexdigest()} for i in range(n)],
               "usage": {"completion_tokens": usage["completion_tokens"], "prompt_tokens": usage["prompt_tokens"],
                         "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}}
        if hashlib.sha256(jcs(doc).encode("utf-8")).hexdigest() != r["response_sha256"]:
            raise Refused("receipt: response_sha256 differs from the SHA-256 of this response's content")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--receipt", required=True)
    ap.add_argument("--attestation", required=True)
    ap.add_argument("--request")
    ap.add_argument("--model-sha256")
    a = ap.parse_args()
    att = json.load(open(a.attestation))
    req = open(a.request, "rb").read() if a.request else None
    try:
        r = verify(open(a.receipt, "rb").read(), att, req, a.model_sha256)
    except (Refused, ValueError, KeyError, TypeError, subprocess.CalledProcessError) as e:
        print(json.dumps({"ok": False, "error": str(e)}))
        return 1
    print(json.dumps({"ok": True, "counter": r["counter"], "endpoint": r["endpoint"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
