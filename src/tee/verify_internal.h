/* Shared between verify.c (which holds tl_verify_sim) and verify_dcap.c. */
#ifndef TEELM_TEE_VERIFY_INTERNAL_H
#define TEELM_TEE_VERIFY_INTERNAL_H

#include <openssl/x509.h>

#include "tee/quote.h"
#include "tee/verify.h"

/* Checks common to sim and DCAP after the PCK chain is trusted: QE report signature by the PCK
 * key, the QE report's binding of the attestation key and auth data, the quote signature. */
int tl_quote_check_signatures(const tl_quote *q, X509 *pck, tl_err *err);
int tl_verify_sim(const tl_quote *q, STACK_OF(X509) *chain, time_t now, tl_identity *id, tl_err *err);
int tl_verify_dcap(const tl_quote *q, STACK_OF(X509) *chain, const tl_collateral *col, time_t now,
                   X509 *anchor, tl_identity *id, tl_err *err);
/* SEV-SNP evidence: the 1184-byte report, optionally followed by a certificate table (tee/snp.h).
 * tl_snp_parse fills *id without verifying; tl_verify_snp is snp_verify.c. */
int tl_snp_parse(const uint8_t *ev, size_t len, tl_identity *id, tl_err *err);
int tl_is_snp_report(const uint8_t *ev, size_t len);
int tl_verify_snp(const uint8_t *ev, size_t len, time_t now, const tl_verify_opts *opts, tl_identity *id, tl_err *err);
extern const uint8_t tl_intel_root_der[];
extern const size_t tl_intel_root_der_len;

#endif
