/* The sim backend: evidence round trip (identity fields checked against an independent Python
 * computation of the documented MRENCLAVE formula), every signed byte tampered is refused with the
 * right reason, truncation at every field boundary is refused, and `auto` never falls back to sim. */
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tee/certs.h"
#include "tee/quote.h"
#include "tee/tee.h"
#include "tee/verify.h"
#include "util/bytes.h"
#include "test.h"

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

/* MRENCLAVE of this test binary + cfg, computed by /usr/bin/python3 from docs/attestation.md. */
static int python_mrenclave(const char *cfg, char hex[65])
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = 0;
    const char *dir = test_tmpdir();
    char out[256];
    snprintf(out, sizeof out, "%s/mr.txt", dir);
    const char *py = getenv("TEELM_PYTHON") ? getenv("TEELM_PYTHON") : "/usr/bin/python3";
    if (test_sh("%s -c 'import hashlib,sys; h=lambda b: hashlib.sha256(b).digest(); "
                "exe=open(sys.argv[1],\"rb\").read(); cfg=sys.argv[2].encode(); "
                "open(sys.argv[3],\"w\").write(hashlib.sha256(b\"teelm sim MRENCLAVE v1\\0\"+h(exe)+h(cfg)).hexdigest())' "
                "'%s' '%s' '%s'",
                py, exe, cfg, out) != 0)
        return -1;
    FILE *f = fopen(out, "r");
    int ok = f && fscanf(f, "%64s", hex) == 1;
    if (f)
        fclose(f);
    test_sh("rm -rf '%s'", dir);
    return ok ? 0 : -1;
}

static void hex32(const uint8_t *v, char *out)
{
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", v[i]);
}

static void test_round_trip(void)
{
    const char *cfg = "--model m.sealed --threads 2";
    tl_tee_opts o = {(const uint8_t *)cfg, strlen(cfg), NULL, 0, 7, 3, NULL, NULL};
    tl_err e = {0};
    tl_tee *t = tl_tee_open_opts("sim", &o, &e);
    CHECKF(t != NULL, "%s", e.msg);
    if (!t)
        return;
    CHECK(t->simulated == 1);
    CHECK(strcmp(t->name, "sim") == 0);
    uint8_t rd[64];
    for (int i = 0; i < 64; i++)
        rd[i] = (uint8_t)(i * 7 + 1);
    uint8_t *ev = NULL;
    size_t n = 0;
    CHECK(tl_tee_evidence(t, rd, &ev, &n, &e) == 0);
    tl_identity id;
    CHECKF(tl_evidence_verify(ev, n, NULL, time(NULL), &id, &e) == 0, "%s", e.msg);
    CHECK(id.simulated == 1);
    CHECK(id.kind == TL_TEE_KIND_SGX);
    CHECK(id.debug == 0);
    CHECK(memcmp(id.report_data, rd, 64) == 0);
    CHECK(id.isv_prod_id == 7 && id.isv_svn == 3);
    CHECK(strcmp(id.tcb_status, "Simulated") == 0);
    char got[65], want[65];
    hex32(id.mrenclave, got);
    CHECK(python_mrenclave(cfg, want) == 0);
    CHECKF(strcmp(got, want) == 0, "mrenclave %s, python says %s", got, want);
    uint8_t mr[32];
    CHECK(tl_sim_measure(NULL, (const uint8_t *)cfg, strlen(cfg), mr, &e) == 0);
    CHECK(memcmp(mr, id.mrenclave, 32) == 0);
    /* a different configuration is a different measurement */
    CHECK(tl_sim_measure(NULL, (const uint8_t *)"x", 1, mr, &e) == 0);
    CHECK(memcmp(mr, id.mrenclave, 32) != 0);
    /* measurement of self agrees */
    tl_identity self;
    CHECK(tl_tee_self(t, &self, &e) == 0);
    CHECK(memcmp(self.mrenclave, id.mrenclave, 32) == 0 && self.simulated == 1);

    /* the layout is a DCAP v3 quote: docs/attestation.md offsets */
    CHECK(n > 1100);
    CHECK(tl_load_le16(ev) == 3 && tl_load_le16(ev + 2) == 2 && tl_load_le32(ev + 4) == 0);
    CHECK(memcmp(ev + 112, id.mrenclave, 32) == 0);
    CHECK(memcmp(ev + 368, rd, 64) == 0);
    CHECK(tl_load_le16(ev + 304) == 7 && tl_load_le16(ev + 306) == 3);
    CHECK(tl_load_le32(ev + 432) == n - 436);

    /* zero padding after the signature data is accepted; anything else is not */
    uint8_t *pad = calloc(1, n + 70);
    memcpy(pad, ev, n);
    CHECKF(tl_evidence_verify(pad, n + 70, NULL, time(NULL), &id, &e) == 0, "%s", e.msg);
    pad[n + 69] = 1;
    CHECK(tl_evidence_verify(pad, n + 70, NULL, time(NULL), &id, &e) == TL_EINVAL && contains(e.msg, "trailing"));
    free(pad);

    /* the sim chain is checked at `now`: before the sim root existed it is not valid */
    CHECK(tl_evidence_verify(ev, n, NULL, 946684800 /* 2000-01-01 */, &id, &e) == TL_ESTATE);
    CHECKF(contains(e.msg, "not yet valid"), "%s", e.msg);

    /* tampering: every signed byte, each refused with the reason of the region it belongs to */
    tl_quote q;
    CHECK(tl_quote_parse(ev, n, &q, &e) == 0);
    size_t off_sig = 436, off_ak = 500, off_qe = 564, off_qes = 948, off_auth = 1014, off_cert = off_auth + 32 + 6;
    CHECK(q.sig == ev + off_sig && q.att_key == ev + off_ak && q.qe_report == ev + off_qe);
    CHECK(q.qe_report_sig == ev + off_qes && q.qe_auth == ev + off_auth && q.cert_data == ev + off_cert);
    int wrong = 0, passed = 0;
    for (size_t i = 0; i < off_cert; i++) {
        if (i >= 432 && i < 436)
            continue; /* the length field: checked by the truncation test */
        if ((i >= off_auth - 2 && i < off_auth) || i >= off_cert - 6)
            continue; /* auth data length, cert type and size: structural, checked by truncation below */
        ev[i] ^= 0x10;
        int rc = tl_evidence_verify(ev, n, NULL, time(NULL), &id, &e);
        ev[i] ^= 0x10;
        const char *want_reason = i < 8 ? "quote" : i < off_sig ? "quote signature" : i < off_ak ? "quote signature"
                                  : i < off_qe ? "attestation key" : i < off_qes ? "QE report signature"
                                  : i < off_auth - 2 ? "QE report signature" : "attestation key is not bound";
        if (rc == 0)
            passed++;
        else if (!contains(e.msg, want_reason) &&
                 !(i >= off_ak && i < off_qe && contains(e.msg, "quote signature"))) {
            if (wrong++ < 5)
                fprintf(stderr, "byte %zu: %s\n", i, e.msg);
        }
    }
    CHECKF(passed == 0, "%d tampered bytes verified", passed);
    CHECKF(wrong == 0, "%d tampered bytes refused for the wrong reason", wrong);

    /* certificate chain bytes: refused, or (base64 padding bits) decoding to the very same chain */
    STACK_OF(X509) *orig = tl_pem_chain(q.cert_data, q.cert_len, 3, "orig", &e);
    int cert_ok = 1, refused = 0;
    for (size_t i = off_cert; i < n; i += 3) {
        ev[i] ^= 0x01;
        int rc = tl_evidence_verify(ev, n, NULL, time(NULL), &id, &e);
        if (rc == 0) {
            STACK_OF(X509) *now = tl_pem_chain(ev + off_cert, (size_t)(n - off_cert), 3, "now", NULL);
            for (int c = 0; now && c < 3; c++)
                if (X509_cmp(sk_X509_value(now, c), sk_X509_value(orig, c)))
                    cert_ok = 0;
            if (!now)
                cert_ok = 0;
            sk_X509_pop_free(now, X509_free);
        } else {
            refused++;
        }
        ev[i] ^= 0x01;
    }
    sk_X509_pop_free(orig, X509_free);
    CHECK(cert_ok);
    CHECK(refused > (int)((n - off_cert) / 3) * 9 / 10);

    /* truncation at every field boundary (and one byte either side) */
    size_t bounds[] = {0, 2, 4, 8, 48, 112, 368, 432, 436, off_ak, off_qe, off_qes, off_auth - 2, off_auth,
                       off_cert - 6, off_cert - 4, off_cert, n - 1};
    for (size_t b = 0; b < sizeof bounds / sizeof *bounds; b++)
        for (int d = -1; d <= 1; d++) {
            size_t cut = bounds[b] + (size_t)d;
            if ((d < 0 && bounds[b] == 0) || cut >= n)
                continue;
            int rc = tl_evidence_verify(ev, cut, NULL, time(NULL), &id, &e);
            CHECKF(rc == TL_EINVAL && (contains(e.msg, "truncated") || contains(e.msg, "certificate")),
                   "cut at %zu: rc %d %s", cut, rc, e.msg);
        }
    free(ev);

    /* debug attribute: option and environment */
    tl_tee_close(t);
    o.debug = 1;
    t = tl_tee_open_opts("sim", &o, &e);
    CHECK(t && tl_tee_evidence(t, rd, &ev, &n, &e) == 0);
    CHECK(tl_evidence_verify(ev, n, NULL, time(NULL), &id, &e) == 0 && id.debug == 1);
    CHECK((ev[96] & 2) == 2);
    free(ev);
    tl_tee_close(t);
    setenv("TEELM_SIM_DEBUG", "1", 1);
    t = tl_tee_open("sim", &e);
    CHECK(t && tl_tee_evidence(t, rd, &ev, &n, &e) == 0);
    CHECK(tl_evidence_verify(ev, n, NULL, time(NULL), &id, &e) == 0 && id.debug == 1);
    unsetenv("TEELM_SIM_DEBUG");
    free(ev);
    tl_tee_close(t);
}

static void test_open(void)
{
    tl_err e = {0};
    tl_tee_opts o = {0};
    o.occlum_device = "/nonexistent/sgx";
    o.tsm_root = "/nonexistent/tsm";
    CHECK(tl_tee_open_opts("auto", &o, &e) == NULL);
    CHECKF(contains(e.msg, "no TEE found") && contains(e.msg, "--tee sim"), "%s", e.msg);
    CHECK(tl_tee_open("frobnicate", &e) == NULL && contains(e.msg, "unknown TEE backend"));
    /* garbage is never evidence */
    uint8_t junk[600] = {3, 0, 2, 0};
    tl_identity id;
    CHECK(tl_evidence_verify(junk, sizeof junk, NULL, time(NULL), &id, &e) != 0);
    CHECK(tl_evidence_verify(junk, 0, NULL, time(NULL), &id, &e) == TL_EINVAL);
}

int main(void)
{
    test_round_trip();
    test_open();
    return test_finish();
}
