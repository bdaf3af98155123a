/* Internal to src/formats: partial models, for importing a subset of the prototype's per-layer
 * files (e.g. only its block files). A partial model cannot be loaded; it can only be written back
 * as the split-layout files of the parts it has. */
#ifndef TEELM_FORMATS_CHECKPOINT_PARTS_H
#define TEELM_FORMATS_CHECKPOINT_PARTS_H

#include "formats/checkpoint.h"

typedef struct {
    int embedding, final;
    const char *blocks; /* cfg.n_layer flags */
    int masks;          /* write mask buffers (only when the sources had them: they fix ctx) */
} tl_parts;

/* tl_checkpoint_assemble with cfg given, requiring only the parameters of the present parts. */
int tl_checkpoint_assemble_parts(const tl_tensor_src *src, int n, const tl_config *cfg, const tl_parts *present,
                                 tl_checkpoint *ck, tl_err *err);
/* Writes the split-layout files of the present parts, with only {"format":"pt"} as metadata (the
 * config is not known for a partial model). */
int tl_checkpoint_save_parts(const char *dir, const tl_checkpoint *ck, const tl_parts *present, tl_err *err);

#endif
