/* Shared by the seal tests: a tiny random model, built in memory (no dependency on the engine). */
#ifndef TEELM_TEST_SEAL_FIXTURE_H
#define TEELM_TEST_SEAL_FIXTURE_H

#include <stdint.h>
#include <string.h>

#include "formats/checkpoint.h"
#include "model/params.h"

static inline uint64_t fx_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A small config with several blocks so split sealing has many parts; random weights (padding
 * between tensors stays zero, like a real arena). */
static inline int fx_model(tl_checkpoint *ck, uint64_t seed, int vocab, tl_err *err)
{
    tl_config c = tl_config_seed(vocab);
    c.context_length = 8;
    c.d_model = 16;
    c.n_layer = 3;
    c.n_head = 2;
    c.d_ff = 40;
    if (tl_checkpoint_alloc(ck, &c, 0, err))
        return err->code;
    int n = tl_params_count(&c);
    tl_param list[256];
    if (n > 256)
        return 1;
    tl_params_list(&c, list);
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < list[i].numel; j++)
            ck->params[list[i].offset + j] = (float)((int64_t)(fx_rand(&seed) % 2001) - 1000) / 997.0f;
    return 0;
}

static inline size_t fx_arena_bytes(const tl_checkpoint *ck)
{
    return tl_params_arena_floats(&ck->cfg) * sizeof(float);
}

#endif
