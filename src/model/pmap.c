#include "model/pmap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

float *tl_falloc(size_t n, int *fail)
{
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    if (bytes == 0)
        bytes = 64;
    float *p = aligned_alloc(64, bytes);
    if (!p)
        *fail = 1;
    else
        memset(p, 0, bytes);
    return p;
}

int tl_pmap_init(const tl_config *cfg, tl_pmap *pm, tl_err *err)
{
    int n = tl_params_count(cfg);
    pm->list = calloc((size_t)n, sizeof *pm->list);
    pm->layers = calloc((size_t)cfg->n_layer, sizeof *pm->layers);
    if (!pm->list || !pm->layers)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    pm->nparams = tl_params_list(cfg, pm->list);
    tl_params_map(cfg, pm);
    /* the kernels' fused [3D, D] view needs q heads, k heads, v heads back to back */
    const size_t D = (size_t)cfg->d_model, hs = D / (size_t)cfg->n_head;
    char name[TL_PARAM_NAME_MAX];
    for (int i = 0; i < cfg->n_layer; i++) {
        static const char *qkv[3] = {"q_lin", "k_lin", "v_lin"};
        for (int m = 0; m < 3; m++)
            for (int h = 0; h < cfg->n_head; h++) {
                snprintf(name, sizeof name, "transformer_blocks.%d.attention.attention_heads.%d.%s.weight", i, h, qkv[m]);
                const tl_param *p = tl_params_find(pm->list, pm->nparams, name);
                if (!p || p->offset != pm->layers[i].wqkv + ((size_t)m * cfg->n_head + h) * hs * D)
                    return tl_errf(err, TL_EINVAL, "parameter layout: %s is not packed", name);
            }
    }
    return 0;
}

void tl_pmap_free(tl_pmap *pm)
{
    free(pm->list);
    free(pm->layers);
    pm->list = NULL;
    pm->layers = NULL;
}

void tl_sinusoid_fill(float *pe, int ctx, int D)
{
    const float k = (float)(-log(10000.0) / D);
    for (int p = 0; p < ctx; p++)
        for (int i = 0; i < D / 2; i++) {
            float div = expf((float)(2 * i) * k), arg = (float)p * div;
            pe[(size_t)p * D + 2 * i] = sinf(arg);
            pe[(size_t)p * D + 2 * i + 1] = cosf(arg);
        }
}

int tl_check_tokens(const tl_config *c, const uint32_t *t, size_t n, const char *what, tl_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (t[i] >= (uint32_t)c->vocab_size)
            return tl_errf(err, TL_EINVAL, "%s id %u is outside the model's vocabulary (vocab_size %d)",
                           what, t[i], c->vocab_size);
    return 0;
}
