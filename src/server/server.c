/* HTTP routes of the inference server (docs/api.md). Routing, authentication and the cheap
 * routes run on src/net's loop thread. Everything whose cost grows with the body (JSON parsing,
 * tokenizing: /v1/completions, /tokenize, /detokenize) runs on the "prep" thread, so a client
 * sending megabytes never stalls the loop that serves everyone else; completions then go to the
 * scheduler, whose thread sends their text back through src/net's thread-safe reply calls.
 * Nothing here logs request content: only method, route, status, token counts and timings reach
 * the metrics. */
#include "server/server.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/server.h"
#include "server/api_error.h"
#include "server/metrics.h"
#include "server/request.h"
#include "server/response.h"
#include "server/sched.h"
#include "util/secmem.h"
#include "server/textout.h"
#include "tee/identity.h"
#include "util/codec.h"
#include "util/log.h"

struct tl_server {
    tl_server_opts o;
    const tl_checkpoint *ck;
    const tl_tokenizer *tok;
    const tl_ratls *ratls;
    tl_net_server *net;
    tl_sched *sched;
    tl_metrics *metrics;
    tl_req_limits lim;
    time_t started;
    char *attestation_json; /* GET /attestation: fixed for the server's life */
    size_t max_token_bytes; /* the tokenizer's longest token: bounds the bytes of a legal prompt */
    /* the prep thread and its queue (bounded by max_connections: one request per connection) */
    pthread_t prep_thread;
    int prep_started, prep_quit, prep_len;
    pthread_mutex_t prep_lock;
    pthread_cond_t prep_cv;
    struct prep_item *prep_head, *prep_tail;
};

/* A request waiting for the prep thread. */
typedef struct prep_item {
    tl_net_req *r;
    tl_endpoint ep;
    double t0;
    struct prep_item *next;
} prep_item;

/* One completion in flight; lives from the handler until its final reply. */
typedef struct {
    tl_server *srv;
    tl_net_req *r;
    int stream, include_usage;
    char id[32];
    time_t created;
    double t0;
    char *acc; /* non-streaming: the text so far (tl_sec_malloc'd) */
    size_t acc_len, acc_cap;
    /* Held by the prep thread from submission until the stream has been opened, so the
     * scheduler's first event cannot overtake the stream's start (gate_passed: scheduler only). */
    pthread_mutex_t gate;
    int gate_passed;
    atomic_int refs; /* the prep thread's and the scheduler's (its last notification) */
} comp;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void tl_server_defaults(tl_server_opts *o)
{
    memset(o, 0, sizeof *o);
    o->listen = "127.0.0.1:8443";
    o->model_id = "teelm";
    o->max_body = 1 << 20;
    o->max_prompt_tokens = 4096;
    o->max_tokens = 1024;
    o->default_max_tokens = 16;
    o->request_timeout = 120;
    o->io_timeout = 30;
    o->recv_timeout = 20;
    o->max_connections = 64;
    o->handshake_timeout = 5;
    o->max_queue = 256;
    o->max_batch = 8;
}

/* ---------------- replies ---------------- */

static void reply_json(tl_server *s, tl_net_req *r, tl_endpoint ep, int status, const char *json, double t0)
{
    tl_net_reply_json(r, status, json);
    tl_metrics_request(s->metrics, ep, status, now_s() - t0);
}

static void reply_error(tl_server *s, tl_net_req *r, tl_endpoint ep, const tl_api_error *e, double t0)
{
    char *j = tl_api_error_json(e);
    if (e->status == 401)
        tl_net_set_header(r, "WWW-Authenticate", "Bearer");
    if (e->status == 503 || e->status == 429)
        tl_net_set_header(r, "Retry-After", "1");
    reply_json(s, r, ep, e->status, j ? j : "{}", t0);
    tl_sec_free(j);
}

/* A 200 with the response document j (taken and wiped: it may hold prompt text or token ids), or
 * a 500 when building it ran out of memory (j NULL). */
static void reply_doc(tl_server *s, tl_net_req *r, tl_endpoint ep, char *j, double t0)
{
    if (!j) {
        tl_api_error e = {0};
        tl_api_errorf(&e, 500, "server_error", NULL, NULL, "out of memory");
        reply_error(s, r, ep, &e, t0);
        return;
    }
    reply_json(s, r, ep, 200, j, t0);
    tl_sec_free(j);
}

/* ---------------- completions: the scheduler's side ---------------- */

static void comp_unref(comp *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    tl_sec_free(c->acc);
    pthread_mutex_destroy(&c->gate);
    tl_sec_free(c);
}

static int comp_cancelled(void *user)
{
    return tl_net_req_cancelled(((comp *)user)->r);
}

static const char *finish_reason(tl_job_state st)
{
    return st == TL_JOB_STOP ? "stop" : "length";
}

/* A client that left makes tl_net_stream_send fail; the scheduler notices through comp_cancelled. */
static void send_chunk(comp *c, char *data)
{
    if (data)
        tl_net_stream_send(c->r, data, strlen(data));
    tl_sec_free(data);
}

/* Called by the scheduler thread after every token of the job and once at its end. */
static void on_progress(tl_job *job, void *arg)
{
    tl_server *s = arg;
    comp *c = tl_job_user(job);
    if (!c->gate_passed) {
        pthread_mutex_lock(&c->gate); /* waits until the prep thread has opened the stream */
        pthread_mutex_unlock(&c->gate);
        c->gate_passed = 1;
    }
    char *text;
    size_t len;
    tl_job_status st;
    int oom = tl_job_take(job, &text, &len, &st);
    tl_resp_meta meta = {.id = c->id, .created = c->created, .model = s->o.model_id};
    if (c->stream) {
        if (text && len)
            send_chunk(c, tl_resp_chunk(&meta, text, len, NULL));
    } else if (text && len) {
        if (c->acc_len + len + 1 > c->acc_cap) {
            size_t cap = c->acc_cap ? c->acc_cap * 2 : 1024;
            while (cap < c->acc_len + len + 1)
                cap *= 2;
            char *p = tl_sec_realloc(c->acc, cap);
            if (p) {
                c->acc = p;
                c->acc_cap = cap;
            } else {
                oom = 1;
            }
        }
        if (!oom) {
            memcpy(c->acc + c->acc_len, text, len);
            c->acc_len += len;
            c->acc[c->acc_len] = 0;
        }
    }
    tl_sec_free(text);
    if (oom && st.state == TL_JOB_RUNNING) {
        tl_job_cancel(job);
        return;
    }
    if (st.state == TL_JOB_RUNNING)
        return;

    /* the end: one final reply, metrics, and the request's memory wiped */
    tl_api_error e = {0};
    if (oom)
        tl_api_errorf(&e, 500, "server_error", NULL, NULL, "out of memory");
    else if (st.state == TL_JOB_TIMEOUT)
        tl_api_errorf(&e, 503, "server_error", NULL, "timeout", "the completion exceeded the server's time limit of %g s",
                      s->o.request_timeout);
    else if (st.state == TL_JOB_FAILED)
        tl_api_errorf(&e, 500, "server_error", NULL, NULL, "the model failed on this request");
    else if (st.state == TL_JOB_CANCELLED)
        tl_api_errorf(&e, 499, "server_error", NULL, "cancelled", "the client closed the connection");
    tl_metrics_tokens(s->metrics, (uint64_t)st.prompt_tokens, (uint64_t)st.completion_tokens);
    if (c->stream) {
        if (e.status && e.status != 499) {
            char *j = tl_api_error_json(&e);
            send_chunk(c, tl_resp_sse_data(j));
            tl_sec_free(j);
        } else if (!e.status) {
            send_chunk(c, tl_resp_chunk(&meta, "", 0, finish_reason(st.state)));
            if (c->include_usage)
                send_chunk(c, tl_resp_usage_chunk(&meta, st.prompt_tokens, st.completion_tokens));
        }
        if (e.status != 499) {
            static const char done[] = "data: [DONE]\n\n";
            tl_net_stream_send(c->r, done, sizeof done - 1);
        }
        tl_net_stream_end(c->r);
        tl_metrics_request(s->metrics, TL_EP_COMPLETIONS, e.status == 499 ? 499 : 200, now_s() - c->t0);
    } else if (e.status) {
        reply_error(s, c->r, TL_EP_COMPLETIONS, &e, c->t0);
    } else {
        char *j = tl_resp_completion(&meta, c->acc ? c->acc : "", c->acc_len, finish_reason(st.state),
                                     st.prompt_tokens, st.completion_tokens);
        if (j) {
            reply_json(s, c->r, TL_EP_COMPLETIONS, 200, j, c->t0);
            tl_sec_free(j);
        } else {
            tl_api_errorf(&e, 500, "server_error", NULL, NULL, "out of memory");
            reply_error(s, c->r, TL_EP_COMPLETIONS, &e, c->t0);
        }
    }
    comp_unref(c);
}

/* ---------------- completions: the handler (prep thread) ---------------- */

static void handle_completion(tl_server *s, tl_net_req *r, double t0)
{
    size_t blen;
    const uint8_t *body = tl_net_req_body(r, &blen);
    tl_completion_req q;
    tl_api_error e = {0};
    uint32_t *ids = NULL;
    size_t n = 0;
    comp *c = NULL;
    if (tl_completion_parse((const char *)body, blen, &s->lim, &q, &e))
        goto fail;
    /* Every token covers at most max_token_bytes of the text (invalid UTF-8 only grows when
     * repaired), so a longer prompt cannot fit: refuse it without the tokenizer's O(size) work. */
    if (q.prompt_len > (size_t)s->o.max_prompt_tokens * s->max_token_bytes) {
        tl_api_bad_field(&e, "prompt", "prompt is %zu bytes, more than %d tokens can hold (no token is longer than %zu bytes); "
                         "this server accepts at most %d tokens", q.prompt_len, s->o.max_prompt_tokens, s->max_token_bytes,
                         s->o.max_prompt_tokens);
        goto fail;
    }
    tl_err err = {0};
    if (tl_tokenizer_encode(s->tok, q.prompt, q.prompt_len, 0, &ids, &n, &err)) {
        tl_api_bad_field(&e, "prompt", "prompt cannot be tokenized: %s", err.msg);
        goto fail;
    }
    if (n == 0) {
        tl_api_bad_field(&e, "prompt", "prompt has no tokens");
        goto fail;
    }
    if ((int64_t)n > s->o.max_prompt_tokens) {
        tl_api_bad_field(&e, "prompt", "prompt has %zu tokens; this server accepts at most %d", n, s->o.max_prompt_tokens);
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= (uint32_t)s->ck->cfg.vocab_size) {
            tl_api_bad_field(&e, "prompt", "prompt token %zu has id %u, outside this model's vocabulary of %d", i, ids[i],
                             s->ck->cfg.vocab_size);
            goto fail;
        }
    c = calloc(1, sizeof *c);
    if (!c) {
        tl_api_errorf(&e, 500, "server_error", NULL, NULL, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&c->gate, NULL);
    atomic_init(&c->refs, 2);
    c->srv = s;
    c->r = r;
    c->stream = q.stream;
    c->include_usage = q.include_usage;
    c->created = time(NULL);
    c->t0 = t0;
    tl_resp_new_id(c->id);
    uint64_t seed = q.seed;
    if (!q.has_seed && RAND_bytes((unsigned char *)&seed, sizeof seed) != 1)
        seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)c;
    tl_job_spec spec = {
        .prompt = ids, .n_prompt = (int)n, .max_tokens = q.max_tokens,
        .sample = {.temperature = (float)q.temperature, .top_k = q.top_k, .top_p = (float)q.top_p},
        .seed = seed, .stop = (const char *const *)q.stop, .stop_len = q.stop_len, .nstop = q.nstop,
        .timeout = s->o.request_timeout, .user = c, .cancelled = comp_cancelled,
    };
    const int stream = c->stream;
    if (stream) {
        tl_net_set_header(r, "Cache-Control", "no-cache");
        tl_net_set_header(r, "X-Accel-Buffering", "no");
    }
    int full = 0;
    pthread_mutex_lock(&c->gate);
    tl_job *job = tl_sched_submit(s->sched, &spec, &full, &err);
    if (!job) {
        pthread_mutex_unlock(&c->gate);
        comp_unref(c);
        comp_unref(c);
        c = NULL;
        if (full)
            tl_api_errorf(&e, 503, "server_error", NULL, "overloaded",
                          "the server is at capacity (%d completions waiting); retry later", s->o.max_queue);
        else
            tl_api_errorf(&e, 500, "server_error", NULL, NULL, "cannot queue the completion");
        goto fail;
    }
    /* From here the scheduler owns the reply (on_progress). Its first notification waits at the
     * gate, so the stream opens before any event and the client sees it while the request waits
     * its turn; the gate is the last use of c here. */
    if (stream)
        tl_net_stream_start(r, 200, "text/event-stream");
    pthread_mutex_unlock(&c->gate);
    comp_unref(c);
    tl_job_unref(job);
    tl_sec_free(ids);
    tl_completion_req_free(&q);
    return;
fail:
    tl_sec_free(ids);
    tl_completion_req_free(&q);
    reply_error(s, r, TL_EP_COMPLETIONS, &e, t0);
}

/* ---------------- the other routes ---------------- */

static void handle_tokenize(tl_server *s, tl_net_req *r, double t0)
{
    size_t blen;
    const uint8_t *body = tl_net_req_body(r, &blen);
    char *text;
    size_t tlen;
    tl_api_error e = {0};
    if (tl_tokenize_parse((const char *)body, blen, &s->lim, &text, &tlen, &e)) {
        reply_error(s, r, TL_EP_TOKENIZE, &e, t0);
        return;
    }
    uint32_t *ids = NULL;
    size_t n = 0;
    tl_err err = {0};
    int rc = tl_tokenizer_encode(s->tok, text, tlen, 0, &ids, &n, &err);
    tl_sec_free(text);
    if (rc) {
        tl_api_bad_field(&e, "prompt", "prompt cannot be tokenized: %s", err.msg);
        reply_error(s, r, TL_EP_TOKENIZE, &e, t0);
        return;
    }
    char *j = tl_resp_tokens(ids, n, s->ck->cfg.context_length);
    tl_sec_free(ids);
    reply_doc(s, r, TL_EP_TOKENIZE, j, t0);
}

static void handle_detokenize(tl_server *s, tl_net_req *r, double t0)
{
    size_t blen;
    const uint8_t *body = tl_net_req_body(r, &blen);
    uint32_t *ids;
    size_t n;
    tl_api_error e = {0};
    if (tl_detokenize_parse((const char *)body, blen, &s->lim, tl_tokenizer_vocab_size(s->tok), blen / 2 + 1, &ids, &n, &e)) {
        reply_error(s, r, TL_EP_DETOKENIZE, &e, t0);
        return;
    }
    char *raw = NULL, *text = NULL;
    size_t rlen = 0;
    tl_err err = {0};
    int rc = tl_tokenizer_decode(s->tok, ids, n, &raw, &rlen, &err);
    tl_sec_free(ids);
    if (rc) {
        tl_sec_free(raw);
        tl_api_bad_field(&e, "tokens", "tokens cannot be decoded: %s", err.msg);
        reply_error(s, r, TL_EP_DETOKENIZE, &e, t0);
        return;
    }
    long tlen = tl_utf8_sanitize(raw, rlen, &text);
    tl_sec_free(raw);
    char *j = tlen >= 0 ? tl_resp_detokenized(text, (size_t)tlen) : NULL;
    tl_sec_free(text);
    reply_doc(s, r, TL_EP_DETOKENIZE, j, t0);
}

static void handle_health(tl_server *s, tl_net_req *r, double t0)
{
    int waiting = 0, active = 0;
    tl_sched_load(s->sched, &waiting, &active);
    json_t *o = json_pack("{s:s,s:s,s:s,s:b,s:i,s:i,s:I}", "status", "ok", "model", s->o.model_id, "tee",
                          s->ratls->tee, "simulated", s->ratls->simulated, "queue_depth", waiting, "active", active,
                          "uptime_s", (json_int_t)(time(NULL) - s->started));
    char *j = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    reply_json(s, r, TL_EP_HEALTH, 200, j ? j : "{\"status\":\"ok\"}", t0);
    tl_sec_free(j);
}

static void handle_metrics(tl_server *s, tl_net_req *r, double t0)
{
    int waiting = 0, active = 0;
    tl_sched_load(s->sched, &waiting, &active);
    tl_metrics_queue(s->metrics, waiting, active);
    size_t len = 0;
    char *text = tl_metrics_render(s->metrics, &len);
    tl_net_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", text ? text : "", text ? len : 0);
    tl_metrics_request(s->metrics, TL_EP_METRICS, 200, now_s() - t0);
    free(text);
}

static void handle_models(tl_server *s, tl_net_req *r, const char *path, double t0)
{
    tl_api_error e = {0};
    if (!strcmp(path, "/v1/models")) {
        char *j = tl_resp_models(s->o.model_id, s->started);
        reply_json(s, r, TL_EP_MODELS, 200, j ? j : "{}", t0);
        tl_sec_free(j);
        return;
    }
    const char *want = path + strlen("/v1/models/");
    if (strcmp(want, s->o.model_id) != 0) {
        tl_api_errorf(&e, 404, "invalid_request_error", "model", "model_not_found", "The model does not exist (this server serves '%s')",
                      s->o.model_id);
        reply_error(s, r, TL_EP_MODELS, &e, t0);
        return;
    }
    json_t *o = json_pack("{s:s,s:s,s:I,s:s}", "id", s->o.model_id, "object", "model", "created",
                          (json_int_t)s->started, "owned_by", "teelm");
    char *j = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    reply_json(s, r, TL_EP_MODELS, 200, j ? j : "{}", t0);
    tl_sec_free(j);
}

/* Printable, bounded copy of a request path for an error message. */
static const char *safe_path(const char *p, char *buf, size_t n)
{
    size_t i = 0;
    for (; p[i] && i + 4 < n; i++)
        buf[i] = (p[i] > 0x20 && p[i] < 0x7f) ? p[i] : '?';
    if (p[i])
        memcpy(buf + i, "...", 3), i += 3;
    buf[i] = 0;
    return buf;
}

typedef struct {
    const char *path;
    int prefix;
    const char *method;
    tl_endpoint ep;
    int open; /* served without an API key */
} route;

static const route routes[] = {
    {"/v1/completions", 0, "POST", TL_EP_COMPLETIONS, 0},
    {"/v1/models", 0, "GET", TL_EP_MODELS, 0},
    {"/v1/models/", 1, "GET", TL_EP_MODELS, 0},
    {"/health", 0, "GET", TL_EP_HEALTH, 1},
    {"/metrics", 0, "GET", TL_EP_METRICS, 0},
    {"/tokenize", 0, "POST", TL_EP_TOKENIZE, 0},
    {"/detokenize", 0, "POST", TL_EP_DETOKENIZE, 0},
    {"/attestation", 0, "GET", TL_EP_ATTESTATION, 1},
};

/* ---------------- the prep thread ---------------- */

static void prep_run(tl_server *s, prep_item *it)
{
    if (tl_net_req_cancelled(it->r)) {
        /* the client left while the request waited: skip the work; the reply is dropped */
        tl_api_error e = {0};
        tl_api_errorf(&e, 499, "server_error", NULL, "cancelled", "the client closed the connection");
        reply_error(s, it->r, it->ep, &e, it->t0);
    } else if (it->ep == TL_EP_COMPLETIONS) {
        handle_completion(s, it->r, it->t0);
    } else if (it->ep == TL_EP_TOKENIZE) {
        handle_tokenize(s, it->r, it->t0);
    } else {
        handle_detokenize(s, it->r, it->t0);
    }
    free(it);
}

static void *prep_loop(void *arg)
{
    tl_server *s = arg;
    pthread_mutex_lock(&s->prep_lock);
    for (;;) {
        while (!s->prep_quit && !s->prep_head)
            pthread_cond_wait(&s->prep_cv, &s->prep_lock);
        if (s->prep_quit)
            break;
        prep_item *it = s->prep_head;
        s->prep_head = it->next;
        if (!s->prep_head)
            s->prep_tail = NULL;
        s->prep_len--;
        pthread_mutex_unlock(&s->prep_lock);
        prep_run(s, it);
        pthread_mutex_lock(&s->prep_lock);
    }
    pthread_mutex_unlock(&s->prep_lock);
    return NULL;
}

/* Loop thread: queues a request for the prep thread; 0, or -1 when full (or out of memory). */
static int prep_submit(tl_server *s, tl_net_req *r, tl_endpoint ep, double t0)
{
    prep_item *it = calloc(1, sizeof *it);
    if (!it)
        return -1;
    it->r = r;
    it->ep = ep;
    it->t0 = t0;
    pthread_mutex_lock(&s->prep_lock);
    if (s->prep_len >= s->o.max_connections || s->prep_quit) {
        pthread_mutex_unlock(&s->prep_lock);
        free(it);
        return -1;
    }
    if (s->prep_tail)
        s->prep_tail->next = it;
    else
        s->prep_head = it;
    s->prep_tail = it;
    s->prep_len++;
    pthread_cond_signal(&s->prep_cv);
    pthread_mutex_unlock(&s->prep_lock);
    return 0;
}

/* Stops the prep thread; requests still queued are answered 503 (delivered only if the network
 * layer still runs; otherwise they go with it). */
static void prep_stop(tl_server *s)
{
    if (!s->prep_started)
        return;
    pthread_mutex_lock(&s->prep_lock);
    s->prep_quit = 1;
    prep_item *rest = s->prep_head;
    s->prep_head = s->prep_tail = NULL;
    s->prep_len = 0;
    pthread_cond_signal(&s->prep_cv);
    pthread_mutex_unlock(&s->prep_lock);
    pthread_join(s->prep_thread, NULL);
    s->prep_started = 0;
    while (rest) {
        prep_item *next = rest->next;
        tl_api_error e = {0};
        tl_api_errorf(&e, 503, "server_error", NULL, "shutting_down", "the server is shutting down");
        reply_error(s, rest->r, rest->ep, &e, rest->t0);
        free(rest);
        rest = next;
    }
}

static void handle(tl_net_req *r, void *arg)
{
    tl_server *s = arg;
    double t0 = now_s();
    const char *path = tl_net_req_path(r), *method = tl_net_req_method(r);
    tl_api_error e = {0};
    char b[96];
    if (s->o.warning)
        tl_net_set_header(r, "X-Teelm-Warning", s->o.warning);
    const route *rt = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (routes[i].prefix ? !strncmp(path, routes[i].path, strlen(routes[i].path)) && path[strlen(routes[i].path)]
                             : !strcmp(path, routes[i].path)) {
            rt = &routes[i];
            break;
        }
    if (!rt) {
        tl_api_errorf(&e, 404, "invalid_request_error", NULL, "unknown_url", "Unknown request URL: %s %s", method,
                      safe_path(path, b, 64));
        reply_error(s, r, TL_EP_OTHER, &e, t0);
        return;
    }
    if (strcmp(method, rt->method) != 0 && !(strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
        tl_net_set_header(r, "Allow", rt->method);
        tl_api_errorf(&e, 405, "invalid_request_error", NULL, "method_not_allowed", "%s %s is not allowed; use %s", method,
                      safe_path(path, b, 64), rt->method);
        reply_error(s, r, rt->ep, &e, t0);
        return;
    }
    if (s->o.keys && !rt->open && !tl_apikeys_check(s->o.keys, tl_net_req_header(r, "Authorization"))) {
        const char *auth = tl_net_req_header(r, "Authorization");
        tl_api_errorf(&e, 401, "invalid_request_error", NULL, "invalid_api_key",
                      auth ? "Incorrect API key provided" : "You didn't provide an API key (Authorization: Bearer KEY)");
        reply_error(s, r, rt->ep, &e, t0);
        return;
    }
    switch (rt->ep) {
    case TL_EP_COMPLETIONS:
    case TL_EP_TOKENIZE:
    case TL_EP_DETOKENIZE:
        if (prep_submit(s, r, rt->ep, t0)) {
            tl_api_errorf(&e, 503, "server_error", NULL, "overloaded",
                          "the server is at capacity (%d requests being parsed); retry later", s->o.max_connections);
            reply_error(s, r, rt->ep, &e, t0);
        }
        break;
    case TL_EP_MODELS: handle_models(s, r, path, t0); break;
    case TL_EP_HEALTH: handle_health(s, r, t0); break;
    case TL_EP_METRICS: handle_metrics(s, r, t0); break;
    default: reply_json(s, r, TL_EP_ATTESTATION, 200, s->attestation_json, t0); break;
    }
}

/* ---------------- lifecycle ---------------- */

static char *attestation_json(const tl_ratls *ra)
{
    char *b64 = tl_b64_encode(ra->evidence, ra->evidence_len);
    char hash[65], rd[129], ch[65];
    tl_hex(ra->pubkey_hash, 32, hash);
    tl_hex(ra->report_data, 64, rd);
    tl_hex(ra->config_hash, 32, ch);
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long pemn = 0;
    if (bio && PEM_write_bio_X509(bio, ra->cert))
        pemn = BIO_get_mem_data(bio, &pem);
    char *out = NULL;
    if (b64 && pem) {
        json_t *o = json_pack("{s:s,s:b,s:s,s:s,s:s,s:s,s:s%,s:s,s:s,s:s}", "tee", ra->tee, "simulated", ra->simulated,
                              "evidence", b64, "pubkey_sha256", hash, "config_sha256", ch, "report_data", rd,
                              "certificate", pem, (size_t)pemn, "configuration", ra->config ? ra->config : "",
                              "binding", "report_data = binding(\"ra-tls\", SHA-256(DER SubjectPublicKeyInfo), "
                                         "SHA-256(configuration)) (docs/bindings.md)",
                              "note", ra->simulated ? "SIMULATION: this evidence is signed by a public test key and proves nothing"
                                                    : "verify the evidence and the binding before trusting this server (docs/ra-tls.md)");
        out = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
    }
    BIO_free(bio);
    free(b64);
    return out;
}

tl_server *tl_server_new(const tl_server_opts *o, const tl_checkpoint *ck, const tl_tokenizer *tok,
                         const tl_ratls *ratls, tl_err *err)
{
    tl_server *s = calloc(1, sizeof *s);
    if (!s) {
        tl_errf(err, TL_ENOMEM, "out of memory");
        return NULL;
    }
    s->o = *o;
    s->ck = ck;
    s->tok = tok;
    s->ratls = ratls;
    s->started = time(NULL);
    s->lim.max_tokens = o->max_tokens;
    s->lim.default_max_tokens = o->default_max_tokens;
    s->lim.model_id = o->model_id;
    s->metrics = tl_metrics_new();
    s->attestation_json = attestation_json(ratls);
    pthread_mutex_init(&s->prep_lock, NULL);
    pthread_cond_init(&s->prep_cv, NULL);
    if (!s->metrics || !s->attestation_json) {
        tl_errf(err, TL_ENOMEM, "out of memory");
        goto fail;
    }
    for (uint32_t id = 0, n = tl_tokenizer_vocab_size(tok); id < n; id++) {
        size_t len = 0;
        if (tl_tokenizer_token_bytes(tok, id, &len) && len > s->max_token_bytes)
            s->max_token_bytes = len;
    }
    if (!s->max_token_bytes)
        s->max_token_bytes = 1;
    tl_sched_opts so = {.cfg = &ck->cfg, .params = ck->params, .tok = tok, .max_batch = o->max_batch,
                        .max_queue = o->max_queue, .threads = o->threads, .metrics = s->metrics,
                        .notify = on_progress, .notify_user = s};
    if (!(s->sched = tl_sched_new(&so, err)))
        goto fail;
    tl_api_error big;
    tl_api_errorf(&big, 413, "invalid_request_error", NULL, "body_too_large", "request body is larger than %d bytes",
                  o->max_body);
    char *big_json = tl_api_error_json(&big);
    tl_net_server_opts no = {.listen = o->listen, .cert = ratls->cert, .key = ratls->key,
                             .max_body = (size_t)o->max_body, .timeout_s = o->io_timeout,
                             .request_timeout_s = o->recv_timeout, .max_conns = o->max_connections,
                             .max_conns_per_peer = o->max_connections_per_peer,
                             .handshake_timeout_s = o->handshake_timeout,
                             .too_large_json = big_json, .name = "serve"};
    s->net = tl_net_server_new(&no, handle, s, err);
    tl_sec_free(big_json);
    if (!s->net)
        goto fail;
    if (pthread_create(&s->prep_thread, NULL, prep_loop, s)) {
        tl_errf(err, TL_EIO, "cannot start the request thread");
        goto fail;
    }
    s->prep_started = 1;
    return s;
fail:
    tl_server_free(s);
    return NULL;
}

int tl_server_port(const tl_server *s)
{
    return tl_net_server_port(s->net);
}

int tl_server_run(tl_server *s)
{
    return tl_net_server_run(s->net);
}

void tl_server_stop(tl_server *s)
{
    tl_net_server_stop(s->net);
}

void tl_server_free(tl_server *s)
{
    if (!s)
        return;
    /* the prep thread first (it submits to the scheduler), then the scheduler: their last
     * replies still go through the network layer */
    prep_stop(s);
    tl_sched_free(s->sched);
    tl_net_server_free(s->net);
    tl_metrics_free(s->metrics);
    free(s->attestation_json);
    pthread_cond_destroy(&s->prep_cv);
    pthread_mutex_destroy(&s->prep_lock);
    free(s);
}
