/* The attested client against a bare TLS server (OpenSSL, in a thread) presenting chosen
 * certificates: a sim RA-TLS certificate that matches the policy is accepted and the request
 * arrives; every refusal (measurement not in the policy, simulation not allowed, evidence bound to
 * another key, to another configuration document, with the old raw layout or another purpose;
 * expired, not yet valid or CA certificates; no evidence at all) names the reason AND the server
 * receives not one byte of application data — the request is never sent. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/client.h"
#include "server/ratls.h"
#include "tee/binding.h"
#include "tee/tee.h"
#include "test.h"
#include "test_cert.h"
#include "tls_testutil.h"

/* The reply of a successful request: its 11-byte body is what the sink must count. */
static const char OK_RESP[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
                              "Connection: close\r\n\r\n{\"ok\":true}";

static size_t g_body;
static int sink(const char *d, size_t n, void *u)
{
    (void)d, (void)u;
    g_body += n;
    return 0;
}

static const uint8_t *g_expect_cfg;
static int g_verified_calls, g_refuse_in_cb;
static tls_server *g_live;
static size_t g_bytes_at_cb = 1;
static int on_verified(const tl_client_peer *p, void *u)
{
    (void)p, (void)u;
    g_verified_calls++;
    g_bytes_at_cb = g_live->app_bytes; /* the server thread only reads after the handshake */
    return g_refuse_in_cb;
}

/* Runs one client request against a server presenting (key, cert). Returns the client's rc. */
static int attempt(EVP_PKEY *key, X509 *cert, const char *policy_json, tl_err *err, tls_server *out,
                   tl_client_peer *peer)
{
    tls_server s = {.key = key, .cert = cert, .resp = OK_RESP, .resp_len = sizeof OK_RESP - 1};
    g_live = &s;
    tls_server_listen(&s);
    pthread_t th;
    pthread_create(&th, NULL, tls_server_serve_one, &s);
    tl_err perr = {0};
    tl_policy *p = tl_policy_parse(policy_json, &perr);
    CHECKF(p != NULL, "policy: %s", perr.msg);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", s.port);
    tl_client_opts o = {.server = url, .policy = p, .timeout_s = 20, .expect_config_sha256 = g_expect_cfg,
                        .on_verified = on_verified};
    long status = 0;
    g_body = 0;
    memset(err, 0, sizeof *err);
    int rc = tl_client_request(&o, "POST", "/v1/completions", "{\"prompt\":\"SECRET PROMPT\"}", 26, sink, NULL,
                               &status, peer, err);
    pthread_join(th, NULL);
    close(s.lfd);
    tl_policy_free(p);
    *out = s;
    if (rc == 0)
        CHECK(status == 200 && g_body == 11);
    return rc;
}

/* Genuine evidence over rd, in a certificate for key with the document doc: the client must
 * refuse it before any application byte, because rd does not bind the RA-TLS fields. */
static void expect_unbound(tl_tee *tee, EVP_PKEY *key, const uint8_t rd[64], const char *doc, size_t doc_len,
                           const uint8_t *receipt_pub, const char *policy, const char *what)
{
    static tl_client_peer peer;
    tls_server s;
    tl_err err = {0};
    uint8_t *ev = NULL;
    size_t evl = 0;
    CHECK(tl_tee_evidence(tee, rd, &ev, &evl, &err) == 0);
    X509 *c = tl_ratls_make_cert(key, "sim", ev, evl, doc, doc_len, receipt_pub, 1, &err);
    int rc = attempt(key, c, policy, &err, &s, &peer);
    CHECKF(rc == TL_ECRYPTO && strstr(err.msg, "does not bind") && s.app_bytes == 0, "%s: %s", what, err.msg);
    X509_free(c);
    free(ev);
}

int main(void)
{
    tl_err err = {0};
    tl_identity self;
    char mre[65], policy[512], other[512];
    tl_tee *tee = tls_sim_policies(&self, mre, policy, other);

    tl_ratls r;
    static const char doc[] = "{\"teelm\":\"serve\",\"tee\":\"sim\",\"version\":1}";
    CHECK(tl_ratls_create(tee, doc, sizeof doc - 1, 1, &r, &err) == 0);
    tls_server s;
    static tl_client_peer peer;

    /* accepted: the request arrives, and the peer is what the evidence says */
    int rc = attempt(r.key, r.cert, policy, &err, &s, &peer);
    CHECKF(rc == 0, "%s", err.msg);
    CHECK(s.handshake_ok && s.app_bytes > 26);
    CHECK(peer.verified && peer.id.simulated && !memcmp(peer.id.mrenclave, self.mrenclave, 32) &&
          !memcmp(peer.pubkey_sha256, r.pubkey_hash, 32) && !strcmp(peer.tee, "sim"));
    CHECK(!strcmp(peer.config, doc) && !memcmp(peer.config_sha256, r.config_hash, 32));
    /* the verified callback ran before the request was sent */
    CHECK(g_verified_calls == 1 && g_bytes_at_cb == 0);
    /* ... and a callback that refuses (e.g. the user declines) stops it */
    g_refuse_in_cb = 1;
    rc = attempt(r.key, r.cert, policy, &err, &s, &peer);
    CHECKF(rc != 0 && s.app_bytes == 0, "%s", err.msg);
    g_refuse_in_cb = 0;
    /* the expected configuration: matches, or refused */
    g_expect_cfg = r.config_hash;
    rc = attempt(r.key, r.cert, policy, &err, &s, &peer);
    CHECKF(rc == 0, "%s", err.msg);
    uint8_t other_hash[32] = {1};
    g_expect_cfg = other_hash;
    rc = attempt(r.key, r.cert, policy, &err, &s, &peer);
    CHECKF(rc == TL_EPOLICY && strstr(err.msg, "configuration document") && s.app_bytes == 0, "%s", err.msg);
    g_expect_cfg = NULL;

    /* the measurement is not in the policy */
    rc = attempt(r.key, r.cert, other, &err, &s, &peer);
    CHECKF(rc == TL_EPOLICY && strstr(err.msg, "server attestation refused") && strstr(err.msg, "mrenclave") &&
           strstr(err.msg, mre), "%s", err.msg);
    CHECK(s.app_bytes == 0 && !peer.verified);

    /* simulation not allowed */
    snprintf(other, sizeof other, "{\"mrenclave\":\"%s\"}", mre);
    rc = attempt(r.key, r.cert, other, &err, &s, &peer);
    CHECKF(rc == TL_EPOLICY && strstr(err.msg, "allow_simulation"), "%s", err.msg);
    CHECK(s.app_bytes == 0);

    /* a copied certificate: evidence bound to r's key, presented with another key pair */
    EVP_PKEY *k2 = EVP_EC_gen("P-256");
    X509 *c2 = tl_ratls_make_cert(k2, "sim", r.evidence, r.evidence_len, doc, sizeof doc - 1, r.receipt_pub, 1, &err);
    rc = attempt(k2, c2, policy, &err, &s, &peer);
    CHECKF(rc == TL_ECRYPTO && strstr(err.msg, "does not bind the server's TLS key"), "%s", err.msg);
    CHECK(s.app_bytes == 0);
    X509_free(c2);

    /* tampered evidence: one byte of the report body flipped */
    uint8_t *bad = malloc(r.evidence_len);
    memcpy(bad, r.evidence, r.evidence_len);
    bad[48 + 64] ^= 1; /* MRENCLAVE */
    c2 = tl_ratls_make_cert(r.key, "sim", bad, r.evidence_len, doc, sizeof doc - 1, r.receipt_pub, 1, &err);
    rc = attempt(r.key, c2, policy, &err, &s, &peer);
    CHECKF(rc != 0 && strstr(err.msg, "server evidence (tee sim)"), "%s", err.msg);
    CHECK(s.app_bytes == 0);
    X509_free(c2);
    free(bad);

    /* Hostile host: genuine evidence for r's key, but bound the old way (SHA-256(SPKI) || zeros):
     * what the host could get from `attest quote --report-data` on the old code */
    uint8_t rd[64] = {0};
    memcpy(rd, r.pubkey_hash, 32);
    expect_unbound(tee, r.key, rd, doc, sizeof doc - 1, r.receipt_pub, policy, "SHA-256(SPKI) || zeros");

    /* the certificate carries another receipt key than the one the evidence binds (a host that
     * wants to sign receipts itself) */
    {
        uint8_t rk2[32];
        memcpy(rk2, r.receipt_pub, 32);
        rk2[0] ^= 0x80;
        c2 = tl_ratls_make_cert(r.key, "sim", r.evidence, r.evidence_len, doc, sizeof doc - 1, rk2, 1, &err);
        rc = attempt(r.key, c2, policy, &err, &s, &peer);
        CHECKF(rc == TL_ECRYPTO && strstr(err.msg, "receipt key") && s.app_bytes == 0, "%s", err.msg);
        X509_free(c2);
    }

    /* the certificate carries another configuration document than the one the evidence binds
     * (a host that started the server with another model shows the owner's document) */
    static const char doc2[] = "{\"teelm\":\"serve\",\"tee\":\"sim\",\"version\":2}";
    c2 = tl_ratls_make_cert(r.key, "sim", r.evidence, r.evidence_len, doc2, sizeof doc2 - 1, r.receipt_pub, 1, &err);
    rc = attempt(r.key, c2, policy, &err, &s, &peer);
    CHECKF(rc == TL_ECRYPTO && strstr(err.msg, "configuration") && s.app_bytes == 0, "%s", err.msg);
    X509_free(c2);

    /* evidence from `attest quote --user-data` over exactly the RA-TLS fields: another purpose */
    {
        uint8_t cfg_h[32];
        memcpy(cfg_h, r.config_hash, 32);
        uint8_t both[64];
        memcpy(both, r.pubkey_hash, 32);
        memcpy(both + 32, cfg_h, 32);
        const tl_bind_field f[] = {{both, 64}};
        CHECK(tl_binding_report_data(TL_BIND_USER_QUOTE, f, 1, rd, &err) == 0);
        expect_unbound(tee, r.key, rd, doc, sizeof doc - 1, r.receipt_pub, policy, "user-quote purpose");
    }

    /* correctly bound evidence in a certificate that expired in 2002, one not yet valid, and a CA
     * certificate: refused before any byte */
    {
        X509 *c3 = tl_ratls_make_cert(r.key, "sim", r.evidence, r.evidence_len, doc, sizeof doc - 1, r.receipt_pub, 1, &err);
        ASN1_TIME_set_string(X509_getm_notBefore(c3), "20010101000000Z");
        ASN1_TIME_set_string(X509_getm_notAfter(c3), "20020101000000Z");
        X509_sign(c3, r.key, EVP_sha256());
        rc = attempt(r.key, c3, policy, &err, &s, &peer);
        CHECKF(rc == TL_ESTATE && strstr(err.msg, "expired") && s.app_bytes == 0, "%s", err.msg);
        X509_free(c3);

        c3 = tl_ratls_make_cert(r.key, "sim", r.evidence, r.evidence_len, doc, sizeof doc - 1, r.receipt_pub, 1, &err);
        X509_gmtime_adj(X509_getm_notBefore(c3), 86400L * 30);
        X509_gmtime_adj(X509_getm_notAfter(c3), 86400L * 60);
        X509_sign(c3, r.key, EVP_sha256());
        rc = attempt(r.key, c3, policy, &err, &s, &peer);
        CHECKF(rc == TL_ESTATE && strstr(err.msg, "not valid yet") && s.app_bytes == 0, "%s", err.msg);
        X509_free(c3);

        c3 = tl_ratls_make_cert(r.key, "sim", r.evidence, r.evidence_len, doc, sizeof doc - 1, r.receipt_pub, 1, &err);
        X509_EXTENSION_free(X509_delete_ext(c3, X509_get_ext_by_NID(c3, NID_basic_constraints, -1)));
        BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
        bc->ca = 1;
        X509_add1_ext_i2d(c3, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT);
        BASIC_CONSTRAINTS_free(bc);
        X509_sign(c3, r.key, EVP_sha256());
        rc = attempt(r.key, c3, policy, &err, &s, &peer);
        CHECKF(rc == TL_EINVAL && strstr(err.msg, "CA:TRUE") && s.app_bytes == 0, "%s", err.msg);
        X509_free(c3);
    }

    /* an ordinary certificate without evidence */
    X509 *plain = test_bare_cert(k2, 1);
    X509_sign(plain, k2, EVP_sha256());
    rc = attempt(k2, plain, policy, &err, &s, &peer);
    CHECKF(rc != 0 && strstr(err.msg, "no RA-TLS evidence extension"), "%s", err.msg);
    CHECK(s.app_bytes == 0);
    X509_free(plain);
    EVP_PKEY_free(k2);

    tl_ratls_free(&r);
    tl_tee_close(tee);
    return test_finish();
}
