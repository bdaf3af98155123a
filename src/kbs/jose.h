/* The JOSE pieces a Trustee KBS exchange needs (docs/trustee.md), OpenSSL and jansson only:
 *   base64url without padding (RFC 7515 §2), strict;
 *   RFC 8785 canonical JSON (JCS) of objects, arrays, strings, integers, booleans and null;
 *   the P-256 public JWK of an ephemeral key (RFC 7518 §6.2) and its RFC 7638 thumbprint;
 *   decryption of a flattened-JSON JWE (RFC 7516 §7.2.2) with alg ECDH-ES+A256KW (ECDH-ES key
 *   agreement, Concat KDF per RFC 7518 §4.6, AES key wrap RFC 3394) and enc A256GCM, whose AAD is
 *   the protected header exactly as received. */
#ifndef TEELM_KBS_JOSE_H
#define TEELM_KBS_JOSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "util/err.h"

/* malloc'd NUL-terminated base64url (no '=') of len bytes; NULL when out of memory. */
char *tl_b64url_encode(const uint8_t *data, size_t len);
/* Strict base64url: only A-Z a-z 0-9 - _, no padding, no whitespace, no non-zero bits after the
 * last byte; at most max bytes. *out is malloc'd (one spare byte). Returns 0 or a TL_CODEC_*. An
 * empty string decodes to zero bytes (then *out is a 1-byte buffer). */
int tl_b64url_decode(const char *s, size_t slen, uint8_t **out, size_t *len, size_t max);

/* RFC 8785 canonical form of v, as util/jcs.h's tl_jcs: members sorted by the UTF-16 code units of
 * their names, no whitespace, strings escaped as ECMAScript's JSON.stringify does (\b \t \n \f \r
 * \" \\ and \u00xx for other controls, everything else as UTF-8). Real numbers are refused (NULL):
 * the documents hashed here never carry one, and their canonical form needs ECMAScript's number
 * formatting. malloc'd; NULL when v is NULL, out of memory or v holds a real (or what tl_jcs refuses). */
char *tl_jcs_dump(const json_t *v);

/* {"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","x":…,"y":…} of an uncompressed point
 * (0x04 ‖ x ‖ y). New reference; NULL when out of memory. */
json_t *tl_jwk_p256(const uint8_t pub[65]);
/* RFC 7638 thumbprint: base64url(SHA-256(JCS of {crv, kty, x, y})) into out (44 bytes). */
int tl_jwk_thumbprint(const json_t *jwk, char out[44]);

#define TL_JWE_ALG "ECDH-ES+A256KW"
#define TL_JWE_ENC "A256GCM"

/* Decrypts the flattened JWE in text[0..len) with the ephemeral private key eph. The protected
 * header must say alg ECDH-ES+A256KW, enc A256GCM, carry a P-256 epk on the curve, no crit, no zip,
 * and a kid only when it equals kid (the thumbprint of our key; kid NULL: any kid is refused).
 * Members "aad" and "header" are refused (Trustee never sends them; docs/trustee.md). On success
 * *pt (malloc'd, max bytes at most; the caller wipes and frees it) holds the plaintext.
 * Errors say which member or check failed (TL_ECRYPTO for a failed unwrap or tag). */
int tl_jwe_decrypt(EVP_PKEY *eph, const char *text, size_t len, const char *kid, uint8_t **pt, size_t *pt_len,
                   size_t max, tl_err *err);

/* Encrypts (for tests and the fuzz seeds): a flattened JWE of pt to the P-256 public point pub. */
char *tl_jwe_encrypt_p256(const uint8_t pub[65], const uint8_t *pt, size_t pt_len, tl_err *err);

#endif
