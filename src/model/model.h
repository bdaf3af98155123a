/* The model: forward, backward and inference over a parameter arena (model/params.h).
 * docs/engine.md describes the computation; docs/model-config.md defines the seed model.
 *
 * Parameters are never owned here: every call takes `const float *params` (tl_params_arena_floats
 * floats), so many workspaces can share one read-only copy. Workspaces own activations only. */
#ifndef TEELM_MODEL_MODEL_H
#define TEELM_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "model/rng.h"
#include "util/err.h"

/* Fills params like PyTorch's default initialization: nn.Linear weight and bias
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), nn.Embedding N(0,1), LayerNorm weight 1 and bias 0.
 * Padding between tensors is zeroed. */
void tl_model_init(const tl_config *cfg, float *params, uint64_t seed);

/* Full logits for every position 0..T-1 of B sequences, eval mode (no dropout).
 * tokens: B*T ids < vocab_size, T <= context_length; logits: B*T*V floats, row-major [B][T][V]. */
int tl_model_logits(const tl_config *cfg, const float *params, const uint32_t *tokens, int B, int T,
                    float *logits, tl_err *err);

/* ---- training / evaluation workspace for batches of B sequences of T tokens ---- */

typedef struct tl_model tl_model;

tl_model *tl_model_new(const tl_config *cfg, int B, int T, tl_err *err);
void tl_model_free(tl_model *m);

/* Forward pass over tokens[B*T]. With targets[B*T], *loss receives the mean cross-entropy.
 * train=1 applies dropout (cfg->dropout) with random numbers from rng; train=0 is eval mode.
 * Fails (TL_EINVAL) on an id >= vocab_size. */
int tl_model_forward(tl_model *m, const float *params, const uint32_t *tokens, const uint32_t *targets,
                     int train, tl_rng *rng, double *loss, tl_err *err);

/* Backward pass of the last forward (which must have had targets): grads, in the arena layout,
 * are OVERWRITTEN with d(mean loss)/d(params). Padding floats are left untouched. */
void tl_model_backward(tl_model *m, const float *params, float *grads);

/* Row-major logits [B][T][V] of the last forward. */
void tl_model_get_logits(const tl_model *m, float *logits);

/* ---- batched inference (the server and `teelm generate`; model/infer.c) ---- */

typedef struct tl_infer tl_infer;

/* A workspace for up to max_batch sequences of up to context_length tokens each, with a cache
 * slot per sequence. Distinct workspaces may be used concurrently from different threads with the
 * same params. tl_infer_free wipes the caches.
 * A workspace is always bound to the params of its last call: the first call with params (or
 * tl_infer_bind) lays their linear layers out transposed, as the kernels read them, and the output
 * layer re-laid for tl_lmhead_rows_packed, and forgets every cache slot; later calls with the same
 * params reuse that. params must not change while bound (pass them again after changing them and
 * the workspace will not notice: bind again). */
tl_infer *tl_infer_new(const tl_config *cfg, int max_batch, tl_err *err);
void tl_infer_free(tl_infer *w);
/* The bytes tl_infer_new(cfg, max_batch) allocates when the worker pool has `threads` threads
 * (buffers, caches, packed weights; not the params): what a deployment must reserve per workspace
 * (deploy/occlum_limits.c). */
size_t tl_infer_bytes(const tl_config *cfg, int max_batch, int threads);

/* Last-position logits of nb sequences in one batched pass: sequence i is tokens[i][0..lens[i]),
 * 1 <= lens[i] <= context_length (crop first: see tl_generate), positions start at 0.
 * logits: nb*V floats, row i for sequence i. A sequence's logits do not depend on the others.
 * Nothing is reused from earlier calls, and cache slots 0..nb-1 hold nothing usable afterwards. */
int tl_infer_last_logits(tl_infer *w, const float *params, const uint32_t *const *tokens, const int *lens,
                         int nb, float *logits, tl_err *err);

/* The same, for decoding step by step: sequence i keeps its attention keys and values in cache
 * slot slots[i] (distinct, 0..max_batch-1). Rows of a slot's last tokens that tokens[i] repeats at
 * the same positions (the window has not slid yet) are not computed again. Logits are bit-for-bit
 * those of tl_infer_last_logits. A slot's cache belongs to one sequence: call tl_infer_forget
 * before giving the slot to another. */
int tl_infer_step(tl_infer *w, const float *params, const uint32_t *const *tokens, const int *lens,
                  const int *slots, int nb, float *logits, tl_err *err);
/* Wipes a slot's cached keys, values and tokens. */
void tl_infer_forget(tl_infer *w, int slot);
/* The largest logit of each row of the last call's logits (nb floats, valid until the next call):
 * what tl_sample_max needs, found while the output layer had the logits in registers. */
const float *tl_infer_row_max(const tl_infer *w);
/* Positions (rows) the last call ran through the blocks: Σ lens without cache hits. */
int tl_infer_rows(const tl_infer *w);

/* Binds w to params now (see tl_infer_new), e.g. after params changed in place. Cannot fail today;
 * returns 0. */
int tl_infer_bind(tl_infer *w, const float *params, tl_err *err);

#endif
