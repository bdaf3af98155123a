/* The parameter arena: every weight of a model lives in one float array, in the order listed by
 * tl_params_list(); gradients and AdamW moments use arrays of the same size and layout. Everything
 * here follows from one declarative table per architecture in params.c, chosen by cfg->arch: the
 * seed family below, and the Hugging Face families (docs/architectures.md), whose tables list HF's
 * tensor names and shapes in the order of the model's tl_wref table (model/weights.h).
 *
 * Names are the PyTorch state_dict names of the prototype (docs/weights-format.md), so weight files
 * map 1:1 to arena slices. Per-head q/k/v weights of one block are placed so that the q heads
 * 0..H-1, then the k heads, then the v heads are contiguous: the engine can treat them as one
 * fused [3*d_model, d_model] matrix while files keep the per-head names.
 * Each tensor starts at a multiple of TL_PARAM_ALIGN floats (64 bytes) for SIMD loads, except the
 * per-head q/k/v weights after the first of a block, which follow each other without padding so the
 * fused matrix has no gaps (for the seed model every head is a multiple of 16 floats anyway). */
#ifndef TEELM_MODEL_PARAMS_H
#define TEELM_MODEL_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"

#define TL_PARAM_ALIGN 16
#define TL_PARAM_NAME_MAX 96

typedef struct {
    char name[TL_PARAM_NAME_MAX]; /* e.g. "transformer_blocks.3.attention.attention_heads.1.k_lin.weight" */
    int ndim;                     /* 1 or 2 */
    int64_t shape[2];
    size_t offset;                /* in floats, from the arena start */
    size_t numel;
    int in_dim;                   /* a matrix's input dimension: 1 for nn.Linear [out, in] and embeddings,
                                     0 for GPT-2's Conv1D [in, out] */
} tl_param;

/* The length of a row of p as a block-quantized tensor stores it: block types (tensor/quant.h)
 * always run along the input dimension, so a Conv1D matrix in a block dtype is stored transposed,
 * [out][in], as nn.Linear and GGUF store it (model/weights.h). */
static inline int64_t tl_param_row_len(const tl_param *p) { return p->ndim == 2 ? p->shape[p->in_dim] : p->shape[0]; }

/* Number of parameter tensors for cfg. */
int tl_params_count(const tl_config *cfg);
/* Fills out[0..count) in arena order; returns the count. */
int tl_params_list(const tl_config *cfg, tl_param *out);
/* Arena size in floats (including alignment padding). */
size_t tl_params_arena_floats(const tl_config *cfg);
/* Number of trainable scalars (no padding). */
size_t tl_params_numel(const tl_config *cfg);
/* Finds a parameter by name in a list; NULL if absent. */
const tl_param *tl_params_find(const tl_param *list, int n, const char *name);
/* For many lookups: index[0..n) gets the positions of list in name order. */
void tl_params_index(const tl_param *list, int n, int *index);
/* The position in list of the parameter called name, found through such an index; -1 if absent. */
int tl_params_index_find(const tl_param *list, const int *index, int n, const char *name);
/* Fills the whole arena (padding zeroed) like PyTorch's default initialization, in arena order
 * from one RNG stream; tl_model_init (model/model.h) documents the distributions. */
void tl_params_init(const tl_config *cfg, float *params, uint64_t seed);

#endif
