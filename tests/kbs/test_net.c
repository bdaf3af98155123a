/* src/net: HTTPS server + client over loopback: routing, bodies, limits, pinning and the
 * verification hook, worker-thread replies, streaming, cancellation on client disconnect,
 * the connection limit and graceful stop. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "net/client.h"
#include "net/server.h"
#include "test.h"

static atomic_int saw_cancel, wait_started;
static char fp_good[97];

static void *slow_worker(void *arg)
{
    tl_net_req *r = arg;
    usleep(100 * 1000);
    size_t n;
    const uint8_t *b = tl_net_req_body(r, &n);
    tl_net_set_header(r, "X-Worker", "yes");
    tl_net_reply(r, 200, "application/octet-stream", b, n);
    return NULL;
}

static void *stream_worker(void *arg)
{
    tl_net_req *r = arg;
    for (int i = 0; i < 5; i++) {
        char line[32];
        snprintf(line, sizeof line, "data: %d\n\n", i);
        tl_net_stream_send(r, line, strlen(line));
        usleep(10 * 1000);
    }
    tl_net_stream_end(r);
    return NULL;
}

static void *wait_worker(void *arg)
{
    tl_net_req *r = arg;
    atomic_store(&wait_started, 1);
    for (int i = 0; i < 500 && !tl_net_req_cancelled(r); i++)
        usleep(10 * 1000);
    atomic_store(&saw_cancel, tl_net_req_cancelled(r));
    tl_net_reply_json(r, 200, "{}");
    return NULL;
}

static void spawn(void *(*fn)(void *), tl_net_req *r)
{
    pthread_t t;
    pthread_create(&t, NULL, fn, r);
    pthread_detach(t);
}

static void handle(tl_net_req *r, void *arg)
{
    (void)arg;
    const char *p = tl_net_req_path(r), *m = tl_net_req_method(r);
    if (!strcmp(p, "/hello") && !strcmp(m, "GET")) {
        const char *q = tl_net_req_query(r);
        char body[128];
        snprintf(body, sizeof body, "{\"hello\":\"%s\"}", q ? q : "");
        tl_net_reply_json(r, 200, body);
    } else if (!strcmp(p, "/echo") && !strcmp(m, "POST")) {
        size_t n;
        const uint8_t *b = tl_net_req_body(r, &n);
        const char *h = tl_net_req_header(r, "x-test");
        tl_net_set_header(r, "X-Test-Back", h ? h : "none");
        tl_net_reply(r, 200, "application/octet-stream", b, n);
    } else if (!strcmp(p, "/slow")) {
        spawn(slow_worker, r);
    } else if (!strcmp(p, "/stream")) {
        tl_net_stream_start(r, 200, "text/event-stream");
        spawn(stream_worker, r);
    } else if (!strcmp(p, "/wait")) {
        spawn(wait_worker, r);
    } else {
        tl_net_reply_error(r, 404, "not_found", "no route %s", p);
    }
}

static void *run_server(void *arg)
{
    tl_net_server_run(arg);
    return NULL;
}

static int write_pem(const char *path, X509 *cert)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = PEM_write_X509(f, cert);
    fclose(f);
    return ok ? 0 : -1;
}

static int fp_hook(X509 *leaf, STACK_OF(X509) *chain, void *arg, tl_err *err)
{
    (void)chain;
    char fp[97];
    tl_net_cert_fingerprint(leaf, fp);
    if (strcmp(fp, (const char *)arg) != 0)
        return tl_errf(err, TL_ECRYPTO, "fingerprint %.11s... is not the pinned one", fp);
    return 0;
}

/* A raw TLS connection (handshake done) or NULL. */
static SSL *raw_connect(SSL_CTX *ctx, int port, int *fd_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return NULL;
    }
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        ERR_clear_error();
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    *fd_out = fd;
    return ssl;
}

static void raw_close(SSL *ssl, int fd)
{
    SSL_free(ssl);
    close(fd);
}

typedef struct {
    const tl_http_opts *o;
    char url[256];
    int ok;
} conc_arg;

static void *conc(void *arg)
{
    conc_arg *c = arg;
    for (int i = 0; i < 10; i++) {
        char body[64];
        snprintf(body, sizeof body, "request %d from %p", i, (void *)c);
        tl_http_resp r;
        tl_err e = {0};
        if (tl_http_request(c->o, "POST", c->url, "text/plain", body, strlen(body), &r, &e) == 0 && r.status == 200 &&
            r.len == strlen(body) && memcmp(r.body, body, r.len) == 0)
            c->ok++;
        else
            fprintf(stderr, "concurrent request failed: status %ld, %s\n", r.status, e.msg);
        tl_http_resp_free(&r);
    }
    return NULL;
}

int main(void)
{
    const char *tmp = test_tmpdir();
    tl_err e = {0};
    X509 *cert, *other;
    EVP_PKEY *key, *okey;
    CHECK(tl_net_selfsigned("localhost,127.0.0.1", 1, &cert, &key, &e) == 0);
    CHECK(tl_net_selfsigned("localhost,127.0.0.1", 1, &other, &okey, &e) == 0);
    X509 *xc;
    EVP_PKEY *xk;
    CHECK(tl_net_selfsigned("bad name", 1, &xc, &xk, &e) != 0 && strstr(e.msg, "bad certificate name"));
    tl_net_cert_fingerprint(cert, fp_good);
    char ca[4096], ca_other[4096];
    snprintf(ca, sizeof ca, "%s/ca.pem", tmp);
    snprintf(ca_other, sizeof ca_other, "%s/other.pem", tmp);
    CHECK(write_pem(ca, cert) == 0 && write_pem(ca_other, other) == 0);

    tl_net_server_opts so = {.listen = "127.0.0.1:0", .cert = cert, .key = key, .max_body = 64 * 1024,
                             .no_signals = 1, .timeout_s = 5, .request_timeout_s = 1};
    tl_net_server *bad = tl_net_server_new(&(tl_net_server_opts){.listen = "127.0.0.1", .cert = cert, .key = key}, handle,
                                           NULL, &e);
    CHECK(bad == NULL && strstr(e.msg, "HOST:PORT"));
    bad = tl_net_server_new(&(tl_net_server_opts){.listen = "127.0.0.1:0", .cert = cert, .key = okey}, handle, NULL, &e);
    CHECK(bad == NULL && strstr(e.msg, "does not match"));
    tl_net_server *s = tl_net_server_new(&so, handle, NULL, &e);
    CHECKF(s != NULL, "%s", e.msg);
    if (!s)
        return test_finish();
    int port = tl_net_server_port(s);
    CHECK(port > 0);
    pthread_t th;
    pthread_create(&th, NULL, run_server, s);

    char url[256];
    tl_http_opts pin = {.ca_file = ca, .timeout_ms = 10000};
    tl_http_resp r;
    snprintf(url, sizeof url, "https://127.0.0.1:%d/hello?x=1", port);
    CHECK(tl_http_request(&pin, "GET", url, NULL, NULL, 0, &r, &e) == 0 && r.status == 200 &&
          strcmp((char *)r.body, "{\"hello\":\"x=1\"}") == 0);
    tl_http_resp_free(&r);
    snprintf(url, sizeof url, "https://localhost:%d/hello", port);
    CHECK(tl_http_request(&pin, "GET", url, NULL, NULL, 0, &r, &e) == 0 && r.status == 200);
    tl_http_resp_free(&r);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/nope", port);
    json_t *j = NULL;
    long st = 0;
    CHECK(tl_http_json(&pin, "GET", url, NULL, &st, &j, &e) == 0 && st == 404 &&
          !strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "not_found"));
    json_decref(j);

    /* bodies: echo, headers both ways, too large */
    static uint8_t big[100 * 1024];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/echo", port);
    CHECK(tl_http_request(&pin, "POST", url, "application/octet-stream", big, 60000, &r, &e) == 0 && r.status == 200 &&
          r.len == 60000 && memcmp(r.body, big, 60000) == 0);
    tl_http_resp_free(&r);
    CHECK(tl_http_request(&pin, "POST", url, "application/octet-stream", big, sizeof big, &r, &e) == 0 && r.status == 413 &&
          strstr((char *)r.body, "\"body_too_large\""));
    tl_http_resp_free(&r);
    static uint8_t huge[200 * 1024];
    CHECK(tl_http_request(&pin, "POST", url, "application/octet-stream", huge, sizeof huge, &r, &e) != 0 || r.status == 413);
    tl_http_resp_free(&r);

    /* trust: another pin, no pin, hook */
    tl_http_opts wrong = {.ca_file = ca_other};
    snprintf(url, sizeof url, "https://127.0.0.1:%d/hello", port);
    CHECK(tl_http_request(&wrong, "GET", url, NULL, NULL, 0, &r, &e) != 0 && e.code == TL_ECRYPTO);
    tl_http_opts sys = {0};
    CHECK(tl_http_request(&sys, "GET", url, NULL, NULL, 0, &r, &e) != 0);
    tl_http_opts hook = {.verify_peer = fp_hook, .verify_arg = fp_good};
    CHECKF(tl_http_request(&hook, "GET", url, NULL, NULL, 0, &r, &e) == 0 && r.status == 200, "%s", e.msg);
    tl_http_resp_free(&r);
    tl_http_opts hook_bad = {.verify_peer = fp_hook, .verify_arg = (void *)"00:11"};
    CHECK(tl_http_request(&hook_bad, "GET", url, NULL, NULL, 0, &r, &e) != 0 && strstr(e.msg, "is not the pinned one"));
    tl_http_opts both_bad = {.ca_file = ca_other, .verify_peer = fp_hook, .verify_arg = fp_good};
    CHECK(tl_http_request(&both_bad, "GET", url, NULL, NULL, 0, &r, &e) != 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", port);
    CHECK(tl_http_request(&pin, "GET", url, NULL, NULL, 0, &r, &e) != 0 && strstr(e.msg, "only https"));

    /* worker-thread reply, streaming */
    snprintf(url, sizeof url, "https://127.0.0.1:%d/slow", port);
    CHECK(tl_http_request(&pin, "POST", url, "text/plain", "abc", 3, &r, &e) == 0 && r.status == 200 && r.len == 3 &&
          !memcmp(r.body, "abc", 3));
    tl_http_resp_free(&r);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/stream", port);
    CHECK(tl_http_request(&pin, "GET", url, NULL, NULL, 0, &r, &e) == 0 && r.status == 200 &&
          !strcmp((char *)r.body, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n"));
    tl_http_resp_free(&r);

    /* concurrency: 4 clients x 10 requests through worker threads */
    pthread_t ct[4];
    conc_arg ca_args[4];
    for (int i = 0; i < 4; i++) {
        ca_args[i] = (conc_arg){.o = &pin};
        snprintf(ca_args[i].url, sizeof ca_args[i].url, "https://127.0.0.1:%d/slow", port);
        pthread_create(&ct[i], NULL, conc, &ca_args[i]);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(ct[i], NULL);
        total += ca_args[i].ok;
    }
    CHECKF(total == 40, "%d of 40 concurrent requests answered correctly", total);

    /* client disconnect while a worker holds the request → cancelled */
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    int fd;
    SSL *ssl = raw_connect(cctx, port, &fd);
    CHECK(ssl != NULL);
    if (ssl) {
        const char *rq = "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n";
        SSL_write(ssl, rq, (int)strlen(rq));
        for (int i = 0; i < 200 && !atomic_load(&wait_started); i++)
            usleep(10 * 1000);
        raw_close(ssl, fd);
        for (int i = 0; i < 300 && !atomic_load(&saw_cancel); i++)
            usleep(10 * 1000);
        CHECKF(atomic_load(&saw_cancel) == 1, "worker did not see the client leave");
    }
    /* slow clients: a request not complete within request_timeout_s (1 s here) closes the
     * connection, whether it trickles in, never starts, or is the next one on a kept-alive
     * connection */
    {
        static const char *const partial[] = {"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ", "", NULL};
        for (int k = 0; k < 3; k++) {
            int sfd;
            SSL *sl = raw_connect(cctx, port, &sfd);
            CHECK(sl != NULL);
            if (!sl)
                continue;
            char buf[4096];
            if (k == 2) { /* one complete request first; the deadline restarts after the reply */
                const char *full = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
                SSL_write(sl, full, (int)strlen(full));
                CHECK(SSL_read(sl, buf, sizeof buf) > 0);
            } else if (partial[k][0]) {
                SSL_write(sl, partial[k], (int)strlen(partial[k]));
            }
            struct timeval t0, t1;
            gettimeofday(&t0, NULL);
            int got = 0;
            for (int i = 0; i < 10; i++) { /* trickle a byte now and then; the server must still hang up */
                if (k == 0)
                    SSL_write(sl, "a", 1);
                got = SSL_read(sl, buf, sizeof buf);
                if (got <= 0)
                    break;
            }
            gettimeofday(&t1, NULL);
            double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6;
            CHECKF(got <= 0 && secs < 2.9, "slow client %d: read %d after %.1f s", k, got, secs);
            ERR_clear_error();
            raw_close(sl, sfd);
        }
    }

    /* connection limit (its own server, so lingering connections of the tests above do not count):
     * 6 sessions fit, the 7th handshake is refused; freeing one makes room */
    tl_net_server_stop(s);
    pthread_join(th, NULL);
    tl_net_server_free(s);
    so.max_conns = 6;
    so.max_conns_per_peer = 6; /* one address may take them all: this checks the global limit */
    s = tl_net_server_new(&so, handle, NULL, &e);
    CHECKF(s != NULL, "%s", e.msg);
    if (!s)
        return test_finish();
    port = tl_net_server_port(s);
    pthread_create(&th, NULL, run_server, s);
    SSL *held[6];
    int fds[6], nheld = 0;
    for (int i = 0; i < 6; i++)
        if ((held[nheld] = raw_connect(cctx, port, &fds[nheld])))
            nheld++;
    CHECKF(nheld == 6, "only %d of 6 connections", nheld);
    usleep(100 * 1000);
    CHECKF(tl_net_server_connections(s) == 6, "server counts %d connections", tl_net_server_connections(s));
    int fd7;
    SSL *seventh = raw_connect(cctx, port, &fd7);
    CHECK(seventh == NULL);
    if (seventh)
        raw_close(seventh, fd7);
    raw_close(held[0], fds[0]);
    int back = 0;
    for (int i = 0; i < 100 && !back; i++) {
        usleep(20 * 1000);
        back = tl_net_server_connections(s) == 5;
    }
    CHECK(back);
    seventh = raw_connect(cctx, port, &fd7);
    CHECK(seventh != NULL);
    if (seventh)
        raw_close(seventh, fd7);
    for (int i = 1; i < nheld; i++)
        raw_close(held[i], fds[i]);
    SSL_CTX_free(cctx);

    tl_net_server_stop(s);
    pthread_join(th, NULL);
    tl_net_server_free(s);
    X509_free(cert);
    X509_free(other);
    EVP_PKEY_free(key);
    EVP_PKEY_free(okey);
    test_sh("rm -rf %s", tmp);
    return test_finish();
}
