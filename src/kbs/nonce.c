#include "kbs/nonce.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

typedef struct {
    uint8_t nonce[TL_KBS_NONCE_LEN];
    int64_t expires; /* 0 = free slot */
    int used;
} entry;

struct tl_nonce_table {
    entry *e;
    int cap;
    int64_t ttl;
};

tl_nonce_table *tl_nonce_table_new(int capacity, int64_t ttl_ms)
{
    tl_nonce_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->cap = capacity > 0 ? capacity : 1024;
    t->ttl = ttl_ms > 0 ? ttl_ms : 60000;
    t->e = calloc((size_t)t->cap, sizeof *t->e);
    if (!t->e) {
        free(t);
        return NULL;
    }
    return t;
}

void tl_nonce_table_free(tl_nonce_table *t)
{
    if (t) {
        free(t->e);
        free(t);
    }
}

int64_t tl_nonce_ttl_ms(const tl_nonce_table *t) { return t->ttl; }

int tl_nonce_issue(tl_nonce_table *t, int64_t now, uint8_t nonce[TL_KBS_NONCE_LEN])
{
    int slot = -1, expired = -1;
    for (int i = 0; i < t->cap; i++) {
        entry *x = &t->e[i];
        if (x->expires && now > x->expires + t->ttl)
            x->expires = 0; /* past its memory window: forget it */
        if (!x->expires && slot < 0)
            slot = i;
        if (x->expires && (now > x->expires || x->used) && expired < 0)
            expired = i;
    }
    if (slot < 0)
        slot = expired; /* under pressure, reuse a dead entry before refusing */
    if (slot < 0)
        return TL_NONCE_FULL;
    if (RAND_bytes(nonce, TL_KBS_NONCE_LEN) != 1)
        return TL_NONCE_FULL;
    memcpy(t->e[slot].nonce, nonce, TL_KBS_NONCE_LEN);
    t->e[slot].expires = now + t->ttl;
    t->e[slot].used = 0;
    return TL_NONCE_OK;
}

int tl_nonce_consume(tl_nonce_table *t, int64_t now, const uint8_t nonce[TL_KBS_NONCE_LEN])
{
    for (int i = 0; i < t->cap; i++) {
        entry *x = &t->e[i];
        if (!x->expires || CRYPTO_memcmp(x->nonce, nonce, TL_KBS_NONCE_LEN) != 0)
            continue;
        if (x->used)
            return TL_NONCE_REPLAYED;
        x->used = 1; /* single use, whatever the outcome of the request */
        return now > x->expires ? TL_NONCE_EXPIRED : TL_NONCE_OK;
    }
    return TL_NONCE_UNKNOWN;
}
