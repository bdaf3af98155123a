#include "kbs/nonce.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "util/bytes.h"

static const char LABEL[] = "teelm-kbs-nonce-v1"; /* MAC'd with its NUL */
#define TAG_LEN 16
#define BODY_LEN (TL_KBS_NONCE_LEN - TAG_LEN) /* expiry ‖ r */

typedef struct {
    uint64_t expiry, r;
    int32_t next; /* chain in the bucket, -1 = end */
} entry;

struct tl_nonce_table {
    uint8_t key[32];
    uint64_t hash_key;
    int64_t ttl;
    entry *ring; /* redeemed nonces in the order they were redeemed */
    int32_t *bucket;
    uint32_t cap, mask, start, count;
    uint64_t watermark; /* every nonce expiring at or before this is refused as expired */
    uint64_t forgotten;
};

/* Keyed so that a client choosing which of its nonces to redeem cannot pile them into one chain. */
static uint32_t bucket_of(const tl_nonce_table *t, uint64_t r)
{
    uint64_t z = r ^ t->hash_key; /* splitmix64 finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)(z ^ (z >> 31)) & t->mask;
}

static int tag(const tl_nonce_table *t, const uint8_t body[BODY_LEN], uint8_t out[TAG_LEN])
{
    uint8_t msg[sizeof LABEL + BODY_LEN], mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    memcpy(msg, LABEL, sizeof LABEL);
    memcpy(msg + sizeof LABEL, body, BODY_LEN);
    if (!HMAC(EVP_sha256(), t->key, sizeof t->key, msg, sizeof msg, mac, &ml) || ml < TAG_LEN)
        return -1;
    memcpy(out, mac, TAG_LEN);
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}

tl_nonce_table *tl_nonce_table_new(int capacity, int64_t ttl_ms)
{
    tl_nonce_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->cap = capacity > 0 ? (uint32_t)capacity : 65536;
    t->ttl = ttl_ms > 0 ? ttl_ms : 60000;
    uint32_t nb = 1;
    while (nb < t->cap && nb < (1u << 30))
        nb <<= 1;
    t->mask = nb - 1;
    t->ring = calloc(t->cap, sizeof *t->ring);
    t->bucket = malloc((size_t)nb * sizeof *t->bucket);
    if (!t->ring || !t->bucket || RAND_priv_bytes(t->key, sizeof t->key) != 1 ||
        RAND_bytes((uint8_t *)&t->hash_key, sizeof t->hash_key) != 1) {
        tl_nonce_table_free(t);
        return NULL;
    }
    memset(t->bucket, 0xff, (size_t)nb * sizeof *t->bucket);
    return t;
}

void tl_nonce_table_free(tl_nonce_table *t)
{
    if (t) {
        OPENSSL_cleanse(t->key, sizeof t->key);
        free(t->ring);
        free(t->bucket);
        free(t);
    }
}

int64_t tl_nonce_ttl_ms(const tl_nonce_table *t) { return t->ttl; }
uint64_t tl_nonce_forgotten(const tl_nonce_table *t) { return t->forgotten; }

int tl_nonce_issue(tl_nonce_table *t, int64_t now, uint8_t nonce[TL_KBS_NONCE_LEN])
{
    tl_store_be64(nonce, (uint64_t)(now + t->ttl));
    if (RAND_bytes(nonce + 8, 8) != 1 || tag(t, nonce, nonce + BODY_LEN))
        return TL_NONCE_ERROR;
    return TL_NONCE_OK;
}

static int find(const tl_nonce_table *t, uint64_t expiry, uint64_t r)
{
    for (int32_t i = t->bucket[bucket_of(t, r)]; i >= 0; i = t->ring[i].next)
        if (t->ring[i].r == r && t->ring[i].expiry == expiry)
            return 1;
    return 0;
}

int tl_nonce_check(const tl_nonce_table *t, int64_t now, const uint8_t nonce[TL_KBS_NONCE_LEN])
{
    uint8_t want[TAG_LEN];
    if (tag(t, nonce, want))
        return TL_NONCE_ERROR;
    if (CRYPTO_memcmp(want, nonce + BODY_LEN, TAG_LEN) != 0)
        return TL_NONCE_UNKNOWN;
    uint64_t expiry = tl_load_be64(nonce), r = tl_load_be64(nonce + 8);
    if (now < 0 || (uint64_t)now > expiry || expiry <= t->watermark)
        return TL_NONCE_EXPIRED;
    return find(t, expiry, r) ? TL_NONCE_REPLAYED : TL_NONCE_OK;
}

/* Drops the oldest redeemed entry from the ring and its chain. */
static void drop_oldest(tl_nonce_table *t)
{
    uint32_t i = t->start;
    int32_t *link = &t->bucket[bucket_of(t, t->ring[i].r)];
    while (*link >= 0 && *link != (int32_t)i)
        link = &t->ring[*link].next;
    if (*link == (int32_t)i)
        *link = t->ring[i].next;
    t->start = (t->start + 1) % t->cap;
    t->count--;
}

int tl_nonce_redeem(tl_nonce_table *t, int64_t now, const uint8_t nonce[TL_KBS_NONCE_LEN])
{
    int rc = tl_nonce_check(t, now, nonce);
    if (rc != TL_NONCE_OK)
        return rc;
    /* entries that have expired need no memory: their nonces are refused by the expiry check */
    while (t->count && t->ring[t->start].expiry < (uint64_t)now)
        drop_oldest(t);
    if (t->count == t->cap) {
        entry *old = &t->ring[t->start];
        if (old->expiry > t->watermark)
            t->watermark = old->expiry;
        t->forgotten++;
        drop_oldest(t);
    }
    uint32_t i = (t->start + t->count) % t->cap;
    uint64_t r = tl_load_be64(nonce + 8);
    uint32_t b = bucket_of(t, r);
    t->ring[i] = (entry){.expiry = tl_load_be64(nonce), .r = r, .next = t->bucket[b]};
    t->bucket[b] = (int32_t)i;
    t->count++;
    return TL_NONCE_OK;
}
