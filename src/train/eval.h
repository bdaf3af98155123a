/* Loss estimates like the prototype's estimate_loss(): the mean over `iters` random batches of
 * B x T tokens of each batch's mean cross-entropy, in eval mode (no dropout). */
#ifndef TEELM_TRAIN_EVAL_H
#define TEELM_TRAIN_EVAL_H

#include "model/model.h"
#include "train/dataset.h"

/* m must have been created for B x T. split: 0 train, 1 validation. */
int tl_eval_loss(tl_model *m, const float *params, const tl_dataset *ds, int split, int B, int T, int iters,
                 tl_rng *rng, double *loss, tl_err *err);

/* Deterministic variant: every non-overlapping window of the split, x = ids[i..i+T),
 * y = ids[i+1..i+T+1) for i = 0, T, 2T, ... while i+T+1 <= len, in batches of up to B windows; the
 * loss is the mean over all those positions. *windows receives their number. */
int tl_eval_loss_full(tl_model *m, const float *params, const tl_dataset *ds, int split, int B, int T,
                      double *loss, long *windows, tl_err *err);

#endif
