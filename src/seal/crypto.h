/* Thin OpenSSL EVP wrappers shared by the sealed format and the key broker: AES-256-GCM with a
 * reusable context (the key schedule is set once, each message only changes the IV), HKDF-SHA256
 * and SHA-256/512. No crypto of our own: every primitive is OpenSSL's. */
#ifndef TEELM_SEAL_CRYPTO_H
#define TEELM_SEAL_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "util/codec.h" /* tl_hex, which used to live here */
#include "util/err.h"

#define TL_GCM_IV_LEN 12
#define TL_GCM_TAG_LEN 16

typedef struct {
    void *ctx; /* EVP_CIPHER_CTX */
    int enc;
} tl_gcm;

/* Sets up AES-256-GCM for encryption (enc=1) or decryption (enc=0) with a 32-byte key. */
int tl_gcm_init(tl_gcm *g, const uint8_t key[32], int enc, tl_err *err);
/* Encrypts len bytes (in may equal out) and writes the tag. */
int tl_gcm_seal(tl_gcm *g, const uint8_t iv[TL_GCM_IV_LEN], const uint8_t *aad, size_t aad_len,
                const uint8_t *in, uint8_t *out, size_t len, uint8_t tag[TL_GCM_TAG_LEN], tl_err *err);
/* Decrypts and verifies; returns 0 when authentic, TL_ECRYPTO otherwise (then out holds garbage
 * the caller must wipe). in may equal out. */
int tl_gcm_open(tl_gcm *g, const uint8_t iv[TL_GCM_IV_LEN], const uint8_t *aad, size_t aad_len,
                const uint8_t *in, uint8_t *out, size_t len, const uint8_t tag[TL_GCM_TAG_LEN], tl_err *err);
/* Streaming form of tl_gcm_open (the reader overlaps reading and decrypting a chunk piece by
 * piece while the piece is still in cache): begin, update... (in may equal out), then verify. */
int tl_gcm_begin(tl_gcm *g, const uint8_t iv[TL_GCM_IV_LEN], const uint8_t *aad, size_t aad_len, tl_err *err);
int tl_gcm_update(tl_gcm *g, const uint8_t *in, uint8_t *out, size_t len, tl_err *err);
int tl_gcm_verify(tl_gcm *g, const uint8_t tag[TL_GCM_TAG_LEN], tl_err *err);
/* Frees the context (which wipes the key schedule). */
void tl_gcm_free(tl_gcm *g);

/* HKDF-SHA256 (RFC 5869) extract-and-expand. */
int tl_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                   const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len, tl_err *err);

#endif
