#include "server/response.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "util/secmem.h"
#include "util/codec.h"

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
