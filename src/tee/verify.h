/* Evidence verification: DCAP quotes (SGX v3, TDX v4) against Intel's pinned root and the
 * operator's collateral, SEV-SNP reports against AMD's pinned ARKs (docs/attestation-snp.md), and
 * sim quotes against the simulation root. docs/attestation.md lists
 * every check in order. */
#ifndef TEELM_TEE_VERIFY_H
#define TEELM_TEE_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tee/identity.h"
#include "util/err.h"

typedef struct tl_collateral tl_collateral; /* TCB info, QE identity, CRLs, issuer chains */

/* Loads collateral from a JSON file (the layout of shared/fixtures/dcap/..._collateral.json)
 * or a directory; see docs/attestation.md. */
tl_collateral *tl_collateral_load(const char *path, tl_err *err);
void tl_collateral_free(tl_collateral *c);

/* Verifies evidence at time `now`. On success fills *id (including tcb_status) and returns 0.
 * Sim evidence verifies only against the simulation root and yields id->simulated = 1 and
 * tcb_status "Simulated"; collateral may be NULL for sim evidence. Failures name the check that
 * failed: TL_EINVAL malformed, TL_ECRYPTO a signature/chain/binding failure, TL_ESTATE expired
 * collateral or certificates, revocation, or a TCB that is unrecognised or Revoked, TL_EUNSUPPORTED
 * formats not verifiable here. On TL_ESTATE from the TCB evaluation *id is still filled. SEV-SNP
 * evidence carries its certificates (collateral is ignored); its id->tcb_status stays empty (AMD
 * states no TCB status: policies set minimum TCB components instead). */
int tl_evidence_verify(const uint8_t *evidence, size_t len, const tl_collateral *col, time_t now,
                       tl_identity *id, tl_err *err);

typedef struct {
    /* Trust anchor (DER) replacing the pinned Intel SGX Root CA. Only for tests that build
     * their own PKI (e.g. a revoked PCK certificate); NULL in every production caller. */
    const uint8_t *root_der;
    size_t root_der_len;
    /* SEV-SNP: more certificates and CRLs (each blob PEM or DER, any number, any order) besides
     * the evidence's own certificate table: VCEK/VLEK, ASK/ASVK, ARK (only compared with the pinned
     * key), ARK-signed CRLs. */
    const uint8_t *const *snp_blobs;
    const size_t *snp_blob_lens;
    int n_snp_blobs;
    /* Test seam only (NULL in production): a DER SubjectPublicKeyInfo replacing every pinned AMD
     * ARK key, for tests that build their own SEV-SNP PKI. */
    const uint8_t *snp_test_ark_spki;
    size_t snp_test_ark_spki_len;
} tl_verify_opts;
int tl_evidence_verify_opts(const uint8_t *evidence, size_t len, const tl_collateral *col, time_t now,
                            const tl_verify_opts *opts, tl_identity *id, tl_err *err);

/* Parses evidence WITHOUT verifying it (display, measurement of self): DCAP quote or SEV-SNP
 * report. id->tcb_status is left empty. */
int tl_evidence_parse(const uint8_t *evidence, size_t len, tl_identity *id, tl_err *err);

/* The SHA-256 fingerprint of the pinned Intel SGX Root CA certificate (DER). */
extern const uint8_t tl_intel_root_sha256[32];

#endif
