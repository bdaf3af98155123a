#!/usr/bin/python3
"""TLS policy of `teelm serve` and `teelm kbs` (openssl s_client on loopback): TLS 1.2 offers
only ECDHE with AEAD suites (no CBC, no SHA-1 MAC, no static RSA), TLS 1.3 works, TLS 1.1 does
not, and no session can be resumed: no ticket is issued (TLS 1.2 or 1.3) and a saved session is
not taken back."""
import os
import shutil
import subprocess

import nethelp as H

OPENSSL = shutil.which("openssl")
if not OPENSSL:
    print("SKIP: needs the openssl command")
    raise SystemExit(77)


def s_client(port, *args):
    p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost"] + list(args),
                       input="", capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def negotiated(out):
    for l in out.splitlines():
        if l.startswith("New, ") or l.startswith("Reused, "):
            return l.strip()
    return ""


def checks(name, port, tmp):
    for c in ("AES128-SHA", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"):
        rc, out = s_client(port, "-tls1_2", "-cipher", c)
        line = negotiated(out)
        H.check(rc != 0 and "Cipher is (NONE)" in line or not line,
                "%s: TLS 1.2 with only %s is refused (%s)" % (name, c, line or "no session"))
    for c in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"):
        rc, out = s_client(port, "-tls1_2", "-cipher", c)
        H.check(rc == 0 and ("Cipher is " + c) in negotiated(out), "%s: TLS 1.2 with %s works" % (name, c))
    rc, out = s_client(port, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
    H.check("Cipher is (NONE)" in negotiated(out) or rc != 0, "%s: TLS 1.1 is refused" % name)
    # no resumption: TLS 1.2 issues no ticket and offers back no session id; TLS 1.3 sends no
    # NewSessionTicket (s_client then writes no session file)
    sess = os.path.join(tmp, "s12.pem")
    rc, out = s_client(port, "-tls1_2", "-sess_out", sess)
    H.check(rc == 0 and "TLS session ticket:" not in out and "ticket lifetime hint" not in out,
            "%s: TLS 1.2 issues no session ticket" % name)
    if os.path.exists(sess):
        rc, out = s_client(port, "-tls1_2", "-sess_in", sess)
        H.check(rc == 0 and negotiated(out).startswith("New, "), "%s: a saved TLS 1.2 session is not resumed (%s)"
                % (name, negotiated(out)))
    sess = os.path.join(tmp, "s13.pem")
    rc, out = s_client(port, "-tls1_3", "-sess_out", sess)
    H.check(rc == 0 and "TLSv1.3" in negotiated(out), "%s: TLS 1.3 works (%s)" % (name, negotiated(out)))
    H.check(not os.path.exists(sess) and "Post-Handshake New Session Ticket" not in out,
            "%s: TLS 1.3 sends no session ticket" % name)


tmp = H.tmpdir()
srv = H.start_serve(tmp, "--quiet")
checks("serve", srv.port, tmp)
H.check(srv.stop() == 0, "serve exits cleanly")
tmp2 = H.tmpdir()
kbs = H.start_kbs(tmp2)
checks("kbs", kbs.port, tmp2)
H.check(kbs.stop() == 0, "kbs exits cleanly")
H.finish()
