/* The TEE side of attested key release (docs/attestation-protocol.md), what tl_model_open calls
 * for `--kbs URL`: ask the broker for a challenge, make an ephemeral P-256 key, get evidence from
 * the TEE binding (nonce, public key, key id), send it, and unwrap the data key. Also the owner's
 * admin call that registers a key with a running broker. The broker's TLS certificate is pinned
 * with ca_file (net/client.h). */
#ifndef TEELM_KBS_CLIENT_H
#define TEELM_KBS_CLIENT_H

#include <stdint.h>

#include "kbs/protocol.h"
#include "seal/key.h"
#include "tee/tee.h"
#include "util/err.h"

typedef struct {
    const char *url;      /* https://host:port (no trailing path) */
    const char *ca_file;  /* the broker's certificate to pin (PEM); NULL = system trust store */
    const char *tee;      /* sim|occlum|tsm|auto (NULL = auto) */
    tl_tee *tee_handle;   /* an already opened TEE to attest with (then `tee` is unused); not closed here */
    long timeout_ms;      /* per HTTP request; 0 = 30 s */
    long retry_budget_ms; /* tl_kbs_fetch_key: total time for retries; 0 = 15 s, < 0 = no retry */
} tl_kbs_client_opts;

/* The whole exchange. On success *out holds the data key (wipe it with tl_data_key_clear).
 * Transient failures (no connection, HTTP 429/502/503/504, a nonce that expired or was made by a
 * broker since restarted) start over with a fresh challenge after an exponentially growing,
 * jittered pause (100 ms doubling to 5 s, at least the reply's Retry-After) until the retry budget
 * is spent; refusals and TLS failures are final. */
int tl_kbs_fetch_key(const tl_kbs_client_opts *o, const char *key_id, tl_data_key *out, tl_err *err);

/* Steps, for tests and tools: a fresh challenge nonce; then one key request with evidence from
 * an already opened TEE. */
int tl_kbs_challenge(const tl_kbs_client_opts *o, uint8_t nonce[TL_KBS_NONCE_LEN], tl_err *err);
int tl_kbs_request(const tl_kbs_client_opts *o, tl_tee *tee, const char *key_id, const uint8_t nonce[TL_KBS_NONCE_LEN],
                   tl_data_key *out, tl_err *err);

/* Owner: registers key (and an optional per-key policy, JSON text) with a running broker through
 * POST /v1/admin/keys, authenticated by the admin token (STORE/admin.token). */
int tl_kbs_admin_add_key(const tl_kbs_client_opts *o, const char *admin_token, const tl_data_key *key,
                         const char *policy_json, tl_err *err);

#endif
