/* Choosing the next token from logits: greedy, or multinomial with temperature, top-k, top-p. */
#ifndef TEELM_MODEL_SAMPLER_H
#define TEELM_MODEL_SAMPLER_H

#include <stdint.h>

#include "model/rng.h"

typedef struct {
    float temperature; /* <= 0: greedy (argmax); 1: the model's distribution */
    int top_k;         /* > 0: keep the k most likely ids (ties at the boundary are kept); 0: all */
    float top_p;       /* < 1: keep the smallest most-likely set whose mass reaches top_p; 1: all */
} tl_sample_params;

/* The prototype's sampling: temperature 1, no filtering. */
tl_sample_params tl_sample_defaults(void);

/* Draws one id from logits[V], which are overwritten (used as work space). idx is V ids of work
 * space for top-k/top-p (may be NULL when neither is active). Greedy returns the lowest id among
 * equal maxima and draws no random number; sampling draws exactly one, so a sequence's output
 * depends only on its seed, never on other sequences sharing a batch. */
uint32_t tl_sample(float *logits, int V, const tl_sample_params *sp, tl_rng *rng, uint32_t *idx);
/* tl_sample when the largest logit is already known (tl_infer_row_max): the same draw, one pass
 * over the logits fewer. max must be exactly the largest of logits[0..V). */
uint32_t tl_sample_max(float *logits, int V, float max, const tl_sample_params *sp, tl_rng *rng, uint32_t *idx);

#endif
