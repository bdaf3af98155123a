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
#include "seal/key.h"
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

typedef struct {
    tl_config cfg;
    int nfiles;
    tl_seal_file_entry *files;
    char tokenizer_name[256];
    uint64_t tokenizer_len;
    int has_tokenizer;
} tl_seal_manifest;

/* Builds the manifest JSON (malloc'd) for cfg split into files (begin/end per file). */
char *tl_seal_manifest_json(const tl_config *cfg, const tl_seal_file_entry *files, int nfiles,
                            const char *tok_name, size_t tok_len);
/* Parses and validates a manifest: config, tensor table equal to tl_params_list(cfg), files
 * covering the arena contiguously. Messages start with "manifest:". */
int tl_seal_manifest_parse(const char *json, size_t len, uint32_t file_count, tl_seal_manifest *m, tl_err *err);
void tl_seal_manifest_free(tl_seal_manifest *m);

#endif
