/* The key store's manifest (docs/kbs.md § Store layout): DIR/manifest.json lists every key id ever
 * added with its state, the store generation of its last change and the SHA-256 of its record
 * file, plus the store generation, authenticated with
 *   HMAC-SHA256(HKDF-SHA256(master key, salt = 32 zero bytes, info = "teelm-kbs-store-v2 manifest mac"),
 *               "teelm-kbs-manifest-v2" ‖ 0x00 ‖ u64 generation ‖ u32 n ‖
 *               per entry by id: u8 len ‖ id ‖ u64 generation ‖ u8 state (1 = revoked) ‖ SHA-256)
 * (integers big-endian). Callers hold the store's lock (kbs/store.c). */
#ifndef TEELM_KBS_MANIFEST_H
#define TEELM_KBS_MANIFEST_H

#include <stdint.h>

#include "seal/key.h"
#include "util/err.h"

typedef struct {
    char id[TL_KEY_ID_MAX + 1];
    uint64_t gen;
    int revoked;
    uint8_t sha[32]; /* SHA-256 of the record file's bytes */
} tl_kbs_mentry;

typedef struct {
    uint64_t gen;
    tl_kbs_mentry *e; /* sorted by id (strcmp) */
    int n, cap;
} tl_kbs_manifest;

/* Loads and authenticates DIR/manifest.json: TL_ENOTFOUND if there is none, TL_ECRYPTO if it
 * does not parse or authenticate under mk. */
int tl_kbs_manifest_load(const char *dir, const uint8_t mk[32], tl_kbs_manifest *m, tl_err *err);
/* Writes it (atomically, 0600) with a fresh MAC. */
int tl_kbs_manifest_save(const char *dir, const uint8_t mk[32], const tl_kbs_manifest *m, tl_err *err);
tl_kbs_mentry *tl_kbs_manifest_find(tl_kbs_manifest *m, const char *id);
/* Inserts or replaces the entry with x's id. */
int tl_kbs_manifest_put(tl_kbs_manifest *m, const tl_kbs_mentry *x, tl_err *err);
void tl_kbs_manifest_free(tl_kbs_manifest *m);

#endif
