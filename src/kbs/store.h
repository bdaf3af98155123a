/* The key broker's store (docs/kbs.md § Store layout): a directory holding
 *   master.key     32 random bytes, mode 0600, created on first use
 *   admin.token    64 hex digits, mode 0600, created on first server start
 *   tls-cert.pem / tls-key.pem   the broker's self-signed TLS identity when none is given
 *   keys/ID.json   one record per data key: the key wrapped with AES-256-GCM under the master key
 *                  (AAD "teelm-kbs-store-v1" ‖ 0x00 ‖ key id), created time, revoked flag and an
 *                  optional per-key policy (JSON, docs/policy.md), mode 0600
 *   manifest.json  the store generation (bumped by every add and revoke) and, for every key id
 *                  ever added, its state and the SHA-256 of its record file, authenticated with
 *                  HMAC-SHA256 under a key derived from the master key
 *   store.lock     flock()ed: shared by readers, exclusive by add/revoke/upgrade
 * A record is used only if the manifest authenticates and names it with the record's exact hash:
 * an edited, deleted, added, swapped or restored record is refused (TL_ECRYPTO). Records are read
 * on every request, so add/revoke take effect on a running broker at once. */
#ifndef TEELM_KBS_STORE_H
#define TEELM_KBS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "seal/key.h"
#include "util/err.h"

typedef struct {
    char key_id[TL_KEY_ID_MAX + 1];
    int revoked;
    char created[32];          /* UTC, ISO 8601 */
    char *policy_json;         /* malloc'd per-key policy, or NULL (use the broker's default) */
    uint64_t generation;       /* store generation at which this record last changed */
    uint64_t store_generation; /* the manifest's generation when the record was read */
    char problem[512];         /* tl_kbs_store_list: why the record is refused, "" if it is fine */
} tl_kbs_record;

/* Creates dir (0700), its master key and an empty manifest if absent; checks the master key's
 * permissions. A store of the previous version (records, no manifest) is refused with
 * TL_EUNSUPPORTED naming `teelm kbs upgrade`. */
int tl_kbs_store_init(const char *dir, tl_err *err);
/* Adds a key; refuses an existing id (even revoked). policy_json (may be NULL) must parse. */
int tl_kbs_store_add(const char *dir, const tl_data_key *key, const char *policy_json, tl_err *err);
/* Reads a record and, when key is non-NULL and the record is not revoked, unwraps the key.
 * TL_ENOTFOUND for an id the manifest does not list (and no record file); TL_ESTATE (with the
 * record filled) for a revoked key; TL_ECRYPTO when the manifest or the record fails its
 * integrity check (message says which and how); other codes for unusable stores. */
int tl_kbs_store_get(const char *dir, const char *key_id, tl_kbs_record *rec, tl_data_key *key, tl_err *err);
/* Marks a key revoked and deletes its wrapped key material. */
int tl_kbs_store_revoke(const char *dir, const char *key_id, tl_err *err);
/* Every key id in the manifest, and every record file it does not list, sorted by id; records
 * that fail a check have `problem` set. *out malloc'd: free each (tl_kbs_record_free) and the
 * array. *generation (may be NULL) gets the store generation. */
int tl_kbs_store_list(const char *dir, tl_kbs_record **out, int *n, uint64_t *generation, tl_err *err);
/* Upgrades a store of the previous version: checks every record (it parses, names its own id,
 * its wrapped key authenticates under this master key, its policy parses) and writes a manifest
 * authenticating them as they are, at generation 1. With dry_run only checks. out and n as for
 * tl_kbs_store_list. TL_ESTATE if the store has a manifest already. */
int tl_kbs_store_upgrade(const char *dir, int dry_run, tl_kbs_record **out, int *n, tl_err *err);
void tl_kbs_record_free(tl_kbs_record *r);
/* The admin token (created on first call with create=1); out gets 64 hex digits + NUL. */
int tl_kbs_store_admin_token(const char *dir, int create, char out[65], tl_err *err);

#endif
