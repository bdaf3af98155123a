#include "train/loop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/model.h"
#include "model/params.h"
#include "train/adamw.h"
#include "train/eval.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int estimate(tl_model *m, const tl_checkpoint *ck, const tl_dataset *ds, const tl_train_opts *o, int T,
                    int64_t step, tl_err *err)
{
    tl_rng er = tl_rng_seed(o->eval_seed);
    double tl, vl;
    if (tl_eval_loss(m, ck->params, ds, 0, o->batch, T, o->eval_iters, &er, &tl, err) ||
        tl_eval_loss(m, ck->params, ds, 1, o->batch, T, o->eval_iters, &er, &vl, err))
        return err->code;
    if (o->on_eval)
        o->on_eval(o->user, step, tl, vl);
    return 0;
}

int tl_train_run(tl_checkpoint *ck, const tl_dataset *ds, const tl_train_opts *o, int *stopped, tl_err *err)
{
    const tl_config *cfg = &ck->cfg;
    const int B = o->batch, T = cfg->context_length;
    *stopped = 0;
    if (tl_dataset_check(ds, T, cfg->vocab_size, "training data", err))
        return err->code;
    if (!ck->adam_m || !ck->adam_v)
        return tl_errf(err, TL_EINVAL, "checkpoint has no optimizer state");
    const size_t A = tl_params_arena_floats(cfg);
    tl_model *m = tl_model_new(cfg, B, T, err);
    float *grads = aligned_alloc(64, (A * sizeof(float) + 63) / 64 * 64);
    uint32_t *x = malloc((size_t)B * T * sizeof *x), *y = malloc((size_t)B * T * sizeof *y);
    int rc = 0;
    if (!m || !grads || !x || !y) {
        rc = m ? tl_errf(err, TL_ENOMEM, "out of memory") : err->code;
        goto done;
    }
    memset(grads, 0, A * sizeof(float)); /* padding floats stay 0, so AdamW keeps them 0 */
    tl_adamw opt = tl_adamw_defaults(o->lr);
    tl_rng rng = {ck->rng_state};
    int64_t s = ck->step;
    for (; s < o->steps; s++) {
        if (o->stop && *o->stop) {
            *stopped = 1;
            break;
        }
        if (o->eval_interval > 0 && s % o->eval_interval == 0 && (rc = estimate(m, ck, ds, o, T, s, err)))
            goto done;
        double t0 = now(), loss = 0;
        tl_dataset_batch(ds, 0, B, T, &rng, x, y);
        if ((rc = tl_model_forward(m, ck->params, x, y, 1, &rng, &loss, err)))
            goto done;
        if (!isfinite(loss)) {
            rc = tl_errf(err, TL_EINVAL, "training diverged: the loss is %g at step %lld (try a lower --lr)", loss,
                         (long long)s);
            goto done;
        }
        tl_model_backward(m, ck->params, grads);
        tl_adamw_step(&opt, ck->params, grads, ck->adam_m, ck->adam_v, A, s + 1);
        ck->step = s + 1;
        ck->rng_state = rng.s;
        if (o->on_step)
            o->on_step(o->user, s + 1, o->steps, loss, now() - t0);
    }
    if (!*stopped && o->eval_interval > 0)
        rc = estimate(m, ck, ds, o, T, s, err);
done:
    tl_model_free(m);
    free(grads);
    free(x);
    free(y);
    return rc;
}
