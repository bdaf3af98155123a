#include "server/client.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/server.h"
#include "server/ratls.h"
#include "util/codec.h"
#include "util/sha.h"

typedef struct {
    const tl_client_opts *o;
    tl_client_peer *peer;
    tl_err check;        /* why the handshake check refused */
    int checked;
    tl_client_sink sink;
    void *user;
    int sink_stopped;
} ctx;

/* Replaces OpenSSL's chain verification for this connection: the leaf must be a valid RA-TLS
 * certificate for the policy. Returning 0 aborts the handshake before any request is sent. */
static int verify_cb(X509_STORE_CTX *sctx, void *arg)
{
    ctx *c = arg;
    X509 *leaf = X509_STORE_CTX_get0_cert(sctx);
    c->checked = 1;
    uint8_t *ev = NULL, rd[64];
    size_t len = 0, cfg_len = 0;
    char tee[64] = "", *cfg = NULL;
    tl_identity id;
    int ok = 0;
    if (!leaf)
        tl_errf(&c->check, TL_EINVAL, "the server sent no certificate");
    else if (tl_ratls_verify_cert(leaf, c->o->policy, c->o->col, time(NULL), &id, &c->check))
        ;
    else if (tl_ratls_extract(leaf, &ev, &len, tee, &cfg, &cfg_len, &c->check) ||
             tl_ratls_report_data(X509_get0_pubkey(leaf), cfg, cfg_len, rd, c->peer->pubkey_sha256, &c->check))
        ; /* already checked: cannot fail here */
    else {
        tl_sha256(cfg, cfg_len, c->peer->config_sha256);
        snprintf(c->peer->config, sizeof c->peer->config, "%s", cfg);
        snprintf(c->peer->tee, sizeof c->peer->tee, "%s", tee);
        c->peer->id = id;
        if (c->o->expect_config_sha256 && CRYPTO_memcmp(c->o->expect_config_sha256, c->peer->config_sha256, 32)) {
            char h[65];
            tl_hex(c->peer->config_sha256, 32, h);
            tl_errf(&c->check, TL_EPOLICY, "the server's configuration document (sha256 %s) is not the expected one", h);
        } else if (c->o->on_verified && c->o->on_verified(c->peer, c->o->on_verified_user)) {
            tl_errf(&c->check, TL_EPOLICY, "refused after verification");
        } else {
            ok = 1;
        }
    }
    free(ev);
    free(cfg);
    if (!ok) {
        X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    c->peer->verified = 1;
    X509_STORE_CTX_set_error(sctx, X509_V_OK);
    return 1;
}

static CURLcode ssl_ctx_cb(CURL *curl, void *sslctx, void *arg)
{
    (void)curl;
    SSL_CTX_set_cert_verify_callback((SSL_CTX *)sslctx, verify_cb, arg);
    tl_net_tls_policy((SSL_CTX *)sslctx, 0, NULL); /* TLS 1.2+, AEAD suites only */
    return CURLE_OK;
}

static size_t write_cb(char *p, size_t sz, size_t n, void *arg)
{
    ctx *c = arg;
    if (c->sink && c->sink(p, sz * n, c->user)) {
        c->sink_stopped = 1;
        return 0;
    }
    return sz * n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int tl_client_request(const tl_client_opts *o, const char *method, const char *path, const char *body, size_t len,
                      tl_client_sink sink, void *user, long *status, tl_client_peer *peer, tl_err *err)
{
    pthread_once(&curl_once, curl_init);
    memset(peer, 0, sizeof *peer);
    *status = 0;
    if (strncmp(o->server, "https://", 8) != 0)
        return tl_errf(err, TL_EINVAL, "--server %s: must be an https:// URL (the attestation is in the TLS certificate)", o->server);
    /* scheme://host[:port] + path */
    const char *host = o->server + 8, *slash = strchr(host, '/');
    size_t base = slash ? (size_t)(slash - o->server) : strlen(o->server);
    char url[2048];
    if (base + strlen(path) >= sizeof url)
        return tl_errf(err, TL_EINVAL, "--server: URL too long");
    memcpy(url, o->server, base);
    snprintf(url + base, sizeof url - base, "%s", path);

    CURL *h = curl_easy_init();
    if (!h)
        return tl_errf(err, TL_ENOMEM, "curl: cannot create a handle");
    ctx c = {.o = o, .peer = peer, .sink = sink, .user = user};
    struct curl_slist *hdr = NULL;
    char auth[600];
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Expect:");
    if (o->api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->api_key);
        hdr = curl_slist_append(hdr, auth);
        OPENSSL_cleanse(auth, sizeof auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
    /* identity comes from the evidence, not from a CA or a host name */
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
    curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, &c);
    /* every connection gets a full handshake, hence the checks: no session resumption */
    curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    if (o->timeout_s > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT, o->timeout_s);
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdr);
    if (c.checked && !peer->verified) {
        *err = c.check;
        return tl_err_prefix(err, "server attestation refused");
    }
    if (rc == CURLE_WRITE_ERROR && c.sink_stopped)
        return 0;
    if (rc != CURLE_OK)
        return tl_errf(err, TL_EIO, "%s: %s", o->server, cerr[0] ? cerr : curl_easy_strerror(rc));
    if (!peer->verified)
        return tl_errf(err, TL_ECRYPTO, "%s: the TLS handshake did not check the server certificate", o->server);
    return 0;
}
