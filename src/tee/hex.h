/* Hex helpers for the TEE layer (identities, policies, collateral). */
#ifndef TEELM_TEE_HEX_H
#define TEELM_TEE_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2n lowercase hex digits and a NUL to out (size ≥ 2n+1). */
void tl_tee_hex(const uint8_t *in, size_t n, char *out);
/* Decodes exactly n bytes from s (2n hex digits, either case, nothing else). 0 on success. */
int tl_tee_unhex(const char *s, uint8_t *out, size_t n);
/* Decodes a hex string of any even length into a malloc'd buffer. 0 on success. */
int tl_tee_unhex_alloc(const char *s, size_t slen, uint8_t **out, size_t *n);

#endif
