/* Placeholder until the weights layer lands: delete when checkpoint.c implements the header. */
#include "formats/checkpoint.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "model/params.h"

int tl_checkpoint_alloc(tl_checkpoint *ck, const tl_config *cfg, int with_optimizer, tl_err *err)
{
    memset(ck, 0, sizeof *ck);
    ck->cfg = *cfg;
    size_t n = tl_params_arena_floats(cfg) * sizeof(float);
    size_t bytes = (n + 63) / 64 * 64;
    ck->params = aligned_alloc(64, bytes);
    if (with_optimizer) {
        ck->adam_m = aligned_alloc(64, bytes);
        ck->adam_v = aligned_alloc(64, bytes);
    }
    if (!ck->params || (with_optimizer && (!ck->adam_m || !ck->adam_v))) {
        tl_checkpoint_free(ck);
        return tl_errf(err, TL_ENOMEM, "out of memory for %zu bytes of parameters", bytes);
    }
    memset(ck->params, 0, bytes);
    if (with_optimizer) {
        memset(ck->adam_m, 0, bytes);
        memset(ck->adam_v, 0, bytes);
    }
    return 0;
}

int tl_checkpoint_load(const char *path, tl_checkpoint *ck, tl_err *err)
{
    (void)ck;
    return tl_errf(err, TL_EUNSUPPORTED, "%s: weight files not available in this build yet", path);
}

int tl_checkpoint_save(const char *dir, const tl_checkpoint *ck, int layouts, tl_err *err)
{
    (void)ck; (void)layouts;
    return tl_errf(err, TL_EUNSUPPORTED, "%s: weight files not available in this build yet", dir);
}

void tl_checkpoint_free(tl_checkpoint *ck)
{
    if (!ck)
        return;
    size_t bytes = ck->params ? tl_params_arena_floats(&ck->cfg) * sizeof(float) : 0;
    if (ck->params)
        OPENSSL_cleanse(ck->params, bytes);
    free(ck->params);
    free(ck->adam_m);
    free(ck->adam_v);
    if (ck->tokenizer_data)
        OPENSSL_cleanse(ck->tokenizer_data, ck->tokenizer_len);
    free(ck->tokenizer_data);
    memset(ck, 0, sizeof *ck);
}
