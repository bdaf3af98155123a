/* The Intel SGX extension of PCK certificates (OID 1.2.840.113741.1.13.1, "SGX Extensions" in Intel's
 * PCK Certificate and CRL Profile): TCB components, PCESVN, CPUSVN, PCE-ID, FMSPC, SGX type. */
#ifndef TEELM_TEE_SGX_EXT_H
#define TEELM_TEE_SGX_EXT_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct {
    uint8_t comp[16];   /* SGX TCB components 1..16 (comp[0] = component 1) */
    uint16_t pcesvn;
    uint8_t cpusvn[16];
    uint8_t pceid[2];
    uint8_t fmspc[6];
    int sgx_type;       /* 0 Standard, 1 Scalable, 2 Scalable with integrity */
} tl_pck_ext;

/* Parses the extension's DER value (the content of the X.509 extension's OCTET STRING). */
int tl_pck_ext_parse_der(const uint8_t *der, size_t n, tl_pck_ext *out, tl_err *err);
/* Finds and parses the extension in a PCK certificate. */
int tl_pck_ext_from_cert(X509 *pck, tl_pck_ext *out, tl_err *err);

#endif
