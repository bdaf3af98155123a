/* Inference for the Hugging Face families (Llama, Mistral, Qwen2, GPT-2; docs/architectures.md):
 * the counterpart of tl_infer (model/model.h) for models whose weights are a tl_wref table
 * (model/weights.h) in F32, F16 or BF16, with a key/value cache over the whole context.
 *
 * A workspace holds max_batch cache slots of cfg->context_length positions each. Positions
 * continue: a slot's sequence grows by the tokens appended to it (never cropped); a sequence longer
 * than context_length is refused. Prompt rows are processed together (blocked matrix products);
 * decoding steps of several slots are batched into one pass. All of it runs on the worker pool
 * (util/pool.h). Every row goes through the same arithmetic however rows are batched or cached, so
 * a sequence's logits are the same alone, in any batch, with or without its cache.
 * Caches, activations and logits derive from prompts: wiped on free and on forget. */
#ifndef TEELM_MODEL_LM_H
#define TEELM_MODEL_LM_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "model/generate.h"
#include "model/sampler.h"
#include "model/weights.h"
#include "util/err.h"

typedef struct tl_lm tl_lm;

/* cfg: a Hugging Face family config (tl_config_is_hf), validated; w: tl_params_count(cfg) entries
 * in tl_params_list order (F32/F16/BF16; gate_proj and up_proj of a layer in the same dtype), kept
 * by the caller (read-only) while the workspace lives: the weights are read in place, never
 * copied (F16/BF16 are widened in the kernels). max_batch: 1..4096 cache slots. */
tl_lm *tl_lm_new(const tl_config *cfg, const tl_wref *w, int max_batch, tl_err *err);
void tl_lm_free(tl_lm *m);
/* Bytes tl_lm_new allocates for (cfg, max_batch) with `threads` pool threads: caches, activations,
 * any converted weights; not the weights themselves (deploy/occlum_limits.c). */
size_t tl_lm_bytes(const tl_config *cfg, int max_batch, int threads);

/* The same contract as tl_infer_step: sequence i is tokens[i][0..lens[i]), 1 <= lens[i] <=
 * context_length, ids < vocab_size, in cache slot slots[i] (required; distinct, 0..max_batch-1).
 * Rows whose tokens the slot already holds at the same positions are not computed again (a slot's
 * cached prefix is reused; a slot whose cache disagrees with tokens[i] is recomputed from the first
 * differing position); the last row is always computed. Decoding is therefore "append one token
 * and call again": only the new row runs. Afterwards the slot holds tokens[i] (refused calls change
 * nothing).
 * logits: nb * vocab_size floats, the last position of each sequence.
 * all_logits (may be NULL): when non-NULL, nb must be 1 and every computed row's logits are
 * written there ((lens[0] - first computed row) * V floats) — the path the tests use to compare
 * every position against the reference. */
int tl_lm_step(tl_lm *m, const uint32_t *const *tokens, const int *lens, const int *slots, int nb,
               float *logits, float *all_logits, tl_err *err);
/* Wipes a slot's cached keys, values and tokens, and the workspace's activations. */
void tl_lm_forget(tl_lm *m, int slot);
/* Largest logit of each row of the last call's logits (nb floats, valid until the next call). */
const float *tl_lm_row_max(const tl_lm *m);
/* Rows the last call ran through the blocks (Σ lens without cache hits). */
int tl_lm_rows(const tl_lm *m);
/* Rows of tok[0..len) that slot src's cache already holds (its longest common prefix with tok,
 * at most len - 1: the last row is always computed); 0 for a bad slot. */
int tl_lm_shared_prefix(const tl_lm *m, int src, const uint32_t *tok, int len);
/* Copies the first n cached rows (keys, values and their tokens) of slot src into slot dst, which
 * then holds exactly those n rows: a sequence that shares them (n samples of one prompt) computes
 * only its rows after them, with logits bit-identical to computing all of them (a row's keys and
 * values depend on the rows before it alone). 0, or -1 when a slot is bad, dst == src or n exceeds
 * the rows src holds. */
int tl_lm_copy_prefix(tl_lm *m, int dst, int src, int n);

/* Generation (model/lm_generate.c): the prompt prompt[0..n_prompt) in one pass, then one token
 * per step with the cache of `slot`, up to max_new tokens, choosing each with tl_sample_max
 * (greedy when sp->temperature <= 0; the sampler is seeded by seed). Stops after emitting any of
 * cfg->eos_ids (the EOS token is the last token produced) or when cb returns non-zero. Each token
 * goes to cb (may be NULL) and out[] (may be NULL; max_new entries); *n_out (may be NULL) gets
 * the count. n_prompt + max_new must fit the context (cfg->context_length): a request that
 * could run past it is refused before anything is computed (no cropping, no silent stop).
 * The slot's cache is reused where it matches the prompt and left holding the sequence
 * (tl_lm_forget wipes it). */
int tl_lm_generate(tl_lm *m, int slot, const uint32_t *prompt, int n_prompt, int max_new,
                   const tl_sample_params *sp, uint64_t seed, tl_token_cb cb, void *user, uint32_t *out,
                   int *n_out, tl_err *err);
/* The workspace's config. */
const tl_config *tl_lm_config(const tl_lm *m);

#endif
