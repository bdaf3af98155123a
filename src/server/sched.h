/* Batched decoding of concurrent completions. One scheduler thread steps every active sequence
 * together: one tl_infer_step pass over the batch, each sequence in its own KV-cache slot (so the
 * output matrix, the bulk of the weights, is read once per step for all of them), then each sequence samples its next token with
 * its own seeded RNG — a sequence's text depends only on its prompt, parameters and seed, never on
 * its batch mates. Waiting jobs queue (bounded) and join the batch as slots free up.
 *
 * A job is shared by the HTTP side and the scheduler (reference counted). The scheduler reports
 * progress through the notify callback (called from the scheduler thread, without locks held);
 * the HTTP side then collects text with tl_job_take. Nothing here logs or keeps request content
 * beyond the job, and a job's memory is wiped when its last reference goes.
 *
 * Two engines: the seed family runs on tl_infer with the prototype's sliding window (a sequence
 * longer than context_length keeps its last context_length tokens); the Hugging Face families run
 * on tl_lm, whose positions continue (no window): a job's prompt + max_tokens must fit the ctx
 * positions of its slot (tl_sched_submit refuses it otherwise), and it stops after any of
 * cfg->eos_ids (TL_JOB_STOP; the EOS token adds no text). */
#ifndef TEELM_SERVER_SCHED_H
#define TEELM_SERVER_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "model/sampler.h"
#include "model/weights.h"
#include "server/request.h"
#include "server/metrics.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"

/* Stop sequences of one job: the request's, plus one the chat template may add (the plain
 * template's next-turn marker, docs/api.md). */
#define TL_SCHED_MAX_STOP (TL_MAX_STOP + 1)

typedef struct tl_sched tl_sched;
typedef struct tl_job tl_job;

typedef enum {
    TL_JOB_RUNNING = 0,
    TL_JOB_STOP,      /* a stop sequence or the end-of-text token */
    TL_JOB_LENGTH,    /* max_tokens reached */
    TL_JOB_CANCELLED, /* the client went away */
    TL_JOB_TIMEOUT,   /* the request time limit passed */
    TL_JOB_FAILED,    /* engine error */
} tl_job_state;

typedef struct {
    const tl_config *cfg;
    const float *params;        /* seed family: the parameter arena (read-only, shared) */
    const tl_wref *weights;     /* Hugging Face families (tl_config_is_hf): ck->w, driven by tl_lm */
    int ctx;                    /* Hugging Face families: key/value cache positions per slot, the
                                 * longest prompt + completion (0: cfg->context_length) */
    const tl_tokenizer *tok;
    int max_batch;              /* sequences per forward pass */
    int max_queue;              /* jobs that may wait for a full batch; beyond, tl_sched_submit refuses
                                 * (jobs a free batch slot will take do not count) */
    int threads;                /* compute threads (tl_set_threads); 0 = the engine's default */
    tl_metrics *metrics;        /* may be NULL */
    void (*notify)(tl_job *job, void *user); /* progress or end of a job */
    void *notify_user;
} tl_sched_opts;

tl_sched *tl_sched_new(const tl_sched_opts *opts, tl_err *err);
/* Stops the thread; jobs still queued or running end as TL_JOB_CANCELLED (notified). */
void tl_sched_free(tl_sched *s);

typedef struct {
    uint32_t *prompt;          /* prompt ids (>= 1); copied, so the caller may wipe its own */
    int n_prompt;
    int max_tokens;
    tl_sample_params sample;
    uint64_t seed;
    const char *const *stop;   /* copied */
    const size_t *stop_len;
    int nstop;
    double timeout;            /* seconds from submission; 0 = none */
    int logprobs;              /* -1: none; else record each token's log-probability and this many
                                * top alternatives (0..TL_MAX_LOGPROBS), see tl_job_take_logprobs */
    int prompt_logprobs;       /* with logprobs >= 0: records for the prompt's tokens come first
                                * (echo): n_prompt of them, the first with ntop -1 (nothing
                                * predicts it), token i's from the logits after tokens 0..i-1 */
    void *user;                /* the HTTP side's context, returned by tl_job_user */
    const void *group;         /* jobs of one request (its n choices) share it, else NULL: only jobs
                                * of the same group share cached prompt rows, never two requests
                                * (which would let one request's timing reveal another's prompt) */
    /* Polled by the scheduler before every step while the job lives (may be NULL): non-zero
     * ends the job as TL_JOB_CANCELLED (e.g. the client disconnected). */
    int (*cancelled)(void *user);
} tl_job_spec;

/* Positions one sequence may hold: the Hugging Face families' ctx; for the seed family the
 * window, which any length may slide through (returns 0 then: no limit). */
int tl_sched_max_len(const tl_sched *s);

/* Creates a job (one reference for the caller) and queues it. Returns NULL with *queue_full = 1
 * when the queue is full, or NULL with err set on other failures. */
tl_job *tl_sched_submit(tl_sched *s, const tl_job_spec *spec, int *queue_full, tl_err *err);

void tl_job_ref(tl_job *j);
void tl_job_unref(tl_job *j);     /* the last reference wipes and frees the job */
void *tl_job_user(tl_job *j);
/* Asks the scheduler to drop the job at its next step (client disconnect). */
void tl_job_cancel(tl_job *j);

typedef struct {
    tl_job_state state;
    int prompt_tokens;
    int completion_tokens;
    double first_token_s;  /* seconds from submission to the first token (-1: none yet) */
    double elapsed_s;      /* seconds from submission to the end (or now) */
} tl_job_status;

/* Copies the text that may be sent now (all of it once the job has ended) into a tl_sec_malloc'd,
 * NUL-terminated buffer, valid UTF-8 (invalid bytes become U+FFFD), and fills *st. *text is NULL
 * when there is nothing new. Returns 0, or -1 when out of memory. */
int tl_job_take(tl_job *j, char **text, size_t *len, tl_job_status *st);

/* A generated token's log-probability: the log-softmax of the logits it was sampled from, at
 * temperature 1 (before temperature, top-k and top-p), and the top alternatives in decreasing
 * order (ties: lower id first). Every token that adds text has one (not an EOS id, nor the seed
 * model's special end token). */
typedef struct {
    uint32_t id;
    float logprob;
    int ntop;                  /* -1: no log-probability (the first token of a prompt) */
    uint32_t top_id[TL_MAX_LOGPROBS];
    float top_lp[TL_MAX_LOGPROBS];
} tl_lp_rec;

/* The records not taken yet (a tl_sec_malloc'd copy in *recs, NULL when none): call right after
 * tl_job_take from the notify callback, so they belong to the text that call returned (the last
 * call, at the end, returns every remaining one). Returns 0, or -1 when out of memory. */
int tl_job_take_logprobs(tl_job *j, tl_lp_rec **recs, int *n);

/* Log-softmax of logits[0..V) with largest value mx: the record of token id with ntop
 * alternatives (shared with the tests). */
void tl_logprob_record(const float *logits, int V, float mx, uint32_t id, int ntop, tl_lp_rec *out);

/* Queue depth and active sequences, for metrics and /health. */
void tl_sched_load(tl_sched *s, int *waiting, int *active);

#endif
