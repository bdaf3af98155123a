/* Evidence verification: DCAP quotes (SGX v3, TDX v4) against Intel's pinned root and the
 * operator's collateral, and sim quotes against the simulation root. */
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
 * Sim evidence verifies only against the simulation root and yields id->simulated = 1;
 * collateral may be NULL for sim evidence. Failures name the check that failed. */
int tl_evidence_verify(const uint8_t *evidence, size_t len, const tl_collateral *col, time_t now,
                       tl_identity *id, tl_err *err);

#endif
