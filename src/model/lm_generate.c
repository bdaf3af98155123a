/* tl_lm_generate (model/lm.h): prompt in one pass, then one token at a time with the KV cache. */
#include <stdlib.h>
#include <string.h>

#include "model/lm.h"
#include "model/rng.h"
#include "util/secmem.h"

static int is_eos(const tl_config *c, uint32_t id)
{
    for (int i = 0; i < c->n_eos; i++)
        if ((uint32_t)c->eos_ids[i] == id)
            return 1;
    return 0;
}

int tl_lm_generate(tl_lm *m, int slot, const uint32_t *prompt, int n_prompt, int max_new,
                   const tl_sample_params *sp, uint64_t seed, tl_token_cb cb, void *user, uint32_t *out,
                   int *n_out, tl_err *err)
{
    const tl_config *c = tl_lm_config(m);
    if (n_out)
        *n_out = 0;
    if (n_prompt < 1 || max_new < 0)
        return tl_errf(err, TL_EINVAL, "generation needs a prompt of at least one token and max_new >= 0");
    if ((long)n_prompt + max_new > c->context_length)
        return tl_errf(err, TL_EINVAL,
                       "prompt of %d tokens + %d new tokens exceeds the context of %d positions", n_prompt, max_new,
                       c->context_length);
    const size_t V = (size_t)c->vocab_size, total = (size_t)n_prompt + (size_t)max_new;
    uint32_t *seq = tl_sec_malloc(total * sizeof *seq);
    float *logits = tl_sec_malloc(V * sizeof *logits);
    uint32_t *idx = tl_sec_malloc(V * sizeof *idx);
    int rc = 0;
    if (!seq || !logits || !idx) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto done;
    }
    memcpy(seq, prompt, (size_t)n_prompt * sizeof *seq);
    tl_rng rng = tl_rng_seed(seed);
    int len = n_prompt, made = 0;
    while (made < max_new) {
        const uint32_t *tp = seq;
        /* the slot already holds seq[0..len-1): only the newest row is computed */
        if ((rc = tl_lm_step(m, &tp, &len, &slot, 1, logits, NULL, err)))
            break;
        const uint32_t id = tl_sample_max(logits, (int)V, tl_lm_row_max(m)[0], sp, &rng, idx);
        seq[len++] = id;
        if (out)
            out[made] = id;
        made++;
        if (n_out)
            *n_out = made;
        if ((cb && cb(id, user)) || is_eos(c, id))
            break;
    }
done:
    tl_sec_free(seq);
    tl_sec_free(logits);
    tl_sec_free(idx);
    return rc;
}
