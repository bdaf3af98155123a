/* Verifying a receipt (docs/receipts.md, "Verifying"): the checks `teelm receipt verify` and
 * `teelm client` run, in the documented order, each refusal naming the field that differed. The
 * caller has already verified the evidence (tl_ratls_verify_cert) and passes what it binds. */
#ifndef TEELM_SERVER_RECEIPT_CHECK_H
#define TEELM_SERVER_RECEIPT_CHECK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct {
    const uint8_t *receipt_key;     /* 32 bytes: the Ed25519 key the evidence binds (required) */
    const uint8_t *evidence_sha256; /* SHA-256 of that evidence, or NULL (not compared) */
    const uint8_t *config_sha256;   /* SHA-256 of the bound configuration document, or NULL */
    const char *config;             /* that document, for the model identity, or NULL */
    const void *request;            /* the exact request body sent, or NULL (not compared) */
    size_t request_len;
    const char *model_sha256;       /* the policy's require.model_sha256 (hex), or NULL */
} tl_receipt_anchor;

typedef struct {
    uint64_t counter;
    int64_t time_ms, server_started;
    char endpoint[64];
    int response_checked;           /* 0: the input held the receipt alone */
    int request_checked;
    char *receipt_json;             /* the teelm_receipt object, compact (malloc'd; free it) */
} tl_receipt_result;

/* Checks the receipt in text[0..len): a whole completion response body (JSON with a
 * teelm_receipt member), a whole server-sent event stream ("data: ..." events, the receipt in the
 * last one before [DONE]), or the teelm_receipt object alone. 0, or TL_EINVAL (not a receipt,
 * naming the field), TL_ECRYPTO (signature, a hash) or TL_EPOLICY (model_sha256). */
int tl_receipt_check(const char *text, size_t len, const tl_receipt_anchor *a, tl_receipt_result *out, tl_err *err);

#endif
