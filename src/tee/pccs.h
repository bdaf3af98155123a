/* Collateral from a PCCS / Intel PCS (v4 API) with libcurl, cached on disk; and saving collateral
 * in the JSON layout tl_collateral_load reads. docs/attestation.md, "Collateral". */
#ifndef TEELM_TEE_PCCS_H
#define TEELM_TEE_PCCS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tee/verify.h"

/* Fetches (or takes from cache_dir, when still valid at `now`) the collateral the quote needs:
 * TCB info for its FMSPC (SGX or TDX), QE identity, the PCK CRL for its PCK CA, the root CA CRL.
 * base_url: e.g. https://pccs.example:8081 (the /sgx/certification/v4/... paths are appended).
 * cache_dir may be NULL. */
tl_collateral *tl_pccs_collateral_for(const char *base_url, const char *cache_dir, const uint8_t *quote,
                                      size_t len, time_t now, tl_err *err);
/* GET url over http(s) with libcurl; 0 and the malloc'd body on HTTP 200 (at most 1 MiB). */
int tl_http_get(const char *url, uint8_t **body, size_t *n, tl_err *err);
/* Writes collateral as a JSON file (the fixtures' layout). */
int tl_collateral_save(const tl_collateral *c, const char *path, tl_err *err);

#endif
