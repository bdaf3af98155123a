/* Writing a Hugging Face family model (ck->w, any source) as a Hugging Face directory, the layout
 * formats/hf_dir.h reads (docs/weights-format.md "Hugging Face models"):
 *   config.json             normalized: written from ck->cfg (tl_hf_config_to_json), torch_dtype
 *                           set when every tensor has one dtype
 *   generation_config.json  copied from ck->hf_dir when it has one, else written from the EOS/BOS ids
 *   model.safetensors       every tensor of the parameter table in table order, under its canonical
 *                           name (GPT-2 without the "transformer." prefix; ignored buffers dropped),
 *                           metadata {"format": "pt"}; or with shards N > 1:
 *   model-0000K-of-0000N.safetensors + model.safetensors.index.json (tensors in table order,
 *                           split into N runs of about equal bytes)
 *   tokenizer files         copied verbatim from ck->hf_dir (tl_hf_tokenizer_files)
 * Weight files of the other layout and stale shards are removed, so the directory describes
 * exactly this model. Files are written atomically (temporary + rename). */
#ifndef TEELM_FORMATS_HF_SAVE_H
#define TEELM_FORMATS_HF_SAVE_H

#include "model/checkpoint.h"
#include "util/err.h"

typedef struct {
    int dtype;  /* -1: keep each tensor's dtype; TL_DT_F32/F16/BF16: convert (round to nearest even) */
    int shards; /* <= 1: model.safetensors; N > 1: N shards (at most one per tensor) + the index */
} tl_hf_save_opts;

typedef struct {
    int nfiles;       /* weight files written */
    int ntensors;
    int ncopied;      /* generation_config.json and tokenizer files copied */
    unsigned long long bytes; /* tensor bytes written */
} tl_hf_save_report;

/* The tokenizer files copied with a model, NULL-terminated. */
extern const char *const tl_hf_tokenizer_files[];

int tl_hf_save(const tl_checkpoint *ck, const char *dir, const tl_hf_save_opts *opts, tl_hf_save_report *rep,
               tl_err *err);

#endif
