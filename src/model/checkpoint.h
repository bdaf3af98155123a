/* The in-memory model: its config, the parameter arena laid out by model/params.h, the AdamW
 * moments and training position when training, and the tokenizer that came with it. The engine
 * runs it (model/model.h); formats/ reads and writes it as plaintext files (formats/checkpoint.h),
 * seal/ as sealed files. */
#ifndef TEELM_MODEL_CHECKPOINT_H
#define TEELM_MODEL_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "model/weights.h"
#include "util/err.h"

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
    /* The small files carried inside a sealed Hugging Face model (tokenizer.json,
     * tokenizer_config.json, config.json, ...: docs/sealed-format.md "tokenizer_files"), in the
     * order sealed; NULL / 0 otherwise. Each data is malloc'd and NUL-terminated after len bytes;
     * tl_checkpoint_free wipes and frees them. Look one up with tl_checkpoint_file. */
    struct tl_ck_file { char name[64]; uint8_t *data; size_t len; } *files;
    int nfiles;

    /* Hugging Face families (tl_config_is_hf(&cfg)): params is NULL; w[i] is the weight of entry i
     * of tl_params_list(&cfg) (nw entries). The memory behind w is mappings (maps[0..nmaps), each
     * munmap'd by tl_checkpoint_free) and/or one owned buffer `wbuf` of wbuf_len bytes (wiped and
     * freed). hf_dir: the directory the model came from ("" if none), for its tokenizer files. */
    tl_wref *w;
    int nw;
    struct tl_ck_map { void *addr; size_t len; } *maps;
    int nmaps;
    void *wbuf;
    size_t wbuf_len;
    char hf_dir[4096];
} tl_checkpoint;

/* Allocates zeroed params for cfg (and moments if with_optimizer). */
int tl_checkpoint_alloc(tl_checkpoint *ck, const tl_config *cfg, int with_optimizer, tl_err *err);
/* Bytes of one arena for cfg: tl_params_arena_floats(cfg) floats rounded up to 64 bytes. */
size_t tl_checkpoint_arena_bytes(const tl_config *cfg);
/* An uninitialized arena of tl_checkpoint_arena_bytes(cfg), for loaders that fill every byte
 * themselves (zeroing first would cost one more pass over the weights). NULL when out of memory;
 * it becomes ck->params and tl_checkpoint_free frees it. */
float *tl_checkpoint_arena_alloc(const tl_config *cfg);

/* The carried file named `name` (see tl_checkpoint.files), or NULL. */
const struct tl_ck_file *tl_checkpoint_file(const tl_checkpoint *ck, const char *name);

/* Frees (and zeroes: weights are secrets) everything the checkpoint owns. */
void tl_checkpoint_free(tl_checkpoint *ck);

#endif
