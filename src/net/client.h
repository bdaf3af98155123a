/* HTTPS client over libcurl (OpenSSL flavour): one blocking request per call, JSON helpers, and
 * TLS trust that the caller controls:
 *   ca_file      — PEM file of the ONLY trust anchors (a pinned self-signed certificate, e.g. the
 *                  key broker's STORE/tls-cert.pem, or a private CA); the system store is not used;
 *   verify_peer  — a hook run inside the TLS handshake with the server's certificate chain (e.g.
 *                  RA-TLS: check the evidence in the certificate against a policy). With a hook and
 *                  no ca_file, the hook alone decides (no chain or host-name check); with both, the
 *                  chain must verify against ca_file and then the hook must accept.
 * Only https:// URLs are accepted. Thread-safe (each call uses its own curl handle). */
#ifndef TEELM_NET_CLIENT_H
#define TEELM_NET_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/x509.h>

#include "util/err.h"

/* Returns 0 to accept the peer; otherwise fills err (its message becomes the request's error). */
typedef int (*tl_http_verify_fn)(X509 *leaf, STACK_OF(X509) *chain, void *arg, tl_err *err);

typedef struct {
    const char *ca_file;          /* see above; NULL = system trust store (only without a hook) */
    tl_http_verify_fn verify_peer;
    void *verify_arg;
    const char *bearer;           /* Authorization: Bearer <token>, or NULL */
    const char *cookie;           /* Cookie: <this> ("name=value"), or NULL */
    const char *capture_cookie;   /* a cookie name: its value from the reply's Set-Cookie goes to resp->cookie */
    long timeout_ms;              /* whole request; 0 = 30000 */
    size_t max_response;          /* 0 = 8 MiB */
} tl_http_opts;

typedef struct {
    long status;                  /* HTTP status */
    long retry_after_s;           /* the reply's Retry-After in seconds, 0 if none */
    char cookie[256];             /* the capture_cookie value the reply set ("" if none or too long) */
    uint8_t *body;                /* malloc'd, NUL-terminated (not counted) */
    size_t len;
} tl_http_resp;

/* Performs METHOD url with an optional body. Transport and TLS failures return non-zero with
 * the reason; any HTTP status (including 4xx/5xx) returns 0 with resp filled. */
int tl_http_request(const tl_http_opts *o, const char *method, const char *url, const char *content_type,
                    const void *body, size_t len, tl_http_resp *resp, tl_err *err);
/* Wipes and frees the body. */
void tl_http_resp_free(tl_http_resp *r);

/* JSON in, JSON out: sends req (NULL = no body) and parses the reply into *out (caller decrefs).
 * A non-JSON reply is an error naming the status. */
int tl_http_json(const tl_http_opts *o, const char *method, const char *url, json_t *req, long *status, json_t **out,
                 tl_err *err);

#endif
