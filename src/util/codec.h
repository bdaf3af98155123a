/* Hex and base64 (RFC 4648 sections 4 and 8): the one implementation the whole tree uses.
 * Decoders are strict, because their inputs come from outside (key files, policies, PCS
 * collateral, KBS messages, tokenizer files): anything but the one canonical encoding is refused. */
#ifndef TEELM_UTIL_CODEC_H
#define TEELM_UTIL_CODEC_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* Decoder results: 0, or one of these (negative) saying what was wrong. */
enum {
    TL_CODEC_OK = 0,
    TL_CODEC_ELEN = -1,   /* length wrong: hex not 2n digits, base64 empty or not a multiple of 4 */
    TL_CODEC_ECHAR = -2,  /* a character outside the alphabet */
    TL_CODEC_EPAD = -3,   /* base64 '=' anywhere but the last one or two places */
    TL_CODEC_EBITS = -4,  /* base64 with non-zero bits after the last byte (non-canonical) */
    TL_CODEC_ESIZE = -5,  /* decodes to a size other than the caller asked for */
    TL_CODEC_ENOMEM = -6,
};

/* A short phrase for a TL_CODEC_* result ("odd length", ...), for error messages. */
const char *tl_codec_strerror(int rc);

/* Writes 2n lower-case hex digits and a NUL to out (size >= 2n+1). */
void tl_hex(const uint8_t *in, size_t n, char *out);
/* Decodes exactly n bytes from the slen characters at s (no NUL needed): slen must be 2n
 * (TL_CODEC_ELEN otherwise, so also for an odd slen), digits of either case, nothing else.
 * On failure out may hold a partial result. */
int tl_unhex(const char *s, size_t slen, uint8_t *out, size_t n);

/* Standard base64 with padding of len bytes (OpenSSL's EVP_EncodeBlock): a malloc'd
 * NUL-terminated string, NULL when out of memory or len > TL_B64_MAX_IN. */
char *tl_b64_encode(const uint8_t *data, size_t len);
/* The same into out (room for TL_B64_LEN(len) + 1 bytes, NUL-terminated); returns the number of
 * characters, TL_B64_LEN(len), or 0 (writing nothing) when len > TL_B64_MAX_IN. */
size_t tl_b64_encode_into(const uint8_t *data, size_t len, char *out);
#define TL_B64_LEN(n) (4 * (((size_t)(n) + 2) / 3))
#define TL_B64_MAX_IN ((size_t)INT_MAX / 4 * 3) /* EVP_EncodeBlock counts in int */
/* Strict standard base64 (as Rust's base64 STANDARD engine, except that empty input is refused:
 * no caller carries empty data, so an empty field is an error): slen a non-zero multiple of 4,
 * only A-Z a-z 0-9 + /, padding '=' required and only at the end, no non-zero bits after the
 * last byte, no whitespace. Writes the bytes to out when they fit in cap (TL_CODEC_ESIZE
 * otherwise, checked before anything is written) and their number to *outlen. */
int tl_b64_decode_into(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen);
/* Decodes the NUL-terminated s (NULL is refused) as tl_b64_decode_into into a malloc'd buffer
 * (one spare byte): exactly `want` bytes when want > 0, else at most max bytes. On failure
 * *out = NULL and *len = 0. */
int tl_b64_decode(const char *s, uint8_t **out, size_t *len, size_t want, size_t max);

#endif
