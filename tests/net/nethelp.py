"""Shared by the tests/net scripts: start `teelm serve` (sim) or `teelm kbs` on loopback, TLS
client contexts, timing helpers. TEELM_BIN may point at an older binary to check that a test
fails there."""
import atexit
import http.client
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.environ["TEELM_BIN"]
SHARED = os.environ.get("TEELM_SHARED", "../shared")
TIK = os.path.join(SHARED, "data", "cl100k_base.tiktoken")
HELPER = os.path.join(os.environ.get("TEELM_BUILD", os.path.dirname(BIN)), "tests", "server", "tl_make_model")

failures = 0


def check(cond, what):
    global failures
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures += 1


def finish():
    print("%d failure(s)" % failures)
    sys.exit(1 if failures else 0)


def skip_unless(*paths):
    for p in paths:
        if not os.path.exists(p):
            print("SKIP: needs %s" % p)
            sys.exit(77)


class Proc:
    def __init__(self, args, pattern, tmp):
        self.err_path = os.path.join(tmp, "stderr.txt")
        self.err = open(self.err_path, "w")
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err, env=env, text=True)
        atexit.register(self.stop)
        self.port = None
        for _ in range(200):
            line = self.p.stdout.readline()
            if not line:
                break
            m = re.search(pattern, line)
            if m:
                self.port = int(m.group(1))
                break
        if not self.port:
            print("server did not start; stderr:\n" + open(self.err_path).read())
            sys.exit(1)
        self.asan = "libasan" in open("/proc/%d/maps" % self.p.pid).read()

    def stderr(self):
        self.err.flush()
        return open(self.err_path).read()

    def stop(self):
        """SIGTERM and wait: a clean exit (0) also means no leak under ASan."""
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def tmpdir():
    d = tempfile.mkdtemp(prefix="teelm-net-")
    atexit.register(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def start_serve(tmp, *flags):
    skip_unless(TIK, HELPER)
    model = os.path.join(tmp, "model")
    if not os.path.exists(model):
        subprocess.run([HELPER, model, TIK, "100070", "77", "1"], check=True, stdout=subprocess.DEVNULL)
    return Proc([BIN, "serve", "--model", model, "--tee", "sim", "--listen", "127.0.0.1:0"] + list(flags),
                r"https://127\.0\.0\.1:(\d+)", tmp)


def start_kbs(tmp, *flags):
    pol = os.path.join(tmp, "policy.json")
    with open(pol, "w") as f:
        f.write('{"mrenclave":"%s","allow_simulation":true}\n' % ("0" * 64))
    return Proc([BIN, "kbs", "--listen", "127.0.0.1:0", "--store", os.path.join(tmp, "store"), "--policy", pol]
                + list(flags), r"listening on https://127\.0\.0\.1:(\d+)", tmp)


_CTX = []


def client_ctx():
    """One shared context: making one loads the system CA store, which takes longer than a handshake."""
    if not _CTX:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # these tests are about the transport, not about trust
        _CTX.append(ctx)
    return _CTX[0]


def timed_request(port, method="GET", path="/health", body=None, headers=None, conn=None, timeout=60):
    """One request (on a fresh connection unless conn is given): (status or None, seconds, body)."""
    t = time.monotonic()
    own = conn is None
    try:
        c = conn or http.client.HTTPSConnection("127.0.0.1", port, context=client_ctx(), timeout=timeout)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        status = r.status
    except (OSError, http.client.HTTPException) as e:
        return None, time.monotonic() - t, str(e).encode()
    finally:
        if own:
            try:
                c.close()
            except Exception:
                pass
    return status, time.monotonic() - t, data


def median(xs):
    return statistics.median(xs) if xs else float("inf")


def idle_socket(port, src="127.0.0.2"):
    """A TCP connection from src that never sends a byte; None if the connect itself failed."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((src, 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        return s
    except OSError:
        s.close()
        return None


def closed_by_server(s):
    """1 if the server has closed (EOF or reset) the idle socket s, else 0."""
    try:
        return 1 if s.recv(1) == b"" else 0
    except BlockingIOError:
        return 0
    except OSError:
        return 1
