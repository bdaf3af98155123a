/* teelm kbs: the key broker (broker.h, docs/attestation-protocol.md, docs/kbs.md). Handlers run on
 * the HTTPS server's loop thread (no locking needed); evidence verification is a few ms. */
#include "kbs/broker.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "kbs/nonce.h"
#include "kbs/protocol.h"
#include "kbs/store.h"
#include "net/server.h"
#include "seal/crypto.h"
#include "tee/policy.h"
#include "tee/verify.h"
#include "util/codec.h"
#include "util/io.h"
#include "util/json_fields.h"
#include "util/log.h"
#include "util/secmem.h"

struct tl_kbs_broker {
    tl_net_server *srv;
    char store[4096], cert_path[4096], key_path[4096];
    char fingerprint[97];
    tl_policy *policy;
    tl_collateral *col;
    tl_nonce_table *nonces;
    int64_t started_ms;
    uint64_t generation; /* highest store generation seen: a lower one is a restored (rolled back) store */
    char gen_file[4096]; /* where that survives restarts (--generation-file), "" = nowhere */
    char admin_token[65];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The nonces' clock: ms since the broker started (a nonce reveals the broker's uptime, no more). */
static int64_t broker_ms(const tl_kbs_broker *b) { return now_ms() - b->started_ms; }

static int save_generation(const tl_kbs_broker *b, tl_err *err)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%llu\n", (unsigned long long)b->generation);
    return tl_write_file_atomic(b->gen_file, text, (size_t)n, 0600, err);
}

/* ---------------- request parsing ---------------- */

/* Unknown fields are refused; each handler checks the values of the fields it knows. */
static int check_fields(json_t *o, const tl_json_field *fields, tl_err *err)
{
    const char *k;
    if (tl_json_fields(o, fields, NULL, &k) == TL_JF_UNKNOWN)
        return tl_errf(err, TL_EINVAL, "unknown field '%.64s'", k);
    return 0;
}

static int get_b64(json_t *o, const char *field, size_t want, size_t max, uint8_t **out, size_t *len, tl_err *err)
{
    const char *s = json_string_value(json_object_get(o, field));
    if (!s)
        return tl_errf(err, TL_EINVAL, "field '%s' is missing or not a string", field);
    if (tl_b64_decode(s, out, len, want, max)) {
        if (want)
            return tl_errf(err, TL_EINVAL, "field '%s' must be base64 of exactly %zu bytes", field, want);
        return tl_errf(err, TL_EINVAL, "field '%s' must be base64 of at most %zu bytes", field, max);
    }
    return 0;
}

static json_t *parse_body(tl_net_req *r, tl_err *err)
{
    size_t n;
    const uint8_t *b = tl_net_req_body(r, &n);
    json_error_t je;
    int not_object;
    json_t *j = tl_json_load_object((const char *)b, n, &je, &not_object);
    if (!j && not_object)
        tl_errf(err, TL_EINVAL, "body must be a JSON object");
    else if (!j)
        tl_errf(err, TL_EINVAL, "body is not JSON: %s at line %d column %d", je.text, je.line, je.column);
    return j;
}

/* A short description of who the evidence says is asking, for logs and refusals. */
static void describe(const tl_identity *id, char *out, size_t n)
{
    char hex[97];
    const char *what = "mrenclave";
    if (id->kind == TL_TEE_KIND_TDX) {
        tl_hex(id->mrtd, sizeof id->mrtd, hex);
        what = "mrtd";
    } else if (id->kind == TL_TEE_KIND_SEV_SNP) {
        tl_hex(id->snp_measurement, sizeof id->snp_measurement, hex);
        what = "measurement";
    } else {
        tl_hex(id->mrenclave, sizeof id->mrenclave, hex);
    }
    snprintf(out, n, "%s=%s%s%s", what, hex, id->simulated ? " (sim)" : "", id->debug ? " (debug)" : "");
}

static void refuse(tl_net_req *r, int status, const char *code, const char *key_id, const char *meas, const char *msg)
{
    tl_log(TL_LOG_WARN, "kbs", "decision key_id=%s %s verdict=refused code=%s peer=%s reason: %s", key_id ? key_id : "-",
           meas ? meas : "measurement=unknown", code, tl_net_req_peer(r), msg);
    if (status == 503)
        tl_net_set_header(r, "Retry-After", "5");
    tl_net_reply_error(r, status, code, "%s", msg);
}

/* Every refusal of a well-formed key request past the nonce check gets this one answer, so a
 * client learns neither whether a key id exists or is revoked nor what its policy wants; the
 * broker's log keeps `code` and the reason. */
static void refuse_release(tl_net_req *r, const char *code, const char *key_id, const char *meas, const char *msg)
{
    tl_log(TL_LOG_WARN, "kbs", "decision key_id=%s %s verdict=refused code=%s peer=%s reason: %s", key_id, meas, code,
           tl_net_req_peer(r), msg);
    tl_net_reply_error(r, 403, "refused", "key release refused (the key broker's log has the reason)");
}

/* ---------------- endpoints ---------------- */

static void on_challenge(tl_kbs_broker *b, tl_net_req *r)
{
    size_t n;
    tl_net_req_body(r, &n);
    tl_err e = {0};
    if (n) {
        static const tl_json_field none[] = {{NULL}};
        json_t *j = parse_body(r, &e);
        if (j && check_fields(j, none, &e))
            json_decref(j), j = NULL;
        if (!j) {
            refuse(r, 400, "bad_request", NULL, NULL, e.msg);
            return;
        }
        json_decref(j);
    }
    uint8_t nonce[TL_KBS_NONCE_LEN];
    if (tl_nonce_issue(b->nonces, broker_ms(b), nonce) != TL_NONCE_OK) {
        refuse(r, 500, "internal", NULL, NULL, "random number generator failed");
        return;
    }
    char *nb = tl_b64_encode(nonce, sizeof nonce);
    json_t *j = json_pack("{s:s,s:I}", "nonce", nb ? nb : "", "expires_in", (json_int_t)(tl_nonce_ttl_ms(b->nonces) / 1000));
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text)
        tl_net_reply_json(r, 200, text);
    else
        tl_net_reply_error(r, 500, "internal", "out of memory");
    free(text);
    json_decref(j);
    free(nb);
}

/* Nonce outcomes stay distinct for the client: they say nothing about keys or policies, and the
 * TEE needs them to know that a fresh challenge will help. */
static int refuse_nonce(tl_net_req *r, int rc, const char *key_id, const char *meas)
{
    switch (rc) {
    case TL_NONCE_OK:
        return 0;
    case TL_NONCE_EXPIRED:
        refuse(r, 403, "nonce_expired", key_id, meas, "the challenge nonce has expired; ask for a new challenge");
        break;
    case TL_NONCE_REPLAYED:
        refuse(r, 403, "nonce_replayed", key_id, meas, "the challenge nonce was already used (replay)");
        break;
    case TL_NONCE_UNKNOWN:
        refuse(r, 403, "nonce_unknown", key_id, meas, "the nonce was not issued by this broker (or before it restarted)");
        break;
    default:
        refuse(r, 500, "internal", key_id, meas, "nonce check failed");
    }
    return -1;
}

static void on_key(tl_kbs_broker *b, tl_net_req *r)
{
    static const tl_json_field fields[] = {{"key_id"}, {"nonce"}, {"public_key"}, {"evidence"}, {NULL}};
    tl_err e = {0};
    uint8_t *nonce = NULL, *pub = NULL, *ev = NULL;
    size_t nl, pl, evl;
    char meas[200] = "measurement=unverified", key_id[TL_KEY_ID_MAX + 1] = "-";
    tl_data_key key;
    memset(&key, 0, sizeof key);
    tl_kbs_record rec = {0};
    tl_policy *own = NULL;
    json_t *j = parse_body(r, &e);
    if (!j || check_fields(j, fields, &e)) {
        refuse(r, 400, "bad_request", NULL, NULL, e.msg);
        goto out;
    }
    const char *kid = json_string_value(json_object_get(j, "key_id"));
    if (!kid || !tl_key_id_valid(kid)) {
        refuse(r, 400, "bad_request", NULL, NULL, "field 'key_id' must be a key id (1-63 of A-Z a-z 0-9 . _ -)");
        goto out;
    }
    snprintf(key_id, sizeof key_id, "%s", kid);
    if (get_b64(j, "nonce", TL_KBS_NONCE_LEN, 0, &nonce, &nl, &e) || get_b64(j, "public_key", TL_KBS_PUB_LEN, 0, &pub, &pl, &e) ||
        get_b64(j, "evidence", 0, TL_KBS_MAX_EVIDENCE, &ev, &evl, &e)) {
        refuse(r, 400, "bad_request", key_id, NULL, e.msg);
        goto out;
    }
    tl_identity claimed; /* unverified, only to say in the log who claims to ask */
    if (tl_evidence_parse(ev, evl, &claimed, NULL) == 0) {
        describe(&claimed, meas, sizeof meas);
        strncat(meas, " (claimed)", sizeof meas - strlen(meas) - 1);
    }
    EVP_PKEY *pk = tl_kbs_pub_decode(pub, &e);
    if (!pk) {
        refuse(r, 400, "bad_request", key_id, meas, "field 'public_key': not an uncompressed P-256 point on the curve");
        goto out;
    }
    EVP_PKEY_free(pk);
    /* Cheap refusals first: a forged, stale or replayed nonce costs no verification. */
    if (refuse_nonce(r, tl_nonce_check(b->nonces, broker_ms(b), nonce), key_id, meas))
        goto out;
    /* The evidence is checked before the key id is looked at, so junk evidence is answered the
     * same way whether the key exists, is revoked or not. */
    tl_identity id;
    memset(&id, 0, sizeof id);
    if (tl_evidence_verify(ev, evl, b->col, time(NULL), &id, &e)) {
        char msg[600];
        snprintf(msg, sizeof msg, "evidence does not verify: %s", e.msg);
        refuse_release(r, "evidence_invalid", key_id, meas, msg);
        goto out;
    }
    describe(&id, meas, sizeof meas);
    uint8_t want[64];
    tl_kbs_report_data(nonce, pub, key_id, want);
    if (CRYPTO_memcmp(want, id.report_data, sizeof want) != 0) {
        refuse_release(r, "binding_mismatch", key_id, meas,
                       "the evidence's report data does not bind this nonce, public key and key id");
        goto out;
    }
    /* Recorded only now: filling the replay table takes, per entry, evidence that verifies and
     * was made for that very nonce. */
    uint64_t forgotten = tl_nonce_forgotten(b->nonces);
    if (refuse_nonce(r, tl_nonce_redeem(b->nonces, broker_ms(b), nonce), key_id, meas))
        goto out;
    if (tl_nonce_forgotten(b->nonces) != forgotten && (forgotten & (forgotten + 1)) == 0)
        tl_log(TL_LOG_WARN, "kbs",
               "replay table full (--max-challenges): forgot %llu unexpired redeemed nonce(s) so far; older outstanding "
               "nonces are now refused as expired",
               (unsigned long long)forgotten + 1);
    int rc = tl_kbs_store_get(b->store, key_id, &rec, &key, &e);
    if ((rc == 0 || rc == TL_ESTATE || rc == TL_ENOTFOUND) && rec.store_generation < b->generation) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "store rollback: the manifest is at generation %llu but this broker has seen generation %llu "
                 "(an older copy of the store was restored)",
                 (unsigned long long)rec.store_generation, (unsigned long long)b->generation);
        tl_log(TL_LOG_ERROR, "kbs", "store: %s", msg);
        refuse_release(r, "store_rollback", key_id, meas, msg);
        goto out;
    }
    if ((rc == 0 || rc == TL_ESTATE || rc == TL_ENOTFOUND) && rec.store_generation > b->generation) {
        b->generation = rec.store_generation;
        tl_err ge = {0};
        if (b->gen_file[0] && save_generation(b, &ge))
            tl_log(TL_LOG_ERROR, "kbs", "generation file: %s", ge.msg);
    }
    if (rc == TL_ENOTFOUND) {
        refuse_release(r, "unknown_key", key_id, meas, e.msg);
        goto out;
    } else if (rc == TL_ESTATE) {
        refuse_release(r, "key_revoked", key_id, meas, e.msg);
        goto out;
    } else if (rc == TL_ECRYPTO) {
        tl_log(TL_LOG_ERROR, "kbs", "store integrity: %s", e.msg);
        refuse_release(r, "store_integrity", key_id, meas, e.msg);
        goto out;
    } else if (rc) {
        tl_log(TL_LOG_ERROR, "kbs", "store: %s", e.msg);
        refuse(r, 500, "internal", key_id, meas, "key store error (see the broker's log)");
        goto out;
    }
    const tl_policy *pol = b->policy;
    if (rec.policy_json) {
        if (!(own = tl_policy_parse(rec.policy_json, &e))) {
            char msg[600];
            snprintf(msg, sizeof msg, "the key's policy does not parse: %s", e.msg);
            refuse_release(r, "store_integrity", key_id, meas, msg);
            goto out;
        }
        pol = own;
    }
    if (tl_policy_check(pol, &id, &e)) {
        char msg[600];
        snprintf(msg, sizeof msg, "refused by %s policy: %s", own ? "the key's" : "the broker's default", e.msg);
        refuse_release(r, "policy_refused", key_id, meas, msg);
        goto out;
    }
    uint8_t spub[TL_KBS_PUB_LEN], wrapped[TL_KBS_WRAPPED_LEN];
    if (tl_kbs_wrap(&key, nonce, pub, ev, evl, spub, wrapped, &e)) {
        refuse(r, 500, "internal", key_id, meas, e.msg);
        goto out;
    }
    char *sb = tl_b64_encode(spub, sizeof spub), *wb = tl_b64_encode(wrapped, sizeof wrapped);
    json_t *resp = json_pack("{s:s,s:s,s:s,s:s}", "key_id", key_id, "alg", TL_KBS_ALG, "server_public_key", sb ? sb : "",
                             "wrapped_key", wb ? wb : "");
    char *text = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
    if (text && sb && wb) {
        tl_log(TL_LOG_INFO, "kbs", "decision key_id=%s %s verdict=released tcb=%s peer=%s", key_id, meas, id.tcb_status,
               tl_net_req_peer(r));
        tl_net_reply_json(r, 200, text);
    } else {
        tl_net_reply_error(r, 500, "internal", "out of memory");
    }
    free(text);
    json_decref(resp);
    free(sb);
    free(wb);
out:
    tl_data_key_clear(&key);
    tl_kbs_record_free(&rec);
    tl_policy_free(own);
    json_decref(j);
    free(nonce);
    free(pub);
    free(ev);
}

static void on_admin_add(tl_kbs_broker *b, tl_net_req *r)
{
    static const tl_json_field fields[] = {{"key_id"}, {"key"}, {"policy"}, {NULL}};
    const char *auth = tl_net_req_header(r, "Authorization");
    if (!auth || strlen(auth) != 7 + 64 || strncmp(auth, "Bearer ", 7) != 0 ||
        CRYPTO_memcmp(auth + 7, b->admin_token, 64) != 0) {
        refuse(r, 401, "unauthorized", NULL, "admin", "admin endpoints need 'Authorization: Bearer <STORE/admin.token>'");
        return;
    }
    tl_err e = {0};
    uint8_t *k = NULL;
    size_t kl = 0;
    char *policy = NULL;
    tl_data_key key;
    memset(&key, 0, sizeof key);
    json_t *j = parse_body(r, &e);
    const char *kid = j ? json_string_value(json_object_get(j, "key_id")) : NULL;
    json_t *pol = j ? json_object_get(j, "policy") : NULL;
    if (!j || check_fields(j, fields, &e)) {
        refuse(r, 400, "bad_request", NULL, "admin", e.msg);
    } else if (!kid || !tl_key_id_valid(kid)) {
        refuse(r, 400, "bad_request", NULL, "admin", "field 'key_id' must be a key id (1-63 of A-Z a-z 0-9 . _ -)");
    } else if (get_b64(j, "key", TL_KEY_LEN, 0, &k, &kl, &e)) {
        refuse(r, 400, "bad_request", kid, "admin", e.msg);
    } else if (pol && !json_is_object(pol)) {
        refuse(r, 400, "bad_request", kid, "admin", "field 'policy' must be a JSON object (docs/policy.md)");
    } else {
        memcpy(key.key_id, kid, strlen(kid) + 1);
        memcpy(key.key, k, TL_KEY_LEN);
        policy = pol ? json_dumps(pol, JSON_COMPACT) : NULL;
        int rc = tl_kbs_store_add(b->store, &key, policy, &e);
        if (rc == TL_ESTATE)
            refuse(r, 409, "key_exists", kid, "admin", e.msg);
        else if (rc == TL_EINVAL)
            refuse(r, 400, "bad_request", kid, "admin", e.msg);
        else if (rc)
            refuse(r, 500, "internal", kid, "admin", e.msg);
        else {
            tl_log(TL_LOG_INFO, "kbs", "admin: added key_id=%s policy=%s peer=%s", kid, policy ? "own" : "default",
                   tl_net_req_peer(r));
            char body[128];
            snprintf(body, sizeof body, "{\"key_id\":\"%s\"}", kid);
            tl_net_reply_json(r, 201, body);
        }
    }
    tl_sec_free(k);
    tl_data_key_clear(&key);
    free(policy);
    /* jansson holds its own copy of the key's base64 text: wipe it before it is freed */
    const char *kv = j ? json_string_value(json_object_get(j, "key")) : NULL;
    if (kv)
        OPENSSL_cleanse((char *)kv, strlen(kv));
    json_decref(j);
}

static void handle(tl_net_req *r, void *arg)
{
    tl_kbs_broker *b = arg;
    const char *p = tl_net_req_path(r), *m = tl_net_req_method(r);
    static const struct {
        const char *path, *method;
        void (*fn)(tl_kbs_broker *, tl_net_req *);
    } routes[] = {
        {"/v1/challenge", "POST", on_challenge},
        {"/v1/key", "POST", on_key},
        {"/v1/admin/keys", "POST", on_admin_add},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (strcmp(p, routes[i].path) == 0) {
            if (strcmp(m, routes[i].method) != 0) {
                tl_net_set_header(r, "Allow", routes[i].method);
                tl_net_reply_error(r, 405, "method_not_allowed", "%s needs %s", p, routes[i].method);
            } else {
                routes[i].fn(b, r);
            }
            return;
        }
    if (strcmp(p, "/v1/health") == 0) {
        tl_net_reply_json(r, 200, "{\"status\":\"ok\"}");
        return;
    }
    tl_net_reply_error(r, 404, "not_found", "no endpoint %.200s", p);
}

/* ---------------- TLS identity ---------------- */

static int write_pem(const char *path, X509 *cert, EVP_PKEY *key, tl_err *err)
{
    BIO *m = BIO_new(BIO_s_mem());
    int ok = m && (cert ? PEM_write_bio_X509(m, cert) : PEM_write_bio_PrivateKey(m, key, NULL, NULL, 0, NULL, NULL));
    char *data = NULL;
    long n = ok ? BIO_get_mem_data(m, &data) : 0;
    int rc = ok && n > 0 ? tl_write_file_atomic(path, data, (size_t)n, cert ? 0644 : 0600, err)
                         : tl_err_ssl(err, TL_ECRYPTO, "PEM encoding");
    if (data && !cert)
        OPENSSL_cleanse(data, (size_t)n);
    BIO_free(m);
    return rc;
}

static int tls_identity(tl_kbs_broker *b, const tl_kbs_broker_opts *o, tl_err *err)
{
    if (o->cert_file || o->key_file) {
        if (!o->cert_file || !o->key_file)
            return tl_errf(err, TL_EINVAL, "give both --cert and --key");
        snprintf(b->cert_path, sizeof b->cert_path, "%s", o->cert_file);
        snprintf(b->key_path, sizeof b->key_path, "%s", o->key_file);
    } else {
        if (tl_path_join(b->cert_path, sizeof b->cert_path, b->store, "tls-cert.pem") ||
            tl_path_join(b->key_path, sizeof b->key_path, b->store, "tls-key.pem"))
            return tl_errf(err, TL_EINVAL, "%s: path too long", b->store);
        if (!tl_is_file(b->cert_path) || !tl_is_file(b->key_path)) {
            char names[1024], host[256] = "";
            const char *colon = strrchr(o->listen, ':');
            if (colon && colon > o->listen) {
                size_t hl = (size_t)(colon - o->listen);
                const char *h = o->listen;
                if (h[0] == '[' && hl > 2)
                    h++, hl -= 2;
                snprintf(host, sizeof host, "%.*s", (int)hl, h);
            }
            int generic = !host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !strcmp(host, "localhost") ||
                          !strcmp(host, "127.0.0.1") || !strcmp(host, "::1");
            snprintf(names, sizeof names, "%s%s%s", o->tls_names ? o->tls_names : "localhost,127.0.0.1,::1",
                     generic ? "" : ",", generic ? "" : host);
            X509 *cert;
            EVP_PKEY *key;
            if (tl_net_selfsigned(names, 3650, &cert, &key, err))
                return err->code;
            int rc = write_pem(b->key_path, NULL, key, err);
            if (!rc)
                rc = write_pem(b->cert_path, cert, NULL, err);
            X509_free(cert);
            EVP_PKEY_free(key);
            if (rc)
                return rc;
            tl_log(TL_LOG_INFO, "kbs", "generated a self-signed TLS certificate for %s: %s", names, b->cert_path);
        }
    }
    FILE *f = fopen(b->cert_path, "r");
    X509 *c = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!c)
        return tl_err_ssl(err, TL_EINVAL, b->cert_path);
    tl_net_cert_fingerprint(c, b->fingerprint);
    X509_free(c);
    return 0;
}

/* ---------------- lifecycle ---------------- */

/* The highest generation a previous run saw, kept apart from the store so that restoring the whole
 * store while the broker was stopped is caught too. */
static int check_generation_file(tl_kbs_broker *b, tl_err *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = tl_read_file(b->gen_file, 64, &data, &len, err);
    if (rc == TL_ENOTFOUND)
        return save_generation(b, err);
    if (rc)
        return rc;
    char *end = NULL;
    unsigned long long seen = strtoull((const char *)data, &end, 10);
    int bad = len == 0 || (const uint8_t *)end == data || (*end && strcmp(end, "\n") != 0) || data[0] == '-';
    free(data);
    if (bad)
        return tl_errf(err, TL_EINVAL, "%s: not a generation number (decimal digits and a newline)", b->gen_file);
    if (seen > b->generation)
        return tl_errf(err, TL_ECRYPTO,
                       "store rollback: %s is at generation %llu but %s says generation %llu was seen (an older copy "
                       "of the store was restored); refusing to start",
                       b->store, (unsigned long long)b->generation, b->gen_file, seen);
    return seen == b->generation ? 0 : save_generation(b, err);
}

/* At start: the manifest must authenticate (else the broker does not start); records that fail
 * their check are named in the log and refused when asked for. */
static int check_store(tl_kbs_broker *b, tl_err *err)
{
    tl_kbs_record *recs;
    int n, bad = 0;
    if (tl_kbs_store_list(b->store, &recs, &n, &b->generation, err))
        return tl_err_prefix(err, "key store");
    for (int i = 0; i < n; i++) {
        if (recs[i].problem[0]) {
            tl_log(TL_LOG_ERROR, "kbs", "store integrity: key_id=%s refused: %s", recs[i].key_id, recs[i].problem);
            bad++;
        }
        tl_kbs_record_free(&recs[i]);
    }
    free(recs);
    tl_log(bad ? TL_LOG_WARN : TL_LOG_INFO, "kbs", "store %s: generation %llu, %d key record(s), %d failing the integrity check",
           b->store, (unsigned long long)b->generation, n, bad);
    return b->gen_file[0] ? check_generation_file(b, err) : 0;
}

tl_kbs_broker *tl_kbs_broker_new(const tl_kbs_broker_opts *o, tl_err *err)
{
    tl_kbs_broker *b = tl_zalloc(sizeof *b, err);
    if (!b)
        return NULL;
    snprintf(b->store, sizeof b->store, "%s", o->store);
    if (!o->policy_file) {
        tl_errf(err, TL_EINVAL, "a default policy (--policy FILE) is required");
        goto fail;
    }
    if (!(b->policy = tl_policy_load(o->policy_file, err)))
        goto fail;
    if (tl_policy_has_require(b->policy)) {
        tl_errf(err, TL_EINVAL, "%s: \"require\" applies to clients of teelm serve, not to key release (pin the "
                "measurement, which covers the configuration)", o->policy_file);
        goto fail;
    }
    if (o->collateral && !(b->col = tl_collateral_load(o->collateral, err)))
        goto fail;
    if (tl_kbs_store_init(b->store, err) || tl_kbs_store_admin_token(b->store, 1, b->admin_token, err) ||
        tls_identity(b, o, err))
        goto fail;
    if (o->generation_file)
        snprintf(b->gen_file, sizeof b->gen_file, "%s", o->generation_file);
    if (check_store(b, err))
        goto fail;
    b->started_ms = now_ms();
    b->nonces = tl_nonce_table_new(o->max_challenges, o->nonce_ttl_ms);
    if (!b->nonces) {
        tl_errf(err, TL_ENOMEM, "out of memory");
        goto fail;
    }
    tl_net_server_opts so = {.listen = o->listen, .cert_file = b->cert_path, .key_file = b->key_path,
                             .max_body = 256u << 10, .name = "kbs", .timeout_s = 20,
                             .max_conns = o->max_conns, .max_conns_per_peer = o->max_conns_per_peer,
                             .handshake_timeout_s = o->handshake_timeout_s, .no_signals = o->no_signals};
    if (!(b->srv = tl_net_server_new(&so, handle, b, err)))
        goto fail;
    return b;
fail:
    tl_kbs_broker_free(b);
    return NULL;
}

int tl_kbs_broker_port(const tl_kbs_broker *b) { return tl_net_server_port(b->srv); }
const char *tl_kbs_broker_cert_path(const tl_kbs_broker *b) { return b->cert_path; }
const char *tl_kbs_broker_fingerprint(const tl_kbs_broker *b) { return b->fingerprint; }
int tl_kbs_broker_run(tl_kbs_broker *b) { return tl_net_server_run(b->srv); }
void tl_kbs_broker_stop(tl_kbs_broker *b) { tl_net_server_stop(b->srv); }

void tl_kbs_broker_free(tl_kbs_broker *b)
{
    if (!b)
        return;
    tl_net_server_free(b->srv);
    tl_policy_free(b->policy);
    tl_collateral_free(b->col);
    tl_nonce_table_free(b->nonces);
    OPENSSL_cleanse(b->admin_token, sizeof b->admin_token);
    free(b);
}
