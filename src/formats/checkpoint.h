/* A model on disk in plaintext: config + weights (+ optimizer state), in the full layout
 * (model.safetensors) or the split layout (token_embedding / transformer_block_{i} /
 * final_linear .safetensors), described in docs/weights-format.md.
 * A model directory also holds the tokenizer it was trained with (tokenizer.tiktoken). */
#ifndef TEELM_FORMATS_CHECKPOINT_H
#define TEELM_FORMATS_CHECKPOINT_H

#include <stdint.h>

#include "model/config.h"
#include "util/err.h"

enum { TL_LAYOUT_FULL = 1, TL_LAYOUT_SPLIT = 2 };

typedef struct {
    tl_config cfg;
    float *params;          /* tl_params_arena_floats(&cfg) floats, 64-byte aligned; owned */
    float *adam_m, *adam_v; /* optimizer moments in the same layout, or NULL */
    int64_t step;           /* optimizer steps taken (for train --resume) */
    uint64_t rng_state;     /* training RNG state at save time (for train --resume) */
    char tokenizer_path[4096]; /* tokenizer file found beside the weights, or "" */
    /* Tokenizer file bytes carried inside a sealed model (tokenizer_path is "" then; load them with
     * tl_tokenizer_load_mem or tl_model_tokenizer). NULL for plaintext models. malloc'd, owned,
     * NUL-terminated after tokenizer_len bytes; tl_checkpoint_free wipes and frees them. */
    uint8_t *tokenizer_data;
    size_t tokenizer_len;
} tl_checkpoint;

/* Allocates zeroed params for cfg (and moments if with_optimizer). */
int tl_checkpoint_alloc(tl_checkpoint *ck, const tl_config *cfg, int with_optimizer, tl_err *err);
/* Loads a plaintext model: a directory (either layout) or a single .safetensors file. */
int tl_checkpoint_load(const char *path, tl_checkpoint *ck, tl_err *err);
/* Writes dir/ in the given layouts (TL_LAYOUT_FULL|TL_LAYOUT_SPLIT), with optimizer state
 * (optimizer.safetensors) when ck->adam_m is set. Files are written atomically. */
int tl_checkpoint_save(const char *dir, const tl_checkpoint *ck, int layouts, tl_err *err);
/* Frees (and zeroes: weights are secrets) everything the checkpoint owns. */
void tl_checkpoint_free(tl_checkpoint *ck);

#endif
