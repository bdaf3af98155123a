#include "train/dataset.h"

#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"
#include "util/io.h"

#define MAX_TOKENS_BYTES ((size_t)4 << 30)
#define MAX_TEXT_BYTES ((size_t)2 << 30)

static void finish(tl_dataset *ds)
{
    ds->n_train = (size_t)((double)ds->n * 0.9); /* int(len(data) * 0.9) */
    ds->max_id = 0;
    for (size_t i = 0; i < ds->n; i++)
        if (ds->ids[i] > ds->max_id)
            ds->max_id = ds->ids[i];
}

int tl_dataset_load_tokens(tl_dataset *ds, const char *path, tl_err *err)
{
    memset(ds, 0, sizeof *ds);
    uint8_t *data;
    size_t len;
    if (tl_read_file(path, MAX_TOKENS_BYTES, &data, &len, err))
        return err->code;
    if (len % 4) {
        free(data);
        return tl_errf(err, TL_EINVAL, "%s: %zu bytes is not a whole number of uint32 token ids", path, len);
    }
    ds->n = len / 4;
    ds->ids = malloc((ds->n ? ds->n : 1) * sizeof *ds->ids);
    if (!ds->ids) {
        free(data);
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < ds->n; i++)
        ds->ids[i] = tl_load_le32(data + 4 * i);
    free(data);
    finish(ds);
    return 0;
}

int tl_dataset_load_text(tl_dataset *ds, const char *path, const tl_tokenizer *tok, tl_err *err)
{
    memset(ds, 0, sizeof *ds);
    uint8_t *data;
    size_t len;
    if (tl_read_file(path, MAX_TEXT_BYTES, &data, &len, err))
        return err->code;
    int rc = tl_tokenizer_encode(tok, (const char *)data, len, 0, &ds->ids, &ds->n, err);
    free(data);
    if (rc)
        return tl_err_prefix(err, "%s", path);
    finish(ds);
    return 0;
}

int tl_dataset_check(const tl_dataset *ds, int T, int vocab_size, const char *what, tl_err *err)
{
    if (ds->n == 0)
        return tl_errf(err, TL_EINVAL, "%s: no tokens", what);
    size_t need = (size_t)T + 1, nval = ds->n - ds->n_train;
    if (ds->n_train < need || nval < need)
        return tl_errf(err, TL_EINVAL,
                       "%s: %zu tokens are too few: the training split (first 90%%, %zu tokens) and the "
                       "validation split (%zu tokens) each need at least context_length+1 = %zu",
                       what, ds->n, ds->n_train, nval, need);
    if (ds->max_id >= (uint32_t)vocab_size)
        return tl_errf(err, TL_EINVAL, "%s: token id %u is outside the model's vocabulary (vocab_size %d)", what,
                       ds->max_id, vocab_size);
    return 0;
}

void tl_dataset_free(tl_dataset *ds)
{
    free(ds->ids);
    memset(ds, 0, sizeof *ds);
}

void tl_dataset_batch(const tl_dataset *ds, int split, int B, int T, tl_rng *rng, uint32_t *x, uint32_t *y)
{
    const uint32_t *base = split ? ds->ids + ds->n_train : ds->ids;
    size_t len = split ? ds->n - ds->n_train : ds->n_train;
    for (int b = 0; b < B; b++) {
        size_t i = (size_t)tl_rng_below(rng, len - (size_t)T);
        memcpy(x + (size_t)b * T, base + i, (size_t)T * sizeof *x);
        memcpy(y + (size_t)b * T, base + i + 1, (size_t)T * sizeof *y);
    }
}
