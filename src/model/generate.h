/* Text continuation the way the prototype does it: crop the sequence to its last context_length
 * tokens (positions restart at 0 for every crop), compute the last position's logits only,
 * sample, append, repeat. */
#ifndef TEELM_MODEL_GENERATE_H
#define TEELM_MODEL_GENERATE_H

#include <stdint.h>

#include "model/config.h"
#include "model/sampler.h"
#include "util/err.h"

/* Called for each new token; return non-zero to stop early. */
typedef int (*tl_token_cb)(uint32_t id, void *user);

/* Generates up to max_new tokens after prompt[0..n_prompt) (n_prompt >= 1) with a sampler seeded
 * by seed. Each token goes to cb (may be NULL) and to out[] (may be NULL; max_new entries);
 * *n_out (may be NULL) receives the number produced. */
int tl_generate(const tl_config *cfg, const float *params, const uint32_t *prompt, int n_prompt, int max_new,
                const tl_sample_params *sp, uint64_t seed, tl_token_cb cb, void *user, uint32_t *out,
                int *n_out, tl_err *err);

#endif
