/* Token streams for training and evaluation, split like the prototype: the first 90% of the
 * tokens (int(n * 0.9)) train, the rest validate. A batch takes B random offsets i in
 * [0, len - T) of one split: x = ids[i .. i+T), y = ids[i+1 .. i+T+1). */
#ifndef TEELM_TRAIN_DATASET_H
#define TEELM_TRAIN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "model/rng.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"

typedef struct {
    uint32_t *ids;
    size_t n, n_train; /* split: ids[0..n_train) train, ids[n_train..n) validation */
    uint32_t max_id;
} tl_dataset;

/* Little-endian uint32 ids (a file of 4*n bytes). */
int tl_dataset_load_tokens(tl_dataset *ds, const char *path, tl_err *err);
/* Tokenizes a text file. */
int tl_dataset_load_text(tl_dataset *ds, const char *path, const tl_tokenizer *tok, tl_err *err);
/* Both splits must hold at least T+1 tokens and every id must be < vocab_size. what names the
 * input in messages. */
int tl_dataset_check(const tl_dataset *ds, int T, int vocab_size, const char *what, tl_err *err);
void tl_dataset_free(tl_dataset *ds);

/* Fills x and y (B*T each) from the split (0 train, 1 validation). */
void tl_dataset_batch(const tl_dataset *ds, int split, int B, int T, tl_rng *rng, uint32_t *x, uint32_t *y);

#endif
