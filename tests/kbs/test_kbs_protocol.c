/* The key broker in-process over loopback HTTPS with sim evidence: the data key is released to
 * a TEE that proves the allowed identity, and every attack is refused with the right status,
 * error code and a message saying what was refused. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>

#include "kbs/broker.h"
#include "kbs/client.h"
#include "kbs/protocol.h"
#include "kbs/store.h"
#include "app/open.h"
#include "seal/seal.h"
#include "../seal/seal_fixture.h"
#include "net/client.h"
#include "seal/crypto.h"
#include "tee/tee.h"
#include "test.h"
#include "util/codec.h"
#include "util/io.h"

static char base_url[128], ca[4096], store[4096];
static tl_kbs_client_opts co;
static tl_http_opts ho;

static void *run(void *b)
{
    tl_kbs_broker_run(b);
    return NULL;
}

static tl_tee *sim(const char *config, int debug)
{
    tl_tee_opts o = {.config = (const uint8_t *)config, .config_len = config ? strlen(config) : 0, .debug = debug};
    tl_err e = {0};
    tl_tee *t = tl_tee_open_opts("sim", &o, &e);
    if (!t)
        fprintf(stderr, "sim: %s\n", e.msg);
    return t;
}

/* A key request body for nonce/key_id with evidence from tee; rd_nonce lets the evidence bind a
 * different nonce than the one sent (binding attack). */
static char *make_body(tl_tee *tee, const uint8_t *nonce, const uint8_t *rd_nonce, const char *key_id)
{
    uint8_t pub[TL_KBS_PUB_LEN], rd[64], *ev = NULL;
    size_t evl;
    tl_err e = {0};
    EVP_PKEY *k = tl_kbs_ephemeral(pub, &e);
    tl_kbs_report_data(rd_nonce, pub, key_id, rd);
    if (tl_tee_evidence(tee, rd, &ev, &evl, &e)) {
        fprintf(stderr, "evidence: %s\n", e.msg);
        EVP_PKEY_free(k);
        return NULL;
    }
    char *nb = tl_b64_encode(nonce, 32), *pb = tl_b64_encode(pub, sizeof pub), *eb = tl_b64_encode(ev, evl);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "key_id", key_id, "nonce", nb, "public_key", pb, "evidence", eb);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    free(nb);
    free(pb);
    free(eb);
    free(ev);
    EVP_PKEY_free(k);
    return s;
}

/* POSTs a raw body; returns the status and copies the error code (if any) into code. */
static long post(const char *path, const char *body, char *code, size_t cn, const char *bearer)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    tl_http_opts o = ho;
    o.bearer = bearer;
    tl_http_resp r;
    tl_err e = {0};
    if (tl_http_request(&o, "POST", url, "application/json", body, body ? strlen(body) : 0, &r, &e)) {
        fprintf(stderr, "POST %s: %s\n", path, e.msg);
        return -1;
    }
    code[0] = 0;
    json_t *j = json_loadb((const char *)r.body, r.len, 0, NULL);
    const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    snprintf(code, cn, "%s", c ? c : "");
    json_decref(j);
    long st = r.status;
    tl_http_resp_free(&r);
    return st;
}

static void expect_refusal(const char *what, const char *body, long want_status, const char *want_code)
{
    char code[64];
    long st = post("/v1/key", body, code, sizeof code, NULL);
    CHECKF(st == want_status && strcmp(code, want_code) == 0, "%s: got %ld '%s', want %ld '%s'", what, st, code,
           want_status, want_code);
}

static void fresh_nonce(uint8_t n[32])
{
    tl_err e = {0};
    if (tl_kbs_challenge(&co, n, &e))
        fprintf(stderr, "challenge: %s\n", e.msg);
}

/* Full request through the client library; expects refusal naming `want` in the message. */
static void expect_client_refused(tl_tee *tee, const char *key_id, const char *want, const char *what)
{
    uint8_t n[32];
    tl_data_key k;
    tl_err e = {0};
    fresh_nonce(n);
    int rc = tl_kbs_request(&co, tee, key_id, n, &k, &e);
    CHECKF(rc != 0 && strstr(e.msg, want), "%s: rc %d, message '%s' lacks '%s'", what, rc, e.msg, want);
}

static int write_text(const char *dir, const char *name, const char *text, char *path)
{
    tl_err e = {0};
    tl_path_join(path, 4096, dir, name);
    return tl_write_file_atomic(path, text, strlen(text), 0644, &e);
}

int main(void)
{
    const char *tmp = test_tmpdir();
    tl_err e = {0};
    uint8_t mr[32], mr_other[32];
    char hex[65], hex_other[65], text[1024], pol_path[4096], own_path[4096];
    CHECK(tl_sim_measure(NULL, (const uint8_t *)"kbs-test", 8, mr, &e) == 0);
    CHECK(tl_sim_measure(NULL, (const uint8_t *)"something else", 14, mr_other, &e) == 0);
    tl_hex(mr, 32, hex);
    tl_hex(mr_other, 32, hex_other);
    snprintf(text, sizeof text, "{\"mrenclave\":[\"%s\"],\"allow_simulation\":true}", hex);
    write_text(tmp, "policy.json", text, pol_path);
    snprintf(store, sizeof store, "%s/store", tmp);

    /* keys: k-default (default policy), k-nosim (own policy forbidding sim), k-other (own policy
     * for another measurement), k-revoked */
    tl_data_key kd, kn, ko, kr;
    CHECK(tl_data_key_generate(&kd, "k-default", &e) == 0 && tl_data_key_generate(&kn, "k-nosim", &e) == 0 &&
          tl_data_key_generate(&ko, "k-other", &e) == 0 && tl_data_key_generate(&kr, "k-revoked", &e) == 0);
    CHECK(tl_kbs_store_add(store, &kd, NULL, &e) == 0);
    snprintf(text, sizeof text, "{\"mrenclave\":\"%s\",\"allow_simulation\":false}", hex);
    CHECK(tl_kbs_store_add(store, &kn, text, &e) == 0);
    snprintf(text, sizeof text, "{\"mrenclave\":\"%s\",\"allow_simulation\":true}", hex_other);
    CHECK(tl_kbs_store_add(store, &ko, text, &e) == 0);
    CHECK(tl_kbs_store_add(store, &kr, NULL, &e) == 0);
    CHECK(tl_kbs_store_add(store, &kd, NULL, &e) == TL_ESTATE && strstr(e.msg, "already exists"));
    CHECK(tl_kbs_store_add(store, &kd, "{\"bogus\":1}", &e) != 0);
    (void)own_path;

    tl_kbs_broker_opts bo = {.listen = "127.0.0.1:0", .store = store, .policy_file = pol_path, .nonce_ttl_ms = 1500,
                             .max_challenges = 16, .no_signals = 1};
    tl_kbs_broker *b = tl_kbs_broker_new(&bo, &e);
    CHECKF(b != NULL, "broker: %s", e.msg);
    if (!b)
        return test_finish();
    snprintf(base_url, sizeof base_url, "https://127.0.0.1:%d", tl_kbs_broker_port(b));
    snprintf(ca, sizeof ca, "%s", tl_kbs_broker_cert_path(b));
    co = (tl_kbs_client_opts){.url = base_url, .ca_file = ca, .tee = "sim"};
    ho = (tl_http_opts){.ca_file = ca};
    struct stat st;
    char p[4200];
    snprintf(p, sizeof p, "%s/master.key", store);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 32);
    snprintf(p, sizeof p, "%s/admin.token", store);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
    snprintf(p, sizeof p, "%s/tls-key.pem", store);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
    pthread_t th;
    pthread_create(&th, NULL, run, b);

    tl_tee *good = sim("kbs-test", 0), *other = sim("something else", 0), *dbg = sim("kbs-test", 1);
    CHECK(good && other && dbg);

    /* release: the key arrives intact; twice, with fresh challenges */
    uint8_t n[32];
    tl_data_key got;
    for (int i = 0; i < 2; i++) {
        fresh_nonce(n);
        CHECKF(tl_kbs_request(&co, good, "k-default", n, &got, &e) == 0, "release: %s", e.msg);
        CHECK(memcmp(&got, &kd, sizeof got) == 0);
        tl_data_key_clear(&got);
    }

    /* replayed nonce: the identical request a second time */
    fresh_nonce(n);
    char *body = make_body(good, n, n, "k-default");
    char code[64];
    CHECK(post("/v1/key", body, code, sizeof code, NULL) == 200);
    expect_refusal("replayed request", body, 403, "nonce_replayed");
    free(body);
    /* expired nonce */
    fresh_nonce(n);
    usleep(1700 * 1000);
    body = make_body(good, n, n, "k-default");
    expect_refusal("expired nonce", body, 403, "nonce_expired");
    free(body);
    /* foreign nonce (never issued) */
    RAND_bytes(n, 32);
    body = make_body(good, n, n, "k-default");
    expect_refusal("foreign nonce", body, 403, "nonce_unknown");
    free(body);
    /* evidence binding another nonce than the one sent */
    uint8_t n2[32];
    fresh_nonce(n);
    fresh_nonce(n2);
    body = make_body(good, n, n2, "k-default");
    expect_refusal("evidence for another nonce", body, 403, "binding_mismatch");
    free(body);
    /* evidence bound to another key id */
    fresh_nonce(n);
    char *b2 = make_body(good, n, n, "k-nosim");
    json_t *j = json_loads(b2, 0, NULL);
    json_object_set_new(j, "key_id", json_string("k-default"));
    body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    free(b2);
    expect_refusal("evidence for another key id", body, 403, "binding_mismatch");
    free(body);

    /* identity: another measurement, debug, simulation forbidden, key bound to another enclave */
    expect_client_refused(other, "k-default", "policy_refused", "another measurement");
    expect_client_refused(other, "k-default", "mrenclave", "another measurement names the field");
    expect_client_refused(dbg, "k-default", "debug", "debug evidence");
    expect_client_refused(good, "k-nosim", "simulated", "sim evidence, policy forbids simulation");
    expect_client_refused(good, "k-other", "is not in the allowed list", "per-key policy for another enclave");
    /* unknown and revoked keys */
    expect_client_refused(good, "k-nope", "unknown_key", "unknown key");
    CHECK(tl_kbs_store_revoke(store, "k-revoked", &e) == 0);
    expect_client_refused(good, "k-revoked", "key_revoked", "revoked key");
    tl_kbs_record rec;
    CHECK(tl_kbs_store_get(store, "k-revoked", &rec, &got, &e) == TL_ESTATE && rec.revoked);
    tl_kbs_record_free(&rec);

    /* malformed requests */
    fresh_nonce(n);
    char *nb = tl_b64_encode(n, 32);
    static const char *bad_bodies[] = {"", "not json", "[1,2]", "{\"key_id\":\"k-default\"}", "{\"key_id\":7}",
                                       "{\"key_id\":\"../x\",\"nonce\":\"\",\"public_key\":\"\",\"evidence\":\"\"}"};
    for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "malformed body %zu", i);
        expect_refusal(what, bad_bodies[i], 400, "bad_request");
    }
    uint8_t pub[65];
    EVP_PKEY *eph = tl_kbs_ephemeral(pub, &e);
    char *pb = tl_b64_encode(pub, 65);
    pub[40] ^= 1; /* off the curve */
    char *pbad = tl_b64_encode(pub, 65);
    struct {
        const char *what, *nonce, *pubk, *ev, *extra;
        long status;
        const char *code;
    } cases[] = {
        {"nonce not base64", "***", pb, "AAAA", NULL, 400, "bad_request"},
        {"nonce too short", "AAAA", pb, "AAAA", NULL, 400, "bad_request"},
        {"public key off the curve", nb, pbad, "AAAA", NULL, 400, "bad_request"},
        {"public key too short", nb, "AAAA", "AAAA", NULL, 400, "bad_request"},
        {"unknown field", nb, pb, "AAAA", "x", 400, "bad_request"},
        {"evidence is garbage", nb, pb, "AAAAAAAA", NULL, 403, "evidence_invalid"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (i == sizeof cases / sizeof cases[0] - 1) { /* needs an unused nonce */
            free(nb);
            fresh_nonce(n);
            nb = tl_b64_encode(n, 32);
            cases[i].nonce = nb;
        }
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "key_id", "k-default", "nonce", cases[i].nonce, "public_key",
                              cases[i].pubk, "evidence", cases[i].ev);
        if (cases[i].extra)
            json_object_set_new(o, cases[i].extra, json_true());
        char *s = json_dumps(o, JSON_COMPACT);
        expect_refusal(cases[i].what, s, cases[i].status, cases[i].code);
        free(s);
        json_decref(o);
    }
    free(nb);
    free(pb);
    free(pbad);
    EVP_PKEY_free(eph);
    /* routes and methods */
    CHECK(post("/v1/nothing", "{}", code, sizeof code, NULL) == 404 && !strcmp(code, "not_found"));
    {
        char url[256];
        snprintf(url, sizeof url, "%s/v1/key", base_url);
        tl_http_resp r;
        CHECK(tl_http_request(&ho, "GET", url, NULL, NULL, 0, &r, &e) == 0 && r.status == 405);
        tl_http_resp_free(&r);
    }
    CHECK(post("/v1/challenge", "{\"x\":1}", code, sizeof code, NULL) == 400);

    /* admin: token required; add; duplicate; then the new key is released */
    char token[65];
    CHECK(tl_kbs_store_admin_token(store, 0, token, &e) == 0);
    tl_data_key ka;
    tl_data_key_generate(&ka, "k-admin", &e);
    CHECK(tl_kbs_admin_add_key(&co, "0000000000000000000000000000000000000000000000000000000000000000", &ka, NULL, &e) != 0 &&
          strstr(e.msg, "unauthorized"));
    /* its own policy admits what tl_kbs_fetch_key's plain sim TEE measures (no configuration) */
    uint8_t mr0[32];
    char hex0[65], pol0[256];
    CHECK(tl_sim_measure(NULL, NULL, 0, mr0, &e) == 0);
    tl_hex(mr0, 32, hex0);
    snprintf(pol0, sizeof pol0, "{\"mrenclave\":\"%s\",\"allow_simulation\":true}", hex0);
    CHECK(tl_kbs_admin_add_key(&co, token, &ka, pol0, &e) == 0);
    CHECK(tl_kbs_admin_add_key(&co, token, &ka, NULL, &e) != 0 && strstr(e.msg, "key_exists"));
    tl_data_key kb2;
    tl_data_key_generate(&kb2, "k-admin2", &e);
    CHECK(tl_kbs_admin_add_key(&co, token, &kb2, "{\"mrenclave\":\"zz\"}", &e) != 0 && strstr(e.msg, "bad_request"));
    CHECKF(tl_kbs_fetch_key(&co, "k-admin", &got, &e) == 0 && memcmp(&got, &ka, sizeof got) == 0, "fetch: %s", e.msg);
    tl_data_key_clear(&got);

    /* a sealed model opened through attestation is bit-identical to the plaintext one */
    tl_checkpoint ck, back;
    char sealed[4200];
    snprintf(sealed, sizeof sealed, "%s/fx.sealed", tmp);
    tl_seal_opts so = {.chunk_size = 4096, .tokenizer = (const uint8_t *)"tok", .tokenizer_len = 3, .tokenizer_name = "t"};
    CHECK(fx_model(&ck, 5, 300, &e) == 0 && tl_seal_write(&ck, &ka, &so, sealed, &e) == 0);
    tl_open_opts oo = {.kbs_url = base_url, .kbs_ca = ca, .tee = "sim"};
    CHECKF(tl_model_open(sealed, &oo, &back, &e) == 0, "open via kbs: %s", e.msg);
    if (back.params) {
        CHECK(oo.sealed == 1 && memcmp(back.params, ck.params, fx_arena_bytes(&ck)) == 0 && back.tokenizer_len == 3);
        tl_checkpoint_free(&back);
    }
    tl_open_opts oo_bad = {.kbs_url = base_url, .kbs_ca = ca, .tee = "none-such"};
    CHECK(tl_model_open(sealed, &oo_bad, &back, &e) != 0);
    tl_checkpoint_free(&ck);

    /* pinning: a client that pins another certificate never talks to the broker */
    tl_kbs_client_opts wrong = co;
    wrong.ca_file = pol_path; /* not a certificate at all */
    CHECK(tl_kbs_fetch_key(&wrong, "k-default", &got, &e) != 0);

    /* challenge table bound: 16 outstanding, the 17th is 503; after expiry there is room again */
    usleep(1600 * 1000); /* let earlier unused nonces expire */
    int ok = 0;
    long last = 0;
    for (int i = 0; i < 17; i++) {
        last = post("/v1/challenge", "{}", code, sizeof code, NULL);
        ok += last == 200;
    }
    CHECKF(ok == 16 && last == 503 && !strcmp(code, "too_many_challenges"), "ok %d last %ld %s", ok, last, code);
    usleep(1600 * 1000);
    CHECK(post("/v1/challenge", "", code, sizeof code, NULL) == 200);

    /* the store refuses a master key others can read */
    snprintf(p, sizeof p, "%s/master.key", store);
    chmod(p, 0644);
    CHECK(tl_kbs_store_get(store, "k-default", &rec, &got, &e) != 0 && strstr(e.msg, "must be 0600"));
    expect_client_refused(good, "k-default", "internal", "store with an exposed master key");
    chmod(p, 0600);

    /* signer, product id, minimum SVN (sim states ISVPRODID/ISVSVN as asked) */
    tl_identity self;
    CHECK(tl_tee_self(good, &self, &e) == 0);
    char signer[65];
    tl_hex(self.mrsigner, 32, signer);
    snprintf(text, sizeof text, "{\"mrsigner\":\"%s\",\"isv_prod_id\":7,\"min_isv_svn\":3,\"allow_simulation\":true}", signer);
    tl_data_key ks;
    tl_data_key_generate(&ks, "k-signer", &e);
    CHECK(tl_kbs_store_add(store, &ks, text, &e) == 0);
    struct {
        uint16_t prod, svn;
        const char *want; /* NULL = released */
    } sv[] = {{7, 3, NULL}, {7, 9, NULL}, {7, 2, "isv_svn"}, {8, 3, "isv_prod_id"}};
    for (size_t i = 0; i < sizeof sv / sizeof sv[0]; i++) {
        tl_tee_opts to = {.isv_prod_id = sv[i].prod, .isv_svn = sv[i].svn};
        tl_tee *t = tl_tee_open_opts("sim", &to, &e);
        CHECK(t != NULL);
        if (!t)
            continue;
        fresh_nonce(n);
        int rc = tl_kbs_request(&co, t, "k-signer", n, &got, &e);
        if (!sv[i].want)
            CHECKF(rc == 0 && memcmp(&got, &ks, sizeof got) == 0, "prod %u svn %u: %s", sv[i].prod, sv[i].svn, e.msg);
        else
            CHECKF(rc != 0 && strstr(e.msg, "policy_refused") && strstr(e.msg, sv[i].want), "prod %u svn %u: %s",
                   sv[i].prod, sv[i].svn, e.msg);
        tl_data_key_clear(&got);
        tl_tee_close(t);
    }
    tl_data_key_clear(&ks);

    tl_tee_close(good);
    tl_tee_close(other);
    tl_tee_close(dbg);
    tl_kbs_broker_stop(b);
    pthread_join(th, NULL);
    tl_kbs_broker_free(b);

    /* real evidence goes through --collateral: a real SGX quote with its (by now expired)
     * collateral is refused by the DCAP verifier, not for lack of collateral */
    const char *quote = test_shared("fixtures/dcap/sgx_v3_quote_phala.bin");
    const char *col = test_shared("fixtures/dcap/sgx_v3_quote_phala_collateral.json");
    for (int with_col = 0; quote && col && with_col < 2; with_col++) {
        bo.collateral = with_col ? col : NULL;
        b = tl_kbs_broker_new(&bo, &e);
        CHECKF(b != NULL, "broker with collateral: %s", e.msg);
        if (!b)
            break;
        snprintf(base_url, sizeof base_url, "https://127.0.0.1:%d", tl_kbs_broker_port(b));
        pthread_create(&th, NULL, run, b);
        uint8_t *qb;
        size_t ql;
        CHECK(tl_read_file(quote, 1 << 20, &qb, &ql, &e) == 0);
        fresh_nonce(n);
        uint8_t pk[65];
        EVP_PKEY *ek = tl_kbs_ephemeral(pk, &e);
        char *n64 = tl_b64_encode(n, 32), *p64 = tl_b64_encode(pk, 65), *q64 = tl_b64_encode(qb, ql);
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "key_id", "k-default", "nonce", n64, "public_key", p64, "evidence", q64);
        char *sb = json_dumps(o, JSON_COMPACT);
        char url[256];
        snprintf(url, sizeof url, "%s/v1/key", base_url);
        tl_http_resp r;
        CHECK(tl_http_request(&ho, "POST", url, "application/json", sb, strlen(sb), &r, &e) == 0);
        fprintf(stderr, "real quote, collateral %s: %ld %s\n", with_col ? "given" : "absent", r.status, (char *)r.body);
        CHECK(r.status == 403 && strstr((char *)r.body, "evidence_invalid"));
        if (with_col)
            CHECK(strstr((char *)r.body, "needs collateral") == NULL && strstr((char *)r.body, "expired") != NULL);
        else
            CHECK(strstr((char *)r.body, "needs collateral") != NULL);
        tl_http_resp_free(&r);
        free(sb);
        json_decref(o);
        free(n64);
        free(p64);
        free(q64);
        free(qb);
        EVP_PKEY_free(ek);
        tl_kbs_broker_stop(b);
        pthread_join(th, NULL);
        tl_kbs_broker_free(b);
    }
    tl_data_key_clear(&kd);
    tl_data_key_clear(&ka);
    test_sh("rm -rf %s", tmp);
    return test_finish();
}
