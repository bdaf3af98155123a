#include "train/eval.h"

#include <stdlib.h>

int tl_eval_loss(tl_model *m, const float *params, const tl_dataset *ds, int split, int B, int T, int iters,
                 tl_rng *rng, double *loss, tl_err *err)
{
    uint32_t *x = malloc((size_t)B * T * sizeof *x), *y = malloc((size_t)B * T * sizeof *y);
    int rc = 0;
    double sum = 0;
    if (!x || !y) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < iters && !rc; i++) {
        double l = 0;
        tl_dataset_batch(ds, split, B, T, rng, x, y);
        rc = tl_model_forward(m, params, x, y, 0, NULL, &l, err);
        sum += l;
    }
    *loss = iters > 0 ? sum / iters : 0;
done:
    free(x);
    free(y);
    return rc;
}
