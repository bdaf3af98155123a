/* X.509 helpers for quote verification: strict PEM chains, pinned roots, chain + CRL checks at a
 * given time. */
#ifndef TEELM_TEE_CERTS_H
#define TEELM_TEE_CERTS_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tee/quote.h"
#include "util/err.h"

/* Parses a PEM chain (leaf first) of exactly `want` certificates (0 = any number ≥ 1); only
 * whitespace and NUL bytes may surround the PEM blocks. `what` names the chain in messages. */
STACK_OF(X509) *tl_pem_chain(const uint8_t *pem, size_t n, int want, const char *what, tl_err *err);
/* Parses the DCAP quote at ev into *q and its PCK certificate chain (PCK, PCK CA, root), as every
 * check of a quote starts; NULL after an error (err set). */
STACK_OF(X509) *tl_quote_pck_chain(const uint8_t *ev, size_t len, tl_quote *q, tl_err *err);
X509 *tl_x509_from_pem(const char *pem);
X509 *tl_x509_from_der(const uint8_t *der, size_t n);
X509_CRL *tl_crl_parse(const uint8_t *data, size_t n); /* DER or PEM */
void tl_x509_sha256(X509 *c, uint8_t out[32]);
/* Verifies chain (leaf first, root last) at `now`: the last certificate must be byte-identical to
 * `anchor` (pinning by fingerprint, never by name); every certificate must be valid at now; with
 * crls non-NULL, every certificate below the root must be covered by a current CRL and not revoked. */
int tl_chain_verify(STACK_OF(X509) *chain, X509 *anchor, STACK_OF(X509_CRL) *crls, time_t now, const char *what,
                    tl_err *err);
/* Time from an ASN1_TIME (UTC). */
int tl_asn1_time_t(const ASN1_TIME *t, time_t *out);
/* "2025-06-19T10:56:11Z" */
int tl_parse_iso8601(const char *s, time_t *out);
void tl_format_iso8601(time_t t, char out[32]);

#endif
