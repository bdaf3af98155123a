/* The collateral a DCAP verification needs, as raw bytes exactly as Intel signed them. */
#ifndef TEELM_TEE_COLLATERAL_H
#define TEELM_TEE_COLLATERAL_H

#include <stddef.h>
#include <stdint.h>

#include "tee/verify.h"

struct tl_collateral {
    char *pck_crl_issuer_chain;      /* PEM */
    uint8_t *root_ca_crl;            /* DER (or PEM) */
    size_t root_ca_crl_len;
    uint8_t *pck_crl;                /* DER (or PEM) */
    size_t pck_crl_len;
    char *tcb_info_issuer_chain;     /* PEM: TCB signing cert ‖ root */
    char *tcb_info;                  /* the exact signed JSON text */
    size_t tcb_info_len;
    uint8_t tcb_info_sig[64];        /* r‖s */
    char *qe_identity_issuer_chain;
    char *qe_identity;
    size_t qe_identity_len;
    uint8_t qe_identity_sig[64];
};

/* Builds collateral from a PCS/PCCS response body {"tcbInfo":{...},"signature":"hex"} (key "tcbInfo"
 * or "enclaveIdentity"): extracts the exact text of the object and the signature. */
int tl_pcs_body_split(const char *body, size_t n, const char *key, char **signed_text, size_t *signed_len,
                      uint8_t sig[64], tl_err *err);
/* CRL bytes given as DER, PEM or hex text → malloc'd DER/PEM bytes. */
int tl_crl_bytes(const uint8_t *in, size_t n, uint8_t **out, size_t *outn);
/* Loads the directory layout (docs/attestation.md). */
tl_collateral *tl_collateral_load_dir(const char *dir, tl_err *err);
/* Writes the directory layout (used by the PCCS cache). */
int tl_collateral_save_dir(const tl_collateral *c, const char *dir, tl_err *err);

#endif
