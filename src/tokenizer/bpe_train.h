/* Byte-level BPE training with a tiktoken pre-tokenizer (docs/tokenizer.md, "Training"). The output is
 * a `.tiktoken` file: the 256 single bytes (rank = byte value), then one token per merge in the order
 * learned, so tl_tokenizer_load reads it and encodes with tiktoken's merge rule. */
#ifndef TEELM_TOKENIZER_BPE_TRAIN_H
#define TEELM_TOKENIZER_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct {
    uint32_t vocab;      /* tokens wanted, the 256 bytes included (257 .. 16777216) */
    const char *pattern; /* pre-tokenizer name ("cl100k", "o200k", ...); NULL = cl100k */
    uint64_t min_count;  /* stop early when the best pair occurs fewer times; 0 = 2 */
} tl_bpe_train_opts;

typedef struct {
    uint64_t bytes;           /* corpus bytes (after U+FFFD repair of invalid UTF-8) */
    uint64_t pieces;          /* pre-tokenized pieces */
    uint64_t distinct_pieces;
    uint32_t vocab;           /* tokens in the output (may be below the request: see min_count) */
    uint32_t reused;          /* merges whose bytes were already a token (no new id) */
    double seconds;
} tl_bpe_train_stats;

/* Trains on n texts; *out receives the .tiktoken file text (malloc'd). st may be NULL. */
int tl_bpe_train(const char *const *texts, const size_t *lens, size_t n, const tl_bpe_train_opts *opts,
                 char **out, size_t *out_len, tl_bpe_train_stats *st, tl_err *err);
/* Reads the corpus files, trains, and writes out_path atomically. */
int tl_bpe_train_files(const char *const *paths, size_t n, const tl_bpe_train_opts *opts, const char *out_path,
                       tl_bpe_train_stats *st, tl_err *err);

#endif
