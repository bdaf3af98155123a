#!/usr/bin/python3
"""A reference Trustee KBS for tests, written from Trustee's kbs/docs/kbs_attestation_protocol.md
(KBS protocol 0.4.0, RCAR) and kbs-types, independently of teelm's C code: Python's `cryptography`
does the JOSE (ECDH-ES+A256KW with the Concat KDF of RFC 7518 §4.6, AES key wrap, A256GCM).

  POST /kbs/v0/auth      Request {version, tee, extra-params} -> Challenge {nonce, extra-params}
                         and Set-Cookie kbs-session-id=...
  POST /kbs/v0/attest    Attestation {runtime-data {nonce, tee-pubkey}, tee-evidence
                         {primary_evidence, additional_evidence}}: the evidence is checked with
                         `teelm attest verify --policy` (TEELM, POLICY), and its report_data must be
                         SHA-384 of the RFC 8785 form of {"additional-evidence", "nonce",
                         "tee-pubkey"} padded with zeros to 64 bytes (Trustee's builtin AS:
                         regularize_data). Reply {"token": ...}.
  GET  /kbs/v0/resource/REPO/TYPE/TAG   the resource as a flattened JWE to the tee-pubkey.
Errors are Trustee's ErrorInformation {type, detail} with 401 (or 404 for unknown paths/resources).

As a module (tests/kbs/test_trustee_jose.c): jcs(), jwe(), b64u().

usage: trustee_kbs.py PORTFILE CERT KEY TEELM POLICY REPO/TYPE/TAG=FILE... [--fault F] [--session-timeout S]
Faults (to test the client's refusals): bind-other-nonce, bad-tag, wrong-kid, wrong-alg, wrong-enc,
other-key, aad-member, no-cookie. The server prints its port to PORTFILE and logs every
request line to PORTFILE.log."""
import base64, hashlib, json, os, secrets, ssl, subprocess, sys, tempfile, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

fault = None
session_timeout = 300.0
portfile = cert = key = teelm = policy = None
resources = {}


def parse_args(argv):
    global fault, session_timeout, portfile, cert, key, teelm, policy
    args = list(argv)
    if "--fault" in args:
        i = args.index("--fault"); fault = args[i + 1]; del args[i:i + 2]
    if "--session-timeout" in args:
        i = args.index("--session-timeout"); session_timeout = float(args[i + 1]); del args[i:i + 2]
    portfile, cert, key, teelm, policy = args[:5]
    for spec in args[5:]:
        path, f = spec.split("=", 1)
        resources[path] = open(f, "rb").read()


VERSION = "0.4.0"
sessions = {}  # id -> {"nonce", "tee", "t", "pubkey" (after attest)}


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jcs(v):
    """RFC 8785 for the JSON this protocol hashes (no real numbers): members sorted by UTF-16 code
    units, ECMAScript string escaping, UTF-8 output."""
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(jcs(k) + ":" + jcs(v[k]) for k in keys) + "}"
    if isinstance(v, list):
        return "[" + ",".join(jcs(x) for x in v) + "]"
    if isinstance(v, str):
        out = ['"']
        for ch in v:
            o = ord(ch)
            if ch == '"': out.append('\\"')
            elif ch == "\\": out.append("\\\\")
            elif ch == "\b": out.append("\\b")
            elif ch == "\t": out.append("\\t")
            elif ch == "\n": out.append("\\n")
            elif ch == "\f": out.append("\\f")
            elif ch == "\r": out.append("\\r")
            elif o < 0x20: out.append("\\u%04x" % o)
            else: out.append(ch)
        out.append('"')
        return "".join(out)
    if v is True: return "true"
    if v is False: return "false"
    if v is None: return "null"
    if isinstance(v, int): return str(v)
    raise ValueError("real numbers are not canonicalized here")


def jwe(pub_jwk, payload):
    """Flattened JWE, ECDH-ES+A256KW / A256GCM, as Trustee's kbs/src/jwe ecdh_es_a256kw_p256."""
    x = int.from_bytes(b64u_dec(pub_jwk["x"]), "big")
    y = int.from_bytes(b64u_dec(pub_jwk["y"]), "big")
    peer = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    if fault == "other-key":
        peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    eph = ec.generate_private_key(ec.SECP256R1())
    z = eph.exchange(ec.ECDH(), peer)
    alg = "ECDH-ES+A256KW"
    # RFC 7518 §4.6.2: AlgorithmID = alg, PartyUInfo = PartyVInfo = empty, SuppPubInfo = keydatalen
    otherinfo = len(alg).to_bytes(4, "big") + alg.encode() + (0).to_bytes(4, "big") + (0).to_bytes(4, "big") + \
        (256).to_bytes(4, "big")
    kek = ConcatKDFHash(hashes.SHA256(), 32, otherinfo).derive(z)
    cek = secrets.token_bytes(32)
    wrapped = aes_key_wrap(kek, cek)
    en = eph.public_key().public_numbers()
    header = {"alg": "RSA-OAEP-256" if fault == "wrong-alg" else alg,
              "enc": "A128GCM" if fault == "wrong-enc" else "A256GCM",
              "epk": {"crv": "P-256", "kty": "EC", "x": b64u(en.x.to_bytes(32, "big")), "y": b64u(en.y.to_bytes(32, "big"))}}
    if fault == "wrong-kid":
        header["kid"] = "not-your-key"
    protected = b64u(json.dumps(header, separators=(",", ":")).encode())
    iv = secrets.token_bytes(12)
    ct = AESGCM(cek).encrypt(iv, payload, protected.encode())
    ct, tag = ct[:-16], ct[-16:]
    if fault == "bad-tag":
        tag = bytes([tag[0] ^ 1]) + tag[1:]
    out = {"protected": protected, "encrypted_key": b64u(wrapped), "iv": b64u(iv), "ciphertext": b64u(ct), "tag": b64u(tag)}
    if fault == "aad-member":
        out["aad"] = b64u(b"extra")
    return json.dumps(out).encode()


def verify_evidence(tee, primary, expected_rd):
    """teelm attest verify on the evidence; then the report_data binding. Returns None or the reason."""
    field = "teelm-evidence" if tee == "snp" else "quote"
    if not isinstance(primary, dict) or not isinstance(primary.get(field), str):
        return "primary_evidence has no %s" % field
    ev = base64.b64decode(primary[field], validate=True)
    with tempfile.NamedTemporaryFile(suffix=".ev") as f:
        f.write(ev); f.flush()
        r = subprocess.run([teelm, "attest", "verify", f.name, "--policy", policy, "--json"], capture_output=True, text=True)
    try:
        res = json.loads(r.stdout)
    except ValueError:
        return "teelm attest verify printed no JSON: " + r.stderr.strip()
    if res.get("verdict") != "accepted":
        return "evidence refused: " + (res.get("verify_error") or res.get("policy_error") or "?")
    rd = bytes.fromhex(res["identity"]["report_data"])
    if rd != expected_rd:
        return "report_data does not bind the runtime-data (nonce, tee-pubkey)"
    return None


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        with open(portfile + ".log", "a") as f:
            f.write((fmt % a) + "\n")

    def reply(self, status, body, cookie=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if cookie and fault != "no-cookie":
            self.send_header("Set-Cookie", "kbs-session-id=%s; Path=/kbs/v0; Secure; HttpOnly" % cookie)
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, kind, detail):
        self.reply(status, {"type": "https://github.com/confidential-containers/kbs/errors/" + kind, "detail": detail})

    def session(self):
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "kbs-session-id":
                s = sessions.get(v)
                if s is None:
                    return None, "session not found"
                if time.time() - s["t"] > session_timeout:
                    del sessions[v]
                    return None, "session expired."
                return (v, s), None
        return None, "cookie not found"

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n)

    def do_POST(self):
        raw = self.body()
        if self.path == "/kbs/v0/auth":
            try:
                req = json.loads(raw)
                version, tee = req["version"], req["tee"]
                req["extra-params"]
            except (ValueError, KeyError, TypeError):
                return self.error(401, "SerdeError", "deserialize Request")
            if version != VERSION:
                return self.error(401, "AttestationError",
                                  "KBS Client Protocol Version Mismatch: expect =%s while the request is %s" % (VERSION, version))
            sid = secrets.token_hex(16)
            nonce = base64.b64encode(secrets.token_bytes(32)).decode()
            sessions[sid] = {"nonce": nonce, "tee": tee, "t": time.time()}
            return self.reply(200, {"nonce": nonce, "extra-params": ""}, cookie=sid)
        if self.path == "/kbs/v0/attest":
            got, why = self.session()
            if not got:
                return self.error(401, "AttestationError", why)
            sid, s = got
            try:
                att = json.loads(raw)
                rt, te = att["runtime-data"], att["tee-evidence"]
                nonce, pk = rt["nonce"], rt["tee-pubkey"]
                primary, additional = te["primary_evidence"], te["additional_evidence"]
            except (ValueError, KeyError, TypeError):
                return self.error(401, "SerdeError", "deserialize Attestation")
            if nonce != s["nonce"]:
                return self.error(401, "AttestationError", "the nonce in the handshake session is different from the "
                                  "client side in KBS protocol's Attestation message")
            if not (isinstance(pk, dict) and pk.get("kty") == "EC" and pk.get("crv") == "P-256"
                    and pk.get("alg") == "ECDH-ES+A256KW"):
                return self.error(401, "AttestationError", "tee-pubkey is not an EC P-256 ECDH-ES+A256KW JWK")
            bound_nonce = s["nonce"] + "x" if fault == "bind-other-nonce" else s["nonce"]
            rd = {"tee-pubkey": {k: pk[k] for k in ("kty", "crv", "alg", "x", "y")}, "nonce": bound_nonce,
                  "additional-evidence": additional}
            expected = hashlib.sha384(jcs(rd).encode()).digest() + bytes(16)
            why = verify_evidence(s["tee"], primary, expected)
            if why:
                return self.error(401, "AttestationError", "verify TEE evidence failed: " + why)
            s["pubkey"] = pk
            return self.reply(200, {"token": "reference.server.token"}, cookie=sid)
        self.error(404, "InvalidRequestPath", self.path)

    def do_GET(self):
        p = "/kbs/v0/resource/"
        if not self.path.startswith(p):
            return self.error(404, "InvalidRequestPath", self.path)
        got, why = self.session()
        if not got:
            return self.error(401, "TokenNotFound", why)
        sid, s = got
        if "pubkey" not in s:
            return self.error(401, "PolicyDeny", "session not attested")
        res = resources.get(self.path[len(p):])
        if res is None:
            return self.error(404, "PluginInternalError", "resource not found")
        self.reply(200, jwe(s["pubkey"], res))


def main():
    parse_args(sys.argv[1:])
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
