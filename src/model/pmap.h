/* Internal to src/model/: where each tensor of the seed-family model lives in the parameter
 * arena (offsets, resolved once by name so the fused q/k/v layout is checked), the sinusoidal
 * position table, and small helpers the training and inference workspaces share. */
#ifndef TEELM_MODEL_PMAP_H
#define TEELM_MODEL_PMAP_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "model/params.h"
#include "util/err.h"

typedef struct {
    size_t wqkv, wproj, bproj, w1, b1, w2, b2, ln1w, ln1b, ln2w, ln2b;
} tl_layer_off;

typedef struct {
    size_t wte, wpe, lnfw, lnfb, wout, bout;
    tl_layer_off *layers;
    tl_param *list;
    int nparams;
} tl_pmap;

/* Sets every offset of pm (pm->layers allocated for cfg->n_layer) from the parameter table
 * (params.c); a tied output layer gets the token embedding's offset. */
void tl_params_map(const tl_config *cfg, tl_pmap *pm);
/* Resolves every offset; fails if the arena does not keep each layer's q, k, v heads back to back
 * (the fused [3D, D] view the kernels use). tl_pmap_free releases it (safe on a zeroed map). */
int tl_pmap_init(const tl_config *cfg, tl_pmap *pm, tl_err *err);
void tl_pmap_free(tl_pmap *pm);

/* Sinusoidal positions computed in float32 the way the PyTorch prototype does:
 * div = exp(2i * (-ln(10000)/d)), PE[p,2i] = sin(p*div), PE[p,2i+1] = cos(p*div). pe: [ctx, D]. */
void tl_sinusoid_fill(float *pe, int ctx, int D);

/* Zeroed, 64-byte aligned floats (at least one cache line); sets *fail on allocation failure. */
float *tl_falloc(size_t n, int *fail);

/* Refuses an id >= vocab_size, naming `what` ("token", "target") and the id. */
int tl_check_tokens(const tl_config *c, const uint32_t *t, size_t n, const char *what, tl_err *err);

#endif
