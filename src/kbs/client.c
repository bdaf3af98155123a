#include "kbs/client.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "net/client.h"
#include "util/codec.h"
#include "util/secmem.h"

static int url_for(const tl_kbs_client_opts *o, const char *path, char *out, size_t n, tl_err *err)
{
    size_t l = o->url ? strlen(o->url) : 0;
    while (l && o->url[l - 1] == '/')
        l--;
    if (!l || snprintf(out, n, "%.*s%s", (int)l, o->url, path) >= (int)n)
        return tl_errf(err, TL_EINVAL, "bad key broker URL '%s'", o->url ? o->url : "");
    return 0;
}

/* What a failed call saw, to decide whether trying again can help. */
typedef struct {
    long status;        /* 0: no HTTP reply (transport failure) */
    long retry_after_s; /* the reply's Retry-After */
    char code[48];      /* the broker's error code */
} outcome;

/* POSTs req; on a non-2xx reply turns the broker's {"error":{code,message}} into err. */
static int post(const tl_kbs_client_opts *o, const char *path, json_t *req, json_t **resp, outcome *oc, tl_err *err)
{
    memset(oc, 0, sizeof *oc);
    *resp = NULL;
    char url[2048];
    if (url_for(o, path, url, sizeof url, err))
        return err->code;
    char *text = json_dumps(req, JSON_COMPACT);
    if (!text)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    tl_http_opts ho = {.ca_file = o->ca_file, .timeout_ms = o->timeout_ms, .max_response = 1u << 20};
    tl_http_resp hr;
    int rc = tl_http_request(&ho, "POST", url, "application/json", text, strlen(text), &hr, err);
    free(text);
    if (rc)
        return tl_err_prefix(err, "key broker");
    oc->status = hr.status;
    oc->retry_after_s = hr.retry_after_s;
    json_error_t je;
    *resp = json_loadb((const char *)hr.body, hr.len, 0, &je);
    tl_http_resp_free(&hr);
    if (oc->status / 100 == 2 && json_is_object(*resp))
        return 0;
    if (oc->status / 100 == 2) {
        json_decref(*resp);
        *resp = NULL;
        return tl_errf(err, TL_EINVAL, "key broker %s: HTTP %ld with a body that is not a JSON object", url, oc->status);
    }
    json_t *e = json_object_get(*resp, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    snprintf(oc->code, sizeof oc->code, "%s", code ? code : "?");
    long st = oc->status;
    if (code && !strcmp(code, "refused")) /* the broker's one answer for every refused release */
        rc = tl_errf(err, TL_EPOLICY,
                     "key broker refused to release the key (HTTP %ld refused); the reason is in the key broker's log "
                     "(its 'decision key_id=...' line for this request)", st);
    else
        rc = tl_errf(err, st == 403 || st == 401 ? TL_EPOLICY : st == 404 ? TL_ENOTFOUND
                          : st == 410 || st == 409 ? TL_ESTATE : TL_EINVAL,
                     "key broker refused (HTTP %ld %s): %.300s", st, oc->code, msg ? msg : "(no message)");
    json_decref(*resp);
    *resp = NULL;
    return rc;
}

static int get_b64(json_t *o, const char *field, size_t want, uint8_t *out, tl_err *err)
{
    uint8_t *b = NULL;
    size_t n = 0;
    if (tl_b64_decode(json_string_value(json_object_get(o, field)), &b, &n, want, 0))
        return tl_errf(err, TL_EINVAL, "key broker reply: field '%s' is not base64 of %zu bytes", field, want);
    memcpy(out, b, want);
    free(b);
    return 0;
}

static int challenge(const tl_kbs_client_opts *o, uint8_t nonce[TL_KBS_NONCE_LEN], outcome *oc, tl_err *err)
{
    json_t *req = json_object(), *resp = NULL;
    int rc = post(o, "/v1/challenge", req, &resp, oc, err);
    if (!rc)
        rc = get_b64(resp, "nonce", TL_KBS_NONCE_LEN, nonce, err);
    json_decref(req);
    json_decref(resp);
    return rc;
}

int tl_kbs_challenge(const tl_kbs_client_opts *o, uint8_t nonce[TL_KBS_NONCE_LEN], tl_err *err)
{
    outcome oc;
    return challenge(o, nonce, &oc, err);
}

static int request(const tl_kbs_client_opts *o, tl_tee *tee, const char *key_id, const uint8_t nonce[TL_KBS_NONCE_LEN],
                   tl_data_key *out, outcome *oc, tl_err *err)
{
    memset(out, 0, sizeof *out);
    memset(oc, 0, sizeof *oc);
    if (!tl_key_id_valid(key_id))
        return tl_errf(err, TL_EINVAL, "invalid key id '%.64s'", key_id);
    uint8_t pub[TL_KBS_PUB_LEN], rd[64], spub[TL_KBS_PUB_LEN], wrapped[TL_KBS_WRAPPED_LEN];
    uint8_t *ev = NULL;
    size_t evl = 0;
    char *nb = NULL, *pb = NULL, *eb = NULL;
    json_t *req = NULL, *resp = NULL;
    int rc;
    EVP_PKEY *eph = tl_kbs_ephemeral(pub, err);
    if (!eph)
        return err->code;
    tl_kbs_report_data(nonce, pub, key_id, rd);
    if ((rc = tl_tee_evidence(tee, rd, &ev, &evl, err))) {
        tl_err_prefix(err, "TEE evidence");
        goto out;
    }
    nb = tl_b64_encode(nonce, TL_KBS_NONCE_LEN);
    pb = tl_b64_encode(pub, sizeof pub);
    eb = tl_b64_encode(ev, evl);
    req = json_pack("{s:s,s:s,s:s,s:s}", "key_id", key_id, "nonce", nb ? nb : "", "public_key", pb ? pb : "", "evidence",
                    eb ? eb : "");
    if (!req || !nb || !pb || !eb) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = post(o, "/v1/key", req, &resp, oc, err)))
        goto out;
    const char *rid = json_string_value(json_object_get(resp, "key_id"));
    const char *alg = json_string_value(json_object_get(resp, "alg"));
    if (!rid || strcmp(rid, key_id) != 0 || !alg || strcmp(alg, TL_KBS_ALG) != 0) {
        rc = tl_errf(err, TL_EINVAL, "key broker reply names another key id or algorithm");
        goto out;
    }
    if ((rc = get_b64(resp, "server_public_key", sizeof spub, spub, err)) ||
        (rc = get_b64(resp, "wrapped_key", sizeof wrapped, wrapped, err)))
        goto out;
    rc = tl_kbs_unwrap(eph, key_id, nonce, pub, ev, evl, spub, wrapped, out, err);
out:
    EVP_PKEY_free(eph);
    free(ev);
    free(nb);
    free(pb);
    free(eb);
    json_decref(req);
    json_decref(resp);
    return rc;
}

int tl_kbs_request(const tl_kbs_client_opts *o, tl_tee *tee, const char *key_id, const uint8_t nonce[TL_KBS_NONCE_LEN],
                   tl_data_key *out, tl_err *err)
{
    outcome oc;
    return request(o, tee, key_id, nonce, out, &oc, err);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Worth another try: no reply at all (broker restarting, connections refused or timed out), the
 * broker or a proxy asking to come back later, or a nonce that went stale before it was used. A
 * TLS failure (wrong pin) or a refusal is final. */
static int transient(int rc, const outcome *oc)
{
    if (oc->status == 0)
        return rc == TL_EIO;
    return oc->status == 503 || oc->status == 429 || oc->status == 502 || oc->status == 504 ||
           !strcmp(oc->code, "nonce_expired") || !strcmp(oc->code, "nonce_unknown");
}

/* Exponential backoff with jitter: attempt k waits a random time in [d/2, d], d = 100 ms * 2^k
 * capped at 5 s, or the server's Retry-After if that is longer. */
static int64_t backoff_ms(int attempt, const outcome *oc)
{
    int64_t d = 100;
    for (int i = 0; i < attempt && d < 5000; i++)
        d *= 2;
    if (d > 5000)
        d = 5000;
    uint32_t r = 0;
    if (RAND_bytes((uint8_t *)&r, sizeof r) != 1)
        r = (uint32_t)attempt * 2654435761u;
    d = d / 2 + (int64_t)(r % (uint32_t)(d / 2 + 1));
    if (oc->retry_after_s * 1000 > d)
        d = oc->retry_after_s * 1000;
    return d;
}

int tl_kbs_fetch_key(const tl_kbs_client_opts *o, const char *key_id, tl_data_key *out, tl_err *err)
{
    memset(out, 0, sizeof *out);
    /* A caller that also attests elsewhere (the server's RA-TLS certificate) passes its handle, so
     * the broker and the clients see one identity (sim binds the caller's configuration into it). */
    tl_tee *tee = o->tee_handle ? o->tee_handle : tl_tee_open(o->tee ? o->tee : "auto", err);
    if (!tee)
        return err->code;
    int64_t budget = o->retry_budget_ms ? o->retry_budget_ms : 15000, start = mono_ms();
    int rc, attempt = 0;
    for (;;) {
        uint8_t nonce[TL_KBS_NONCE_LEN];
        outcome oc;
        rc = challenge(o, nonce, &oc, err);
        if (!rc)
            rc = request(o, tee, key_id, nonce, out, &oc, err);
        if (!rc || budget < 0 || !transient(rc, &oc))
            break;
        int64_t wait = backoff_ms(attempt, &oc), spent = mono_ms() - start;
        if (spent + wait > budget) {
            tl_err_prefix(err, "gave up after %d attempt(s) in %.1f s", attempt + 1, (double)spent / 1000);
            break;
        }
        struct timespec ts = {.tv_sec = wait / 1000, .tv_nsec = (wait % 1000) * 1000000};
        while (nanosleep(&ts, &ts) != 0)
            ;
        attempt++;
    }
    if (!o->tee_handle)
        tl_tee_close(tee);
    return rc;
}

int tl_kbs_admin_add_key(const tl_kbs_client_opts *o, const char *admin_token, const tl_data_key *key,
                         const char *policy_json, tl_err *err)
{
    /* The body is built by hand so the key's only copies are buffers wiped here (a JSON library
     * would keep its own copy of the string). key_id and base64 need no escaping. */
    char *pol = NULL;
    if (policy_json) {
        json_t *p = json_loads(policy_json, JSON_REJECT_DUPLICATES, NULL);
        pol = p && json_is_object(p) ? json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);
        if (!pol)
            return tl_errf(err, TL_EINVAL, "policy is not a JSON object");
    }
    if (!tl_key_id_valid(key->key_id)) {
        free(pol);
        return tl_errf(err, TL_EINVAL, "invalid key id");
    }
    char *kb = tl_b64_encode(key->key, TL_KEY_LEN);
    size_t n = 64 + strlen(key->key_id) + (kb ? strlen(kb) : 0) + (pol ? strlen(pol) : 0);
    char *body = kb ? malloc(n) : NULL;
    int rc;
    if (!body) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
    } else {
        snprintf(body, n, "{\"key_id\":\"%s\",\"key\":\"%s\"%s%s}", key->key_id, kb, pol ? ",\"policy\":" : "",
                 pol ? pol : "");
        char url[2048];
        tl_http_opts ho = {.ca_file = o->ca_file, .timeout_ms = o->timeout_ms, .bearer = admin_token, .max_response = 1u << 20};
        tl_http_resp r;
        rc = url_for(o, "/v1/admin/keys", url, sizeof url, err);
        if (!rc && !(rc = tl_http_request(&ho, "POST", url, "application/json", body, strlen(body), &r, err))) {
            if (r.status != 201) {
                json_t *j = json_loadb((const char *)r.body, r.len, 0, NULL), *e = json_object_get(j, "error");
                const char *code = json_string_value(json_object_get(e, "code"));
                const char *msg = json_string_value(json_object_get(e, "message"));
                rc = tl_errf(err, r.status == 401 ? TL_EPOLICY : r.status == 409 ? TL_ESTATE : TL_EINVAL,
                             "key broker refused (HTTP %ld %s): %s", r.status, code ? code : "?", msg ? msg : "(no message)");
                json_decref(j);
            }
            tl_http_resp_free(&r);
        } else if (rc) {
            tl_err_prefix(err, "key broker");
        }
        OPENSSL_cleanse(body, n);
    }
    tl_sec_free(kb);
    free(body);
    free(pol);
    return rc;
}
