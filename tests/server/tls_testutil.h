/* Shared by the attested-client and proxy tests: a bare TLS server (OpenSSL, run in a thread) that
 * presents a chosen key and certificate to one connection, records the request it reads and the
 * application bytes it got, and answers a chosen raw HTTP reply. The tests' point is that a refused
 * handshake is followed by no application data, so the server also tries to read after one. */
#ifndef TEELM_TESTS_SERVER_TLS_TESTUTIL_H
#define TEELM_TESTS_SERVER_TLS_TESTUTIL_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "tee/tee.h"

typedef struct {
    int lfd, port;
    EVP_PKEY *key;
    X509 *cert;
    const char *resp; /* what to answer (raw HTTP) */
    size_t resp_len;
    char got[8192];   /* the request as received */
    size_t app_bytes; /* application bytes the server read */
    int handshake_ok;
} tls_server;

/* Listens on a free loopback port: fills s->lfd and s->port. */
void tls_server_listen(tls_server *s);
/* Thread body (pthread_create(..., tls_server_serve_one, s)): serves one connection. */
void *tls_server_serve_one(void *arg);
/* Opens the sim TEE, skipping the test when it is absent, and writes the policies the tests hold
 * certificates against: policy names the sim MRENCLAVE (mre, in hex) with simulation allowed,
 * other names another measurement. */
tl_tee *tls_sim_policies(tl_identity *self, char mre[65], char policy[512], char other[512]);

#endif
