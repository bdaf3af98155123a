#include "tls_testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"
#include "util/codec.h"

void tls_server_listen(tls_server *s)
{
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s->lfd, (struct sockaddr *)&a, sizeof a);
    listen(s->lfd, 4);
    socklen_t l = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &l);
    s->port = ntohs(a.sin_port);
}

/* Reads the request head and, when it declares one, its Content-Length body, into s->got: the
 * reply must not be written before the whole request is in. */
static void read_request(tls_server *s, SSL *ssl)
{
    int n;
    while (s->app_bytes < sizeof s->got - 1 &&
           (n = SSL_read(ssl, s->got + s->app_bytes, (int)(sizeof s->got - 1 - s->app_bytes))) > 0) {
        s->app_bytes += (size_t)n;
        s->got[s->app_bytes] = 0;
        char *end = strstr(s->got, "\r\n\r\n");
        const char *cl = strcasestr(s->got, "\r\ncontent-length:");
        if (end && (!cl || cl > end || s->app_bytes >= (size_t)(end + 4 - s->got) + strtoul(cl + 17, NULL, 10)))
            break;
    }
}

void *tls_server_serve_one(void *arg)
{
    tls_server *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx, s->cert);
    SSL_CTX_use_PrivateKey(ctx, s->key);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        s->handshake_ok = 1;
        read_request(s, ssl);
        SSL_write(ssl, s->resp, (int)s->resp_len);
        SSL_shutdown(ssl);
    } else {
        char buf[256];
        int n = SSL_read(ssl, buf, sizeof buf); /* a refused handshake must not be followed by data */
        if (n > 0)
            s->app_bytes += (size_t)n;
    }
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return NULL;
}

tl_tee *tls_sim_policies(tl_identity *self, char mre[65], char policy[512], char other[512])
{
    tl_err err = {0};
    tl_tee *tee = tl_tee_open("sim", &err);
    if (!tee)
        test_skip("sim TEE not available");
    CHECK(tl_tee_self(tee, self, &err) == 0);
    tl_hex(self->mrenclave, 32, mre);
    snprintf(policy, 512, "{\"mrenclave\":\"%s\",\"allow_simulation\":true}", mre);
    snprintf(other, 512, "{\"mrenclave\":\"%064d\",\"allow_simulation\":true}", 7);
    return tee;
}
