/* TDX runtime measurement of teelm (docs/attestation.md, "RTMR3: what teelm measures"): the two
 * events `teelm serve` extends into RTMR3, and the arithmetic a verifier repeats to predict the
 * register and pin it in a policy. */
#ifndef TEELM_TEE_RTMR_H
#define TEELM_TEE_RTMR_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define TL_RTMR_LEN 48

/* What TDG.MR.RTMR.EXTEND does: rtmr = SHA-384(rtmr ‖ digest). */
int tl_rtmr_extend(uint8_t rtmr[TL_RTMR_LEN], const uint8_t digest[TL_RTMR_LEN]);

/* The events, in extension order: e1 = SHA-384(the executable's bytes), e2 = SHA-384(config).
 * exe NULL = /proc/self/exe (this process's own executable). */
int tl_rtmr3_events(const char *exe, const uint8_t *config, size_t config_len, uint8_t e1[TL_RTMR_LEN],
                    uint8_t e2[TL_RTMR_LEN], tl_err *err);

/* The RTMR3 a TD reports after teelm measured itself: extend(extend(initial, e1), e2).
 * initial NULL = 48 zero bytes (RTMR3 as the TD booted, when nothing else extended it). */
int tl_rtmr3_expected(const char *exe, const uint8_t *config, size_t config_len, const uint8_t *initial,
                      uint8_t out[TL_RTMR_LEN], tl_err *err);

#endif
