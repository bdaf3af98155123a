/* SHA-2 digests (OpenSSL EVP): the one home for hashing buffers, files and sequences of parts.
 * Used for model and file digests, measurements (SHA-256 of the simulated enclave, SHA-384 of
 * RTMR events), API key digests and configuration-document hashes. */
#ifndef TEELM_UTIL_SHA_H
#define TEELM_UTIL_SHA_H

#include <stddef.h>
#include <stdint.h>

#define TL_SHA256_LEN 32
#define TL_SHA384_LEN 48
#define TL_SHA256_TAGGED_LEN 72 /* room for "sha256:" + 64 hex digits + NUL */

typedef enum { TL_SHA256, TL_SHA384 } tl_sha_alg;

/* The digest of the n bytes at data (data may be NULL when n is 0) into out (tl_sha_len(alg)
 * bytes). 0, or -1 when OpenSSL fails (out of memory); out is then all zero. */
int tl_sha_digest(tl_sha_alg alg, const void *data, size_t n, uint8_t *out);
/* SHA-256 of data, and of a ‖ b (either part may be empty). Same results as tl_sha_digest. */
int tl_sha256(const void *data, size_t n, uint8_t out[TL_SHA256_LEN]);
int tl_sha256_cat(const void *a, size_t na, const void *b, size_t nb, uint8_t out[TL_SHA256_LEN]);
size_t tl_sha_len(tl_sha_alg alg);

/* Incremental hashing. tl_sha_new returns NULL when out of memory; tl_sha_add remembers a
 * failure (and ignores a NULL s); tl_sha_end writes the digest, frees s and returns 0, or -1 (out
 * all zero) when s is NULL or any step failed; tl_sha_free abandons s (NULL is fine). */
typedef struct tl_sha tl_sha;
tl_sha *tl_sha_new(tl_sha_alg alg);
void tl_sha_add(tl_sha *s, const void *p, size_t n);
int tl_sha_end(tl_sha *s, uint8_t *out);
void tl_sha_free(tl_sha *s);

/* Streams the file at path through alg (any size, 64 KiB at a time). 0, or one of these with
 * *sys_errno set to the errno of the failure (0 for TL_SHA_EHASH); callers word the message. */
enum { TL_SHA_EOPEN = 1, TL_SHA_EREAD = 2, TL_SHA_EHASH = 3 };
int tl_sha_file(tl_sha_alg alg, const char *path, uint8_t *out, int *sys_errno);

/* "sha256:" followed by the 64 lower-case hex digits of h (the form configuration documents use). */
void tl_sha256_tagged(const uint8_t h[TL_SHA256_LEN], char out[TL_SHA256_TAGGED_LEN]);

#endif
