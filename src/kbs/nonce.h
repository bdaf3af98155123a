/* Single-use challenge nonces with a short lifetime, in a fixed-size table so that a flood of
 * challenges cannot exhaust memory (it gets 503 until entries expire). Used and expired nonces
 * are remembered for one more lifetime so the broker can say "replayed" or "expired" instead of
 * "unknown". Not thread-safe: the broker uses it from its event-loop thread only. */
#ifndef TEELM_KBS_NONCE_H
#define TEELM_KBS_NONCE_H

#include <stdint.h>

#include "kbs/protocol.h"

typedef struct tl_nonce_table tl_nonce_table;

enum { TL_NONCE_OK = 0, TL_NONCE_UNKNOWN, TL_NONCE_EXPIRED, TL_NONCE_REPLAYED, TL_NONCE_FULL };

tl_nonce_table *tl_nonce_table_new(int capacity, int64_t ttl_ms);
void tl_nonce_table_free(tl_nonce_table *t);
/* TL_NONCE_OK with a fresh random nonce, or TL_NONCE_FULL. */
int tl_nonce_issue(tl_nonce_table *t, int64_t now_ms, uint8_t nonce[TL_KBS_NONCE_LEN]);
/* Marks the nonce used; TL_NONCE_OK only the first time and before it expires. */
int tl_nonce_consume(tl_nonce_table *t, int64_t now_ms, const uint8_t nonce[TL_KBS_NONCE_LEN]);
int64_t tl_nonce_ttl_ms(const tl_nonce_table *t);

#endif
