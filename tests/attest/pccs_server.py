#!/usr/bin/python3
"""A tiny stand-in PCCS (Intel PCCS/PCS API v4 paths) on 127.0.0.1 for tests: serves the collateral of
one or more ../shared/fixtures/dcap/*_collateral.json files the way a PCCS does (PCS bodies, issuer
chains URL-encoded in headers, PCK CRL as DER, root CA CRL as hex text). Picks a free port, writes it
to PORTFILE, and appends every request path to PORTFILE.log."""
import json, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

portfile = sys.argv[1]
sets = {}   # (tee, FMSPC) -> collateral dict
crls = {}   # ca -> (der, chain)
root_crl = None
for path in sys.argv[2:]:
    c = json.load(open(path))
    t = json.loads(c["tcb_info"])
    tee = "tdx" if t["id"] == "TDX" else "sgx"
    sets[(tee, t["fmspc"].upper())] = c
    der = bytes.fromhex(c["pck_crl"])
    ca = "platform" if b"Platform" in der else "processor"
    crls[ca] = (der, c["pck_crl_issuer_chain"])
    root_crl = c["root_ca_crl"]


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, body, headers=()):
        self.send_response(200)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with open(portfile + ".log", "a") as f:
            f.write(self.path + "\n")
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        parts = u.path.strip("/").split("/")
        enc = lambda s: urllib.parse.quote(s, safe="")
        if len(parts) == 4 and parts[1:3] == ["certification", "v4"] and parts[3] == "tcb":
            c = sets.get((parts[0], q.get("fmspc", [""])[0].upper()))
            if c:
                body = '{"tcbInfo":%s,"signature":"%s"}' % (c["tcb_info"], c["tcb_info_signature"])
                return self.send(body.encode(), [("TCB-Info-Issuer-Chain", enc(c["tcb_info_issuer_chain"]))])
        elif len(parts) == 5 and parts[3:] == ["qe", "identity"]:
            for (tee, _), c in sets.items():
                if tee == parts[0]:
                    body = '{"enclaveIdentity":%s,"signature":"%s"}' % (c["qe_identity"], c["qe_identity_signature"])
                    return self.send(body.encode(), [("SGX-Enclave-Identity-Issuer-Chain", enc(c["qe_identity_issuer_chain"]))])
        elif u.path == "/sgx/certification/v4/pckcrl" and q.get("ca", [""])[0] in crls:
            der, chain = crls[q["ca"][0]]
            return self.send(der, [("SGX-PCK-CRL-Issuer-Chain", enc(chain))])
        elif u.path == "/sgx/certification/v4/rootcacrl":
            return self.send(root_crl.encode())
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


srv = HTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
