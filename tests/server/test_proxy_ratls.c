/* teelm proxy in-process against a bare TLS server (OpenSSL, in a thread) presenting chosen
 * certificates and sending chosen (also hostile) replies, driven over plain HTTP from a socket:
 *   - a sim RA-TLS certificate the policy accepts: the request arrives with its headers as sent
 *     (Authorization unchanged, hop-by-hop ones dropped), the reply comes back unchanged;
 *   - refusals (another measurement, simulation not allowed, evidence bound to another key, an
 *     expired certificate, no evidence): a 502 in OpenAI's shape with code attestation_failed and
 *     param naming the policy field, and the server reads not one byte of application data;
 *   - hostile replies: a chunked stream cut off mid-way ends the application's stream, a body over
 *     the limit is a 502, a flood of headers is cut to 64, an unreachable server a 502;
 *   - loopback-only listen addresses. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/proxy.h"
#include "server/ratls.h"
#include "tee/tee.h"
#include "test.h"
#include "tls_testutil.h"

static void *run_proxy(void *arg)
{
    tl_proxy_run(arg);
    return NULL;
}

/* A plain HTTP/1.1 request to 127.0.0.1:port; returns the whole reply (malloc'd) read until close. */
static char *http(int port, const char *req)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return strdup("");
    }
    (void)!write(fd, req, strlen(req));
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = read(fd, out + len, cap - 1 - len)) > 0) {
        len += (size_t)n;
        if (len + 1 >= cap)
            out = realloc(out, cap *= 2);
    }
    out[len] = 0;
    close(fd);
    return out;
}

static const char REQ[] = "POST /v1/completions?x=1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer sk-ABC\r\n"
                          "Proxy-Authorization: Basic c2VjcmV0\r\nX-Stainless-Lang: js\r\nContent-Type: application/json\r\n"
                          "Connection: close\r\nContent-Length: 26\r\n\r\n{\"prompt\":\"SECRET PROMPT\"}";

/* One request through a fresh proxy to a server presenting (key, cert) and answering resp. */
static char *attempt(EVP_PKEY *key, X509 *cert, const char *policy_json, const char *resp, size_t resp_len,
                     size_t max_response, tls_server *s)
{
    memset(s, 0, sizeof *s);
    s->key = key;
    s->cert = cert;
    s->resp = resp;
    s->resp_len = resp_len;
    tls_server_listen(s);
    pthread_t th, pt;
    pthread_create(&th, NULL, tls_server_serve_one, s);
    tl_err err = {0};
    tl_policy *p = tl_policy_parse(policy_json, &err);
    CHECKF(p != NULL, "policy: %s", err.msg);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", s->port);
    tl_proxy_opts o = {.server = url, .policy = p, .listen = "127.0.0.1:0", .no_signals = 1,
                       .max_response = max_response, .timeout_s = 20};
    tl_proxy *px = tl_proxy_new(&o, &err);
    CHECKF(px != NULL, "%s", err.msg);
    pthread_create(&pt, NULL, run_proxy, px);
    char *reply = http(tl_proxy_port(px), REQ);
    tl_proxy_stop(px);
    pthread_join(pt, NULL);
    tl_proxy_free(px);
    pthread_join(th, NULL);
    close(s->lfd);
    tl_policy_free(p);
    return reply;
}

static json_t *error_of(const char *reply)
{
    const char *b = strstr(reply, "\r\n\r\n");
    json_t *j = b ? json_loads(b + 4, 0, NULL) : NULL;
    json_t *e = json_incref(json_object_get(j, "error"));
    json_decref(j);
    return e;
}

/* A 502 attestation_failed, param as given (NULL: JSON null), the message containing `has`. */
static int refused(const char *reply, const char *param, const char *has)
{
    json_t *e = error_of(reply);
    const char *p = json_string_value(json_object_get(e, "param"));
    const char *m = json_string_value(json_object_get(e, "message"));
    int ok = !strncmp(reply, "HTTP/1.1 502", 12) &&
             !strcmp(json_string_value(json_object_get(e, "code")) ?: "", "attestation_failed") &&
             !strcmp(json_string_value(json_object_get(e, "type")) ?: "", "attestation_error") &&
             (param ? p && !strcmp(p, param) : json_is_null(json_object_get(e, "param"))) && m &&
             strstr(m, "no request was sent") && strstr(m, has);
    if (!ok)
        fprintf(stderr, "reply: %.600s\n", reply);
    json_decref(e);
    return ok;
}

static const char OK_RESP[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Teelm-Warning: sim\r\n"
                              "Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}";

int main(void)
{
    tl_err err = {0};
    tl_identity self;
    char mre[65], policy[512], other[512], nosim[512];
    tl_tee *tee = tls_sim_policies(&self, mre, policy, other);
    snprintf(nosim, sizeof nosim, "{\"mrenclave\":\"%s\"}", mre);
    tl_ratls r;
    static const char doc[] = "{\"teelm\":\"serve\",\"tee\":\"sim\",\"version\":1}";
    CHECK(tl_ratls_create(tee, doc, sizeof doc - 1, 1, &r, &err) == 0);
    tls_server s;

    /* accepted: the request arrives as sent, the reply comes back as sent */
    char *rep = attempt(r.key, r.cert, policy, OK_RESP, sizeof OK_RESP - 1, 0, &s);
    CHECKF(!strncmp(rep, "HTTP/1.1 200", 12) && strstr(rep, "\r\n\r\n{\"ok\":true}") &&
           strcasestr(rep, "\r\nX-Teelm-Warning: sim\r\n") && strcasestr(rep, "\r\nContent-Length: 11\r\n") &&
           strcasestr(rep, "\r\nContent-Type: application/json\r\n"), "%s", rep);
    CHECKF(!strncmp(s.got, "POST /v1/completions?x=1 HTTP/1.1\r\n", 35), "%s", s.got);
    CHECKF(strstr(s.got, "\r\nAuthorization: Bearer sk-ABC\r\n") && strstr(s.got, "\r\nX-Stainless-Lang: js\r\n") &&
           strstr(s.got, "\r\nContent-Type: application/json\r\n") && strstr(s.got, "\r\n\r\n{\"prompt\":\"SECRET PROMPT\"}"),
           "%s", s.got);
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", s.port);
    CHECKF(strstr(s.got, host) && !strcasestr(s.got, "Proxy-Authorization") && !strcasestr(s.got, "\r\nAccept:") &&
           !strcasestr(s.got, "\r\nExpect:"), "%s", s.got);
    free(rep);

    /* refused before any byte: another measurement, simulation not allowed */
    rep = attempt(r.key, r.cert, other, OK_RESP, sizeof OK_RESP - 1, 0, &s);
    CHECK(refused(rep, "mrenclave", mre) && s.app_bytes == 0);
    free(rep);
    rep = attempt(r.key, r.cert, nosim, OK_RESP, sizeof OK_RESP - 1, 0, &s);
    CHECK(refused(rep, "simulated", "allow_simulation is false") && s.app_bytes == 0);
    free(rep);
    /* a copied certificate: evidence bound to r's key, presented with another key pair */
    EVP_PKEY *k2 = EVP_EC_gen("P-256");
    X509 *c2 = tl_ratls_make_cert(k2, "sim", r.evidence, r.evidence_len, doc, sizeof doc - 1, r.receipt_pub, 1, &err);
    rep = attempt(k2, c2, policy, OK_RESP, sizeof OK_RESP - 1, 0, &s);
    CHECK(refused(rep, NULL, "does not bind the server's TLS key") && s.app_bytes == 0);
    free(rep);
    X509_free(c2);
    /* an expired certificate */
    c2 = tl_ratls_make_cert(r.key, "sim", r.evidence, r.evidence_len, doc, sizeof doc - 1, r.receipt_pub, 1, &err);
    ASN1_TIME_set_string(X509_getm_notBefore(c2), "20010101000000Z");
    ASN1_TIME_set_string(X509_getm_notAfter(c2), "20020101000000Z");
    X509_sign(c2, r.key, EVP_sha256());
    rep = attempt(r.key, c2, policy, OK_RESP, sizeof OK_RESP - 1, 0, &s);
    CHECK(refused(rep, NULL, "expired") && s.app_bytes == 0);
    free(rep);
    X509_free(c2);
    /* an ordinary certificate without evidence */
    X509 *plain = X509_new();
    X509_set_version(plain, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(plain), 1);
    X509_gmtime_adj(X509_getm_notBefore(plain), 0);
    X509_gmtime_adj(X509_getm_notAfter(plain), 3600);
    X509_set_pubkey(plain, k2);
    X509_sign(plain, k2, EVP_sha256());
    rep = attempt(k2, plain, policy, OK_RESP, sizeof OK_RESP - 1, 0, &s);
    CHECK(refused(rep, NULL, "no RA-TLS evidence extension") && s.app_bytes == 0);
    free(rep);
    X509_free(plain);
    EVP_PKEY_free(k2);

    /* hostile replies from an accepted server */
    static const char cut[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "c\r\ndata: one\n\n\r\n40\r\ndata: tw"; /* cut inside the second chunk */
    rep = attempt(r.key, r.cert, policy, cut, sizeof cut - 1, 0, &s);
    CHECKF(!strncmp(rep, "HTTP/1.1 200", 12) && strcasestr(rep, "Content-Type: text/event-stream") &&
           strstr(rep, "data: one\n\n") && strstr(rep, "\r\n0\r\n\r\n"), "%s", rep);
    free(rep);
    static char big[4096];
    int n = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n");
    memset(big + n, 'x', 2000);
    rep = attempt(r.key, r.cert, policy, big, (size_t)n + 2000, 1024, &s);
    json_t *e = error_of(rep);
    CHECKF(!strncmp(rep, "HTTP/1.1 502", 12) && !strcmp(json_string_value(json_object_get(e, "code")) ?: "", "upstream_error"),
           "%s", rep);
    json_decref(e);
    free(rep);
    static char flood[16384];
    size_t fl = (size_t)snprintf(flood, sizeof flood, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n");
    for (int i = 0; i < 100; i++)
        fl += (size_t)snprintf(flood + fl, sizeof flood - fl, "X-H%d: %d\r\n", i, i);
    fl += (size_t)snprintf(flood + fl, sizeof flood - fl, "Content-Length: 2\r\n\r\n{}");
    rep = attempt(r.key, r.cert, policy, flood, fl, 0, &s);
    CHECKF(!strncmp(rep, "HTTP/1.1 200", 12) && strstr(rep, "\r\nX-H63: 63\r\n") && !strstr(rep, "X-H64:") &&
           strstr(rep, "\r\n\r\n{}"), "%.300s", rep);
    free(rep);

    /* nobody listening */
    {
        tls_server gone = {0};
        tls_server_listen(&gone);
        close(gone.lfd);
        tl_policy *p = tl_policy_parse(policy, &err);
        char url[64];
        snprintf(url, sizeof url, "https://127.0.0.1:%d/", gone.port);
        tl_proxy_opts o = {.server = url, .policy = p, .listen = "127.0.0.1:0", .no_signals = 1};
        tl_proxy *px = tl_proxy_new(&o, &err);
        CHECKF(px != NULL, "%s", err.msg);
        pthread_t pt;
        pthread_create(&pt, NULL, run_proxy, px);
        rep = http(tl_proxy_port(px), "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        e = error_of(rep);
        CHECKF(!strncmp(rep, "HTTP/1.1 502", 12) &&
               !strcmp(json_string_value(json_object_get(e, "code")) ?: "", "upstream_unreachable"), "%s", rep);
        json_decref(e);
        free(rep);
        tl_proxy_stop(px);
        pthread_join(pt, NULL);
        tl_proxy_free(px);
        /* listen addresses: loopback only, unless allowed */
        CHECK(tl_proxy_is_loopback("127.0.0.1:8080") && tl_proxy_is_loopback("127.9.8.7:0") &&
              tl_proxy_is_loopback("[::1]:8080") && tl_proxy_is_loopback("localhost:1") &&
              tl_proxy_is_loopback("[::ffff:127.0.0.1]:1") && tl_proxy_is_loopback("LOCALHOST:1"));
        CHECK(!tl_proxy_is_loopback("0.0.0.0:8080") && !tl_proxy_is_loopback("[::]:8080") &&
              !tl_proxy_is_loopback("10.0.0.1:80") && !tl_proxy_is_loopback("128.0.0.1:80") &&
              !tl_proxy_is_loopback("example.com:80") && !tl_proxy_is_loopback("127.0.0.1") &&
              !tl_proxy_is_loopback(":80") && !tl_proxy_is_loopback("") && !tl_proxy_is_loopback(NULL) &&
              !tl_proxy_is_loopback("localhost.evil.com:80"));
        o.listen = "0.0.0.0:0";
        memset(&err, 0, sizeof err);
        CHECK(tl_proxy_new(&o, &err) == NULL && strstr(err.msg, "not a loopback address") && strstr(err.msg, "--allow-remote"));
        o.listen = "127.0.0.1:0";
        o.server = "http://127.0.0.1:1";
        CHECK(tl_proxy_new(&o, &err) == NULL && strstr(err.msg, "https://"));
        o.server = "https://127.0.0.1:1/v1";
        CHECK(tl_proxy_new(&o, &err) == NULL && strstr(err.msg, "no path"));
        tl_policy_free(p);
    }
    tl_ratls_free(&r);
    tl_tee_close(tee);
    return test_finish();
}
