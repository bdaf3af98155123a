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
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/server.h"
#include "server/api_error.h"
#include "server/metrics.h"
#include "server/receipt.h"
#include "server/request.h"
#include "server/response.h"
#include "server/sched.h"
#include "util/grow.h"
#include "util/fifo.h"
#include "util/secmem.h"
#include "server/textout.h"
#include "chat/chat_encode.h"
#include "chat/chat_template.h"
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
    int hf;                 /* a Hugging Face family model (tl_lm: positions continue, EOS ids) */
    int ctx;                /* hf: positions per sequence (prompt + completion) */
    unsigned enc_flags;     /* how prompts are encoded */
    tl_chat_template *chat; /* NULL: no chat template */
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

typedef struct comp comp;

/* One choice of a completion: one scheduler job. Fields after job: scheduler thread only. */
typedef struct {
    comp *c;
    tl_job *job;
    int index, started, oom;
    char *acc;        /* non-streaming: the text so far (tl_sec_malloc'd) */
    size_t acc_len, acc_cap;
    tl_lp_rec *lp;    /* non-streaming: logprob records so far */
    size_t lp_bytes, lp_cap;
    int n_lp;
    size_t offset;    /* legacy logprobs: text_offset of the next token */
    tl_job_status st; /* at its end */
} choice_st;

/* One completion request in flight (n choices); lives from the handler until its final reply. */
struct comp {
    tl_server *srv;
    tl_net_req *r;
    int chat, stream, include_usage, logprobs, prompt_tokens;
    char id[48];
    time_t created;
    double t0;
    char *echo;       /* completions with echo: the prompt */
    size_t echo_len;
    tl_api_error refused; /* a choice could not be queued: the reply is this error */
    uint8_t req_sha256[32];    /* receipts: SHA-256 of the request body as received */
    tl_receipt_sampling samp;  /* receipts: the sampling parameters used */
    /* Held by the prep thread from submission until the stream has been opened, so the
     * scheduler's first event cannot overtake the stream's start (gate_passed: scheduler only). */
    pthread_mutex_t gate;
    int gate_passed;
    int n, n_jobs, n_done;
    atomic_int refs; /* the prep thread's and one per job (its last notification) */
    choice_st ch[];
};

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
    o->max_n = 8;
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
    for (int i = 0; i < c->n; i++) {
        tl_sec_free(c->ch[i].acc);
        tl_sec_free(c->ch[i].lp);
    }
    tl_sec_free(c->echo);
    pthread_mutex_destroy(&c->gate);
    tl_sec_free(c);
}

static int comp_cancelled(void *user)
{
    return tl_net_req_cancelled(((choice_st *)user)->c->r);
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

static int append(char **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
    if (TL_GROW_SECRET(*buf, cap, *len + n + 1, 1024))
        return -1;
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

static json_t *lp_json(tl_server *s, comp *c, choice_st *h, const tl_lp_rec *recs, int n)
{
    if (c->logprobs < 0)
        return NULL;
    return c->chat ? tl_resp_logprobs_chat(s->tok, recs, n, c->logprobs)
                   : tl_resp_logprobs_legacy(s->tok, recs, n, c->logprobs, &h->offset);
}

/* The receipt hook (docs/receipts.md): body, the finished response or its last event, gets the
 * signed receipt of the request, every choice's whole text and finish_reason, usage and sampling
 * parameters as its "teelm_receipt" member. Without receipts body is returned as it is. NULL
 * (body freed) when out of memory. */
static char *with_receipt(tl_server *s, comp *c, char *body, const int usage[2])
{
    if (!s->o.receipts || !body)
        return body;
    tl_receipt_choice ch[64];
    for (int i = 0; i < c->n && i < 64; i++)
        ch[i] = (tl_receipt_choice){.text = c->ch[i].acc ? c->ch[i].acc : "", .len = c->ch[i].acc_len,
                                    .finish_reason = finish_reason(c->ch[i].st.state)};
    tl_receipt_in in = {.endpoint = c->chat ? "/v1/chat/completions" : "/v1/completions",
                        .request_sha256 = c->req_sha256, .choices = ch, .n = c->n < 64 ? c->n : 64,
                        .prompt_tokens = usage[0], .completion_tokens = usage[1], .sampling = &c->samp};
    char *r = tl_receipt_issue(s->o.receipts, &in);
    char *out = tl_receipt_attach(body, r);
    free(r);
    return out;
}

/* The end of the last choice: one final reply (or the stream's end), metrics. */
static void comp_final(tl_server *s, comp *c)
{
    tl_resp_meta meta = {.id = c->id, .created = c->created, .model = s->o.model_id};
    const tl_endpoint ep = c->chat ? TL_EP_CHAT : TL_EP_COMPLETIONS;
    tl_api_error e = c->refused;
    int usage[2] = {c->prompt_tokens, 0};
    for (int i = 0; i < c->n_jobs && !e.status; i++) {
        tl_job_state st = c->ch[i].st.state;
        usage[1] += c->ch[i].st.completion_tokens;
        if (c->ch[i].oom)
            tl_api_errorf(&e, 500, "server_error", NULL, NULL, "out of memory");
        else if (st == TL_JOB_TIMEOUT)
            tl_api_errorf(&e, 503, "server_error", NULL, "timeout", "the completion exceeded the server's time limit of %g s",
                          s->o.request_timeout);
        else if (st == TL_JOB_FAILED)
            tl_api_errorf(&e, 500, "server_error", NULL, NULL, "the model failed on this request");
        else if (st == TL_JOB_CANCELLED)
            tl_api_errorf(&e, 499, "server_error", NULL, "cancelled", "the client closed the connection");
    }
    tl_metrics_tokens(s->metrics, (uint64_t)usage[0], (uint64_t)usage[1]);
    if (c->stream) {
        if (e.status && e.status != 499) {
            char *j = tl_api_error_json(&e);
            send_chunk(c, tl_resp_sse_data(j));
            tl_sec_free(j);
        } else if (!e.status && (c->include_usage || s->o.receipts)) {
            /* with receipts the last event always carries usage: the receipt covers it */
            send_chunk(c, with_receipt(s, c, tl_resp_build(&meta, c->chat, 1, NULL, 0, usage), usage));
        }
        if (e.status != 499) {
            static const char done[] = "data: [DONE]\n\n";
            tl_net_stream_send(c->r, done, sizeof done - 1);
        }
        tl_net_stream_end(c->r);
        tl_metrics_request(s->metrics, ep, e.status == 499 ? 499 : 200, now_s() - c->t0);
        return;
    }
    if (e.status) {
        reply_error(s, c->r, ep, &e, c->t0);
        return;
    }
    tl_resp_choice *rc = calloc((size_t)c->n, sizeof *rc);
    char *j = NULL;
    if (rc) {
        for (int i = 0; i < c->n; i++) {
            choice_st *h = &c->ch[i];
            rc[i] = (tl_resp_choice){.text = h->acc ? h->acc : "", .len = h->acc_len, .index = i,
                                     .finish_reason = finish_reason(h->st.state),
                                     .logprobs = lp_json(s, c, h, h->lp, h->n_lp)};
        }
        j = with_receipt(s, c, tl_resp_build(&meta, c->chat, 0, rc, c->n, usage), usage);
        for (int i = 0; i < c->n; i++)
            json_decref(rc[i].logprobs);
        free(rc);
    }
    if (j) {
        reply_json(s, c->r, ep, 200, j, c->t0);
        tl_sec_free(j);
    } else {
        tl_api_errorf(&e, 500, "server_error", NULL, NULL, "out of memory");
        reply_error(s, c->r, ep, &e, c->t0);
    }
}

/* Called by the scheduler thread after every token of a job and once at its end. */
static void on_progress(tl_job *job, void *arg)
{
    tl_server *s = arg;
    choice_st *h = tl_job_user(job);
    comp *c = h->c;
    if (!c->gate_passed) {
        pthread_mutex_lock(&c->gate); /* waits until the prep thread has opened the stream */
        pthread_mutex_unlock(&c->gate);
        c->gate_passed = 1;
    }
    char *text;
    size_t len;
    tl_job_status st;
    tl_lp_rec *recs = NULL;
    int nrec = 0;
    int oom = tl_job_take(job, &text, &len, &st);
    if (c->logprobs >= 0 && tl_job_take_logprobs(job, &recs, &nrec))
        oom = 1;
    tl_resp_meta meta = {.id = c->id, .created = c->created, .model = s->o.model_id};
    if (c->stream && !oom && !c->refused.status) {
        if (!h->started) { /* the choice's first event: chat's role, completions' echoed prompt */
            h->started = 1;
            if (c->chat) {
                tl_resp_choice r0 = {.text = "", .len = 0, .index = h->index, .role = 1};
                send_chunk(c, tl_resp_build(&meta, 1, 1, &r0, 1, NULL));
            } else if (c->echo_len) {
                /* with logprobs the prompt's records (the first prompt_tokens) go with its text */
                const int np = c->logprobs >= 0 ? (nrec < c->prompt_tokens ? nrec : c->prompt_tokens) : 0;
                tl_resp_choice r0 = {.text = c->echo, .len = c->echo_len, .index = h->index,
                                     .logprobs = np ? lp_json(s, c, h, recs, np) : NULL};
                if (!np)
                    h->offset = c->echo_len;
                send_chunk(c, tl_resp_build(&meta, 0, 1, &r0, 1, NULL));
                json_decref(r0.logprobs);
                if (np) {
                    memmove(recs, recs + np, (size_t)(nrec - np) * sizeof *recs);
                    nrec -= np;
                }
                if (s->o.receipts && append(&h->acc, &h->acc_len, &h->acc_cap, c->echo, c->echo_len))
                    oom = 1;
            }
        }
        /* receipts hash the whole streamed text at the end */
        if (s->o.receipts && text && len && append(&h->acc, &h->acc_len, &h->acc_cap, text, len))
            oom = 1;
        const int end = st.state != TL_JOB_RUNNING && st.state != TL_JOB_CANCELLED && st.state != TL_JOB_TIMEOUT &&
                        st.state != TL_JOB_FAILED;
        if ((text && len) || nrec || end) {
            tl_resp_choice r1 = {.text = text ? text : "", .len = len, .index = h->index,
                                 .finish_reason = end ? finish_reason(st.state) : NULL,
                                 .logprobs = lp_json(s, c, h, recs, nrec), .no_content = c->chat && !len && end};
            send_chunk(c, tl_resp_build(&meta, c->chat, 1, &r1, 1, NULL));
            json_decref(r1.logprobs);
        }
    } else if (!c->stream && !oom) {
        if ((text && len && append(&h->acc, &h->acc_len, &h->acc_cap, text, len)) ||
            (nrec && append((char **)&h->lp, &h->lp_bytes, &h->lp_cap, recs, (size_t)nrec * sizeof *recs)))
            oom = 1;
        h->n_lp = (int)(h->lp_bytes / sizeof *recs);
    }
    tl_sec_free(text);
    tl_sec_free(recs);
    if (oom)
        h->oom = 1;
    if (oom && st.state == TL_JOB_RUNNING) {
        tl_job_cancel(job);
        return;
    }
    if (st.state == TL_JOB_RUNNING)
        return;
    h->st = st;
    if (++c->n_done == c->n_jobs)
        comp_final(s, c);
    comp_unref(c);
}

/* ---------------- completions: the handler (prep thread) ---------------- */

static void handle_completion(tl_server *s, tl_net_req *r, double t0, int chat)
{
    size_t blen;
    const uint8_t *body = tl_net_req_body(r, &blen);
    tl_chat_req cq;
    memset(&cq, 0, sizeof cq);
    tl_completion_req *q = &cq.c;
    tl_api_error e = {0};
    uint32_t *ids = NULL;
    size_t n = 0;
    comp *c = NULL;
    const tl_endpoint ep = chat ? TL_EP_CHAT : TL_EP_COMPLETIONS;
    tl_err err = {0};
    if (chat ? tl_chat_parse((const char *)body, blen, &s->lim, &cq, &e)
             : tl_completion_parse((const char *)body, blen, &s->lim, q, &e))
        goto fail;
    if (chat) {
        if (!s->chat) {
            tl_api_errorf(&e, 400, "invalid_request_error", "messages", "no_chat_template",
                          "this server has no chat template (start it with --chat-template NAME|FILE)");
            goto fail;
        }
        tl_chat_msg *msgs = calloc(cq.n_msgs, sizeof *msgs);
        if (!msgs) {
            tl_api_errorf(&e, 500, "server_error", NULL, NULL, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < cq.n_msgs; i++)
            msgs[i] = (tl_chat_msg){.role = cq.msgs[i].role, .content = cq.msgs[i].content,
                                    .content_len = cq.msgs[i].content_len};
        tl_chat_input in = {.messages = msgs, .n_messages = cq.n_msgs, .bos_token = s->o.bos_token,
                            .eos_token = s->o.eos_token, .add_generation_prompt = 1, .now = (int64_t)time(NULL)};
        tl_chat_prompt p;
        memset(&p, 0, sizeof p);
        int rc = tl_chat_template_render(s->chat, &in, &p, &err);
        free(msgs);
        if (!rc)
            rc = tl_chat_encode(s->tok, &p, &ids, &n, NULL, &err);
        tl_chat_prompt_free(&p);
        if (rc) {
            tl_api_bad_field(&e, "messages", "the conversation cannot be made a prompt: %s", err.msg);
            goto fail;
        }
    } else {
        /* Every token covers at most max_token_bytes of the text (invalid UTF-8 only grows when
         * repaired), so a longer prompt cannot fit: refuse it without the tokenizer's O(size) work. */
        if (q->prompt_len > (size_t)s->o.max_prompt_tokens * s->max_token_bytes) {
            tl_api_bad_field(&e, "prompt", "prompt is %zu bytes, more than %d tokens can hold (no token is longer than %zu bytes); "
                             "this server accepts at most %d tokens", q->prompt_len, s->o.max_prompt_tokens, s->max_token_bytes,
                             s->o.max_prompt_tokens);
            goto fail;
        }
        if (tl_tokenizer_encode_ex(s->tok, q->prompt, q->prompt_len, s->enc_flags, &ids, &n, &err)) {
            tl_api_bad_field(&e, "prompt", "prompt cannot be tokenized: %s", err.msg);
            goto fail;
        }
    }
    const char *pf = chat ? "messages" : "prompt";
    if (n == 0) {
        tl_api_bad_field(&e, pf, "%s has no tokens", pf);
        goto fail;
    }
    if ((int64_t)n > s->o.max_prompt_tokens) {
        tl_api_bad_field(&e, pf, "the prompt has %zu tokens; this server accepts at most %d", n, s->o.max_prompt_tokens);
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= (uint32_t)s->ck->cfg.vocab_size) {
            tl_api_bad_field(&e, pf, "prompt token %zu has id %u, outside this model's vocabulary of %d", i, ids[i],
                             s->ck->cfg.vocab_size);
            goto fail;
        }
    if (s->hf && (long)n + q->max_tokens > s->ctx) {
        /* positions continue (no window): the whole completion must fit. A max_tokens the client
         * chose is refused, as OpenAI does; the default is capped to the room left. */
        if (q->has_max_tokens || (long)n >= s->ctx) {
            const char *mf = q->has_max_tokens ? (chat ? "max_completion_tokens" : "max_tokens") : pf;
            tl_api_errorf(&e, 400, "invalid_request_error", chat && q->has_max_tokens ? "max_tokens" : mf,
                          "context_length_exceeded",
                          "This model's maximum context length is %d tokens. However, you requested %ld tokens "
                          "(%zu in the %s, %d in the completion). Please reduce the length of the %s or "
                          "max_tokens.", s->ctx, (long)n + (q->has_max_tokens ? q->max_tokens : 1), n,
                          chat ? "messages" : "prompt", q->has_max_tokens ? q->max_tokens : 1, chat ? "messages" : "prompt");
            goto fail;
        }
        q->max_tokens = s->ctx - (int)n;
    }
    c = calloc(1, sizeof *c + (size_t)q->n * sizeof c->ch[0]);
    if (!c) {
        tl_api_errorf(&e, 500, "server_error", NULL, NULL, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&c->gate, NULL);
    c->n = q->n;
    atomic_init(&c->refs, 1);
    c->srv = s;
    c->r = r;
    c->chat = chat;
    c->stream = q->stream;
    c->include_usage = q->include_usage;
    c->logprobs = q->logprobs;
    c->prompt_tokens = (int)n;
    c->created = time(NULL);
    c->t0 = t0;
    if (s->o.receipts)
        SHA256(body, blen, c->req_sha256);
    if (!chat && q->echo) {
        if (!(c->echo = tl_sec_malloc(q->prompt_len + 1))) {
            comp_unref(c);
            c = NULL;
            tl_api_errorf(&e, 500, "server_error", NULL, NULL, "out of memory");
            goto fail;
        }
        memcpy(c->echo, q->prompt, q->prompt_len);
        c->echo_len = q->prompt_len;
    }
    char idb[32];
    tl_resp_new_id(idb);
    snprintf(c->id, sizeof c->id, "%s%s", chat ? "chatcmpl-" : "cmpl-", idb + 5);
    uint64_t seed = q->seed;
    if (!q->has_seed && RAND_bytes((unsigned char *)&seed, sizeof seed) != 1)
        seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)c;
    c->samp = (tl_receipt_sampling){.temperature = (float)q->temperature, .top_p = (float)q->top_p, .top_k = q->top_k,
                                    .max_tokens = q->max_tokens, .n = q->n, .logprobs = q->logprobs, .echo = q->echo,
                                    .seed = seed, .seed_from_server = !q->has_seed};
    const char *stops[TL_SCHED_MAX_STOP];
    size_t stop_len[TL_SCHED_MAX_STOP];
    int nstop = 0;
    for (int i = 0; i < q->nstop; i++, nstop++) {
        stops[nstop] = q->stop[i];
        stop_len[nstop] = q->stop_len[i];
    }
    if (chat && s->o.chat_stop) { /* the plain template's next turn */
        stops[nstop] = s->o.chat_stop;
        stop_len[nstop++] = strlen(s->o.chat_stop);
    }
    tl_job_spec spec = {
        .prompt = ids, .n_prompt = (int)n, .max_tokens = q->max_tokens,
        .sample = {.temperature = (float)q->temperature, .top_k = q->top_k, .top_p = (float)q->top_p},
        .stop = stops, .stop_len = stop_len, .nstop = nstop, .logprobs = q->logprobs,
        .prompt_logprobs = !chat && q->echo,
        .timeout = s->o.request_timeout, .cancelled = comp_cancelled,
    };
    const int stream = c->stream;
    if (stream) {
        tl_net_set_header(r, "Cache-Control", "no-cache");
        tl_net_set_header(r, "X-Accel-Buffering", "no");
    }
    int full = 0;
    pthread_mutex_lock(&c->gate);
    /* n choices, each its own job and cache slot, decoded in the same batch; choice i's RNG
     * stream is seeded with seed + i * golden (choice 0 is what n = 1 gives with that seed) */
    for (int i = 0; i < c->n; i++) {
        c->ch[i].c = c;
        c->ch[i].index = i;
        if (c->echo_len && !c->stream) { /* the text starts with the prompt */
            c->ch[i].offset = c->logprobs >= 0 ? 0 : c->echo_len; /* else the prompt's records count it */
            if (append(&c->ch[i].acc, &c->ch[i].acc_len, &c->ch[i].acc_cap, c->echo, c->echo_len))
                c->ch[i].oom = 1;
        }
        spec.seed = seed + (uint64_t)i * 0x9E3779B97F4A7C15ull;
        spec.user = &c->ch[i];
        spec.group = c; /* the choices share the prompt's cached rows (computed once) */
        atomic_fetch_add(&c->refs, 1);
        tl_job *job = tl_sched_submit(s->sched, &spec, &full, &err);
        if (!job) {
            atomic_fetch_sub(&c->refs, 1);
            if (full)
                tl_api_errorf(&c->refused, 503, "server_error", NULL, "overloaded",
                              "the server is at capacity (%d completions waiting); retry later", s->o.max_queue);
            else
                tl_api_errorf(&c->refused, 500, "server_error", NULL, NULL, "cannot queue the completion");
            for (int k = 0; k < i; k++)
                tl_job_cancel(c->ch[k].job);
            break;
        }
        c->ch[i].job = job;
        c->n_jobs++;
    }
    if (!c->n_jobs) {
        pthread_mutex_unlock(&c->gate);
        e = c->refused;
        comp_unref(c);
        c = NULL;
        goto fail;
    }
    /* From here the scheduler owns the reply (on_progress, comp_final). Its first notification
     * waits at the gate, so the stream opens before any event; the gate is the last use of c. */
    if (stream && !c->refused.status)
        tl_net_stream_start(r, 200, "text/event-stream");
    else if (stream)
        c->stream = 0; /* refused: comp_final answers with the error */
    tl_job *jobs[64];
    int nj = c->n_jobs;
    for (int i = 0; i < nj && i < 64; i++)
        jobs[i] = c->ch[i].job;
    pthread_mutex_unlock(&c->gate);
    comp_unref(c);
    for (int i = 0; i < nj && i < 64; i++)
        tl_job_unref(jobs[i]);
    tl_sec_free(ids); /* wipes: a prompt */
    if (chat)
        tl_chat_req_free(&cq);
    else
        tl_completion_req_free(q);
    return;
fail:
    tl_sec_free(ids); /* wipes: a prompt */
    if (chat)
        tl_chat_req_free(&cq);
    else
        tl_completion_req_free(q);
    reply_error(s, r, ep, &e, t0);
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
    int rc = tl_tokenizer_encode_ex(s->tok, text, tlen, s->enc_flags, &ids, &n, &err);
    tl_sec_free(text);
    if (rc) {
        tl_api_bad_field(&e, "prompt", "prompt cannot be tokenized: %s", err.msg);
        reply_error(s, r, TL_EP_TOKENIZE, &e, t0);
        return;
    }
    char *j = tl_resp_tokens(ids, n, s->hf ? s->ctx : s->ck->cfg.context_length);
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

/* The model object: OpenAI's fields, plus which chat template /v1/chat/completions renders and the
 * positions a request may use (extensions). */
static json_t *model_object(tl_server *s)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:s?,s:i}", "id", s->o.model_id, "object", "model", "created",
                     (json_int_t)s->started, "owned_by", "teelm", "chat_template",
                     s->chat ? (s->o.chat_template_name ? s->o.chat_template_name : "model") : NULL, "max_model_len",
                     s->hf ? s->ctx : s->ck->cfg.context_length);
}

static void handle_models(tl_server *s, tl_net_req *r, const char *path, double t0)
{
    tl_api_error e = {0};
    if (!strcmp(path, "/v1/models")) {
        json_t *m = model_object(s);
        json_t *l = m ? json_pack("{s:s,s:[o]}", "object", "list", "data", m) : NULL;
        char *j = l ? json_dumps(l, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(l);
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
    json_t *o = model_object(s);
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
    {"/v1/chat/completions", 0, "POST", TL_EP_CHAT, 0},
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
    } else if (it->ep == TL_EP_COMPLETIONS || it->ep == TL_EP_CHAT) {
        handle_completion(s, it->r, it->t0, it->ep == TL_EP_CHAT);
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
        prep_item *it;
        TL_FIFO_POP(s->prep_head, s->prep_tail, it);
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
    TL_FIFO_PUSH(s->prep_head, s->prep_tail, it);
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
    if (!rt && !strcmp(path, "/v1/embeddings")) {
        tl_api_errorf(&e, 404, "invalid_request_error", NULL, "unknown_url",
                      "Unknown request URL: %s /v1/embeddings (this server serves completions only, no embeddings)",
                      method);
        reply_error(s, r, TL_EP_OTHER, &e, t0);
        return;
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
    case TL_EP_CHAT:
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
    char hash[65], rd[129], ch[65], rk[65], eh[65];
    tl_hex(ra->pubkey_hash, 32, hash);
    tl_hex(ra->report_data, 64, rd);
    tl_hex(ra->config_hash, 32, ch);
    tl_hex(ra->receipt_pub, 32, rk);
    tl_hex(ra->evidence_sha256, 32, eh);
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long pemn = 0;
    if (bio && PEM_write_bio_X509(bio, ra->cert))
        pemn = BIO_get_mem_data(bio, &pem);
    char *out = NULL;
    json_t *cfg = ra->config ? json_loads(ra->config, 0, NULL) : NULL;
    if (b64 && pem && cfg) {
        json_t *o = json_pack("{s:s,s:b,s:s,s:s,s:s,s:s,s:s,s:s,s:s%,s:s,s:o,s:s,s:s}", "tee", ra->tee, "simulated", ra->simulated,
                              "evidence", b64, "evidence_sha256", eh, "pubkey_sha256", hash, "config_sha256", ch,
                              "receipt_key", rk, "report_data", rd, "certificate", pem, (size_t)pemn, "configuration",
                              ra->config, "configuration_fields", json_incref(cfg),
                              "binding", "report_data = binding(\"ra-tls\", SHA-256(DER SubjectPublicKeyInfo), "
                                         "SHA-256(configuration), receipt_key) (docs/bindings.md)",
                              "note", ra->simulated ? "SIMULATION: this evidence is signed by a public test key and proves nothing"
                                                    : "verify the evidence and the binding before trusting this server (docs/ra-tls.md)");
        out = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
    }
    json_decref(cfg);
    BIO_free(bio);
    free(b64);
    return out;
}

tl_server *tl_server_new(const tl_server_opts *o, const tl_checkpoint *ck, const tl_tokenizer *tok,
                         const tl_ratls *ratls, tl_err *err)
{
    tl_server *s = tl_zalloc(sizeof *s, err);
    if (!s)
        return NULL;
    s->o = *o;
    s->ck = ck;
    s->tok = tok;
    s->ratls = ratls;
    s->started = time(NULL);
    s->lim.max_tokens = o->max_tokens;
    s->lim.default_max_tokens = o->default_max_tokens;
    s->lim.model_id = o->model_id;
    s->lim.max_n = o->max_n;
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
    s->hf = tl_config_is_hf(&ck->cfg);
    /* the same encoding as `teelm generate`: a tokenizer.json adds its post-processor's tokens
     * (e.g. BOS) and matches special tokens, as HF's encode(); tiktoken refuses special tokens */
    s->enc_flags = tl_tokenizer_is_hf(tok) ? TL_TOK_ADD_SPECIAL : TL_TOK_FORBID;
    if (s->hf) {
        s->ctx = o->ctx ? o->ctx : ck->cfg.max_pos < TL_SERVER_DEFAULT_CTX ? ck->cfg.max_pos : TL_SERVER_DEFAULT_CTX;
        if (s->ctx > ck->cfg.max_pos) {
            tl_errf(err, TL_EINVAL, "--ctx %d is longer than the model's max_position_embeddings %d", s->ctx,
                    ck->cfg.max_pos);
            goto fail;
        }
    } else if (o->ctx) {
        tl_errf(err, TL_EINVAL, "--ctx applies to Hugging Face models only (this model slides a window of %d tokens)",
                ck->cfg.context_length);
        goto fail;
    }
    if (o->chat_template &&
        !(s->chat = tl_chat_template_compile(o->chat_template, o->chat_template_len,
                                             o->chat_template_name ? o->chat_template_name : "chat_template", NULL, err)))
        goto fail;
    tl_sched_opts so = {.cfg = &ck->cfg, .params = ck->params, .weights = ck->w, .ctx = s->ctx, .tok = tok,
                        .max_batch = o->max_batch,
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
    tl_chat_template_free(s->chat);
    free(s->attestation_json);
    pthread_cond_destroy(&s->prep_cv);
    pthread_mutex_destroy(&s->prep_lock);
    free(s);
}
