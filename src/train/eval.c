#include "train/eval.h"

#include <stdlib.h>
#include <string.h>

/* Input and target ids for B windows of T tokens each. */
static int batch_buffers(int B, int T, uint32_t **x, uint32_t **y, tl_err *err)
{
    *x = malloc((size_t)B * T * sizeof **x);
    *y = malloc((size_t)B * T * sizeof **y);
    if (*x && *y)
        return 0;
    free(*x);
    free(*y);
    *x = *y = NULL;
    return tl_errf(err, TL_ENOMEM, "out of memory");
}

int tl_eval_loss(tl_model *m, const float *params, const tl_dataset *ds, int split, int B, int T, int iters,
                 tl_rng *rng, double *loss, tl_err *err)
{
    uint32_t *x, *y;
    int rc = batch_buffers(B, T, &x, &y, err);
    double sum = 0;
    if (rc)
        return rc;
    for (int i = 0; i < iters && !rc; i++) {
        double l = 0;
        tl_dataset_batch(ds, split, B, T, rng, x, y);
        rc = tl_model_forward(m, params, x, y, 0, NULL, &l, err);
        sum += l;
    }
    *loss = iters > 0 ? sum / iters : 0;
    free(x);
    free(y);
    return rc;
}

int tl_eval_loss_full(tl_model *m, const float *params, const tl_dataset *ds, int split, int B, int T,
                      double *loss, long *windows, tl_err *err)
{
    const uint32_t *base = split ? ds->ids + ds->n_train : ds->ids;
    size_t len = split ? ds->n - ds->n_train : ds->n_train;
    size_t nw = len > (size_t)T ? (len - 1) / (size_t)T : 0;
    uint32_t *x, *y;
    int rc = batch_buffers(B, T, &x, &y, err);
    double sum = 0;
    if (rc)
        return rc;
    /* the workspace has exactly B rows: a short last batch repeats its first window, and only the
     * real windows are counted (each batch loss is a mean over its B*T positions) */
    for (size_t w0 = 0; w0 < nw && !rc; w0 += (size_t)B) {
        size_t nb = nw - w0 < (size_t)B ? nw - w0 : (size_t)B;
        for (int b = 0; b < B; b++) {
            size_t i = (w0 + ((size_t)b < nb ? (size_t)b : 0)) * (size_t)T;
            memcpy(x + (size_t)b * T, base + i, (size_t)T * sizeof *x);
            memcpy(y + (size_t)b * T, base + i + 1, (size_t)T * sizeof *y);
        }
        double l = 0;
        if (nb == (size_t)B) {
            rc = tl_model_forward(m, params, x, y, 0, NULL, &l, err);
            sum += l * (double)B;
        } else {
            /* a partial batch: fill with copies of its first window and subtract them exactly */
            for (size_t b = 0; b < nb && !rc; b++) {
                for (int k = 0; k < B; k++) {
                    memcpy(x + (size_t)k * T, base + (w0 + b) * T, (size_t)T * sizeof *x);
                    memcpy(y + (size_t)k * T, base + (w0 + b) * T + 1, (size_t)T * sizeof *y);
                }
                rc = tl_model_forward(m, params, x, y, 0, NULL, &l, err);
                sum += l;
            }
        }
    }
    *loss = nw ? sum / (double)nw : 0;
    if (windows)
        *windows = (long)nw;
    free(x);
    free(y);
    return rc;
}
