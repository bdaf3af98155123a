/* Receipts: issuing (receipt.h, docs/receipts.md). */
#include "server/receipt.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/params.h"
#include "tensor/dtype.h"
#include "util/codec.h"
#include "util/jcs.h"
#include "util/secmem.h"

struct tl_receipts {
    const tl_ratls *ra;
    char name[256];
    char kind[16];
    char model_id[72]; /* "" unless sealed */
    char weights[65], evidence[65], config[65], key[65];
    time_t started;
    atomic_uint_fast64_t counter;
};

int tl_receipt_weights_sha256(const tl_checkpoint *ck, uint8_t out[32], tl_err *err)
{
    int n = tl_params_count(&ck->cfg);
    tl_param *list = n > 0 ? calloc((size_t)n, sizeof *list) : NULL;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = list && c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
    if (ok)
        tl_params_list(&ck->cfg, list);
    int hf = ck->w != NULL;
    if (ok && hf && ck->nw != n)
        ok = 0;
    for (int i = 0; ok && i < n; i++) {
        if (hf)
            ok = ck->w[i].data &&
                 EVP_DigestUpdate(c, ck->w[i].data, list[i].numel * tl_dtype_size(ck->w[i].dtype)) == 1;
        else
            ok = ck->params && EVP_DigestUpdate(c, ck->params + list[i].offset, list[i].numel * sizeof(float)) == 1;
    }
    unsigned int hl = 32;
    ok = ok && EVP_DigestFinal_ex(c, out, &hl) == 1;
    EVP_MD_CTX_free(c);
    free(list);
    return ok ? 0 : tl_errf(err, TL_ECRYPTO, "receipts: cannot hash the model's weights");
}

tl_receipts *tl_receipts_new(const tl_ratls *ra, const char *model_name, const uint8_t weights_sha256[32],
                             time_t started, tl_err *err)
{
    tl_receipts *r = calloc(1, sizeof *r);
    json_t *doc = ra->config ? json_loads(ra->config, 0, NULL) : NULL;
    json_t *m = json_object_get(doc, "model");
    const char *kind = json_string_value(json_object_get(m, "kind"));
    const char *mid = json_string_value(json_object_get(m, "model_id"));
    if (!r || !kind || strlen(kind) >= sizeof r->kind || (mid && strlen(mid) >= sizeof r->model_id) ||
        strlen(model_name) >= sizeof r->name) {
        json_decref(doc);
        free(r);
        tl_errf(err, TL_EINVAL, "receipts: the configuration document names no model, or out of memory");
        return NULL;
    }
    r->ra = ra;
    snprintf(r->name, sizeof r->name, "%s", model_name);
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    snprintf(r->model_id, sizeof r->model_id, "%s", mid && !strcmp(kind, "sealed") ? mid : "");
    json_decref(doc);
    tl_hex(weights_sha256, 32, r->weights);
    tl_hex(ra->evidence_sha256, 32, r->evidence);
    tl_hex(ra->config_hash, 32, r->config);
    tl_hex(ra->receipt_pub, 32, r->key);
    r->started = started;
    atomic_init(&r->counter, 0);
    return r;
}

void tl_receipts_free(tl_receipts *r)
{
    free(r);
}

void tl_receipt_float(float f, char out[32])
{
    for (int p = 1; p <= 9; p++) {
        snprintf(out, 32, "%.*g", p, (double)f);
        if (strtof(out, NULL) == f)
            return;
    }
}

int tl_receipt_response_sha256(const tl_receipt_choice *ch, int n, int prompt_tokens, int completion_tokens,
                               uint8_t out[32])
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < n; i++) {
        uint8_t h[32];
        char hex[65];
        SHA256((const unsigned char *)(ch[i].text ? ch[i].text : ""), ch[i].len, h);
        tl_hex(h, 32, hex);
        json_array_append_new(arr, json_pack("{s:s,s:i,s:s}", "finish_reason", ch[i].finish_reason ? ch[i].finish_reason : "",
                                             "index", i, "text_sha256", hex));
    }
    json_t *o = arr ? json_pack("{s:o,s:{s:i,s:i,s:I}}", "choices", arr, "usage", "completion_tokens", completion_tokens,
                                "prompt_tokens", prompt_tokens, "total_tokens",
                                (json_int_t)prompt_tokens + completion_tokens)
                    : NULL;
    size_t len = 0;
    char *t = tl_jcs(o, &len);
    json_decref(o);
    if (!t)
        return -1;
    SHA256((const unsigned char *)t, len, out);
    free(t);
    return 0;
}

char *tl_receipt_issue(tl_receipts *r, const tl_receipt_in *in)
{
    uint8_t resp[32];
    if (tl_receipt_response_sha256(in->choices, in->n, in->prompt_tokens, in->completion_tokens, resp))
        return NULL;
    char rq[65], rs[65], temp[32], topp[32], seed[24];
    tl_hex(in->request_sha256, 32, rq);
    tl_hex(resp, 32, rs);
    const tl_receipt_sampling *sp = in->sampling;
    tl_receipt_float((float)sp->temperature, temp);
    tl_receipt_float((float)sp->top_p, topp);
    snprintf(seed, sizeof seed, "%" PRIu64, sp->seed);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_int_t now_ms = (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    json_t *model = json_pack("{s:s,s:s,s:s}", "kind", r->kind, "name", r->name, "weights_sha256", r->weights);
    if (model && r->model_id[0])
        json_object_set_new(model, "model_id", json_string(r->model_id));
    json_t *samp = json_pack("{s:b,s:o,s:i,s:i,s:s,s:s,s:s,s:i,s:s}", "echo", sp->echo, "logprobs",
                             sp->logprobs >= 0 ? json_integer(sp->logprobs) : json_null(), "max_tokens", sp->max_tokens,
                             "n", sp->n, "seed", seed, "seed_source", sp->seed_from_server ? "server" : "request",
                             "temperature", temp, "top_k", sp->top_k, "top_p", topp);
    /* atomic: no two receipts share a number; completions end on the scheduler's one thread, so
     * the numbers also follow the order the responses were finalized */
    json_int_t counter = (json_int_t)(atomic_fetch_add(&r->counter, 1) + 1);
    json_t *o = model && samp ? json_pack("{s:s,s:I,s:s,s:s,s:o,s:s,s:s,s:o,s:I,s:s,s:I,s:s,s:i}", "config_sha256", r->config,
                                          "counter", counter, "endpoint", in->endpoint, "evidence_sha256", r->evidence,
                                          "model", model, "request_sha256", rq, "response_sha256", rs, "sampling", samp,
                                          "server_started", (json_int_t)r->started, "signing_key", r->key, "time_ms",
                                          now_ms, "type", TL_RECEIPT_TYPE, "version", TL_RECEIPT_VERSION)
                              : (json_decref(model), json_decref(samp), NULL);
    size_t len = 0;
    char *canon = tl_jcs(o, &len);
    char *out = NULL;
    size_t dl = sizeof TL_RECEIPT_DOMAIN; /* with its NUL */
    uint8_t *msg = canon ? malloc(dl + len) : NULL;
    uint8_t sig[64];
    size_t sl = sizeof sig;
    EVP_MD_CTX *mc = msg ? EVP_MD_CTX_new() : NULL;
    if (mc) {
        memcpy(msg, TL_RECEIPT_DOMAIN, dl);
        memcpy(msg + dl, canon, len);
        if (EVP_DigestSignInit(mc, NULL, NULL, NULL, r->ra->receipt_key) == 1 &&
            EVP_DigestSign(mc, sig, &sl, msg, dl + len) == 1 && sl == 64) {
            char b64[96];
            tl_b64_encode_into(sig, 64, b64);
            size_t need = len + strlen(b64) + 40;
            if ((out = malloc(need)))
                snprintf(out, need, "{\"receipt\":%s,\"signature\":\"%s\"}", canon, b64);
        }
    }
    EVP_MD_CTX_free(mc);
    free(msg);
    free(canon);
    json_decref(o);
    return out;
}

char *tl_receipt_attach(char *body, const char *receipt)
{
    if (!body || !receipt) {
        tl_sec_free(body);
        return NULL;
    }
    size_t bl = strlen(body), rl = strlen(receipt);
    char *brace = strrchr(body, '}');
    if (!brace) {
        tl_sec_free(body);
        return NULL;
    }
    static const char key[] = ",\"teelm_receipt\":";
    size_t at = (size_t)(brace - body);
    int empty = at > 0 && body[at - 1] == '{';
    char *out = tl_sec_malloc(bl + rl + sizeof key + 1);
    if (out) {
        memcpy(out, body, at);
        size_t k = at;
        memcpy(out + k, key + empty, sizeof key - 1 - (size_t)empty);
        k += sizeof key - 1 - (size_t)empty;
        memcpy(out + k, receipt, rl);
        k += rl;
        memcpy(out + k, body + at, bl - at + 1);
    }
    tl_sec_free(body);
    return out;
}
