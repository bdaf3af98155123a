/* Sealed models (docs/sealed-format.md): a model encrypted with a 256-bit data key under
 * chunked AES-256-GCM, so a TEE can hold only ciphertext on disk and decrypt straight into its
 * parameter arena. Everything about the model (config, tensor table, tokenizer, weights) is
 * encrypted; the plaintext header carries only a random model id, the file's position and the
 * key id. Each file and chunk is authenticated with its position and the model id, so
 * modification, truncation, reordering and mixing files of two models are detected.
 *
 * On disk: a full model is one file (conventionally NAME.sealed); a split model is a directory
 * holding model.sealed (config, tensor table, tokenizer) and part-NNN.sealed (one per layer). */
#ifndef TEELM_SEAL_SEAL_H
#define TEELM_SEAL_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "model/checkpoint.h"
#include "seal/key.h"
#include "util/err.h"

#define TL_SEAL_CHUNK_DEFAULT (1u << 20) /* 1 MiB: large chunks keep GCM at full speed */
#define TL_SEAL_CHUNK_MIN (1u << 12)
#define TL_SEAL_CHUNK_MAX (1u << 26)
#define TL_SEAL_INDEX_NAME "model.sealed" /* file 0 of a split model directory */

/* A named file to carry inside a sealed model (docs/sealed-format.md "tokenizer_files"). */
typedef struct {
    const char *name; /* plain file name: [A-Za-z0-9._-], 1..63 bytes, not starting with '.' or '-' */
    const uint8_t *data;
    size_t len;
} tl_seal_carry;

typedef struct {
    int split;               /* 0: one file at `out`; 1: directory `out` with model.sealed + parts */
    uint32_t chunk_size;     /* power of two in [MIN, MAX]; 0 = default */
    const uint8_t *tokenizer; /* tokenizer file bytes to carry inside (may be NULL) */
    size_t tokenizer_len;
    const char *tokenizer_name; /* its file name, e.g. "tokenizer.tiktoken" */
    /* Or (not both): several named files, e.g. a Hugging Face model's tokenizer.json,
     * tokenizer_config.json and config.json; at most 16, 64 MiB in all. They come back in
     * tl_checkpoint.files. */
    const tl_seal_carry *carry;
    int ncarry;
} tl_seal_opts;

/* Encrypts ck's config and weights (not its optimizer state) under key: the seed family's float
 * arena ck->params, or a Hugging Face model's ck->w tensors, each in its own dtype (streamed from
 * where ck->w points, never copied whole). Files are written atomically; only ciphertext ever
 * reaches the disk. */
int tl_seal_write(const tl_checkpoint *ck, const tl_data_key *key, const tl_seal_opts *opts,
                  const char *out, tl_err *err);

/* 1 if path is meant as a sealed model: a directory holding an entry named model.sealed, a file
 * named *.sealed, or a file whose first 8 bytes are the sealed magic or differ from it in at most
 * 2 bytes; then index_path (size n) receives the path of its file 0. 0 otherwise. A damaged one
 * (bad magic, a FIFO in place of model.sealed) is detected here so that tl_seal_read reports
 * what is wrong with it, instead of a plaintext loader misreading it. */
int tl_sealed_detect(const char *path, char *index_path, size_t n);

/* Reads the key id from a sealed model's header (not authenticated until the key is known). */
int tl_sealed_key_id(const char *path, char key_id[TL_KEY_ID_MAX + 1], tl_err *err);

/* What a sealed model's headers and manifest say (nothing secret beyond the shape-free names). */
typedef struct {
    char key_id[TL_KEY_ID_MAX + 1];
    char model_id[65];          /* hex of the random 32-byte model id */
    char tokenizer_name[256];   /* "" when no tokenizer is carried */
    uint32_t file_count, chunk_size;
} tl_seal_info;

/* Reads only the public header of a sealed model's file 0 (path as for tl_sealed_detect): key id,
 * model id, file count and chunk size; tokenizer_name stays "" (it is encrypted). Nothing is
 * authenticated until the key is known. */
int tl_sealed_header_info(const char *path, tl_seal_info *info, tl_err *err);

/* Decrypts and verifies a sealed model into ck (allocated here): config, arena (decrypted chunk by
 * chunk in place: ck->params for the seed family; for a Hugging Face model one owned buffer
 * ck->wbuf that ck->w points into, params NULL), and the carried tokenizer in ck->tokenizer_data
 * or the carried files in ck->files. info may be NULL. On any
 * failure nothing is returned, every buffer is wiped, and the message says what was refused. */
int tl_seal_read(const char *path, const tl_data_key *key, tl_checkpoint *ck, tl_seal_info *info, tl_err *err);

#endif
