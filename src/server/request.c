/* Strict request parsing (docs/api.md). Unknown fields are refused like OpenAI does ("Unrecognized
 * request argument supplied"), so a client never believes an option took effect when it did not. */
#include "server/request.h"

#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "util/json_fields.h"
#include "util/secmem.h"

/* A field name or model id from the request, made safe for a message: printable ASCII, bounded. */
static const char *safe(const char *s, char *buf, size_t n)
{
    size_t i = 0;
    for (; s[i] && i + 4 < n; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i])
        memcpy(buf + i, "...", 3), i += 3;
    buf[i] = 0;
    return buf;
}

static json_t *parse_object(const char *body, size_t len, tl_api_error *e)
{
    json_error_t je;
    int not_object;
    json_t *o = tl_json_load_object(body, len, &je, &not_object);
    if (!o && not_object) {
        tl_api_errorf(e, 400, "invalid_request_error", NULL, "invalid_json", "request body must be a JSON object");
    } else if (!o) {
        /* jansson appends "near '<text>'": that text is request content, keep it out */
        char *near = strstr(je.text, " near ");
        if (near)
            *near = 0;
        tl_api_errorf(e, 400, "invalid_request_error", NULL, "invalid_json",
                      "request body is not valid JSON (line %d, column %d): %s", je.line, je.column, je.text);
    }
    return o;
}

/* The body as an object of the given fields (values in vals, one per field); NULL with e set for
 * bad JSON or a field the request does not take. */
static json_t *parse_fields(const char *body, size_t len, const tl_json_field *fields, json_t **vals, tl_api_error *e)
{
    json_t *o = parse_object(body, len, e);
    const char *k;
    char b[64];
    if (o && tl_json_fields(o, fields, vals, &k) == TL_JF_UNKNOWN) {
        tl_api_bad_field(e, safe(k, b, 40), "Unrecognized request argument supplied: %s", b);
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Present with a value other than null. */
static int given(const json_t *v) { return v && !json_is_null(v); }

static int check_model(json_t *v, const tl_req_limits *lim, tl_api_error *e)
{
    char b[80];
    if (!given(v))
        return 0;
    if (!json_is_string(v))
        return tl_api_bad_field(e, "model", "model must be a string");
    const char *m = json_string_value(v);
    if (lim->model_id && strcmp(m, lim->model_id) != 0)
        return tl_api_errorf(e, 404, "invalid_request_error", "model", "model_not_found",
                             "The model '%s' does not exist (this server serves '%s')", safe(m, b, 60), lim->model_id);
    return 0;
}

static int get_int(json_t *v, const char *name, long long lo, long long hi, long long *out, tl_api_error *e)
{
    if (!json_is_integer(v))
        return tl_api_bad_field(e, name, "%s must be an integer", name);
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return tl_api_bad_field(e, name, "%s must be between %lld and %lld (got %lld)", name, lo, hi, x);
    *out = x;
    return 0;
}

static int get_num(json_t *v, const char *name, double lo, double hi, int lo_open, double *out, tl_api_error *e)
{
    if (!json_is_number(v))
        return tl_api_bad_field(e, name, "%s must be a number", name);
    double x = json_number_value(v);
    if (!isfinite(x) || x > hi || x < lo || (lo_open && x == lo))
        return tl_api_bad_field(e, name, "%s must be %s %g and <= %g (got %g)", name, lo_open ? ">" : ">=", lo, hi, x);
    *out = x;
    return 0;
}

static int get_prompt(json_t *v, tl_completion_req *r, tl_api_error *e)
{
    if (json_is_array(v)) {
        if (json_array_size(v) != 1 || !json_is_string(json_array_get(v, 0)))
            return tl_api_bad_field(e, "prompt", "prompt must be a string or an array of exactly one string");
        v = json_array_get(v, 0);
    }
    if (!json_is_string(v))
        return tl_api_bad_field(e, "prompt", "prompt must be a string or an array of exactly one string");
    r->prompt_len = json_string_length(v);
    if (r->prompt_len == 0)
        return tl_api_bad_field(e, "prompt", "prompt must not be empty");
    r->prompt = tl_sec_strndup(json_string_value(v), r->prompt_len);
    if (!r->prompt)
        return tl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
    return 0;
}

static int add_stop(json_t *s, tl_completion_req *r, tl_api_error *e)
{
    if (!json_is_string(s))
        return tl_api_bad_field(e, "stop", "stop must be a string or an array of up to %d strings", TL_MAX_STOP);
    size_t n = json_string_length(s);
    if (n == 0 || n > TL_MAX_STOP_BYTES)
        return tl_api_bad_field(e, "stop", "each stop sequence must be 1 to %d bytes (got %zu)", TL_MAX_STOP_BYTES, n);
    if (r->nstop >= TL_MAX_STOP)
        return tl_api_bad_field(e, "stop", "at most %d stop sequences", TL_MAX_STOP);
    if (!(r->stop[r->nstop] = tl_sec_strndup(json_string_value(s), n)))
        return tl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
    r->stop_len[r->nstop++] = n;
    return 0;
}

static int get_stop(json_t *v, tl_completion_req *r, tl_api_error *e)
{
    if (json_is_null(v))
        return 0;
    if (json_is_string(v))
        return add_stop(v, r, e);
    if (!json_is_array(v))
        return tl_api_bad_field(e, "stop", "stop must be a string or an array of up to %d strings", TL_MAX_STOP);
    if (json_array_size(v) > TL_MAX_STOP)
        return tl_api_bad_field(e, "stop", "at most %d stop sequences (got %zu)", TL_MAX_STOP, json_array_size(v));
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s)
        if (add_stop(s, r, e))
            return -1;
    return 0;
}

static int get_bool(json_t *v, const char *name, int *out, tl_api_error *e)
{
    if (json_is_null(v))
        return *out = 0;
    if (!json_is_boolean(v))
        return tl_api_bad_field(e, name, "%s must be true or false", name);
    *out = json_is_true(v);
    return 0;
}

/* OpenAI fields teelm accepts only at their neutral value. */
static int neutral_only(const char *k, json_t *v, tl_api_error *e)
{
    int ok;
    if (!strcmp(k, "n") || !strcmp(k, "best_of"))
        ok = json_is_null(v) || (json_is_integer(v) && json_integer_value(v) == 1);
    else if (!strcmp(k, "echo"))
        ok = json_is_null(v) || json_is_false(v);
    else if (!strcmp(k, "logprobs") || !strcmp(k, "suffix"))
        ok = json_is_null(v);
    else if (!strcmp(k, "presence_penalty") || !strcmp(k, "frequency_penalty"))
        ok = json_is_null(v) || (json_is_number(v) && json_number_value(v) == 0);
    else if (!strcmp(k, "logit_bias"))
        ok = json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0);
    else if (!strcmp(k, "user"))
        ok = json_is_null(v) || json_is_string(v);
    else
        ok = 0; /* not reached: the callers pass only the fields above */
    if (!ok)
        return tl_api_bad_field(e, k, "%s is not supported by this server except at its default value", k);
    return 0;
}

int tl_completion_parse(const char *body, size_t len, const tl_req_limits *lim, tl_completion_req *r,
                        tl_api_error *e)
{
    memset(r, 0, sizeof *r);
    r->max_tokens = lim->default_max_tokens < lim->max_tokens ? lim->default_max_tokens : lim->max_tokens;
    r->temperature = 1.0;
    r->top_p = 1.0;
    enum { MODEL, PROMPT, MAX_TOKENS, TEMPERATURE, TOP_P, TOP_K, SEED, STOP, STREAM, STREAM_OPTIONS, NEUTRAL, NF = NEUTRAL + 9 };
    static const tl_json_field fields[] = {
        {"model"}, {"prompt"}, {"max_tokens"}, {"temperature"}, {"top_p"}, {"top_k"}, {"seed"}, {"stop"}, {"stream"},
        {"stream_options"},
        /* OpenAI's, taken only at their neutral value (neutral_only) */
        {"n"}, {"best_of"}, {"echo"}, {"logprobs"}, {"suffix"}, {"presence_penalty"}, {"frequency_penalty"},
        {"logit_bias"}, {"user"}, {NULL}};
    json_t *v[NF];
    json_t *o = parse_fields(body, len, fields, v, e);
    if (!o)
        return -1;
    long long x = 0;
    json_t *stream_options = v[STREAM_OPTIONS];
    int rc = check_model(v[MODEL], lim, e);
    if (!rc && !v[PROMPT])
        rc = tl_api_bad_field(e, "prompt", "prompt is required");
    rc = rc ? rc : get_prompt(v[PROMPT], r, e);
    if (!rc && given(v[MAX_TOKENS]) && !(rc = get_int(v[MAX_TOKENS], "max_tokens", 1, lim->max_tokens, &x, e)))
        r->max_tokens = (int)x;
    if (!rc && given(v[TEMPERATURE]))
        rc = get_num(v[TEMPERATURE], "temperature", 0, 2, 0, &r->temperature, e);
    if (!rc && given(v[TOP_P]))
        rc = get_num(v[TOP_P], "top_p", 0, 1, 1, &r->top_p, e);
    if (!rc && given(v[TOP_K]) && !(rc = get_int(v[TOP_K], "top_k", 0, 1000000, &x, e)))
        r->top_k = (int)x;
    if (!rc && given(v[SEED]) && !(rc = get_int(v[SEED], "seed", INT64_MIN, INT64_MAX, &x, e))) {
        r->seed = (uint64_t)x;
        r->has_seed = 1;
    }
    if (!rc && v[STOP])
        rc = get_stop(v[STOP], r, e);
    if (!rc && v[STREAM])
        rc = get_bool(v[STREAM], "stream", &r->stream, e);
    for (int i = NEUTRAL; !rc && i < NF; i++)
        if (v[i])
            rc = neutral_only(fields[i].name, v[i], e);
    if (!rc && stream_options && !json_is_null(stream_options)) {
        json_t *iu = json_is_object(stream_options) ? json_object_get(stream_options, "include_usage") : NULL;
        if (!r->stream)
            rc = tl_api_bad_field(e, "stream_options", "stream_options is only allowed when stream is true");
        else if (!json_is_object(stream_options) || json_object_size(stream_options) != (iu ? 1u : 0u))
            rc = tl_api_bad_field(e, "stream_options", "stream_options may only contain include_usage");
        else if (iu)
            rc = get_bool(iu, "stream_options.include_usage", &r->include_usage, e);
    }
    json_decref(o);
    return rc ? -1 : 0;
}

void tl_completion_req_free(tl_completion_req *r)
{
    tl_sec_free(r->prompt);
    for (int i = 0; i < r->nstop; i++)
        tl_sec_free(r->stop[i]);
    OPENSSL_cleanse(r, sizeof *r);
}

int tl_tokenize_parse(const char *body, size_t len, const tl_req_limits *lim, char **text, size_t *text_len,
                      tl_api_error *e)
{
    *text = NULL;
    *text_len = 0;
    static const tl_json_field fields[] = {{"model"}, {"prompt"}, {NULL}};
    json_t *v[2];
    json_t *o = parse_fields(body, len, fields, v, e);
    if (!o)
        return -1;
    int rc = check_model(v[0], lim, e);
    if (!rc && !v[1])
        rc = tl_api_bad_field(e, "prompt", "prompt is required");
    else if (!rc && !json_is_string(v[1]))
        rc = tl_api_bad_field(e, "prompt", "prompt must be a string");
    else if (!rc && !(*text = tl_sec_strndup(json_string_value(v[1]), *text_len = json_string_length(v[1]))))
        rc = tl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
    json_decref(o);
    if (rc) {
        tl_sec_free(*text);
        *text = NULL;
    }
    return rc ? -1 : 0;
}

int tl_detokenize_parse(const char *body, size_t len, const tl_req_limits *lim, uint32_t vocab, size_t max_ids,
                        uint32_t **ids, size_t *n, tl_api_error *e)
{
    *ids = NULL;
    *n = 0;
    static const tl_json_field fields[] = {{"model"}, {"tokens"}, {NULL}};
    json_t *fv[2];
    json_t *o = parse_fields(body, len, fields, fv, e);
    if (!o)
        return -1;
    int rc = check_model(fv[0], lim, e);
    json_t *v = fv[1];
    size_t cnt = json_is_array(v) ? json_array_size(v) : 0;
    if (!rc && !v)
        rc = tl_api_bad_field(e, "tokens", "tokens is required");
    else if (!rc && !json_is_array(v))
        rc = tl_api_bad_field(e, "tokens", "tokens must be an array of token ids");
    else if (!rc && cnt > max_ids)
        rc = tl_api_bad_field(e, "tokens", "at most %zu tokens (got %zu)", max_ids, cnt);
    else if (!rc && !(*ids = tl_sec_malloc((cnt ? cnt : 1) * sizeof **ids)))
        rc = tl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
    for (size_t i = 0; !rc && i < cnt; i++) {
        json_t *t = json_array_get(v, i);
        long long id;
        if (tl_json_int(t, 0, (long long)vocab - 1, &id))
            rc = tl_api_bad_field(e, "tokens", "tokens[%zu] must be an integer token id in [0, %u)", i, vocab);
        else
            (*ids)[(*n)++] = (uint32_t)id;
    }
    json_decref(o);
    if (rc) {
        tl_sec_free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc ? -1 : 0;
}
