/* Internal to src/seal (and its fuzz target): the on-disk pieces of the sealed format
 * (docs/sealed-format.md is the normative description).
 *
 * File  = header (192 bytes) ‖ chunk_count × (ciphertext[chunk_size] ‖ tag[16])
 * Plaintext stream of a file (the chunks' plaintexts concatenated) =
 *         descriptor (32 bytes) ‖ manifest JSON ‖ tokenizer bytes ‖ arena bytes ‖ zero padding
 * File key  K_f  = HKDF-SHA256(ikm = data key, salt = model_id,
 *                              info = "teelm-sealed-v1 file key" ‖ u32be(index) ‖ u32be(count))
 * Header tag     = AES-256-GCM(K_f, iv = u32be(1) ‖ u64be(0), aad = header[0..176), empty text)
 * Chunk i        = AES-256-GCM(K_f, iv = u32be(0) ‖ u64be(i), aad = header[0..192) ‖ u64le(i) ‖ u8(last)) */
#ifndef TEELM_SEAL_FORMAT_H
#define TEELM_SEAL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "model/params.h"
#include "seal/key.h"
#include "tensor/dtype.h"
#include "util/err.h"

#define TL_SEAL_MAGIC "TLSEALED"
#define TL_SEAL_VERSION 1
#define TL_SEAL_HEADER_LEN 192
#define TL_SEAL_TAG_OFF 176
#define TL_SEAL_DESC_LEN 32
#define TL_SEAL_AAD_LEN (TL_SEAL_HEADER_LEN + 9)
#define TL_SEAL_MAX_FILES 4096
#define TL_SEAL_MAX_META (16u << 20)
#define TL_SEAL_MAX_BLOB (64u << 20)
#define TL_SEAL_MAX_CARRIED 16    /* named files in a "tokenizer_files" blob */
#define TL_SEAL_CARRIED_NAME 64   /* name buffer: at most 63 bytes */
#define TL_SEAL_WALIGN 64         /* Hugging Face arenas: each tensor starts at a multiple of this */

typedef struct {
    uint8_t model_id[32];
    uint32_t file_index, file_count, chunk_size;
    uint64_t chunk_count;
    char key_id[TL_KEY_ID_MAX + 1];
    uint8_t raw[TL_SEAL_HEADER_LEN]; /* the exact bytes (parse fills it; encode writes it) */
} tl_seal_header;

typedef struct {
    uint64_t meta_len, blob_len, data_offset, data_len;
} tl_seal_desc;

/* Structural checks only (magic, version, sizes, reserved bytes, key id); authenticity comes from
 * tl_seal_header_verify. Messages start with "sealed header:". */
int tl_seal_header_parse(const uint8_t raw[TL_SEAL_HEADER_LEN], tl_seal_header *h, tl_err *err);
/* Fills h->raw from the fields (tag bytes zero). */
void tl_seal_header_encode(tl_seal_header *h);
int tl_seal_file_key(const uint8_t dk[TL_KEY_LEN], const tl_seal_header *h, uint8_t out[32], tl_err *err);
void tl_seal_iv(uint32_t domain, uint64_t index, uint8_t iv[12]);
void tl_seal_chunk_aad(const tl_seal_header *h, uint64_t index, uint8_t aad[TL_SEAL_AAD_LEN]);

void tl_seal_desc_encode(const tl_seal_desc *d, uint8_t out[TL_SEAL_DESC_LEN]);
/* Checks the descriptor against the file's stream size (chunk_count × chunk_size). */
int tl_seal_desc_parse(const uint8_t in[TL_SEAL_DESC_LEN], const tl_seal_header *h, tl_seal_desc *d, tl_err *err);

/* One file of a sealed model as the manifest describes it: which arena bytes it carries. */
typedef struct {
    char name[64];
    uint64_t begin, end; /* arena byte range */
} tl_seal_file_entry;

/* One named file of a "tokenizer_files" blob (the blob is their bytes concatenated in order). */
typedef struct {
    char name[TL_SEAL_CARRIED_NAME];
    uint64_t len;
} tl_seal_carried;

typedef struct {
    tl_config cfg;
    int nfiles;
    tl_seal_file_entry *files;
    char tokenizer_name[256];
    uint64_t tokenizer_len;
    int has_tokenizer;    /* "tokenizer": one file, the seed's case */
    int ncarried;         /* "tokenizer_files": several named files (0 when absent) */
    tl_seal_carried carried[TL_SEAL_MAX_CARRIED];
    int ntensors;
    tl_dtype *dtype;      /* per tensor: its dtype (always F32 for the seed family) */
    uint64_t *offset;     /* per tensor: byte offset in the arena */
    uint64_t arena_bytes; /* the bytes the files cover */
} tl_seal_manifest;

/* 1 for a name a carried file may have: 1..63 bytes of [A-Za-z0-9._-], not starting with '.'
 * or '-' (so never a path, "." or ".."). */
int tl_seal_carried_name_ok(const char *name);

/* The arena layout of docs/sealed-format.md "Data": fills off[0..n) (byte offsets of list[0..n),
 * = tl_params_list(cfg)) and returns the arena size in bytes. The seed family: the float arena of
 * model/params.h (dtypes ignored). Hugging Face families: tensor i in dtypes[i] (F32, F16 or BF16)
 * at the next multiple of TL_SEAL_WALIGN bytes after tensor i-1; the arena ends at a multiple of
 * TL_SEAL_WALIGN. Returns 0 if a dtype is not one of those three or a size overflows. */
uint64_t tl_seal_layout(const tl_config *cfg, const tl_param *list, int n, const tl_dtype *dtypes, uint64_t *off);

/* Builds the manifest JSON (malloc'd) for cfg split into files (begin/end per file). dtypes: one
 * per tensor for the Hugging Face families (NULL for the seed). The carried bytes are described
 * either as one tokenizer (tok_name, tok_len > 0) or as ncarried named files. */
char *tl_seal_manifest_json(const tl_config *cfg, const tl_dtype *dtypes, const tl_seal_file_entry *files, int nfiles,
                            const char *tok_name, size_t tok_len, const tl_seal_carried *carried, int ncarried);
/* Parses and validates a manifest: config, tensor table equal to tl_params_list(cfg) (with the
 * dtypes and offsets of tl_seal_layout), files covering the arena contiguously, carried files.
 * Messages start with "manifest:". */
int tl_seal_manifest_parse(const char *json, size_t len, uint32_t file_count, tl_seal_manifest *m, tl_err *err);
void tl_seal_manifest_free(tl_seal_manifest *m);

#endif
