/* Where each tensor of a model lives on disk, and what a set of tensor shapes says about the
 * model's config (docs/weights-format.md).
 *
 * Full layout: one file (model.safetensors / model.pth) with the PyTorch state_dict names of
 * model/params.h plus the attention mask buffers. Split layout: one file per part, keys relative
 * to the part as the prototype's torch.save(module.state_dict()) files have them:
 *   token_embedding   weight -> token_embedding_table.weight
 *                     position_embedding_table.weight (learned positions; full name kept)
 *   transformer_block_{i}   KEY -> transformer_blocks.{i}.KEY
 *   final_linear      weight, bias -> final_linear_layer.{weight,bias}
 *                     final_layer_norm.{weight,bias} (pre-norm models; full names kept) */
#ifndef TEELM_FORMATS_LAYOUT_H
#define TEELM_FORMATS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "util/err.h"

#define TL_FULLNAME_MAX 256

/* A model part: TL_PART_BLOCK carries the block index. */
typedef enum { TL_PART_MODEL, TL_PART_EMBEDDING, TL_PART_BLOCK, TL_PART_FINAL } tl_part_kind;
typedef struct {
    tl_part_kind kind;
    int block;
} tl_part;

/* Recognizes a file's base name without extension: "model", "token_embedding",
 * "transformer_block_3", "final_linear". Returns 0 and fills part, or -1. */
int tl_part_from_stem(const char *stem, tl_part *part);
/* The part a weight file holds, from its base name without a tensor-file extension (.safetensors,
 * .pth, .pt): a recognized stem, else TL_PART_MODEL (a file of full state_dict names). */
void tl_part_from_path(const char *path, tl_part *part);
/* "transformer_block_3", "token_embedding"... (for TL_PART_MODEL: "model"). */
void tl_part_stem(tl_part part, char *out, size_t n);
/* Maps a key inside a part's file to the full state_dict name; non-zero if it does not fit. */
int tl_part_full_name(tl_part part, const char *key, char *full, size_t n);
/* The part a full name belongs to in the split layout, and its key there. */
int tl_part_of_full_name(const char *full, tl_part *part, char *key, size_t n);

/* Recognizes "transformer_blocks.{i}.attention.attention_heads.{h}.mask". */
int tl_is_mask_name(const char *full, int *block, int *head);

typedef struct {
    const char *name; /* full name */
    int ndim;
    const int64_t *shape;
} tl_named_shape;

/* The one config inference: a config from full tensor names and shapes.
 * Complete models (flags 0): vocab and width from the embedding, depth from the block count, heads
 * from the head entries, context from a mask buffer or the position table, d_ff from linear1,
 * pre-norm from a final LayerNorm, tying from a missing output weight; each of these tensors must
 * be present. What shapes cannot tell (attention scale, activation, dropout, ln_eps) keeps the seed
 * values. note (may be NULL) receives a one-line account of what was inferred and assumed.
 * TL_INFER_PARTIAL (a subset of a model's parts, e.g. only block files): nothing is required; what
 * the present tensors fix is taken from them, everything else keeps seed values that no present
 * tensor depends on (vocab_size 1 when neither embedding nor output layer is present); note is "". */
enum { TL_INFER_PARTIAL = 1 };
int tl_infer_config(const tl_named_shape *t, int n, int flags, tl_config *cfg, char *note, size_t note_n,
                    tl_err *err);

/* Formats a shape as "[16,64]". */
void tl_shape_str(int ndim, const int64_t *shape, char *out, size_t n);

#endif
