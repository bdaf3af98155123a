/* Receipt verification (receipt_check.h, docs/receipts.md "Verifying"). */
#include "server/receipt_check.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/receipt.h"
#include "util/codec.h"
#include "util/grow.h"
#include "util/jcs.h"

#define MAX_CHOICES 64

typedef struct {
    char *text;
    size_t len, cap;
    char finish[32];
    int seen;
} acc;

typedef struct {
    acc ch[MAX_CHOICES];
    int n;               /* choices seen: 1 + the highest index */
    long long prompt, completion;
    int have_usage;
    json_t *receipt;     /* the teelm_receipt value (owned) */
    int have_response;
} input;

static void input_free(input *in)
{
    for (int i = 0; i < MAX_CHOICES; i++) {
        if (in->ch[i].text)
            OPENSSL_cleanse(in->ch[i].text, in->ch[i].cap);
        free(in->ch[i].text);
    }
    json_decref(in->receipt);
}

static int add_text(acc *a, const char *s, size_t n)
{
    if (TL_GROW_SECRET(a->text, &a->cap, a->len + n + 1, 256))
        return -1;
    memcpy(a->text + a->len, s, n);
    a->len += n;
    a->text[a->len] = 0;
    return 0;
}

/* One choice object of a response or an event: its index, text (completions "text", chat
 * "message.content" or "delta.content") and finish_reason. */
static int take_choice(input *in, json_t *c, const char *where, tl_err *err)
{
    json_t *ix = json_object_get(c, "index");
    if (!json_is_integer(ix) || json_integer_value(ix) < 0 || json_integer_value(ix) >= MAX_CHOICES)
        return tl_errf(err, TL_EINVAL, "%s: a choice without an index in 0..%d", where, MAX_CHOICES - 1);
    int i = (int)json_integer_value(ix);
    acc *a = &in->ch[i];
    json_t *t = json_object_get(c, "text");
    if (!t)
        t = json_object_get(json_object_get(c, "message"), "content");
    if (!t)
        t = json_object_get(json_object_get(c, "delta"), "content");
    if (json_is_string(t) && add_text(a, json_string_value(t), json_string_length(t)))
        return tl_errf(err, TL_ENOMEM, "out of memory");
    if (t && !json_is_string(t) && !json_is_null(t))
        return tl_errf(err, TL_EINVAL, "%s: choices[%d]'s text is not a string", where, i);
    const char *fr = json_string_value(json_object_get(c, "finish_reason"));
    if (fr)
        snprintf(a->finish, sizeof a->finish, "%s", fr);
    a->seen = 1;
    if (i + 1 > in->n)
        in->n = i + 1;
    return 0;
}

static int take_usage(input *in, json_t *u)
{
    json_t *p = json_object_get(u, "prompt_tokens"), *c = json_object_get(u, "completion_tokens");
    if (!json_is_integer(p) || !json_is_integer(c))
        return -1;
    in->prompt = json_integer_value(p);
    in->completion = json_integer_value(c);
    in->have_usage = 1;
    return 0;
}

static int take_object(input *in, json_t *o, const char *where, tl_err *err)
{
    if (json_object_get(o, "error"))
        return tl_errf(err, TL_EINVAL, "%s: an error response, which carries no receipt", where);
    json_t *ch = json_object_get(o, "choices");
    size_t i;
    json_t *c;
    json_array_foreach(ch, i, c) {
        int rc = take_choice(in, c, where, err);
        if (rc)
            return rc;
    }
    json_t *u = json_object_get(o, "usage");
    if (json_is_object(u) && take_usage(in, u))
        return tl_errf(err, TL_EINVAL, "%s: usage without integer prompt_tokens and completion_tokens", where);
    json_t *r = json_object_get(o, "teelm_receipt");
    if (r) {
        if (in->receipt)
            return tl_errf(err, TL_EINVAL, "%s: a second teelm_receipt", where);
        in->receipt = json_incref(r);
    }
    return 0;
}

static int load_input(const char *text, size_t len, input *in, tl_err *err)
{
    size_t s = 0;
    while (s < len && (text[s] == ' ' || text[s] == '\n' || text[s] == '\r' || text[s] == '\t'))
        s++;
    json_error_t je;
    if (len - s >= 5 && !memcmp(text + s, "data:", 5)) { /* a server-sent event stream */
        int done = 0, events = 0;
        for (size_t i = s; i < len && !done;) {
            const char *nl = memchr(text + i, '\n', len - i);
            size_t ln = nl ? (size_t)(nl - (text + i)) : len - i;
            if (ln && text[i + ln - 1] == '\r')
                ln--;
            if (ln >= 5 && !memcmp(text + i, "data:", 5)) {
                size_t d = i + 5 + (ln > 5 && text[i + 5] == ' ');
                size_t dl = i + ln - d;
                if (dl == 6 && !memcmp(text + d, "[DONE]", 6)) {
                    done = 1;
                } else {
                    char where[48];
                    snprintf(where, sizeof where, "event %d", events + 1);
                    if (in->receipt)
                        return tl_errf(err, TL_EINVAL, "%s: an event after the receipt's (the receipt must be the last before [DONE])", where);
                    json_t *o = json_loadb(text + d, dl, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
                    if (!json_is_object(o)) {
                        json_decref(o);
                        return tl_errf(err, TL_EINVAL, "%s: not a JSON object", where);
                    }
                    int rc = take_object(in, o, where, err);
                    json_decref(o);
                    if (rc)
                        return rc;
                    events++;
                }
            }
            i += (nl ? (size_t)(nl - (text + i)) : len - i) + 1;
        }
        if (!in->receipt)
            return tl_errf(err, TL_EINVAL, "the stream has no event with a teelm_receipt");
        in->have_response = 1;
        return 0;
    }
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return tl_errf(err, TL_EINVAL, "not a JSON object nor an event stream (line %d: %s)", je.line, je.text);
    }
    int rc = 0;
    if (json_object_get(o, "teelm_receipt")) {
        rc = take_object(in, o, "response", err);
        in->have_response = !rc;
    } else if (json_object_get(o, "receipt") && json_object_get(o, "signature")) {
        in->receipt = json_incref(o);
    } else {
        rc = tl_errf(err, TL_EINVAL, "neither a response with a teelm_receipt nor a receipt (\"receipt\" and \"signature\")");
    }
    json_decref(o);
    return rc;
}

static int hex_field(json_t *r, const char *k, uint8_t out[32], tl_err *err)
{
    const char *s = json_string_value(json_object_get(r, k));
    if (!s || strlen(s) != 64 || tl_unhex(s, 64, out, 32))
        return tl_errf(err, TL_EINVAL, "receipt: %s must be 64 lower-case hex digits", k);
    char back[65];
    tl_hex(out, 32, back);
    return strcmp(back, s) ? tl_errf(err, TL_EINVAL, "receipt: %s must be 64 lower-case hex digits", k) : 0;
}

static int differs(const char *field, const uint8_t *got, const uint8_t *want, const char *what, tl_err *err)
{
    if (!CRYPTO_memcmp(got, want, 32))
        return 0;
    char g[65], w[65];
    tl_hex(got, 32, g);
    tl_hex(want, 32, w);
    return tl_errf(err, TL_ECRYPTO, "receipt: %s %s differs from %s %s", field, g, what, w);
}

/* The receipt's fields: exactly these, of these types (version 1). */
static int check_shape(json_t *r, tl_err *err)
{
    static const struct { const char *k; json_type t; } f[] = {
        {"config_sha256", JSON_STRING}, {"counter", JSON_INTEGER}, {"endpoint", JSON_STRING},
        {"evidence_sha256", JSON_STRING}, {"model", JSON_OBJECT}, {"request_sha256", JSON_STRING},
        {"response_sha256", JSON_STRING}, {"sampling", JSON_OBJECT}, {"server_started", JSON_INTEGER},
        {"signing_key", JSON_STRING}, {"time_ms", JSON_INTEGER}, {"type", JSON_STRING}, {"version", JSON_INTEGER},
    };
    const size_t nf = sizeof f / sizeof f[0];
    if (!json_is_object(r))
        return tl_errf(err, TL_EINVAL, "teelm_receipt.receipt is not an object");
    const char *k;
    json_t *v;
    json_object_foreach(r, k, v) {
        size_t i = 0;
        while (i < nf && strcmp(f[i].k, k))
            i++;
        if (i == nf)
            return tl_errf(err, TL_EINVAL, "receipt: unknown field \"%.60s\" (a version %d receipt has none)", k, TL_RECEIPT_VERSION);
    }
    for (size_t i = 0; i < nf; i++) {
        json_t *x = json_object_get(r, f[i].k);
        if (!x || json_typeof(x) != f[i].t)
            return tl_errf(err, TL_EINVAL, "receipt: %s is missing or not a%s %s", f[i].k,
                           f[i].t == JSON_INTEGER ? "n" : "", f[i].t == JSON_STRING ? "string" : f[i].t == JSON_INTEGER ? "integer" : "object");
    }
    if (json_integer_value(json_object_get(r, "version")) != TL_RECEIPT_VERSION)
        return tl_errf(err, TL_EUNSUPPORTED, "receipt: version %lld (this teelm reads version %d)",
                       (long long)json_integer_value(json_object_get(r, "version")), TL_RECEIPT_VERSION);
    if (strcmp(json_string_value(json_object_get(r, "type")), TL_RECEIPT_TYPE))
        return tl_errf(err, TL_EINVAL, "receipt: type is not \"%s\"", TL_RECEIPT_TYPE);
    if (json_integer_value(json_object_get(r, "counter")) < 1)
        return tl_errf(err, TL_EINVAL, "receipt: counter must be >= 1");
    return 0;
}

/* The model identity against the configuration document's "model" (kind, and model_id of a sealed one). */
static int check_model(json_t *m, const char *config, tl_err *err)
{
    const char *kind = json_string_value(json_object_get(m, "kind"));
    const char *mid = json_string_value(json_object_get(m, "model_id"));
    if (!kind || !json_is_string(json_object_get(m, "name")) || !json_is_string(json_object_get(m, "weights_sha256")))
        return tl_errf(err, TL_EINVAL, "receipt: model needs kind, name and weights_sha256 strings");
    if (!config)
        return 0;
    json_t *doc = json_loads(config, 0, NULL), *dm = json_object_get(doc, "model");
    const char *dk = json_string_value(json_object_get(dm, "kind")), *dmid = json_string_value(json_object_get(dm, "model_id"));
    int rc = 0;
    if (!dk || strcmp(dk, kind))
        rc = tl_errf(err, TL_ECRYPTO, "receipt: model.kind \"%.20s\" differs from the configuration document's \"%.20s\"", kind,
                     dk ? dk : "(none)");
    else if ((mid || dmid) && (!mid || !dmid || strcmp(mid, dmid)))
        rc = tl_errf(err, TL_ECRYPTO, "receipt: model.model_id %.64s differs from the configuration document's %.64s",
                     mid ? mid : "(none)", dmid ? dmid : "(none)");
    json_decref(doc);
    return rc;
}

static int check_signature(json_t *r, const char *sig_b64, const uint8_t key[32], tl_err *err)
{
    uint8_t sig[64];
    size_t sl = 0;
    if (!sig_b64 || tl_b64_decode_into(sig_b64, strlen(sig_b64), sig, sizeof sig, &sl) || sl != 64)
        return tl_errf(err, TL_EINVAL, "teelm_receipt.signature must be the base64 of 64 bytes (Ed25519)");
    size_t len = 0;
    char *canon = tl_jcs(r, &len);
    if (!canon)
        return tl_errf(err, TL_EINVAL, "receipt: has a number that is not an integer below 2^53 (not canonical)");
    size_t dl = sizeof TL_RECEIPT_DOMAIN;
    uint8_t *msg = malloc(dl + len);
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, 32);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    int ok = -1;
    if (msg && pk && mc) {
        memcpy(msg, TL_RECEIPT_DOMAIN, dl);
        memcpy(msg + dl, canon, len);
        ok = EVP_DigestVerifyInit(mc, NULL, NULL, NULL, pk) == 1 ? EVP_DigestVerify(mc, sig, 64, msg, dl + len) : -1;
    }
    EVP_MD_CTX_free(mc);
    EVP_PKEY_free(pk);
    free(msg);
    free(canon);
    if (ok < 0)
        return tl_errf(err, TL_ENOMEM, "receipt: cannot check the signature (out of memory)");
    return ok == 1 ? 0
                   : tl_errf(err, TL_ECRYPTO, "receipt: signature does not verify: a signed field (counter, time_ms, "
                                              "sampling, hashes, ...) was changed after the server signed it");
}

int tl_receipt_check(const char *text, size_t len, const tl_receipt_anchor *a, tl_receipt_result *out, tl_err *err)
{
    memset(out, 0, sizeof *out);
    input in;
    memset(&in, 0, sizeof in);
    int rc = load_input(text, len, &in, err);
    json_t *r = rc ? NULL : json_object_get(in.receipt, "receipt");
    const char *sig = rc ? NULL : json_string_value(json_object_get(in.receipt, "signature"));
    uint8_t key[32], ev[32], cfg[32], rq[32], rs[32];
    if (!rc && (json_object_size(in.receipt) != 2 || !sig))
        rc = tl_errf(err, TL_EINVAL, "teelm_receipt must have exactly \"receipt\" and \"signature\" (a string)");
    if (!rc)
        rc = check_shape(r, err);
    if (!rc && !(rc = hex_field(r, "signing_key", key, err)))
        rc = differs("signing_key", key, a->receipt_key, "the receipt key the evidence binds,", err);
    if (!rc && !(rc = hex_field(r, "evidence_sha256", ev, err)) && a->evidence_sha256)
        rc = differs("evidence_sha256", ev, a->evidence_sha256, "the evidence's SHA-256", err);
    if (!rc && !(rc = hex_field(r, "config_sha256", cfg, err)) && a->config_sha256)
        rc = differs("config_sha256", cfg, a->config_sha256, "the bound configuration document's SHA-256", err);
    if (!rc)
        rc = check_model(json_object_get(r, "model"), a->config, err);
    if (!rc && !(rc = hex_field(r, "request_sha256", rq, err)))
        rc = hex_field(r, "response_sha256", rs, err);
    if (!rc)
        rc = check_signature(r, sig, key, err);
    if (!rc && a->model_sha256) {
        const char *w = json_string_value(json_object_get(json_object_get(r, "model"), "weights_sha256"));
        if (strcmp(w, a->model_sha256))
            rc = tl_errf(err, TL_EPOLICY, "policy: require.model_sha256: the receipt's model.weights_sha256 %.64s differs from the required %.64s",
                         w, a->model_sha256);
    }
    if (!rc && a->request) {
        uint8_t h[32];
        SHA256(a->request, a->request_len, h);
        rc = differs("request_sha256", rq, h, "the SHA-256 of the request", err);
        out->request_checked = !rc;
    }
    if (!rc && in.have_response) {
        tl_receipt_choice ch[MAX_CHOICES];
        for (int i = 0; i < in.n; i++) {
            if (!in.ch[i].seen) {
                rc = tl_errf(err, TL_EINVAL, "response: choice %d is missing", i);
                break;
            }
            ch[i] = (tl_receipt_choice){.text = in.ch[i].text, .len = in.ch[i].len, .finish_reason = in.ch[i].finish};
        }
        uint8_t h[32];
        if (!rc && !in.have_usage)
            rc = tl_errf(err, TL_EINVAL, "response: no usage (the receipt covers it)");
        else if (!rc && (in.prompt < 0 || in.prompt > INT32_MAX || in.completion < 0 || in.completion > INT32_MAX))
            rc = tl_errf(err, TL_EINVAL, "response: usage out of range");
        else if (!rc && tl_receipt_response_sha256(ch, in.n, (int)in.prompt, (int)in.completion, h))
            rc = tl_errf(err, TL_ENOMEM, "out of memory");
        else if (!rc && CRYPTO_memcmp(h, rs, 32))
            rc = differs("response_sha256", rs, h, "the SHA-256 of this response's content (choices' text, finish_reason, usage):", err);
        out->response_checked = !rc;
    }
    if (!rc) {
        out->counter = (uint64_t)json_integer_value(json_object_get(r, "counter"));
        out->time_ms = json_integer_value(json_object_get(r, "time_ms"));
        out->server_started = json_integer_value(json_object_get(r, "server_started"));
        snprintf(out->endpoint, sizeof out->endpoint, "%s", json_string_value(json_object_get(r, "endpoint")));
        out->receipt_json = json_dumps(in.receipt, JSON_COMPACT);
    }
    input_free(&in);
    return rc;
}
