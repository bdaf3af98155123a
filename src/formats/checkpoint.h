/* A model on disk in plaintext: config + weights (+ optimizer state), in the full layout
 * (model.safetensors) or the split layout (token_embedding / transformer_block_{i} /
 * final_linear .safetensors), described in docs/weights-format.md.
 * A model directory also holds the tokenizer it was trained with (tokenizer.tiktoken).
 * These functions read and write the in-memory model, tl_checkpoint (model/checkpoint.h). */
#ifndef TEELM_FORMATS_CHECKPOINT_H
#define TEELM_FORMATS_CHECKPOINT_H

#include <stdint.h>

#include "model/checkpoint.h"
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

/* Loads a plaintext model: a Hugging Face model directory (config.json with "architectures":
 * formats/hf_dir.h, weights mapped, ck->params NULL), a directory (either layout;
 * model.safetensors wins when both are present) or a single .safetensors file. Directories also yield optimizer.safetensors (moments,
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

#endif
