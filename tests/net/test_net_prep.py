#!/usr/bin/python3
"""Megabyte prompts must not stall `teelm serve`'s event loop.

Two clients send 1 MiB prompts to /v1/completions in a loop while a third measures /health on a
kept-alive connection; its median latency is compared with the median measured in the same run
with no load (the old server tokenized on the loop thread: 2 ms became ~0.5 s). A prompt too long
to fit max_prompt_tokens is refused before it is tokenized: its refusal costs a fraction of what
/tokenize spends on the same text. Clients that send a megabyte and vanish cost nothing lasting
(under ASan: no use after free, no leak at exit).
"""
import http.client
import json
import random
import socket
import ssl
import threading
import time

import nethelp as H

RATIO = 20

random.seed(7)
WORDS = ["".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(random.randint(3, 9))) for _ in range(2000)]


def big_prompt(n=1 << 20):
    out, size = [], 0
    while size < n:
        w = random.choice(WORDS)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)[:n]


JSON = {"Content-Type": "application/json"}
tmp = H.tmpdir()
srv = H.start_serve(tmp, "--max-body", "2048", "--quiet")
port = srv.port
BODY = json.dumps({"prompt": big_prompt(), "max_tokens": 1})


def health_p50(n=20):
    c = http.client.HTTPSConnection("127.0.0.1", port, context=H.client_ctx(), timeout=120)
    H.timed_request(port, conn=c)  # the handshake is not what is measured
    xs = []
    for _ in range(n):
        st, t, _ = H.timed_request(port, conn=c)
        if st == 200:
            xs.append(t)
        time.sleep(0.02)
    c.close()
    return H.median(xs), len(xs)


# 1. /health while two clients send 1 MiB prompts
base, nb = health_p50()
stop = threading.Event()
sent = [0, 0]


def flood(i):
    c = http.client.HTTPSConnection("127.0.0.1", port, context=H.client_ctx(), timeout=120)
    for _ in range(40):
        if stop.is_set():
            break
        st, _, _ = H.timed_request(port, "POST", "/v1/completions", BODY, JSON, conn=c)
        if st is None:
            c.close()
            c = http.client.HTTPSConnection("127.0.0.1", port, context=H.client_ctx(), timeout=120)
        sent[i] += 1
    c.close()


ths = [threading.Thread(target=flood, args=(i,)) for i in range(2)]
for t in ths:
    t.start()
time.sleep(0.5)
loaded, nl = health_p50()
stop.set()
for t in ths:
    t.join()
print("health p50: %.2f ms idle, %.2f ms with 2 clients sending 1 MiB prompts (%d sent)" % (base * 1e3, loaded * 1e3, sum(sent)))
H.check(nb == 20 and nl == 20, "/health answered %d/20 idle and %d/20 under load" % (nb, nl))
H.check(loaded < RATIO * base, "/health p50 under load %.2f ms < %dx idle %.2f ms (ratio %.1f)"
        % (loaded * 1e3, RATIO, base * 1e3, loaded / base))

# 2. an over-long prompt is refused without tokenizing it: compare with /tokenize of the same text
tok_t, ref_t, msgs = [], [], []
c = http.client.HTTPSConnection("127.0.0.1", port, context=H.client_ctx(), timeout=120)
for _ in range(3):
    st, t, _ = H.timed_request(port, "POST", "/tokenize", json.dumps({"prompt": json.loads(BODY)["prompt"]}), JSON, conn=c)
    if st == 200:
        tok_t.append(t)
    st, t, data = H.timed_request(port, "POST", "/v1/completions", BODY, JSON, conn=c)
    if st == 400:
        ref_t.append(t)
        msgs.append(json.loads(data)["error"])
c.close()
tt, rt = H.median(tok_t), H.median(ref_t)
print("1 MiB prompt: /tokenize %.1f ms, completion refused in %.1f ms" % (tt * 1e3, rt * 1e3))
H.check(len(ref_t) == 3 and all(m.get("param") == "prompt" for m in msgs), "over-long prompts get 400 naming the prompt: %s"
        % (msgs[:1],))
H.check(rt < tt / 4, "the refusal costs %.1f ms, under a quarter of tokenizing the prompt (%.1f ms)" % (rt * 1e3, tt * 1e3))

# 3. clients that send a megabyte to /tokenize and leave at once
raw = BODY.encode()
for _ in range(20):
    s = socket.create_connection(("127.0.0.1", port))
    t = H.client_ctx().wrap_socket(s, server_hostname="localhost")
    t.sendall(b"POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(raw))
    t.sendall(raw)
    t.close()
st, _, _ = H.timed_request(port)
H.check(st == 200, "after 20 clients left mid-tokenize the server still answers")
H.check(srv.stop() == 0, "serve exits cleanly (ASan: no use after free, no leak)")
H.finish()
