/* Trustee KBS client (trustee_client.h). */
#include "kbs/trustee_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "kbs/jose.h"
#include "kbs/protocol.h"
#include "net/client.h"
#include "util/codec.h"

#define MAX_NONCE 1024             /* Trustee's are base64 of 32 bytes */
#define MAX_REPLY (1u << 20)
#define MAX_RESOURCE 65536

int tl_trustee_url(const char *url)
{
    return url && strncmp(url, TL_TRUSTEE_SCHEME "https://", strlen(TL_TRUSTEE_SCHEME "https://")) == 0;
}

int tl_trustee_resource_check(const char *r, tl_err *err)
{
    int segs = 0;
    const char *p = r ? r : "";
    while (*p || !segs) {
        const char *e = p;
        while (*e && *e != '/') {
            char c = *e;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '-'))
                return tl_errf(err, TL_EINVAL, "--kbs-resource '%.200s': '%c' is not allowed (segments are [A-Za-z0-9._-])",
                               r ? r : "", c);
            e++;
        }
        size_t n = (size_t)(e - p);
        if (!n || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.') || n > 128)
            return tl_errf(err, TL_EINVAL, "--kbs-resource '%.200s': expected REPO/TYPE/TAG (three non-empty segments, "
                                           "none '.' or '..', each at most 128 characters)", r ? r : "");
        segs++;
        if (!*e)
            break;
        p = e + 1;
        if (!*p)
            return tl_errf(err, TL_EINVAL, "--kbs-resource '%.200s': ends with '/'", r);
    }
    return segs == 3 ? 0
                     : tl_errf(err, TL_EINVAL, "--kbs-resource '%.200s': expected REPO/TYPE/TAG, found %d segment%s", r ? r : "",
                               segs, segs == 1 ? "" : "s");
}

const char *tl_trustee_tee_name(const tl_tee *tee)
{
    if (!strcmp(tee->name, "tsm:tdx_guest"))
        return "tdx";
    if (!strcmp(tee->name, "tsm:sev_guest"))
        return "snp";
    return "sgx"; /* sim and occlum: SGX DCAP quotes */
}

json_t *tl_trustee_primary_evidence(const tl_tee *tee, const uint8_t *ev, size_t len)
{
    char *b = tl_b64_encode(ev, len);
    json_t *o = b ? json_pack("{s:s}", strcmp(tl_trustee_tee_name(tee), "snp") ? "quote" : "teelm-evidence", b) : NULL;
    free(b);
    return o;
}

int tl_trustee_report_data(const char *nonce, const json_t *tee_pubkey, uint8_t out[64], tl_err *err)
{
    memset(out, 0, 64);
    json_t *rd = json_pack("{s:s,s:s,s:O}", "additional-evidence", "", "nonce", nonce, "tee-pubkey", tee_pubkey);
    char *c = rd ? tl_jcs_dump(rd) : NULL;
    json_decref(rd);
    if (!c)
        return tl_errf(err, TL_EINVAL, "Trustee runtime-data: cannot canonicalize (not UTF-8, or out of memory)");
    unsigned int n = 48;
    int ok = EVP_Digest(c, strlen(c), out, &n, EVP_sha384(), NULL) == 1 && n == 48;
    free(c);
    return ok ? 0 : tl_err_ssl(err, TL_ECRYPTO, "SHA-384");
}

/* Control characters out of the KBS's text before it reaches a terminal or log. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

typedef struct {
    const tl_trustee_opts *o;
    char base[2048];
    char cookie[300]; /* "kbs-session-id=VALUE" */
} session;

/* One request; a non-200 reply becomes an error naming step, status and the ErrorInformation. */
static int call(session *s, const char *step, const char *method, const char *path, json_t *req, tl_http_resp *hr,
                tl_err *err)
{
    char url[2300];
    if (snprintf(url, sizeof url, "%s%s", s->base, path) >= (int)sizeof url)
        return tl_errf(err, TL_EINVAL, "Trustee KBS URL too long");
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    if (req && !text)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    tl_http_opts ho = {.ca_file = s->o->ca_file, .timeout_ms = s->o->timeout_ms, .max_response = MAX_REPLY,
                       .cookie = s->cookie[0] ? s->cookie : NULL, .capture_cookie = TL_TRUSTEE_COOKIE};
    int rc = tl_http_request(&ho, method, url, text ? "application/json" : NULL, text, text ? strlen(text) : 0, hr, err);
    free(text);
    if (rc)
        return tl_err_prefix(err, "Trustee KBS %s", step);
    if (hr->cookie[0])
        snprintf(s->cookie, sizeof s->cookie, "%s=%s", TL_TRUSTEE_COOKIE, hr->cookie);
    if (hr->status == 200)
        return 0;
    json_t *e = json_loadb((const char *)hr->body, hr->len, 0, NULL);
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *detail = json_string_value(json_object_get(e, "detail"));
    const char *slash = type ? strrchr(type, '/') : NULL;
    char t[80], d[400];
    snprintf(t, sizeof t, "%s", slash ? slash + 1 : type ? type : "no ErrorInformation");
    snprintf(d, sizeof d, "%s", detail ? detail : "(no detail)");
    printable(t);
    printable(d);
    long st = hr->status;
    json_decref(e);
    tl_http_resp_free(hr);
    return tl_errf(err, st == 401 || st == 403 ? TL_EPOLICY : st == 404 ? TL_ENOTFOUND : TL_EINVAL,
                   "Trustee KBS %s refused (HTTP %ld %s): %s", step, st, t, d);
}

static json_t *reply_object(tl_http_resp *hr, const char *step, tl_err *err)
{
    json_error_t je;
    json_t *o = json_loadb((const char *)hr->body, hr->len, JSON_REJECT_DUPLICATES, &je);
    tl_http_resp_free(hr);
    if (!json_is_object(o)) {
        json_decref(o);
        tl_errf(err, TL_EINVAL, "Trustee KBS %s: the reply is not a JSON object", step);
        return NULL;
    }
    return o;
}

int tl_trustee_fetch_key(const tl_trustee_opts *o, const char *key_id, tl_data_key *out, tl_err *err)
{
    memset(out, 0, sizeof *out);
    if (!tl_key_id_valid(key_id))
        return tl_errf(err, TL_EINVAL, "invalid key id '%.64s'", key_id);
    int rc = tl_trustee_resource_check(o->resource, err);
    if (rc)
        return rc;
    if (!o->tee)
        return tl_errf(err, TL_EINVAL, "Trustee KBS: no TEE to attest with");
    session s = {.o = o};
    const char *u = o->url ? o->url : "";
    size_t l = strlen(u);
    while (l && u[l - 1] == '/')
        l--;
    if (!l || snprintf(s.base, sizeof s.base, "%.*s/kbs/v0", (int)l, u) >= (int)sizeof s.base)
        return tl_errf(err, TL_EINVAL, "bad Trustee KBS URL '%.200s'", u);

    tl_http_resp hr;
    json_t *req = NULL, *ch = NULL, *jwk = NULL, *att = NULL, *pe = NULL;
    uint8_t pub[TL_KBS_PUB_LEN], rd[64], *ev = NULL, *pt = NULL;
    size_t evl = 0, ptl = 0;
    char kid[44], path[512];
    EVP_PKEY *eph = NULL;

    /* 1. Request → Challenge */
    const char *tee = tl_trustee_tee_name(o->tee);
    req = json_pack("{s:s,s:s,s:s}", "version", TL_TRUSTEE_VERSION, "tee", tee, "extra-params", "");
    if (!req) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = call(&s, "auth", "POST", "/auth", req, &hr, err)))
        goto out;
    if (!(ch = reply_object(&hr, "auth", err))) {
        rc = TL_EINVAL;
        goto out;
    }
    json_t *jn = json_object_get(ch, "nonce");
    if (!json_is_string(jn) || json_string_length(jn) == 0 || json_string_length(jn) > MAX_NONCE ||
        strlen(json_string_value(jn)) != json_string_length(jn)) {
        rc = tl_errf(err, TL_EINVAL, "Trustee KBS auth: Challenge.nonce is missing, empty, longer than %d bytes or holds NUL",
                     MAX_NONCE);
        goto out;
    }
    if (!s.cookie[0]) {
        rc = tl_errf(err, TL_EINVAL, "Trustee KBS auth: the reply set no %s cookie", TL_TRUSTEE_COOKIE);
        goto out;
    }
    const char *nonce = json_string_value(jn);

    /* 2. Attestation: an ephemeral P-256 key, evidence binding nonce and key */
    if (!(eph = tl_kbs_ephemeral(pub, err))) {
        rc = TL_ECRYPTO;
        goto out;
    }
    if (!(jwk = tl_jwk_p256(pub)) || tl_jwk_thumbprint(jwk, kid)) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = tl_trustee_report_data(nonce, jwk, rd, err)))
        goto out;
    if ((rc = tl_tee_evidence(o->tee, rd, &ev, &evl, err))) {
        tl_err_prefix(err, "TEE evidence");
        goto out;
    }
    if (!(pe = tl_trustee_primary_evidence(o->tee, ev, evl)) ||
        !(att = json_pack("{s:{s:s,s:O},s:{s:O,s:s}}", "runtime-data", "nonce", nonce, "tee-pubkey", jwk, "tee-evidence",
                          "primary_evidence", pe, "additional_evidence", ""))) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = call(&s, "attest", "POST", "/attest", att, &hr, err)))
        goto out;
    tl_http_resp_free(&hr); /* {"token": JWT}: for relying parties; the resource comes by cookie */

    /* 3. the resource, encrypted to our key */
    snprintf(path, sizeof path, "/resource/%s", o->resource);
    if ((rc = call(&s, "resource", "GET", path, NULL, &hr, err)))
        goto out;
    rc = tl_jwe_decrypt(eph, (const char *)hr.body, hr.len, kid, &pt, &ptl, MAX_RESOURCE, err);
    tl_http_resp_free(&hr);
    if (rc) {
        tl_err_prefix(err, "Trustee KBS resource %s", o->resource);
        goto out;
    }
    if (ptl != TL_KEY_LEN) {
        rc = tl_errf(err, TL_EINVAL, "Trustee KBS resource %s: %zu bytes, but a data key is exactly %d bytes (the raw key)",
                     o->resource, ptl, TL_KEY_LEN);
        goto out;
    }
    memcpy(out->key, pt, TL_KEY_LEN);
    snprintf(out->key_id, sizeof out->key_id, "%s", key_id);
out:
    if (pt) {
        OPENSSL_cleanse(pt, ptl);
        free(pt);
    }
    OPENSSL_cleanse(rd, sizeof rd);
    EVP_PKEY_free(eph);
    free(ev);
    json_decref(req);
    json_decref(ch);
    json_decref(jwk);
    json_decref(pe);
    json_decref(att);
    OPENSSL_cleanse(s.cookie, sizeof s.cookie);
    return rc;
}
