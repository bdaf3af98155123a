/* Strict request parsing (docs/api.md). Unknown fields are refused like OpenAI does ("Unrecognized
 * request argument supplied"), so a client never believes an option took effect when it did not. */
#include "server/request.h"

#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

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

/* The error for a field the endpoint does not take, worded as OpenAI's API words it. */
static int unknown_field(tl_api_error *e, const char *k)
{
    char b[64];
    return tl_api_bad_field(e, safe(k, b, 40), "Unrecognized request argument supplied: %s", safe(k, b, 40));
}

static json_t *parse_object(const char *body, size_t len, tl_api_error *e)
{
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        /* jansson appends "near '<text>'": that text is request content, keep it out */
        char *near = strstr(je.text, " near ");
        if (near)
            *near = 0;
        tl_api_errorf(e, 400, "invalid_request_error", NULL, "invalid_json",
                      "request body is not valid JSON (line %d, column %d): %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        tl_api_errorf(e, 400, "invalid_request_error", NULL, "invalid_json", "request body must be a JSON object");
        return NULL;
    }
    return o;
}

static int check_model(json_t *v, const tl_req_limits *lim, tl_api_error *e)
{
    char b[80];
    if (json_is_null(v))
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
    if (!strcmp(k, "best_of"))
        ok = json_is_null(v) || (json_is_integer(v) && json_integer_value(v) == 1);
    else if (!strcmp(k, "suffix"))
        ok = json_is_null(v);
    else if (!strcmp(k, "presence_penalty") || !strcmp(k, "frequency_penalty"))
        ok = json_is_null(v) || (json_is_number(v) && json_number_value(v) == 0);
    else if (!strcmp(k, "logit_bias"))
        ok = json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0);
    else if (!strcmp(k, "user"))
        ok = json_is_null(v) || json_is_string(v);
    else
        return 1; /* not one of these */
    if (!ok)
        return tl_api_bad_field(e, k, "%s is not supported by this server except at its default value", k);
    return 0;
}

static void req_defaults(const tl_req_limits *lim, tl_completion_req *r)
{
    memset(r, 0, sizeof *r);
    r->max_tokens = lim->default_max_tokens < lim->max_tokens ? lim->default_max_tokens : lim->max_tokens;
    r->temperature = 1.0;
    r->top_p = 1.0;
    r->n = 1;
    r->logprobs = -1;
}

/* The sampling fields completions and chat share. Returns 1 when k is not one of them. */
static int common_field(const char *k, json_t *v, const tl_req_limits *lim, tl_completion_req *r,
                        json_t **stream_options, tl_api_error *e)
{
    int rc = 0;
    long long x = 0;
    if (!strcmp(k, "model"))
        rc = check_model(v, lim, e);
    else if (!strcmp(k, "max_tokens")) {
        if (!json_is_null(v) && !(rc = get_int(v, k, 1, lim->max_tokens, &x, e))) {
            r->max_tokens = (int)x;
            r->has_max_tokens = 1;
        }
    } else if (!strcmp(k, "temperature")) {
        if (!json_is_null(v))
            rc = get_num(v, k, 0, 2, 0, &r->temperature, e);
    } else if (!strcmp(k, "top_p")) {
        if (!json_is_null(v))
            rc = get_num(v, k, 0, 1, 1, &r->top_p, e);
    } else if (!strcmp(k, "top_k")) {
        if (!json_is_null(v) && !(rc = get_int(v, k, 0, 1000000, &x, e)))
            r->top_k = (int)x;
    } else if (!strcmp(k, "seed")) {
        if (!json_is_null(v) && !(rc = get_int(v, k, INT64_MIN, INT64_MAX, &x, e))) {
            r->seed = (uint64_t)x;
            r->has_seed = 1;
        }
    } else if (!strcmp(k, "stop"))
        rc = get_stop(v, r, e);
    else if (!strcmp(k, "stream"))
        rc = get_bool(v, k, &r->stream, e);
    else if (!strcmp(k, "stream_options"))
        *stream_options = v;
    else if (!strcmp(k, "n")) {
        if (!json_is_null(v) && !(rc = get_int(v, k, 1, lim->max_n > 0 ? lim->max_n : 1, &x, e)))
            r->n = (int)x;
    } else
        rc = neutral_only(k, v, e);
    return rc;
}

static int check_stream_options(json_t *stream_options, tl_completion_req *r, tl_api_error *e)
{
    int rc = 0;
    if (stream_options && !json_is_null(stream_options)) {
        json_t *iu = json_is_object(stream_options) ? json_object_get(stream_options, "include_usage") : NULL;
        if (!r->stream)
            rc = tl_api_bad_field(e, "stream_options", "stream_options is only allowed when stream is true");
        else if (!json_is_object(stream_options) || json_object_size(stream_options) != (iu ? 1u : 0u))
            rc = tl_api_bad_field(e, "stream_options", "stream_options may only contain include_usage");
        else if (iu)
            rc = get_bool(iu, "stream_options.include_usage", &r->include_usage, e);
    }
    return rc;
}

int tl_completion_parse(const char *body, size_t len, const tl_req_limits *lim, tl_completion_req *r,
                        tl_api_error *e)
{
    req_defaults(lim, r);
    json_t *o = parse_object(body, len, e);
    if (!o)
        return -1;
    int rc = 0;
    const char *k;
    json_t *v;
    long long x = 0;
    json_t *stream_options = NULL;
    json_object_foreach(o, k, v) {
        if (!strcmp(k, "prompt"))
            rc = get_prompt(v, r, e);
        else if (!strcmp(k, "echo"))
            rc = get_bool(v, k, &r->echo, e);
        else if (!strcmp(k, "logprobs")) {
            /* the legacy shape: an integer count of alternatives (OpenAI: at most 5) */
            if (!json_is_null(v) && !(rc = get_int(v, k, 0, TL_MAX_LOGPROBS_LEGACY, &x, e)))
                r->logprobs = (int)x;
        } else if ((rc = common_field(k, v, lim, r, &stream_options, e)) == 1)
            rc = unknown_field(e, k);
        if (rc)
            break;
    }
    if (!rc && !r->prompt)
        rc = tl_api_bad_field(e, "prompt", "prompt is required");
    if (!rc)
        rc = check_stream_options(stream_options, r, e);
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
    json_t *o = parse_object(body, len, e);
    if (!o)
        return -1;
    int rc = 0;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!strcmp(k, "model"))
            rc = check_model(v, lim, e);
        else if (!strcmp(k, "prompt")) {
            if (!json_is_string(v))
                rc = tl_api_bad_field(e, "prompt", "prompt must be a string");
            else if (!(*text = tl_sec_strndup(json_string_value(v), *text_len = json_string_length(v))))
                rc = tl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
        } else
            rc = unknown_field(e, k);
        if (rc)
            break;
    }
    if (!rc && !*text)
        rc = tl_api_bad_field(e, "prompt", "prompt is required");
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
    json_t *o = parse_object(body, len, e);
    if (!o)
        return -1;
    int rc = 0, have = 0;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!strcmp(k, "model"))
            rc = check_model(v, lim, e);
        else if (!strcmp(k, "tokens")) {
            have = 1;
            size_t cnt = json_is_array(v) ? json_array_size(v) : 0;
            if (!json_is_array(v))
                rc = tl_api_bad_field(e, "tokens", "tokens must be an array of token ids");
            else if (cnt > max_ids)
                rc = tl_api_bad_field(e, "tokens", "at most %zu tokens (got %zu)", max_ids, cnt);
            else if (!(*ids = tl_sec_malloc((cnt ? cnt : 1) * sizeof **ids)))
                rc = tl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
            for (size_t i = 0; !rc && i < cnt; i++) {
                json_t *t = json_array_get(v, i);
                if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) >= (json_int_t)vocab)
                    rc = tl_api_bad_field(e, "tokens", "tokens[%zu] must be an integer token id in [0, %u)", i, vocab);
                else
                    (*ids)[(*n)++] = (uint32_t)json_integer_value(t);
            }
        } else
            rc = unknown_field(e, k);
        if (rc)
            break;
    }
    if (!rc && !have)
        rc = tl_api_bad_field(e, "tokens", "tokens is required");
    json_decref(o);
    if (rc) {
        tl_sec_free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc ? -1 : 0;
}

/* ---------------- POST /v1/chat/completions ---------------- */

/* OpenAI fields for things this server does not do (tools, structured output, audio, images):
 * refused by name rather than ignored, so an application never believes they took effect. */
static int chat_unsupported(const char *k, json_t *v, tl_api_error *e)
{
    static const char *const names[] = {"tools", "tool_choice", "functions", "function_call", "parallel_tool_calls",
                                        "audio", "prediction", "web_search_options", "reasoning_effort", NULL};
    for (int i = 0; names[i]; i++)
        if (!strcmp(k, names[i]))
            return json_is_null(v) ? 0 : tl_api_bad_field(e, k, "%s is not supported by this server", k);
    if (!strcmp(k, "response_format")) {
        json_t *t = json_is_object(v) ? json_object_get(v, "type") : NULL;
        if (json_is_null(v) || (t && json_is_string(t) && !strcmp(json_string_value(t), "text") && json_object_size(v) == 1))
            return 0;
        return tl_api_bad_field(e, k, "response_format is not supported by this server except {\"type\": \"text\"}");
    }
    if (!strcmp(k, "modalities")) {
        if (json_is_null(v) || (json_is_array(v) && json_array_size(v) == 1 && json_is_string(json_array_get(v, 0)) &&
                                !strcmp(json_string_value(json_array_get(v, 0)), "text")))
            return 0;
        return tl_api_bad_field(e, k, "modalities: this server produces text only");
    }
    if (!strcmp(k, "store"))
        return json_is_null(v) || json_is_false(v) ? 0 : tl_api_bad_field(e, k, "store is not supported by this server");
    return 1;
}

static int valid_role(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return 0;
    return 1;
}

/* One message: {"role", "content": string | [{"type":"text","text"}...] | null, "name"?}. */
static int get_message(json_t *m, size_t i, tl_chat_req_msg *out, tl_api_error *e)
{
    char f[96];
    snprintf(f, sizeof f, "messages[%zu]", i);
    if (!json_is_object(m))
        return tl_api_bad_field(e, f, "%s must be an object with role and content", f);
    json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
    const char *k;
    json_t *v;
    char b[64];
    json_object_foreach(m, k, v) {
        if (strcmp(k, "role") && strcmp(k, "content") && strcmp(k, "name")) {
            snprintf(f, sizeof f, "messages[%zu].%s", i, safe(k, b, 40));
            return tl_api_bad_field(e, f, "%s is not supported by this server", f);
        }
    }
    snprintf(f, sizeof f, "messages[%zu].role", i);
    if (!json_is_string(role))
        return tl_api_bad_field(e, f, "%s is required (system, user or assistant)", f);
    const char *r = json_string_value(role);
    if (!strcmp(r, "tool") || !strcmp(r, "function"))
        return tl_api_bad_field(e, f, "%s: tool messages are not supported by this server", f);
    if (!valid_role(r))
        return tl_api_bad_field(e, f, "%s must be 1 to 32 characters of A-Z a-z 0-9 _ -", f);
    snprintf(out->role, sizeof out->role, "%s", r);
    json_t *nm = json_object_get(m, "name");
    if (nm && !json_is_string(nm) && !json_is_null(nm)) {
        snprintf(f, sizeof f, "messages[%zu].name", i);
        return tl_api_bad_field(e, f, "%s must be a string", f);
    }
    snprintf(f, sizeof f, "messages[%zu].content", i);
    size_t total = 0;
    if (json_is_string(content))
        total = json_string_length(content);
    else if (json_is_array(content)) {
        size_t j;
        json_t *p;
        json_array_foreach(content, j, p) {
            json_t *t = json_is_object(p) ? json_object_get(p, "type") : NULL, *tx = json_is_object(p) ? json_object_get(p, "text") : NULL;
            snprintf(f, sizeof f, "messages[%zu].content[%zu].type", i, j);
            if (!t || !json_is_string(t))
                return tl_api_bad_field(e, f, "%s is required", f);
            if (strcmp(json_string_value(t), "text"))
                return tl_api_bad_field(e, f, "%s: only text parts are supported by this server (got %s)", f,
                                        safe(json_string_value(t), b, 40));
            snprintf(f, sizeof f, "messages[%zu].content[%zu].text", i, j);
            if (!json_is_string(tx) || json_object_size(p) != 2)
                return tl_api_bad_field(e, f, "%s must be a string (a text part has type and text only)", f);
            total += json_string_length(tx);
        }
    } else if (!json_is_null(content) || strcmp(r, "assistant"))
        return tl_api_bad_field(e, f, "%s must be a string or an array of text parts", f);
    if (!(out->content = tl_sec_malloc(total + 1)))
        return tl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
    if (json_is_string(content))
        memcpy(out->content, json_string_value(content), total);
    else if (json_is_array(content)) {
        size_t j, at = 0;
        json_t *p;
        json_array_foreach(content, j, p) {
            json_t *tx = json_object_get(p, "text");
            memcpy(out->content + at, json_string_value(tx), json_string_length(tx));
            at += json_string_length(tx);
        }
    }
    out->content[total] = 0;
    out->content_len = total;
    return 0;
}

int tl_chat_parse(const char *body, size_t len, const tl_req_limits *lim, tl_chat_req *q, tl_api_error *e)
{
    memset(q, 0, sizeof *q);
    tl_completion_req *r = &q->c;
    req_defaults(lim, r);
    json_t *o = parse_object(body, len, e);
    if (!o)
        return -1;
    int rc = 0, want_lp = 0;
    long long x = 0, top = -1, mct = -1, mt = -1;
    const char *k;
    json_t *v;
    json_t *stream_options = NULL, *messages = NULL;
    json_object_foreach(o, k, v) {
        if (!strcmp(k, "messages"))
            messages = v;
        else if (!strcmp(k, "max_completion_tokens") || !strcmp(k, "max_tokens")) {
            if (!json_is_null(v) && !(rc = get_int(v, k, 1, lim->max_tokens, &x, e)))
                *(k[4] == 'c' ? &mct : &mt) = x;
        } else if (!strcmp(k, "logprobs"))
            rc = get_bool(v, k, &want_lp, e);
        else if (!strcmp(k, "top_logprobs")) {
            if (!json_is_null(v))
                rc = get_int(v, k, 0, TL_MAX_LOGPROBS, &top, e);
        } else if ((rc = chat_unsupported(k, v, e)) == 1 && (rc = common_field(k, v, lim, r, &stream_options, e)) == 1)
            rc = unknown_field(e, k);
        if (rc)
            break;
    }
    if (!rc && mct >= 0 && mt >= 0 && mct != mt)
        rc = tl_api_bad_field(e, "max_completion_tokens", "give max_completion_tokens or max_tokens, not both");
    if (!rc && (mct >= 0 || mt >= 0)) {
        r->max_tokens = (int)(mct >= 0 ? mct : mt);
        r->has_max_tokens = 1;
    }
    if (!rc && top >= 0 && !want_lp)
        rc = tl_api_bad_field(e, "top_logprobs", "top_logprobs requires logprobs to be true");
    if (!rc && want_lp)
        r->logprobs = top >= 0 ? (int)top : 0;
    if (!rc && (!json_is_array(messages) || json_array_size(messages) == 0))
        rc = tl_api_bad_field(e, "messages", "messages is required: a non-empty array of messages");
    if (!rc && !(q->msgs = calloc(json_array_size(messages), sizeof *q->msgs)))
        rc = tl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
    for (size_t i = 0; !rc && i < json_array_size(messages); i++) {
        rc = get_message(json_array_get(messages, i), i, &q->msgs[i], e);
        q->n_msgs = i + 1;
    }
    if (!rc)
        rc = check_stream_options(stream_options, r, e);
    json_decref(o);
    return rc ? -1 : 0;
}

void tl_chat_req_free(tl_chat_req *q)
{
    for (size_t i = 0; i < q->n_msgs; i++)
        tl_sec_free(q->msgs[i].content);
    free(q->msgs);
    tl_completion_req_free(&q->c);
    OPENSSL_cleanse(q, sizeof *q);
}
