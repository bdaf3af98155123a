/* Internal to src/tee: the pinned AMD roots, the VCEK/VLEK extension parser and the SEV-SNP chain
 * check, shared by snp_verify.c, the fuzz targets and the tests. */
#ifndef TEELM_TEE_SNP_INTERNAL_H
#define TEELM_TEE_SNP_INTERNAL_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tee/identity.h"
#include "tee/snp.h"
#include "util/err.h"

typedef struct {
    const char *name;                 /* "Milan" */
    /* Each the base64 of its DER, decoded at use (amd_roots_gen.sh writes them as text). */
    const char *ark_spki;             /* the pinned ARK public key (SubjectPublicKeyInfo) */
    const char *ask;                  /* default ASK / ASVK certificates, verified like presented ones */
    const char *asvk;
} tl_amd_root;
extern const tl_amd_root tl_amd_roots[TL_SNP_NPRODUCTS];

/* The AMD extensions of a VCEK or VLEK (AMD spec 57230, OIDs under 1.3.6.1.4.1.3704.1). */
typedef struct {
    char product_name[32];            /* .2, e.g. "Milan-B0" or "Genoa" */
    int has_spl[5];                   /* bootloader .3.1, tee .3.2, snp .3.3, microcode .3.8, fmc .3.9 */
    uint8_t spl[5];
    int hwid_len;                     /* .4: 0 when absent (VLEK), 64, or 8 (Turin) */
    uint8_t hwid[64];
    int hwid_wrapped;                 /* 1: DER OCTET STRING inside the extension, 0: raw bytes */
} tl_snp_certext;
enum { TL_SPL_BL, TL_SPL_TEE, TL_SPL_SNP, TL_SPL_UCODE, TL_SPL_FMC };
/* Parses the AMD extensions of cert; the message names the extension that is malformed. Missing
 * extensions are left unset (the caller decides which it requires). */
int tl_snp_certext_parse(X509 *cert, tl_snp_certext *out, tl_err *err);
/* One extension value (the contents of the extension's OCTET STRING), for the fuzz target. */
int tl_snp_certext_value(int which /* 0 productName, 1..5 SPL, 6 hwID */, const uint8_t *v, size_t n,
                         tl_snp_certext *out, tl_err *err);

/* Checks that c is signed with RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48, trailer 1, by key,
 * and valid at now. `what` names it in messages. */
int tl_snp_check_cert(X509 *c, EVP_PKEY *key, time_t now, const char *what, tl_err *err);

void tl_snp_identity(const tl_snp_report *s, tl_identity *id);

#endif
