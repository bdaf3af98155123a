/* The decode loop: admit queued jobs into the batch, one batched forward pass, per-sequence
 * sampling, text assembly, notify. See sched.h for the contract. */
#include "server/sched.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/lm.h"
#include "model/model.h"
#include "model/rng.h"
#include "util/pool.h"
#include "util/fifo.h"
#include "server/request.h"
#include "util/secmem.h"
#include "server/textout.h"

struct tl_job {
    atomic_int refs;
    atomic_int cancel;
    pthread_mutex_t lock; /* guards state, text, n_gen, t_first, t_end */
    tl_job_state state;
    tl_textout text;
    char *stop[TL_SCHED_MAX_STOP];
    size_t stop_len[TL_SCHED_MAX_STOP];
    int nstop;
    /* scheduler thread only */
    uint32_t *win; /* seed: the last context_length tokens; Hugging Face: the whole sequence */
    int len, n_gen;
    int slot;      /* the workspace's cache slot while active, else -1 */
    int n_prompt, max_tokens;
    tl_sample_params sp;
    tl_rng rng;
    double t_submit, t_first, t_end, deadline;
    void *user;
    const void *group; /* tl_job_spec.group */
    int (*cancelled)(void *user);
    int want_lp;    /* -1 or the number of alternatives */
    uint32_t *full; /* prompt_logprobs: the whole prompt until its records are made, else NULL */
    tl_lp_rec *lp;  /* guarded by lock: records so far, lp_taken of them handed out */
    int n_lp, cap_lp, lp_taken;
    tl_job *next;
};

struct tl_sched {
    tl_sched_opts o;
    tl_config cfg;  /* o.cfg, with context_length = ctx for the Hugging Face families */
    int hf;         /* tl_lm (positions continue) rather than tl_infer (sliding window) */
    pthread_t thread;
    int started;
    pthread_mutex_t lock; /* guards the queue, waiting, nactive_pub, quit */
    pthread_cond_t cv;
    tl_job *qhead, *qtail;
    int waiting, nactive_pub, quit;
    /* scheduler thread only */
    tl_job **active;
    int nactive;
    tl_infer *inf;
    tl_lm *lm;
    float *logits;              /* max_batch * V */
    uint32_t *idx;              /* max_batch * V work space for top-k/top-p */
    const uint32_t **ptrs;
    int *lens, *slots;
    int *free_slots, nfree;     /* cache slots no active job holds */
    uint32_t *picked;
    tl_lp_rec *lprec;           /* max_batch: this step's records */
    float *lpcopy;              /* max_batch * V: logits of sequences that want logprobs */
    void *batch;                /* the block that holds every array above from active on */
};

static int is_eos(const tl_config *c, uint32_t id)
{
    for (int i = 0; i < c->n_eos; i++)
        if ((uint32_t)c->eos_ids[i] == id)
            return 1;
    return 0;
}

int tl_sched_max_len(const tl_sched *s)
{
    return s->hf ? s->cfg.context_length : 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int is_cancelled(tl_job *j)
{
    if (atomic_load(&j->cancel))
        return 1;
    if (j->cancelled && j->cancelled(j->user)) {
        atomic_store(&j->cancel, 1);
        return 1;
    }
    return 0;
}

static void job_free(tl_job *j)
{
    tl_textout_free(&j->text);
    tl_sec_free(j->lp);
    for (int i = 0; i < j->nstop; i++)
        tl_sec_free(j->stop[i]);
    tl_sec_free(j->win);
    tl_sec_free(j->full);
    pthread_mutex_destroy(&j->lock);
    OPENSSL_cleanse(j, sizeof *j);
    free(j);
}

void tl_job_ref(tl_job *j)
{
    atomic_fetch_add(&j->refs, 1);
}

void tl_job_unref(tl_job *j)
{
    if (j && atomic_fetch_sub(&j->refs, 1) == 1)
        job_free(j);
}

void *tl_job_user(tl_job *j)
{
    return j->user;
}

void tl_job_cancel(tl_job *j)
{
    atomic_store(&j->cancel, 1);
}

void tl_logprob_record(const float *x, int V, float mx, uint32_t id, int ntop, tl_lp_rec *o)
{
    double sum = 0;
    for (int v = 0; v < V; v++)
        sum += exp((double)x[v] - mx);
    const double lse = mx + log(sum);
    o->id = id;
    o->logprob = (float)(x[id] - lse);
    if (ntop > TL_MAX_LOGPROBS)
        ntop = TL_MAX_LOGPROBS;
    if (ntop > V)
        ntop = V;
    o->ntop = ntop;
    /* insertion into a sorted list of ntop: O(V * ntop), ntop <= 20 */
    int have = 0;
    for (int v = 0; v < V && ntop > 0; v++) {
        float l = x[v];
        if (have == ntop && !(l > x[o->top_id[have - 1]]))
            continue;
        int at = have < ntop ? have++ : ntop - 1;
        while (at > 0 && l > x[o->top_id[at - 1]]) {
            o->top_id[at] = o->top_id[at - 1];
            at--;
        }
        o->top_id[at] = (uint32_t)v;
    }
    for (int k = 0; k < ntop; k++)
        o->top_lp[k] = (float)(x[o->top_id[k]] - lse);
}

int tl_job_take_logprobs(tl_job *j, tl_lp_rec **recs, int *n)
{
    *recs = NULL;
    *n = 0;
    int rc = 0;
    pthread_mutex_lock(&j->lock);
    int k = j->n_lp - j->lp_taken;
    if (k > 0) {
        if ((*recs = tl_sec_malloc((size_t)k * sizeof **recs))) {
            memcpy(*recs, j->lp + j->lp_taken, (size_t)k * sizeof **recs);
            *n = k;
            j->lp_taken = j->n_lp;
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&j->lock);
    return rc;
}

int tl_job_take(tl_job *j, char **text, size_t *len, tl_job_status *st)
{
    *text = NULL;
    *len = 0;
    int rc = 0;
    pthread_mutex_lock(&j->lock);
    const char *p;
    size_t n = tl_textout_take(&j->text, j->state != TL_JOB_RUNNING, &p);
    if (n) {
        long k = tl_utf8_sanitize(p, n, text);
        if (k < 0)
            rc = -1;
        else
            *len = (size_t)k;
    }
    double t = j->state != TL_JOB_RUNNING ? j->t_end : now_s();
    st->state = j->state;
    st->prompt_tokens = j->n_prompt;
    st->completion_tokens = j->n_gen;
    st->first_token_s = j->t_first > 0 ? j->t_first - j->t_submit : -1;
    st->elapsed_s = t - j->t_submit;
    pthread_mutex_unlock(&j->lock);
    return rc;
}

/* Ends a job (scheduler thread): final state, wipe what the scheduler alone used, tell the HTTP
 * side, drop the scheduler's reference. */
static void finish(tl_sched *s, tl_job *j, tl_job_state st)
{
    pthread_mutex_lock(&j->lock);
    if (j->state == TL_JOB_RUNNING) {
        j->state = st;
        j->t_end = now_s();
    }
    pthread_mutex_unlock(&j->lock);
    if (j->slot >= 0) { /* the cached keys and values are derived from this job's text */
        if (s->hf)
            tl_lm_forget(s->lm, j->slot);
        else
            tl_infer_forget(s->inf, j->slot);
        s->free_slots[s->nfree++] = j->slot;
        j->slot = -1;
    }
    if (s->o.metrics && (st == TL_JOB_CANCELLED || st == TL_JOB_TIMEOUT))
        tl_metrics_event(s->o.metrics, st == TL_JOB_CANCELLED ? "cancelled" : "timeout");
    s->o.notify(j, s->o.notify_user);
    tl_job_unref(j);
}

tl_job *tl_sched_submit(tl_sched *s, const tl_job_spec *spec, int *queue_full, tl_err *err)
{
    *queue_full = 0;
    if (spec->n_prompt < 1 || spec->max_tokens < 1 || spec->nstop < 0 || spec->nstop > TL_SCHED_MAX_STOP) {
        tl_errf(err, TL_EINVAL, "job: prompt, max_tokens or stop out of range");
        return NULL;
    }
    const int ctx = s->cfg.context_length;
    if (s->hf && (long)spec->n_prompt + spec->max_tokens > ctx) {
        tl_errf(err, TL_EINVAL, "job: %d prompt tokens + %d new tokens exceed the context of %d positions",
                spec->n_prompt, spec->max_tokens, ctx);
        return NULL;
    }
    tl_job *j = calloc(1, sizeof *j);
    if (!j || !(j->win = tl_sec_malloc((size_t)ctx * sizeof *j->win))) {
        free(j);
        tl_errf(err, TL_ENOMEM, "job: out of memory");
        return NULL;
    }
    pthread_mutex_init(&j->lock, NULL);
    j->slot = -1;
    atomic_init(&j->refs, 2); /* the caller's and the scheduler's */
    atomic_init(&j->cancel, 0);
    /* seed: only the last ctx prompt tokens are ever read (the sliding window crops the rest);
     * Hugging Face: the prompt fits (checked above), positions continue */
    j->len = spec->n_prompt < ctx ? spec->n_prompt : ctx;
    memcpy(j->win, spec->prompt + (spec->n_prompt - j->len), (size_t)j->len * sizeof *j->win);
    j->n_prompt = spec->n_prompt;
    j->max_tokens = spec->max_tokens;
    j->sp = spec->sample;
    j->rng = tl_rng_seed(spec->seed);
    j->user = spec->user;
    j->group = spec->group;
    j->cancelled = spec->cancelled;
    j->want_lp = spec->logprobs < 0 ? -1 : spec->logprobs > TL_MAX_LOGPROBS ? TL_MAX_LOGPROBS : spec->logprobs;
    if (j->want_lp >= 0 && spec->prompt_logprobs) {
        if (!(j->full = tl_sec_malloc((size_t)spec->n_prompt * sizeof *j->full))) {
            job_free(j);
            tl_errf(err, TL_ENOMEM, "job: out of memory");
            return NULL;
        }
        memcpy(j->full, spec->prompt, (size_t)spec->n_prompt * sizeof *j->full);
    }
    for (int i = 0; i < spec->nstop; i++) {
        if (!(j->stop[i] = tl_sec_malloc(spec->stop_len[i] + 1))) {
            j->nstop = i;
            job_free(j);
            tl_errf(err, TL_ENOMEM, "job: out of memory");
            return NULL;
        }
        memcpy(j->stop[i], spec->stop[i], spec->stop_len[i]);
        j->stop_len[i] = spec->stop_len[i];
    }
    j->nstop = spec->nstop;
    tl_textout_init(&j->text, (const char *const *)j->stop, j->stop_len, j->nstop);
    j->t_submit = now_s();
    j->deadline = spec->timeout > 0 ? j->t_submit + spec->timeout : 0;

    pthread_mutex_lock(&s->lock);
    /* jobs that free batch slots will take at the next step are not queued behind the batch: they
     * never count against max_queue, however late the scheduler thread gets to admit them */
    const int open = s->o.max_batch - s->nactive_pub;
    if (s->waiting >= s->o.max_queue + (open > 0 ? open : 0) || s->quit) {
        pthread_mutex_unlock(&s->lock);
        job_free(j);
        *queue_full = 1;
        if (s->o.metrics)
            tl_metrics_event(s->o.metrics, "queue_full");
        tl_errf(err, TL_ESTATE, "queue full");
        return NULL;
    }
    TL_FIFO_PUSH(s->qhead, s->qtail, j);
    s->waiting++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->lock);
    return j;
}

/* Removes cancelled or expired jobs from the queue (lock held); returns them chained by next. */
static tl_job *reap_queue(tl_sched *s, double t)
{
    tl_job *dead = NULL, **pp = &s->qhead, *last = NULL;
    while (*pp) {
        tl_job *j = *pp;
        if (is_cancelled(j) || (j->deadline > 0 && t >= j->deadline)) {
            *pp = j->next;
            j->next = dead;
            dead = j;
            s->waiting--;
        } else {
            last = j;
            pp = &j->next;
        }
    }
    s->qtail = last;
    return dead;
}

/* Sequences sample independently (own RNG, own logits row, own work space), so the engine's
 * worker pool can spread them over the cores. */
static void sample_range(void *arg, int slot, long i0, long i1)
{
    (void)slot;
    tl_sched *s = arg;
    const int V = s->cfg.vocab_size;
    const float *mx = s->hf ? tl_lm_row_max(s->lm) : tl_infer_row_max(s->inf);
    for (long i = i0; i < i1; i++) {
        tl_job *j = s->active[i];
        float *row = s->logits + (size_t)i * V;
        if (j->want_lp >= 0) { /* tl_sample_max overwrites the row: keep the logits it had */
            float *copy = s->lpcopy + (size_t)i * V;
            memcpy(copy, row, (size_t)V * sizeof *row);
            s->picked[i] = tl_sample_max(row, V, mx[i], &j->sp, &j->rng, s->idx + (size_t)i * V);
            tl_logprob_record(copy, V, mx[i], s->picked[i], j->want_lp, &s->lprec[i]);
            OPENSSL_cleanse(copy, (size_t)V * sizeof *copy);
            continue;
        }
        s->picked[i] = tl_sample_max(row, V, mx[i], &j->sp, &j->rng, s->idx + (size_t)i * V);
    }
}

/* Appends a record to j's list (j->lock held). -1 when out of memory. */
static int push_lp(tl_job *j, const tl_lp_rec *r)
{
    if (j->n_lp == j->cap_lp) {
        int cap = j->cap_lp ? j->cap_lp * 2 : 16;
        tl_lp_rec *p = tl_sec_realloc(j->lp, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        j->lp = p;
        j->cap_lp = cap;
    }
    j->lp[j->n_lp++] = *r;
    return 0;
}

static float row_max(const float *x, int V)
{
    float m = x[0];
    for (int v = 1; v < V; v++)
        m = x[v] > m ? x[v] : m;
    return m;
}

#define PLP_ROWS 16 /* prompt rows per pass while recording the prompt's logprobs */

/* echo with logprobs: the records of the prompt's tokens, before anything is generated. Token i's
 * comes from the logits of the row that reads tokens 0..i-1 (the Hugging Face families: every
 * prompt row, PLP_ROWS per pass, through the job's empty slot, which is left holding them; the
 * seed family: each position's own window, as generation would see it). The rows are the ones the
 * prompt pass computes anyway, so their logits are the same. */
static int prompt_logprobs(tl_sched *s, tl_job *j, tl_err *err)
{
    const int V = s->cfg.vocab_size, ctx = s->cfg.context_length, n = j->n_prompt;
    const uint32_t *p = j->full;
    tl_lp_rec r = {.id = p[0], .ntop = -1};
    float *all = NULL;
    int rc = 0;
    pthread_mutex_lock(&j->lock);
    rc = push_lp(j, &r);
    pthread_mutex_unlock(&j->lock);
    if (!rc && s->hf && n > 1 && !(all = tl_sec_malloc((size_t)PLP_ROWS * V * sizeof *all)))
        rc = -1;
    if (rc)
        return tl_errf(err, TL_ENOMEM, "prompt logprobs: out of memory");
    for (int a = 0; a < n - 1 && !rc;) {
        const int b = s->hf ? (a + PLP_ROWS < n - 1 ? a + PLP_ROWS : n - 1) : a + 1; /* rows a..b-1 */
        const int w0 = s->hf || b <= ctx ? 0 : b - ctx;
        const uint32_t *tok = p + w0;
        int len = b - w0;
        if (s->hf ? tl_lm_step(s->lm, &tok, &len, &j->slot, 1, s->logits, all, err)
                  : tl_infer_step(s->inf, s->o.params, &tok, &len, &j->slot, 1, s->logits, err)) {
            rc = -1;
            break;
        }
        if (s->hf && tl_lm_rows(s->lm) != b - a) { /* the slot held rows it should not have */
            rc = tl_errf(err, TL_ESTATE, "prompt logprobs: %d rows computed, %d expected", tl_lm_rows(s->lm), b - a);
            break;
        }
        for (int i = a; i < b && !rc; i++) {
            const float *row = s->hf ? all + (size_t)(i - a) * V : s->logits;
            tl_logprob_record(row, V, row_max(row, V), p[i + 1], j->want_lp, &r);
            pthread_mutex_lock(&j->lock);
            if (push_lp(j, &r))
                rc = tl_errf(err, TL_ENOMEM, "prompt logprobs: out of memory");
            pthread_mutex_unlock(&j->lock);
        }
        a = b;
    }
    if (all)
        OPENSSL_cleanse(all, (size_t)PLP_ROWS * V * sizeof *all);
    tl_sec_free(all);
    OPENSSL_cleanse(s->logits, (size_t)V * sizeof *s->logits);
    tl_sec_free(j->full);
    j->full = NULL;
    return rc;
}

/* One token for every active sequence. */
static void step(tl_sched *s)
{
    const int V = s->cfg.vocab_size, ctx = s->cfg.context_length;
    const int nb = s->nactive;
    for (int i = 0; i < nb; i++) {
        s->ptrs[i] = s->active[i]->win;
        s->lens[i] = s->active[i]->len;
        s->slots[i] = s->active[i]->slot;
    }
    tl_err err = {0};
    if (s->hf ? tl_lm_step(s->lm, s->ptrs, s->lens, s->slots, nb, s->logits, NULL, &err)
              : tl_infer_step(s->inf, s->o.params, s->ptrs, s->lens, s->slots, nb, s->logits, &err)) {
        for (int i = 0; i < nb; i++)
            finish(s, s->active[i], TL_JOB_FAILED);
        s->nactive = 0;
        return;
    }
    if (s->o.metrics)
        tl_metrics_step(s->o.metrics, nb);
    tl_parallel_for(nb, 1, tl_get_threads(), sample_range, s);
    double t = now_s();
    int keep = 0;
    for (int i = 0; i < nb; i++) {
        tl_job *j = s->active[i];
        uint32_t id = s->picked[i];
        if (s->hf)
            j->win[j->len++] = id; /* fits: n_prompt + max_tokens <= ctx */
        else if (j->len == ctx)
            memmove(j->win, j->win + 1, (size_t)(ctx - 1) * sizeof *j->win);
        else
            j->len++;
        if (!s->hf)
            j->win[j->len - 1] = id;
        size_t nbytes = 0;
        const int eos = s->hf && is_eos(&s->cfg, id);
        const uint8_t *bytes = eos ? NULL : tl_tokenizer_token_bytes(s->o.tok, id, &nbytes);
        tl_job_state end = TL_JOB_RUNNING;
        pthread_mutex_lock(&j->lock);
        j->n_gen++;
        if (j->n_gen == 1) {
            j->t_first = t;
            if (s->o.metrics)
                tl_metrics_first_token(s->o.metrics, t - j->t_submit);
        }
        if (!bytes)
            end = TL_JOB_STOP; /* an EOS id, or (seed) a special token: the model ended the text */
        else {
            if (j->want_lp >= 0 && push_lp(j, &s->lprec[i]))
                end = TL_JOB_FAILED;
            int r = tl_textout_push(&j->text, bytes, nbytes);
            if (r == 1)
                end = TL_JOB_STOP;
            else if (r < 0)
                end = TL_JOB_FAILED;
            else if (end == TL_JOB_FAILED)
                ;
            else if (j->n_gen >= j->max_tokens || (s->hf && j->len >= ctx))
                end = TL_JOB_LENGTH;
        }
        pthread_mutex_unlock(&j->lock);
        if (end != TL_JOB_RUNNING) {
            /* wipe this sequence's logits row: it is derived from the prompt */
            OPENSSL_cleanse(s->logits + (size_t)i * V, (size_t)V * sizeof(float));
            finish(s, j, end);
        } else {
            s->o.notify(j, s->o.notify_user);
            s->active[keep++] = j;
        }
    }
    s->nactive = keep;
}

/* Whether a job of j's group (another choice of the same request) admitted this round
 * (active[stepped..nactive)) has j's prompt: then j waits one step so it can copy the rows that job
 * computes instead of computing them again. */
static int twin_admitted(const tl_sched *s, int stepped, const tl_job *j)
{
    if (j->full) /* it computes every prompt row itself */
        return 0;
    for (int k = stepped; k < s->nactive; k++) {
        const tl_job *a = s->active[k];
        if (j->group && a->group == j->group && a->len == j->len &&
            !memcmp(a->win, j->win, (size_t)j->len * sizeof *j->win))
            return 1;
    }
    return 0;
}

/* Newly admitted jobs (active[stepped..nactive), empty slots) copy the longest prompt prefix that
 * a running job of their group holds; the engine then computes only the rows after it, with the
 * same logits (tl_lm_copy_prefix). */
static void share_prefixes(tl_sched *s, int stepped)
{
    for (int k = stepped; k < s->nactive; k++) {
        tl_job *j = s->active[k];
        int best = 0, src = -1;
        for (int i = 0; i < stepped && j->group && !j->full; i++) {
            if (s->active[i]->group != j->group)
                continue;
            const int n = tl_lm_shared_prefix(s->lm, s->active[i]->slot, j->win, j->len);
            if (n > best) {
                best = n;
                src = s->active[i]->slot;
            }
        }
        if (src >= 0 && tl_lm_copy_prefix(s->lm, j->slot, src, best) == 0 && s->o.metrics)
            tl_metrics_shared_rows(s->o.metrics, best);
    }
}

static void *loop(void *arg)
{
    tl_sched *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->quit && s->nactive == 0 && !s->qhead)
            pthread_cond_wait(&s->cv, &s->lock);
        if (s->quit)
            break;
        double t = now_s();
        tl_job *dead = reap_queue(s, t);
        const int stepped = s->nactive; /* active[0..stepped) have been through a step */
        for (tl_job **pp = &s->qhead; s->nactive < s->o.max_batch && *pp;) {
            tl_job *j = *pp;
            if (s->hf && twin_admitted(s, stepped, j)) { /* waits one step, then shares its twin's rows */
                pp = &j->next;
                continue;
            }
            *pp = j->next;
            j->next = NULL;
            s->waiting--;
            j->slot = s->free_slots[--s->nfree];
            s->active[s->nactive++] = j;
        }
        s->qtail = NULL;
        for (tl_job *q = s->qhead; q; q = q->next)
            s->qtail = q;
        s->nactive_pub = s->nactive;
        int waiting = s->waiting;
        pthread_mutex_unlock(&s->lock);
        if (s->hf)
            share_prefixes(s, stepped);

        while (dead) {
            tl_job *j = dead;
            dead = j->next;
            finish(s, j, atomic_load(&j->cancel) ? TL_JOB_CANCELLED : TL_JOB_TIMEOUT);
        }
        int keep = 0;
        for (int i = 0; i < s->nactive; i++) {
            tl_job *j = s->active[i];
            tl_err perr = {0};
            if (is_cancelled(j))
                finish(s, j, TL_JOB_CANCELLED);
            else if (j->deadline > 0 && t >= j->deadline)
                finish(s, j, TL_JOB_TIMEOUT);
            else if (j->full && prompt_logprobs(s, j, &perr))
                finish(s, j, TL_JOB_FAILED);
            else
                s->active[keep++] = j;
        }
        s->nactive = keep;
        if (s->o.metrics)
            tl_metrics_queue(s->o.metrics, waiting, s->nactive);
        if (s->nactive)
            step(s);

        pthread_mutex_lock(&s->lock);
        s->nactive_pub = s->nactive;
        if (s->o.metrics && !s->nactive && !s->qhead)
            tl_metrics_queue(s->o.metrics, s->waiting, 0);
    }
    /* shutting down: everything still here ends as cancelled */
    tl_job *rest = s->qhead;
    s->qhead = s->qtail = NULL;
    s->waiting = 0;
    pthread_mutex_unlock(&s->lock);
    while (rest) {
        tl_job *j = rest;
        rest = j->next;
        finish(s, j, TL_JOB_CANCELLED);
    }
    for (int i = 0; i < s->nactive; i++)
        finish(s, s->active[i], TL_JOB_CANCELLED);
    s->nactive = 0;
    return NULL;
}

/* Every per-batch array in one zeroed block, so one tl_sec_free wipes them all: logits, the
 * sampled ids and the logprob records are the users' secrets. Returns 0, or -1 when out of memory. */
static int alloc_batch(tl_sched *s, size_t B, size_t V)
{
    const struct {
        void *dst; /* the address of the array's pointer */
        size_t n, size;
    } part[] = {
        {&s->active, B, sizeof *s->active},     {&s->logits, B * V, sizeof *s->logits},
        {&s->idx, B * V, sizeof *s->idx},       {&s->ptrs, B, sizeof *s->ptrs},
        {&s->lens, B, sizeof *s->lens},         {&s->slots, B, sizeof *s->slots},
        {&s->free_slots, B, sizeof *s->free_slots}, {&s->picked, B, sizeof *s->picked},
        {&s->lprec, B, sizeof *s->lprec},       {&s->lpcopy, B * V, sizeof *s->lpcopy},
    };
    enum { NPART = sizeof part / sizeof part[0], ALIGN = _Alignof(max_align_t) };
    size_t off[NPART], total = 0;
    for (int i = 0; i < NPART; i++) {
        if (part[i].n > (SIZE_MAX / 2 - total) / part[i].size)
            return -1;
        off[i] = total;
        total += (part[i].n * part[i].size + ALIGN - 1) / ALIGN * ALIGN;
    }
    uint8_t *b = tl_sec_malloc(total);
    if (!b)
        return -1;
    memset(b, 0, total);
    for (int i = 0; i < NPART; i++) {
        void *p = b + off[i];
        memcpy(part[i].dst, &p, sizeof p);
    }
    s->batch = b;
    return 0;
}

tl_sched *tl_sched_new(const tl_sched_opts *o, tl_err *err)
{
    const int hf = o->cfg && tl_config_is_hf(o->cfg);
    if (o->max_batch < 1 || o->max_queue < 0 || !o->notify || !o->cfg || !o->tok || (hf ? !o->weights : !o->params) ||
        o->ctx < 0 || (hf && o->ctx > o->cfg->max_pos)) {
        tl_errf(err, TL_EINVAL, "scheduler: bad options");
        return NULL;
    }
    tl_sched *s = tl_zalloc(sizeof *s, err);
    if (!s)
        return NULL;
    s->o = *o;
    s->cfg = *o->cfg;
    s->hf = hf;
    if (hf && o->ctx > 0)
        s->cfg.context_length = o->ctx;
    s->nfree = 0;
    if (o->threads > 0)
        tl_set_threads(o->threads);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cv, NULL);
    const size_t V = (size_t)s->cfg.vocab_size, B = (size_t)o->max_batch;
    if (alloc_batch(s, B, V)) {
        tl_errf(err, TL_ENOMEM, "scheduler: out of memory for a batch of %d", o->max_batch);
        tl_sched_free(s);
        return NULL;
    }
    for (int i = o->max_batch - 1; i >= 0; i--)
        s->free_slots[s->nfree++] = i;
    if (hf ? !(s->lm = tl_lm_new(&s->cfg, o->weights, o->max_batch, err))
           : (!(s->inf = tl_infer_new(&s->cfg, o->max_batch, err)) || tl_infer_bind(s->inf, o->params, err))) {
        tl_sched_free(s);
        return NULL;
    }
    if (pthread_create(&s->thread, NULL, loop, s)) {
        tl_errf(err, TL_EIO, "scheduler: cannot start its thread");
        tl_sched_free(s);
        return NULL;
    }
    s->started = 1;
    return s;
}

void tl_sched_free(tl_sched *s)
{
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->lock);
        s->quit = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    tl_infer_free(s->inf);
    tl_lm_free(s->lm);
    tl_sec_free(s->batch);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void tl_sched_load(tl_sched *s, int *waiting, int *active)
{
    pthread_mutex_lock(&s->lock);
    *waiting = s->waiting;
    *active = s->nactive_pub;
    pthread_mutex_unlock(&s->lock);
}
