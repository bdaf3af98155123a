/* The key broker service (teelm kbs): HTTPS (net/server.h) endpoints of
 * docs/attestation-protocol.md over a key store (kbs/store.h). Releases a data key only to a TEE
 * whose evidence verifies (tl_evidence_verify), binds the broker's fresh nonce and the TEE's
 * ephemeral key, and satisfies the key's policy (tl_policy_check). Every decision is logged
 * (key id, measurement, verdict, reason) without secrets. */
#ifndef TEELM_KBS_BROKER_H
#define TEELM_KBS_BROKER_H

#include "util/err.h"

typedef struct tl_kbs_broker tl_kbs_broker;

typedef struct {
    const char *listen;       /* HOST:PORT (port 0 = any) */
    const char *store;        /* store directory (created on first start) */
    const char *policy_file;  /* default policy for keys without their own */
    const char *cert_file;    /* TLS identity; when absent STORE/tls-cert.pem + tls-key.pem, */
    const char *key_file;     /* generated on first start (self-signed) */
    const char *tls_names;    /* names for a generated certificate; default "localhost,127.0.0.1,::1" + listen host */
    const char *collateral;   /* DCAP collateral for real evidence (NULL: only sim evidence verifies) */
    int nonce_ttl_ms;         /* challenge lifetime, default 60000 */
    int max_challenges;       /* redeemed nonces remembered against replay, default 65536 */
    const char *generation_file; /* the highest store generation seen, kept across restarts; on storage
                                    the store's writers cannot roll back (NULL: in memory only) */
    int max_conns;            /* open connections in all, default 256 */
    int max_conns_per_peer;   /* from one client address, default max(4, max_conns / 2); at most max_conns */
    int handshake_timeout_s;  /* seconds from accept to a finished TLS handshake, default 5 */
    int no_signals;           /* 1: leave SIGINT/SIGTERM alone (in-process tests) */
} tl_kbs_broker_opts;

tl_kbs_broker *tl_kbs_broker_new(const tl_kbs_broker_opts *o, tl_err *err);
int tl_kbs_broker_port(const tl_kbs_broker *b);
/* The TLS certificate clients should pin (PEM path) and its SHA-256 fingerprint. */
const char *tl_kbs_broker_cert_path(const tl_kbs_broker *b);
const char *tl_kbs_broker_fingerprint(const tl_kbs_broker *b);
/* Serves until SIGINT/SIGTERM or tl_kbs_broker_stop. */
int tl_kbs_broker_run(tl_kbs_broker *b);
void tl_kbs_broker_stop(tl_kbs_broker *b);
void tl_kbs_broker_free(tl_kbs_broker *b);

#endif
