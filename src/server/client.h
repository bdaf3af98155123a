/* The attested HTTPS client (`teelm client`): every connection's TLS handshake checks the server's
 * RA-TLS certificate (docs/ra-tls.md: validity, not a CA, evidence, key and configuration binding,
 * policy, optionally the expected configuration) and is aborted on any failure,
 * so no request byte reaches a server that failed the checks. Built on libcurl (OpenSSL), with the
 * check installed through CURLOPT_SSL_CTX_FUNCTION as the certificate verification itself. */
#ifndef TEELM_SERVER_CLIENT_H
#define TEELM_SERVER_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

#include "tee/identity.h"
#include "tee/policy.h"
#include "tee/verify.h"
#include "util/err.h"

typedef struct tl_client_peer tl_client_peer;

typedef struct {
    const char *server;          /* https://host:port (a path, if any, is ignored) */
    const tl_policy *policy;
    const tl_collateral *col;    /* NULL: only sim evidence can verify */
    const char *api_key;         /* sent as "Authorization: Bearer KEY", or NULL */
    long timeout_s;              /* whole request; 0 = none */
    const uint8_t *expect_config_sha256; /* if set: the server's configuration document must hash to this */
    /* Called inside the handshake once the checks passed, before any request byte is sent (e.g. to
     * warn about simulated evidence first); return non-zero to refuse the server anyway. */
    int (*on_verified)(const tl_client_peer *peer, void *user);
    void *on_verified_user;
} tl_client_opts;

#define TL_CLIENT_CONFIG_SHOWN 16384
#define TL_CLIENT_CERT_PEM 65536

/* What the handshake established about the server. */
struct tl_client_peer {
    int verified;                /* 1 once the checks passed */
    tl_identity id;
    char tee[64];                /* the backend name the certificate states */
    uint8_t pubkey_sha256[32];   /* SHA-256 of the server certificate's public key */
    uint8_t config_sha256[32];   /* SHA-256 of the server's configuration document (bound by the evidence) */
    char config[TL_CLIENT_CONFIG_SHOWN]; /* the document (cut at this size for display; the hash covers all) */
    uint8_t receipt_key[32];     /* the Ed25519 key the evidence binds: it signs the receipts */
    uint8_t evidence_sha256[32]; /* SHA-256 of the evidence: receipts name it */
    char cert_pem[TL_CLIENT_CERT_PEM]; /* the verified certificate (PEM), for offline receipt checks; "" if larger */
};

/* The check the handshake runs on the server's leaf certificate (also used by the proxy,
 * server/proxy.h): tl_ratls_verify_cert against o->policy and o->col at the current time, then
 * o->expect_config_sha256 and o->on_verified when set. Fills *peer (verified = 1) on success;
 * otherwise returns the error naming what failed (policy failures name the field). */
int tl_client_check_leaf(const tl_client_opts *o, X509 *leaf, tl_client_peer *peer, tl_err *err);

/* Called with response body bytes as they arrive (for streaming); return non-zero to stop. */
typedef int (*tl_client_sink)(const char *data, size_t len, void *user);

/* Sends method path (body may be NULL) and passes the response body to sink. *status receives the
 * HTTP status. Fails (TL_EPOLICY / TL_ECRYPTO / TL_EINVAL from the checks, with their message,
 * prefixed "server attestation refused") before anything is sent when the server does not pass. */
int tl_client_request(const tl_client_opts *o, const char *method, const char *path, const char *body, size_t len,
                      tl_client_sink sink, void *user, long *status, tl_client_peer *peer, tl_err *err);

#endif
