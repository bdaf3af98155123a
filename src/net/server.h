/* HTTPS server over libevent's evhttp with bufferevent_openssl (TLS stays in OpenSSL).
 *
 * One event-loop thread (the one calling tl_net_server_run) accepts connections, runs the TLS
 * handshakes, parses requests and writes replies. For every request it calls the handler on
 * that thread with an immutable snapshot (method, path, query, headers, body, peer) that any
 * thread may read. The handler either replies at once or hands the request to a worker thread;
 * the worker replies later with the same tl_net_reply* calls, which are thread-safe (they are
 * queued and carried out on the loop thread). Each request gets exactly one final call:
 * tl_net_reply / tl_net_reply_json / tl_net_reply_error, or tl_net_stream_start ... _send ...
 * tl_net_stream_end (chunked transfer encoding, e.g. server-sent events). After the final call
 * the request is gone.
 *
 * While a handed-off request waits, the server watches its connection: if the client goes away,
 * tl_net_req_cancelled() turns 1 (workers should poll it and stop early; the reply is then
 * silently dropped). While streaming, a vanished client is noticed at the next write.
 *
 * Limits (defaults in brackets): request body [1 MiB] → 413 with a JSON error (bodies beyond
 * twice the limit are cut off by evhttp, whose 413 has an HTML body); header block [16 KiB] → 400;
 * a finished TLS handshake within [5 s] of the connection opening (so a socket that sends nothing
 * is closed after that), then a complete request within [20 s] of the handshake or of the previous
 * response, else the connection is closed (slow-loris clients); idle read/write timeout [30 s]
 * (suspended while a handed-off request is being computed); concurrent connections per client
 * address [max(4, max_conns / 2)] (IPv4 address or IPv6 /64) and in all [256]: a connection over
 * either limit is closed as soon as it is accepted, before its handshake, and each kind of refusal
 * is logged at most once a second (with the count of those not logged); graceful shutdown on
 * SIGINT/SIGTERM: stop accepting, cancel outstanding requests, deliver queued replies for up to
 * [5 s], then tl_net_server_run returns.
 *
 * Example:
 *     static void handle(tl_net_req *r, void *arg) {
 *         if (!strcmp(tl_net_req_path(r), "/health")) tl_net_reply_json(r, 200, "{\"ok\":true}");
 *         else tl_net_reply_error(r, 404, "not_found", "no route %s", tl_net_req_path(r));
 *     }
 *     tl_net_server_opts o = {.listen = "127.0.0.1:0", .cert_file = "c.pem", .key_file = "k.pem"};
 *     tl_net_server *s = tl_net_server_new(&o, handle, NULL, &err);
 *     printf("listening on port %d\n", tl_net_server_port(s));
 *     tl_net_server_run(s);   // until tl_net_server_stop(s) or a signal
 *     tl_net_server_free(s);
 */
#ifndef TEELM_NET_SERVER_H
#define TEELM_NET_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "util/err.h"

typedef struct tl_net_server tl_net_server;
typedef struct tl_net_req tl_net_req;
typedef void (*tl_net_handler)(tl_net_req *req, void *arg);

typedef struct {
    const char *listen;            /* "HOST:PORT" or "[V6]:PORT"; port 0 picks a free port */
    const char *cert_file;         /* PEM certificate chain, leaf first ...                  */
    const char *key_file;          /* ... and its PEM private key; or, in memory:            */
    X509 *cert;                    /* leaf certificate (e.g. an RA-TLS one; up-ref'd, not taken) */
    EVP_PKEY *key;                 /* its private key (up-ref'd)                              */
    STACK_OF(X509) *chain;         /* optional intermediates                                  */
    size_t max_body;               /* 0 = 1 MiB */
    size_t max_headers;            /* 0 = 16 KiB */
    int timeout_s;                 /* 0 = 30 */
    int max_conns;                 /* 0 = 256 */
    int max_conns_per_peer;        /* 0 = tl_net_default_per_peer(max_conns); at most max_conns */
    int handshake_timeout_s;       /* 0 = 5: from accept to the end of the TLS handshake */
    int grace_ms;                  /* 0 = 5000: how long shutdown waits for outstanding replies */
    int request_timeout_s;         /* 0 = 20: time allowed to send one complete request */
    int no_signals;                /* 1: do not handle SIGINT/SIGTERM */
    const char *too_large_json;    /* JSON body of the 413 reply (an API's own error shape);
                                      NULL = {"error":{"code":"body_too_large","message":...}} */
    const char *name;              /* log component, default "net" */
    int plain;                     /* 1: plain HTTP, no TLS (cert/key unused). Meant for loopback
                                      listeners (teelm proxy): there is no per-address admission and
                                      no handshake or request deadline, only the idle timeout, and
                                      tl_net_server_connections stays 0; bound concurrent work in
                                      the handler instead. */
} tl_net_server_opts;

/* Binds and sets up TLS; does not start serving. */
tl_net_server *tl_net_server_new(const tl_net_server_opts *opts, tl_net_handler handler, void *arg, tl_err *err);
/* The bound port (useful with port 0). */
int tl_net_server_port(const tl_net_server *s);
/* Serves until tl_net_server_stop or SIGINT/SIGTERM; then shuts down gracefully. Returns 0, or
 * the number of requests that were still outstanding when the grace period ended (their memory
 * stays valid until tl_net_server_free; do not free while workers still hold them). */
int tl_net_server_run(tl_net_server *s);
/* Asks tl_net_server_run to shut down; safe from any thread. */
void tl_net_server_stop(tl_net_server *s);
void tl_net_server_free(tl_net_server *s);
/* The default per-address connection limit for a total limit: max(4, max_conns / 2). */
int tl_net_default_per_peer(int max_conns);
/* Connections currently open (admitted and not yet closed). */
int tl_net_server_connections(const tl_net_server *s);

/* ---- requests: read from any thread until the final reply ---- */
const char *tl_net_req_method(const tl_net_req *r);  /* "GET", "POST", ... */
const char *tl_net_req_path(const tl_net_req *r);    /* raw path, without the query */
const char *tl_net_req_query(const tl_net_req *r);   /* raw query string or NULL */
const char *tl_net_req_header(const tl_net_req *r, const char *name); /* case-insensitive; NULL if absent */
int tl_net_req_nheaders(const tl_net_req *r);                          /* request headers, in arrival order */
const char *tl_net_req_header_at(const tl_net_req *r, int i, const char **name); /* value of the i-th; NULL if out of range */
const uint8_t *tl_net_req_body(const tl_net_req *r, size_t *len);     /* NUL-terminated (not counted) */
const char *tl_net_req_peer(const tl_net_req *r);    /* "ADDR:PORT" of the client */
int tl_net_req_cancelled(const tl_net_req *r);       /* 1 once the client has gone or the server stops */

/* ---- replies: from any thread ---- */
/* Adds a response header; call before the reply / stream start. */
void tl_net_set_header(tl_net_req *r, const char *name, const char *value);
void tl_net_reply(tl_net_req *r, int status, const char *content_type, const void *body, size_t len);
void tl_net_reply_json(tl_net_req *r, int status, const char *json);
/* {"error":{"code":CODE,"message":MSG}} with the given status. */
void tl_net_reply_error(tl_net_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void tl_net_stream_start(tl_net_req *r, int status, const char *content_type);
/* Returns -1 (and drops the data) once the request is cancelled. */
int tl_net_stream_send(tl_net_req *r, const void *data, size_t len);
void tl_net_stream_end(tl_net_req *r);

/* The TLS policy of both servers and of the clients (docs/threat-model.md): TLS 1.2 or 1.3, AEAD
 * suites with ECDHE only, no renegotiation or compression; for servers (server = 1) also no session
 * tickets and no session cache, so no session is ever resumed. */
extern const char tl_net_tls12_ciphers[];  /* OpenSSL cipher list of the TLS 1.2 suites allowed */
int tl_net_tls_policy(SSL_CTX *ctx, int server, tl_err *err);

/* A fresh self-signed P-256 certificate for `names` (comma-separated DNS names and IP
 * addresses, e.g. "localhost,127.0.0.1"), valid for `days`. */
int tl_net_selfsigned(const char *names, int days, X509 **cert, EVP_PKEY **key, tl_err *err);
/* SHA-256 fingerprint of a certificate (DER), as lowercase hex with ':' separators (96 chars). */
void tl_net_cert_fingerprint(X509 *cert, char out[97]);

#endif
