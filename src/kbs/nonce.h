/* Challenge nonces that cost the broker nothing to issue (docs/attestation-protocol.md § Challenge).
 *
 *   nonce = expiry (u64 big-endian, ms on the table's clock) ‖ r (8 random bytes) ‖
 *           HMAC-SHA256(K, "teelm-kbs-nonce-v1" ‖ 0x00 ‖ expiry ‖ r)[0..16)
 *
 * K is 32 random bytes made when the table is created (a broker restart invalidates every
 * outstanding nonce). Issuing stores nothing, so a flood of challenges cannot crowd out anyone.
 * A nonce is checked by its tag and expiry; replay is stopped by remembering redeemed nonces until
 * they expire, in a table of fixed capacity. When that table is full the oldest redeemed entry is
 * forgotten and every nonce expiring no later than it is from then on refused as expired (a
 * watermark), so forgetting never re-opens a replay: it only shortens the life of nonces that were
 * issued before the ones now remembered. Not thread-safe: the broker uses it from its event-loop
 * thread only. */
#ifndef TEELM_KBS_NONCE_H
#define TEELM_KBS_NONCE_H

#include <stdint.h>

#include "kbs/protocol.h"

typedef struct tl_nonce_table tl_nonce_table;

enum { TL_NONCE_OK = 0, TL_NONCE_UNKNOWN, TL_NONCE_EXPIRED, TL_NONCE_REPLAYED, TL_NONCE_ERROR };

/* capacity: redeemed nonces remembered at once (default 65536); ttl_ms: lifetime (default 60 s).
 * NULL when out of memory or the random generator fails. */
tl_nonce_table *tl_nonce_table_new(int capacity, int64_t ttl_ms);
void tl_nonce_table_free(tl_nonce_table *t);
/* TL_NONCE_OK with a fresh nonce valid until now_ms + ttl. */
int tl_nonce_issue(tl_nonce_table *t, int64_t now_ms, uint8_t nonce[TL_KBS_NONCE_LEN]);
/* What redeeming would answer, without recording anything: TL_NONCE_UNKNOWN (not made by this
 * table), TL_NONCE_EXPIRED (past its expiry, or forgotten under pressure), TL_NONCE_REPLAYED. */
int tl_nonce_check(const tl_nonce_table *t, int64_t now_ms, const uint8_t nonce[TL_KBS_NONCE_LEN]);
/* tl_nonce_check, and on TL_NONCE_OK records the nonce as used. */
int tl_nonce_redeem(tl_nonce_table *t, int64_t now_ms, const uint8_t nonce[TL_KBS_NONCE_LEN]);
int64_t tl_nonce_ttl_ms(const tl_nonce_table *t);
/* Unexpired redeemed nonces forgotten because the table was full (for the broker's log). */
uint64_t tl_nonce_forgotten(const tl_nonce_table *t);

#endif
