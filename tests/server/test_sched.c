/* The batched scheduler against one-sequence decoding (the prototype's loop, as tl_generate runs
 * it): jobs with different prompts, lengths, seeds and sampling settings, decoded together in
 * batches of 4 with jobs joining and leaving, produce exactly the text each produces alone. Also:
 * stop sequences end jobs early, the queue bound refuses, cancellation and time limits end jobs. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/checkpoint.h"
#include "model/model.h"
#include "server/sched.h"
#include "util/secmem.h"
#include "server/textout.h"
#include "test.h"

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int ended;
} waiter;

typedef struct {
    waiter *w;
    char text[4096];
    size_t len;
    tl_job_status st;
    int done;
    int notifies;
} result;

static void notify(tl_job *job, void *user)
{
    waiter *w = user;
    result *r = tl_job_user(job);
    char *t;
    size_t n;
    tl_job_status st;
    tl_job_take(job, &t, &n, &st);
    pthread_mutex_lock(&w->lock);
    if (t && r->len + n < sizeof r->text) {
        memcpy(r->text + r->len, t, n);
        r->len += n;
    }
    r->notifies++;
    r->st = st;
    if (st.state != TL_JOB_RUNNING) {
        r->done = 1;
        w->ended++;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->lock);
    tl_sec_free(t);
}

static void wait_ended(waiter *w, int n)
{
    pthread_mutex_lock(&w->lock);
    while (w->ended < n)
        pthread_cond_wait(&w->cv, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

/* The one-sequence reference: the prototype's loop exactly as tl_generate runs it (crop to the last
 * context_length tokens, last position's logits, tl_sample with an RNG seeded by seed), on a
 * workspace of its own bound to the same params as the scheduler's (tl_infer_bind: the serving
 * kernel, whose logits may differ from an unbound workspace's in the last bits). Decoded by the
 * tokenizer and cut before the first stop. */
static void reference(const tl_checkpoint *ck, const tl_tokenizer *tok, const uint32_t *prompt, int np, int max,
                      tl_sample_params sp, uint64_t seed, const char *stop, char *out, size_t *len)
{
    const int ctx = ck->cfg.context_length, V = ck->cfg.vocab_size;
    tl_err err = {0};
    tl_infer *w = tl_infer_new(&ck->cfg, 1, &err);
    CHECK(w && tl_infer_bind(w, ck->params, &err) == 0);
    uint32_t ids[256], win[64];
    float *logits = malloc((size_t)V * sizeof *logits);
    uint32_t *idx = malloc((size_t)V * sizeof *idx);
    int n = np < ctx ? np : ctx;
    memcpy(win, prompt + (np - n), (size_t)n * sizeof *win);
    tl_rng rng = tl_rng_seed(seed);
    for (int i = 0; i < max; i++) {
        const uint32_t *seqs[1] = {win};
        CHECK(tl_infer_last_logits(w, ck->params, seqs, &n, 1, logits, &err) == 0);
        ids[i] = tl_sample(logits, V, &sp, &rng, idx);
        if (n == ctx)
            memmove(win, win + 1, (size_t)(ctx - 1) * sizeof *win);
        else
            n++;
        win[n - 1] = ids[i];
    }
    free(logits);
    free(idx);
    tl_infer_free(w);
    char *text = NULL;
    size_t tl = 0;
    CHECK(tl_tokenizer_decode(tok, ids, (size_t)max, &text, &tl, &err) == 0);
    if (stop) {
        char *hit = memmem(text, tl, stop, strlen(stop));
        if (hit)
            tl = (size_t)(hit - text);
    }
    char *clean;
    long cl = tl_utf8_sanitize(text, tl, &clean);
    memcpy(out, clean, (size_t)cl);
    *len = (size_t)cl;
    tl_sec_free(clean);
    free(text);
}

int main(void)
{
    const char *tik = test_cl100k();
    if (!tik)
        test_skip("needs cl100k_base: ../shared/data/cl100k_base.tiktoken or npm tiktoken (scripts/install-deps.sh)");
    tl_err err = {0};
    tl_tokenizer *tok = tl_tokenizer_load(tik, NULL, &err);
    CHECKF(tok != NULL, "%s", err.msg);
    tl_config cfg = tl_config_seed(2000);
    cfg.n_layer = 2;
    tl_checkpoint ck;
    CHECK(tl_checkpoint_alloc(&ck, &cfg, 0, &err) == 0);
    tl_model_init(&cfg, ck.params, 99);

    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    tl_sched_opts so = {.cfg = &ck.cfg, .params = ck.params, .tok = tok, .max_batch = 4, .max_queue = 64,
                        .notify = notify, .notify_user = &w};
    tl_sched *s = tl_sched_new(&so, &err);
    CHECKF(s != NULL, "%s", err.msg);

    /* 12 jobs: prompts of 1..30 tokens (longer than the context: cropped), 5..40 new tokens,
     * temperature 0 / 0.7 / 1 with and without top-k/top-p, one with a stop sequence */
    enum { NJ = 12 };
    static result res[NJ];
    uint32_t prompts[NJ][32];
    int np[NJ], max[NJ];
    tl_sample_params sp[NJ];
    uint64_t seed[NJ];
    tl_rng g = tl_rng_seed(5);
    for (int i = 0; i < NJ; i++) {
        np[i] = 1 + (int)tl_rng_below(&g, 30);
        for (int k = 0; k < np[i]; k++)
            prompts[i][k] = (uint32_t)tl_rng_below(&g, 2000);
        max[i] = 5 + (int)tl_rng_below(&g, 36);
        sp[i] = (tl_sample_params){.temperature = i % 3 == 0 ? 0.0f : i % 3 == 1 ? 0.7f : 1.0f,
                                   .top_k = i % 4 == 1 ? 50 : 0, .top_p = i % 4 == 2 ? 0.9f : 1.0f};
        seed[i] = 1000 + (uint64_t)i;
        res[i].w = &w;
    }
    /* the stop sequence of job 5: a piece from the middle of its reference text */
    char ref5[4096];
    size_t ref5n;
    reference(&ck, tok, prompts[5], np[5], max[5], sp[5], seed[5], NULL, ref5, &ref5n);
    char stop5[8] = "";
    if (ref5n > 12)
        memcpy(stop5, ref5 + ref5n / 2, 2);
    for (int i = 0; i < NJ; i++) {
        const char *st[1] = {stop5};
        size_t sl[1] = {strlen(stop5)};
        tl_job_spec js = {.prompt = prompts[i], .n_prompt = np[i], .max_tokens = max[i], .sample = sp[i],
                          .seed = seed[i], .user = &res[i]};
        if (i == 5 && stop5[0]) {
            js.stop = st;
            js.stop_len = sl;
            js.nstop = 1;
        }
        int full = 0;
        tl_job *j = tl_sched_submit(s, &js, &full, &err);
        CHECKF(j != NULL, "%s", err.msg);
        tl_job_unref(j);
    }
    wait_ended(&w, NJ);
    for (int i = 0; i < NJ; i++) {
        char ref[4096];
        size_t rn;
        reference(&ck, tok, prompts[i], np[i], max[i], sp[i], seed[i], i == 5 && stop5[0] ? stop5 : NULL, ref, &rn);
        CHECKF(res[i].len == rn && !memcmp(res[i].text, ref, rn), "job %d: batched text differs from decoding it alone", i);
        CHECK(res[i].st.prompt_tokens == np[i]);
        if (i == 5 && stop5[0])
            CHECK(res[i].st.state == TL_JOB_STOP && res[i].st.completion_tokens < max[i]);
        else
            CHECKF(res[i].st.state == TL_JOB_LENGTH && res[i].st.completion_tokens == max[i], "job %d state %d", i,
                   res[i].st.state);
        CHECK(res[i].notifies >= 1 && res[i].st.first_token_s >= 0);
    }
    tl_sched_free(s);

    /* queue bound, cancellation and the time limit: one slot, a queue of 1 */
    w.ended = 0;
    so.max_batch = 1;
    so.max_queue = 1;
    s = tl_sched_new(&so, &err);
    static result slow[4];
    uint32_t p1[1] = {42};
    tl_job *jobs[4] = {0};
    for (int i = 0; i < 4; i++) {
        slow[i].w = &w;
        tl_job_spec js = {.prompt = p1, .n_prompt = 1, .max_tokens = 1000000,
                          .sample = {.temperature = 1, .top_p = 1}, .seed = 1, .user = &slow[i],
                          .timeout = i == 0 ? 0.3 : 0};
        int full = 0;
        /* submitted at once: job 0 owns the free slot (admitted or not yet), job 1 the queue */
        jobs[i] = tl_sched_submit(s, &js, &full, &err);
        if (i >= 2)
            CHECKF(jobs[i] == NULL && full, "job %d should find the queue full", i);
        else
            CHECK(jobs[i] != NULL);
    }
    /* job 0 runs into its time limit; job 1 then runs until cancelled */
    wait_ended(&w, 1);
    CHECK(slow[0].done && slow[0].st.state == TL_JOB_TIMEOUT && slow[0].st.completion_tokens > 0);
    usleep(100000);
    tl_job_cancel(jobs[1]);
    wait_ended(&w, 2);
    CHECK(slow[1].done && slow[1].st.state == TL_JOB_CANCELLED);
    int waiting = -1, active = -1;
    for (int t = 0; t < 200 && (waiting || active); t++) { /* the loop publishes after it notifies */
        tl_sched_load(s, &waiting, &active);
        usleep(10000);
    }
    CHECK(waiting == 0 && active == 0);
    tl_job_unref(jobs[0]);
    tl_job_unref(jobs[1]);
    tl_sched_free(s);

    tl_checkpoint_free(&ck);
    tl_tokenizer_free(tok);
    return test_finish();
}
