/* The training loop: random training batches, forward with dropout, backward, AdamW; periodic
 * loss estimates on both splits. Resumable: the checkpoint carries the step count, the AdamW
 * moments and the RNG state, and evaluation uses its own fixed-seed RNG, so training N steps in
 * one run or in several resumed runs gives the same weights. */
#ifndef TEELM_TRAIN_LOOP_H
#define TEELM_TRAIN_LOOP_H

#include <signal.h>
#include <stdint.h>

#include "model/checkpoint.h"
#include "train/dataset.h"

typedef struct {
    int64_t steps;          /* train until this many optimizer steps in total */
    int batch;              /* sequences per batch (each context_length tokens) */
    double lr;
    int eval_interval;      /* estimate losses before every step that is a multiple (and at the end); 0: never */
    int eval_iters;         /* batches per estimate */
    uint64_t eval_seed;     /* evaluation batches are drawn from this seed at every estimate */
    volatile sig_atomic_t *stop; /* when it becomes non-zero the loop returns after the current step */
    void (*on_eval)(void *user, int64_t step, double train_loss, double val_loss);
    void (*on_step)(void *user, int64_t step, int64_t steps, double loss, double step_seconds);
    void *user;
} tl_train_opts;

/* Trains ck in place (ck->params, adam_m, adam_v must be allocated; ck->step and ck->rng_state
 * say where to continue). *stopped is set when o->stop ended the loop early. A non-finite loss is
 * an error naming the step. */
int tl_train_run(tl_checkpoint *ck, const tl_dataset *ds, const tl_train_opts *o, int *stopped, tl_err *err);

#endif
