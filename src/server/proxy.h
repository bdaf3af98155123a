/* The attesting local proxy (`teelm proxy`, docs/proxy.md): serves plain HTTP on a loopback address
 * and forwards every request, byte for byte, to a teelm server over TLS. Each new upstream
 * connection's handshake runs the check of `teelm client` (tl_client_check_leaf: the RA-TLS
 * evidence in the server's certificate against the policy) before any request byte is written; a
 * server that fails gets nothing, and the application receives a 502 in OpenAI's error shape whose
 * message (and `param`, for policy rules) names what differed. Responses, server-sent event
 * streams included, come back unchanged; an application that disconnects closes its upstream
 * connection (so the server stops generating), and an upstream that breaks off ends the
 * application's response. */
#ifndef TEELM_SERVER_PROXY_H
#define TEELM_SERVER_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "tee/policy.h"
#include "tee/verify.h"
#include "util/err.h"

typedef struct tl_proxy tl_proxy;

typedef struct {
    const char *server;            /* https://HOST:PORT of the teelm server (no path) */
    const tl_policy *policy;       /* required; kept, not copied: outlives the proxy */
    const tl_collateral *col;      /* NULL: only sim evidence can verify */
    const uint8_t *expect_config_sha256; /* if set: the server's configuration document must hash to this */
    const char *listen;            /* HOST:PORT; must be a loopback address unless allow_remote */
    int allow_remote;              /* 1: accept a non-loopback listen address (plaintext on a network) */
    int max_inflight;              /* requests forwarded at once; more get 503 (0 = 64) */
    size_t max_body;               /* request body limit (0 = 1 MiB) */
    size_t max_response;           /* non-streamed response limit (0 = 64 MiB); streams are not bounded */
    long timeout_s;                /* one request, upstream, start to end (0 = 600) */
    int connect_timeout_s;         /* TCP + TLS handshake + verification (0 = 30) */
    int io_timeout_s;              /* idle client connection (0 = 30) */
    int no_signals;                /* 1: do not handle SIGINT/SIGTERM (tests) */
} tl_proxy_opts;

/* Checks the options (the listen address, the server URL), binds the listener; does not serve. */
tl_proxy *tl_proxy_new(const tl_proxy_opts *o, tl_err *err);
int tl_proxy_port(const tl_proxy *p);
/* Serves until tl_proxy_stop or SIGINT/SIGTERM, then lets requests in flight end (they are
 * cancelled, closing their upstream connections) and returns 0. */
int tl_proxy_run(tl_proxy *p);
void tl_proxy_stop(tl_proxy *p);
void tl_proxy_free(tl_proxy *p);

/* 1 when HOST:PORT (or [V6]:PORT) names a loopback address: 127.0.0.0/8, ::1 or "localhost". */
int tl_proxy_is_loopback(const char *listen);

#endif
