#include "model/generate.h"

#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "util/secmem.h"

int tl_generate(const tl_config *cfg, const float *params, const uint32_t *prompt, int n_prompt, int max_new,
                const tl_sample_params *sp, uint64_t seed, tl_token_cb cb, void *user, uint32_t *out,
                int *n_out, tl_err *err)
{
    if (n_out)
        *n_out = 0;
    if (n_prompt < 1)
        return tl_errf(err, TL_EINVAL, "the prompt must have at least one token");
    if (max_new < 0)
        return tl_errf(err, TL_EINVAL, "max_new must not be negative");
    const int ctx = cfg->context_length, V = cfg->vocab_size;
    tl_infer *w = tl_infer_new(cfg, 1, err);
    if (!w)
        return err->code;
    /* params stay fixed for the whole generation: lay the weights out once, and let the window's
     * keys and values be reused while it is still filling */
    if (tl_infer_bind(w, params, err)) {
        tl_infer_free(w);
        return err->code;
    }
    /* only the last ctx tokens are ever needed: keep a window of them */
    uint32_t *win = malloc((size_t)ctx * sizeof *win);
    float *logits = malloc((size_t)V * sizeof *logits);
    uint32_t *idx = (sp->top_k > 0 || sp->top_p < 1) ? malloc((size_t)V * sizeof *idx) : NULL;
    int rc = 0;
    if (!win || !logits || ((sp->top_k > 0 || sp->top_p < 1) && !idx)) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto done;
    }
    int len = n_prompt < ctx ? n_prompt : ctx;
    memcpy(win, prompt + (n_prompt - len), (size_t)len * sizeof *win);
    tl_rng rng = tl_rng_seed(seed);
    for (int i = 0; i < max_new; i++) {
        const uint32_t *seqs[1] = {win};
        const int slot = 0;
        if ((rc = tl_infer_step(w, params, seqs, &len, &slot, 1, logits, err)))
            goto done;
        uint32_t id = tl_sample_max(logits, V, tl_infer_row_max(w)[0], sp, &rng, idx);
        if (out)
            out[i] = id;
        if (n_out)
            *n_out = i + 1;
        if (len == ctx)
            memmove(win, win + 1, (size_t)(ctx - 1) * sizeof *win);
        else
            len++;
        win[len - 1] = id;
        if (cb && cb(id, user))
            break;
    }
done:
    tl_sec_free(win); /* the prompt's tokens, and what was computed from them */
    tl_sec_free(logits);
    tl_sec_free(idx);
    tl_infer_free(w);
    return rc;
}
