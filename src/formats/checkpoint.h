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

/* File names inside a model directory and safetensors __metadata__ keys (docs/weights-format.md). */
#define TL_FILE_FULL "model.safetensors"
#define TL_FILE_OPTIMIZER "optimizer.safetensors"
#define TL_TOKENIZER_TIKTOKEN "tokenizer.tiktoken"
#define TL_TOKENIZER_JSON "tokenizer.json"
#define TL_META_CONFIG "config"            /* tl_config_to_json() */
#define TL_META_ID "checkpoint_id"         /* random per save: binds the files of one save */
#define TL_META_STEP "step"                /* optimizer.safetensors: decimal */
#define TL_META_RNG "rng_state"            /* optimizer.safetensors: decimal u64 */
#define TL_OPT_M_PREFIX "exp_avg."         /* + parameter name: AdamW first moment */
#define TL_OPT_V_PREFIX "exp_avg_sq."      /* + parameter name: AdamW second moment */

typedef struct {
    tl_config cfg;
    float *params;          /* tl_params_arena_floats(&cfg) floats, 64-byte aligned; owned */
    float *adam_m, *adam_v; /* optimizer moments in the same layout, or NULL */
    int64_t step;           /* optimizer steps taken (for train --resume) */
    uint64_t rng_state;     /* training RNG state at save time (for train --resume) */
    char tokenizer_path[4096]; /* tokenizer file found beside the weights, or "" */
    char note[512];         /* after a load: what was inferred/assumed (config absent from the
                               files, e.g. written by PyTorch), or "" — for the CLI to print */
    /* Tokenizer file bytes carried inside a sealed model (tokenizer_path is "" then; load them with
     * tl_tokenizer_load_mem or tl_model_tokenizer). NULL for plaintext models. malloc'd, owned,
     * NUL-terminated after tokenizer_len bytes; tl_checkpoint_free wipes and frees them. */
    uint8_t *tokenizer_data;
    size_t tokenizer_len;
} tl_checkpoint;

/* Allocates zeroed params for cfg (and moments if with_optimizer). */
int tl_checkpoint_alloc(tl_checkpoint *ck, const tl_config *cfg, int with_optimizer, tl_err *err);
/* Loads a plaintext model: a directory (either layout; model.safetensors wins when both are
 * present) or a single .safetensors file. Directories also yield optimizer.safetensors (moments,
 * step, rng_state) when present and the tokenizer file (tokenizer.tiktoken or tokenizer.json). */
int tl_checkpoint_load(const char *path, tl_checkpoint *ck, tl_err *err);
/* Same, choosing what to load: without TL_LOAD_OPTIMIZER a directory's optimizer.safetensors is
 * left on disk (inference needs only the weights: the two AdamW moments would double its memory).
 * tl_checkpoint_load() is tl_checkpoint_load_ex(path, TL_LOAD_OPTIMIZER, ...). */
enum { TL_LOAD_OPTIMIZER = 1 };
int tl_checkpoint_load_ex(const char *path, int flags, tl_checkpoint *ck, tl_err *err);
/* Writes dir/ in the given layouts (TL_LAYOUT_FULL|TL_LAYOUT_SPLIT), with optimizer state
 * (optimizer.safetensors) when ck->adam_m is set. Files are written atomically; afterwards the
 * directory describes exactly ck: weight files of a layout not written, block files beyond
 * n_layer and a stale optimizer.safetensors are removed. The tokenizer file is left alone. */
int tl_checkpoint_save(const char *dir, const tl_checkpoint *ck, int layouts, tl_err *err);
/* One named tensor from any file format, for tl_checkpoint_assemble: read() writes numel floats. */
typedef struct {
    const char *name;   /* full state_dict name (model/params.h) or a mask buffer name */
    const char *where;  /* "file" or "file: key" for messages */
    int ndim;
    const int64_t *shape;
    int (*read)(void *ctx, float *dst, tl_err *err);
    void *ctx;
    int thread_safe;    /* read() may run concurrently for different tensors */
} tl_tensor_src;

/* Builds a checkpoint from named tensors: cfg when given, otherwise inferred from the shapes
 * (ck->note says what was inferred). Every parameter must be present exactly once with the shape
 * the config implies; mask buffers are optional but must be [ctx,ctx] lower-triangular ones;
 * anything else is an error naming the tensor. */
int tl_checkpoint_assemble(const tl_tensor_src *src, int n, const tl_config *cfg, tl_checkpoint *ck, tl_err *err);

/* Frees (and zeroes: weights are secrets) everything the checkpoint owns. */
void tl_checkpoint_free(tl_checkpoint *ck);

#endif
