#!/usr/bin/env python3
"""Independent TEE side of the attested key release protocol, written from
docs/attestation-protocol.md only (python3-cryptography + the standard library). The evidence comes
from `teelm attest quote --tee sim`. Prints the released data key as hex, or exits 1 with the
broker's error.
MODE (default "good") plays a hostile host instead: "user-quote" gets the evidence from
`attest quote --user-data` over the same fields, "old" binds them the pre-v1 way
(SHA-512("teelm-kbs-v1 key request" NUL nonce pub u8(len) id)) through raw --report-data; the
broker must refuse both (binding_mismatch).
usage: kbs_ref_client.py URL CA_PEM KEY_ID TEELM_BIN [MODE]"""
import base64
import hashlib
import json
import os
import ssl
import struct
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def binding(purpose, *fields):
    """docs/bindings.md: SHA-512("teelm/" purpose "/v1" NUL, then each field as be32(len) bytes)."""
    h = hashlib.sha512(b"teelm/" + purpose.encode() + b"/v1\0")
    for f in fields:
        h.update(struct.pack(">I", len(f)) + f)
    return h.digest()


def post(url, ctx, obj):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        sys.stderr.write("refused: %d %s\n" % (e.code, e.read().decode()))
        sys.exit(1)


def main():
    url, ca, key_id, teelm = sys.argv[1:5]
    mode = sys.argv[5] if len(sys.argv) > 5 else "good"
    ctx = ssl.create_default_context(cafile=ca)
    nonce = base64.b64decode(post(url + "/v1/challenge", ctx, {})["nonce"], validate=True)
    assert len(nonce) == 32
    sk = ec.generate_private_key(ec.SECP256R1())
    pub = sk.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    kid = key_id.encode()
    if mode == "good":
        data = ["--report-data", binding("kbs-key", nonce, pub, kid).hex()]
    elif mode == "user-quote":
        data = ["--user-data", (nonce + pub + kid).hex()]
    elif mode == "old":
        data = ["--report-data", hashlib.sha512(b"teelm-kbs-v1 key request\0" + nonce + pub + bytes([len(kid)]) + kid).hexdigest()]
    else:
        sys.exit("unknown mode " + mode)
    with tempfile.TemporaryDirectory() as d:
        evf = os.path.join(d, "ev.bin")
        subprocess.run([teelm, "attest", "quote", "--tee", "sim"] + data + ["--out", evf],
                       check=True, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        ev = open(evf, "rb").read()
    b64 = lambda b: base64.b64encode(b).decode()
    resp = post(url + "/v1/key", ctx, {"key_id": key_id, "nonce": b64(nonce), "public_key": b64(pub), "evidence": b64(ev)})
    assert resp["key_id"] == key_id and resp["alg"] == "ECDH-P256+HKDF-SHA256+A256GCM"
    spub = base64.b64decode(resp["server_public_key"], validate=True)
    wrapped = base64.b64decode(resp["wrapped_key"], validate=True)
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), spub)
    z = sk.exchange(ec.ECDH(), peer)
    th = hashlib.sha256(b"teelm-kbs-v1 transcript\0" + bytes([len(kid)]) + kid + nonce + pub + spub +
                        hashlib.sha256(ev).digest()).digest()
    okm = HKDF(algorithm=hashes.SHA256(), length=44, salt=nonce, info=b"teelm-kbs-v1 key wrap" + th).derive(z)
    key = AESGCM(okm[:32]).decrypt(okm[32:], wrapped, th)
    print(key.hex())


if __name__ == "__main__":
    main()
