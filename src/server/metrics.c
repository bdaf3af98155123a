#include "server/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NLAT 14
#define NBATCH 9
#define NSTATUS 16
#define NEVENTS 3

static const double lat_bounds[NLAT] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
static const double batch_bounds[NBATCH] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
static const char *const ep_names[TL_EP_COUNT] = {"/v1/completions", "/v1/models", "/health", "/metrics",
                                                  "/tokenize", "/detokenize", "/attestation", "other",
                                                  "/v1/chat/completions"};
static const char *const event_names[NEVENTS] = {"cancelled", "timeout", "queue_full"};

typedef struct {
    uint64_t counts[NLAT + 1]; /* per bucket (not cumulative); last = +Inf */
    double sum;
    uint64_t n;
} hist;

struct tl_metrics {
    pthread_mutex_t lock;
    struct {
        int status;
        uint64_t n;
    } req[TL_EP_COUNT][NSTATUS];
    hist latency[TL_EP_COUNT];
    hist ttft;
    hist batch;
    uint64_t prompt_tokens, completion_tokens, steps, shared_rows, events[NEVENTS];
    int waiting, active, connections;
};

static void hist_add(hist *h, const double *bounds, int nb, double v)
{
    int i = 0;
    while (i < nb && v > bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->n++;
}

tl_metrics *tl_metrics_new(void)
{
    tl_metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void tl_metrics_free(tl_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void tl_metrics_request(tl_metrics *m, tl_endpoint ep, int status, double seconds)
{
    if ((unsigned)ep >= TL_EP_COUNT)
        ep = TL_EP_OTHER;
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < NSTATUS; i++)
        if (m->req[ep][i].status == status || m->req[ep][i].status == 0) {
            m->req[ep][i].status = status;
            m->req[ep][i].n++;
            break;
        }
    hist_add(&m->latency[ep], lat_bounds, NLAT, seconds);
    pthread_mutex_unlock(&m->lock);
}

void tl_metrics_tokens(tl_metrics *m, uint64_t prompt, uint64_t completion)
{
    pthread_mutex_lock(&m->lock);
    m->prompt_tokens += prompt;
    m->completion_tokens += completion;
    pthread_mutex_unlock(&m->lock);
}

void tl_metrics_first_token(tl_metrics *m, double seconds)
{
    pthread_mutex_lock(&m->lock);
    hist_add(&m->ttft, lat_bounds, NLAT, seconds);
    pthread_mutex_unlock(&m->lock);
}

void tl_metrics_step(tl_metrics *m, int batch_size)
{
    pthread_mutex_lock(&m->lock);
    m->steps++;
    hist_add(&m->batch, batch_bounds, NBATCH, batch_size);
    pthread_mutex_unlock(&m->lock);
}

void tl_metrics_shared_rows(tl_metrics *m, int rows)
{
    pthread_mutex_lock(&m->lock);
    m->shared_rows += (uint64_t)rows;
    pthread_mutex_unlock(&m->lock);
}

void tl_metrics_queue(tl_metrics *m, int waiting, int active)
{
    pthread_mutex_lock(&m->lock);
    m->waiting = waiting;
    m->active = active;
    pthread_mutex_unlock(&m->lock);
}

void tl_metrics_connections(tl_metrics *m, int delta)
{
    pthread_mutex_lock(&m->lock);
    m->connections += delta;
    pthread_mutex_unlock(&m->lock);
}

void tl_metrics_event(tl_metrics *m, const char *what)
{
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < NEVENTS; i++)
        if (!strcmp(event_names[i], what))
            m->events[i]++;
    pthread_mutex_unlock(&m->lock);
}

typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

__attribute__((format(printf, 2, 3))) static void out(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = b->p ? vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 8192;
        char *p = realloc(b->p, cap);
        if (!p)
            return;
        b->p = p;
        b->cap = cap;
    }
}

static void hist_out(sbuf *b, const char *name, const char *labels, const hist *h, const double *bounds, int nb)
{
    uint64_t cum = 0;
    for (int i = 0; i < nb; i++) {
        cum += h->counts[i];
        out(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, labels[0] ? "," : "", bounds[i], (unsigned long long)cum);
    }
    cum += h->counts[nb];
    out(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, labels[0] ? "," : "", (unsigned long long)cum);
    out(b, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "", h->sum);
    out(b, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "", (unsigned long long)h->n);
}

char *tl_metrics_render(tl_metrics *m, size_t *len)
{
    sbuf b = {0};
    char lab[96];
    pthread_mutex_lock(&m->lock);
    out(&b, "# HELP teelm_requests_total HTTP requests answered, by endpoint and status.\n"
            "# TYPE teelm_requests_total counter\n");
    for (int e = 0; e < TL_EP_COUNT; e++)
        for (int i = 0; i < NSTATUS && m->req[e][i].status; i++)
            out(&b, "teelm_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", ep_names[e], m->req[e][i].status,
                (unsigned long long)m->req[e][i].n);
    out(&b, "# HELP teelm_request_duration_seconds Time from a request's arrival to its last byte, by endpoint.\n"
            "# TYPE teelm_request_duration_seconds histogram\n");
    for (int e = 0; e < TL_EP_COUNT; e++)
        if (m->latency[e].n) {
            snprintf(lab, sizeof lab, "endpoint=\"%s\"", ep_names[e]);
            hist_out(&b, "teelm_request_duration_seconds", lab, &m->latency[e], lat_bounds, NLAT);
        }
    out(&b, "# HELP teelm_time_to_first_token_seconds Time from a completion's arrival to its first token.\n"
            "# TYPE teelm_time_to_first_token_seconds histogram\n");
    hist_out(&b, "teelm_time_to_first_token_seconds", "", &m->ttft, lat_bounds, NLAT);
    out(&b, "# HELP teelm_prompt_tokens_total Prompt tokens of completions admitted.\n"
            "# TYPE teelm_prompt_tokens_total counter\nteelm_prompt_tokens_total %llu\n",
        (unsigned long long)m->prompt_tokens);
    out(&b, "# HELP teelm_completion_tokens_total Tokens generated.\n"
            "# TYPE teelm_completion_tokens_total counter\nteelm_completion_tokens_total %llu\n",
        (unsigned long long)m->completion_tokens);
    out(&b, "# HELP teelm_prompt_rows_shared_total Prompt positions copied from another sequence's cache instead of computed.\n"
            "# TYPE teelm_prompt_rows_shared_total counter\nteelm_prompt_rows_shared_total %llu\n",
        (unsigned long long)m->shared_rows);
    out(&b, "# HELP teelm_decode_steps_total Batched forward passes.\n"
            "# TYPE teelm_decode_steps_total counter\nteelm_decode_steps_total %llu\n", (unsigned long long)m->steps);
    out(&b, "# HELP teelm_batch_size Sequences decoded together per forward pass.\n# TYPE teelm_batch_size histogram\n");
    hist_out(&b, "teelm_batch_size", "", &m->batch, batch_bounds, NBATCH);
    out(&b, "# HELP teelm_queue_depth Completions waiting for a batch slot.\n"
            "# TYPE teelm_queue_depth gauge\nteelm_queue_depth %d\n", m->waiting);
    out(&b, "# HELP teelm_active_sequences Completions being decoded.\n"
            "# TYPE teelm_active_sequences gauge\nteelm_active_sequences %d\n", m->active);
    out(&b, "# HELP teelm_open_connections Open client connections.\n"
            "# TYPE teelm_open_connections gauge\nteelm_open_connections %d\n", m->connections);
    out(&b, "# HELP teelm_completion_events_total Completions cancelled by a disconnect, timed out, or refused because the queue was full.\n"
            "# TYPE teelm_completion_events_total counter\n");
    for (int i = 0; i < NEVENTS; i++)
        out(&b, "teelm_completion_events_total{event=\"%s\"} %llu\n", event_names[i], (unsigned long long)m->events[i]);
    pthread_mutex_unlock(&m->lock);
    *len = b.len;
    return b.p;
}
