/* Report-data bindings (docs/bindings.md). Every 64 bytes teelm asks a TEE to sign are
 *   SHA-512( "teelm/" ‖ purpose ‖ "/v1" ‖ 0x00 ‖ for each field: u32 big-endian length ‖ bytes )
 * so evidence made for one purpose (a key request, a TLS key, a user's quote) can never pass as
 * evidence for another, and no caller chooses the raw report data (only `attest quote --tee sim
 * --report-data` does, in the simulation, which protects nothing). */
#ifndef TEELM_TEE_BINDING_H
#define TEELM_TEE_BINDING_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define TL_BIND_KBS_KEY "kbs-key"       /* fields: nonce (32), public key (65), key id */
#define TL_BIND_RA_TLS "ra-tls"         /* fields: SHA-256(SPKI DER), SHA-256(configuration document) */
#define TL_BIND_USER_QUOTE "user-quote" /* fields: the caller's bytes (attest quote --user-data) */
#define TL_BIND_MAX_FIELDS 8

typedef struct {
    const void *data;
    size_t len; /* < 2^32 */
} tl_bind_field;

/* Computes the binding. purpose: 1..32 bytes of [a-z0-9-]; n <= TL_BIND_MAX_FIELDS. Fails
 * (TL_EINVAL) only on a malformed purpose or field list, never on field contents. */
int tl_binding_report_data(const char *purpose, const tl_bind_field *fields, size_t n, uint8_t out[64], tl_err *err);

#endif
