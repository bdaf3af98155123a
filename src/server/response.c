#include "server/response.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "util/secmem.h"
#include "util/codec.h"
#include "server/textout.h"

/* json_dumps allocates with jansson's allocator, which the server points at tl_sec_malloc. */
static char *dump(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

static json_t *choice(const char *text, size_t len, const char *finish_reason)
{
    return json_pack("{s:s%,s:i,s:n,s:s?}", "text", text ? text : "", text ? len : 0, "index", 0, "logprobs",
                     "finish_reason", finish_reason);
}

static json_t *head(const tl_resp_meta *m)
{
    return json_pack("{s:s,s:s,s:I,s:s}", "id", m->id, "object", "text_completion", "created",
                     (json_int_t)m->created, "model", m->model);
}

char *tl_resp_completion(const tl_resp_meta *m, const char *text, size_t len, const char *finish_reason,
                         int prompt_tokens, int completion_tokens)
{
    json_t *o = head(m);
    if (!o)
        return NULL;
    json_object_set_new(o, "choices", json_pack("[o]", choice(text, len, finish_reason)));
    json_object_set_new(o, "usage", json_pack("{s:i,s:i,s:i}", "prompt_tokens", prompt_tokens, "completion_tokens",
                                              completion_tokens, "total_tokens", prompt_tokens + completion_tokens));
    return dump(o);
}

char *tl_resp_sse_data(const char *json)
{
    if (!json)
        return NULL;
    size_t n = strlen(json);
    char *s = tl_sec_malloc(n + 9);
    if (s) {
        memcpy(s, "data: ", 6);
        memcpy(s + 6, json, n);
        memcpy(s + 6 + n, "\n\n", 3);
    }
    return s;
}

static char *sse(json_t *o)
{
    char *j = dump(o);
    char *s = tl_resp_sse_data(j);
    tl_sec_free(j);
    return s;
}

char *tl_resp_chunk(const tl_resp_meta *m, const char *text, size_t len, const char *finish_reason)
{
    json_t *o = head(m);
    if (!o)
        return NULL;
    json_object_set_new(o, "choices", json_pack("[o]", choice(text, len, finish_reason)));
    return sse(o);
}

char *tl_resp_usage_chunk(const tl_resp_meta *m, int prompt_tokens, int completion_tokens)
{
    json_t *o = head(m);
    if (!o)
        return NULL;
    json_object_set_new(o, "choices", json_array());
    json_object_set_new(o, "usage", json_pack("{s:i,s:i,s:i}", "prompt_tokens", prompt_tokens, "completion_tokens",
                                              completion_tokens, "total_tokens", prompt_tokens + completion_tokens));
    return sse(o);
}

char *tl_resp_models(const char *model, time_t created)
{
    return dump(json_pack("{s:s,s:[{s:s,s:s,s:I,s:s}]}", "object", "list", "data", "id", model, "object", "model",
                          "created", (json_int_t)created, "owned_by", "teelm"));
}

char *tl_resp_tokens(const uint32_t *ids, size_t n, int max_model_len)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_integer(ids[i]));
    return dump(json_pack("{s:o,s:I,s:i}", "tokens", a, "count", (json_int_t)n, "max_model_len", max_model_len));
}

char *tl_resp_detokenized(const char *text, size_t len)
{
    return dump(json_pack("{s:s%}", "prompt", text, len));
}

void tl_resp_new_id(char out[32])
{
    unsigned char r[12];
    if (RAND_bytes(r, sizeof r) != 1)
        memset(r, 0, sizeof r);
    memcpy(out, "cmpl-", 5);
    tl_hex(r, sizeof r, out + 5); /* 24 digits and the NUL at out[29] */
}

/* ---------------- the general shapes ---------------- */

/* A token's text for logprobs: its bytes as UTF-8 (broken sequences U+FFFD), and the bytes. */
static json_t *tok_str(const tl_tokenizer *tok, uint32_t id, json_t **bytes)
{
    size_t n = 0;
    const uint8_t *b = tl_tokenizer_token_bytes(tok, id, &n);
    char *s = NULL;
    long k = tl_utf8_sanitize(b ? (const char *)b : "", b ? n : 0, &s);
    json_t *o = k >= 0 ? json_stringn(s, (size_t)k) : json_string("");
    tl_sec_free(s);
    if (bytes) {
        *bytes = json_array();
        for (size_t i = 0; b && i < n; i++)
            json_array_append_new(*bytes, json_integer(b[i]));
    }
    return o;
}

json_t *tl_resp_logprobs_legacy(const tl_tokenizer *tok, const tl_lp_rec *recs, int n, int ntop, size_t *offset)
{
    json_t *toks = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(toks, tok_str(tok, recs[i].id, NULL));
        json_array_append_new(lps, recs[i].ntop < 0 ? json_null() : json_real(recs[i].logprob));
        json_t *t = recs[i].ntop < 0 ? json_null() : json_object(); /* a prompt's first token: null, null */
        for (int k = 0; k < recs[i].ntop && k < ntop; k++) {
            json_t *s = tok_str(tok, recs[i].top_id[k], NULL);
            if (!json_object_get(t, json_string_value(s))) /* two ids with one text: the likelier */
                json_object_set_new(t, json_string_value(s), json_real(recs[i].top_lp[k]));
            json_decref(s);
        }
        json_array_append_new(tops, t);
        json_array_append_new(offs, json_integer((json_int_t)*offset));
        size_t len = 0;
        tl_tokenizer_token_bytes(tok, recs[i].id, &len);
        *offset += len;
    }
    return json_pack("{s:o,s:o,s:o,s:o}", "tokens", toks, "token_logprobs", lps, "top_logprobs", tops, "text_offset", offs);
}

json_t *tl_resp_logprobs_chat(const tl_tokenizer *tok, const tl_lp_rec *recs, int n, int ntop)
{
    json_t *content = json_array();
    for (int i = 0; i < n; i++) {
        json_t *b, *tops = json_array();
        json_t *s = tok_str(tok, recs[i].id, &b);
        for (int k = 0; k < recs[i].ntop && k < ntop; k++) {
            json_t *bb, *ss = tok_str(tok, recs[i].top_id[k], &bb);
            json_array_append_new(tops, json_pack("{s:o,s:f,s:o}", "token", ss, "logprob", (double)recs[i].top_lp[k], "bytes", bb));
        }
        json_array_append_new(content, json_pack("{s:o,s:f,s:o,s:o}", "token", s, "logprob", (double)recs[i].logprob,
                                                 "bytes", b, "top_logprobs", tops));
    }
    return json_pack("{s:o,s:n}", "content", content, "refusal");
}

char *tl_resp_build(const tl_resp_meta *m, int chat, int chunk, tl_resp_choice *ch, int nch, const int *usage)
{
    json_t *o = json_pack("{s:s,s:s,s:I,s:s}", "id", m->id, "object",
                          chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion", "created",
                          (json_int_t)m->created, "model", m->model);
    json_t *a = json_array();
    for (int i = 0; i < nch; i++) {
        json_t *lp = ch[i].logprobs ? ch[i].logprobs : json_null();
        json_t *text = json_stringn(ch[i].text ? ch[i].text : "", ch[i].text ? ch[i].len : 0);
        json_t *c;
        if (!chat) {
            c = json_pack("{s:o,s:i,s:o,s:s?}", "text", text, "index", ch[i].index, "logprobs", lp, "finish_reason",
                          ch[i].finish_reason);
        } else if (!chunk) {
            c = json_pack("{s:i,s:{s:s,s:o,s:n},s:o,s:s?}", "index", ch[i].index, "message", "role", "assistant",
                          "content", text, "refusal", "logprobs", lp, "finish_reason", ch[i].finish_reason);
        } else {
            json_t *d = json_object();
            if (ch[i].role)
                json_object_set_new(d, "role", json_string("assistant"));
            if (!ch[i].no_content)
                json_object_set(d, "content", text);
            json_decref(text);
            c = json_pack("{s:i,s:o,s:o,s:s?}", "index", ch[i].index, "delta", d, "logprobs", lp, "finish_reason",
                          ch[i].finish_reason);
        }
        ch[i].logprobs = NULL;
        json_array_append_new(a, c);
    }
    if (!o) {
        json_decref(a);
        return NULL;
    }
    json_object_set_new(o, "choices", a);
    if (usage)
        json_object_set_new(o, "usage", json_pack("{s:i,s:i,s:i}", "prompt_tokens", usage[0], "completion_tokens",
                                                  usage[1], "total_tokens", usage[0] + usage[1]));
    return chunk ? sse(o) : dump(o);
}
