/* The key broker's store: a directory (docs/kbs.md) holding
 *   master.key     32 random bytes, mode 0600, created on first use
 *   admin.token    64 hex digits, mode 0600, created on first server start
 *   tls-cert.pem / tls-key.pem   the broker's self-signed TLS identity when none is given
 *   keys/ID.json   one record per data key: the key wrapped with AES-256-GCM under the master key
 *                  (AAD "teelm-kbs-store-v1" ‖ 0x00 ‖ key id), created time, revoked flag and an
 *                  optional per-key policy (JSON, docs/policy.md), mode 0600.
 * Records are read on every request, so add/revoke take effect on a running broker at once. */
#ifndef TEELM_KBS_STORE_H
#define TEELM_KBS_STORE_H

#include <stddef.h>

#include "seal/key.h"
#include "util/err.h"

typedef struct {
    char key_id[TL_KEY_ID_MAX + 1];
    int revoked;
    char created[32];  /* UTC, ISO 8601 */
    char *policy_json; /* malloc'd per-key policy, or NULL (use the broker's default) */
} tl_kbs_record;

/* Creates dir (0700) and its master key if absent; checks the master key's permissions. */
int tl_kbs_store_init(const char *dir, tl_err *err);
/* Adds a key; refuses an existing id (even revoked). policy_json (may be NULL) must parse. */
int tl_kbs_store_add(const char *dir, const tl_data_key *key, const char *policy_json, tl_err *err);
/* Reads a record and, when key is non-NULL and the record is not revoked, unwraps the key.
 * TL_ENOTFOUND for an unknown id; TL_ESTATE (with the record filled) for a revoked key. */
int tl_kbs_store_get(const char *dir, const char *key_id, tl_kbs_record *rec, tl_data_key *key, tl_err *err);
/* Marks a key revoked and deletes its wrapped key material. */
int tl_kbs_store_revoke(const char *dir, const char *key_id, tl_err *err);
/* Lists records (sorted by id); *out malloc'd, free each policy_json and the array. */
int tl_kbs_store_list(const char *dir, tl_kbs_record **out, int *n, tl_err *err);
void tl_kbs_record_free(tl_kbs_record *r);
/* The admin token (created on first call with create=1); out gets 64 hex digits + NUL. */
int tl_kbs_store_admin_token(const char *dir, int create, char out[65], tl_err *err);

#endif
