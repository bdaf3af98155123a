#include "server/client.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
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

int tl_client_check_leaf(const tl_client_opts *o, X509 *leaf, tl_client_peer *peer, tl_err *err)
{
    memset(peer, 0, sizeof *peer);
    uint8_t rd[64];
    tl_ratls_ext x = {0};
    tl_identity id;
    int rc = 0;
    if (!leaf)
        rc = tl_errf(err, TL_EINVAL, "the server sent no certificate");
    else if ((rc = tl_ratls_verify_cert(leaf, o->policy, o->col, time(NULL), &id, err)))
        ;
    else if ((rc = tl_ratls_extract(leaf, &x, err)) ||
             (rc = tl_ratls_report_data(X509_get0_pubkey(leaf), x.config, x.config_len, x.receipt_pub, rd,
                                        peer->pubkey_sha256, err)))
        ; /* already checked: cannot fail here */
    else {
        memcpy(peer->receipt_key, x.receipt_pub, 32);
        tl_sha256(x.config, x.config_len, peer->config_sha256);
        tl_sha256(x.evidence, x.len, peer->evidence_sha256);
        BIO *bio = BIO_new(BIO_s_mem());
        char *pem = NULL;
        long pn = bio && PEM_write_bio_X509(bio, leaf) ? BIO_get_mem_data(bio, &pem) : 0;
        if (pn > 0 && (size_t)pn < sizeof peer->cert_pem) {
            memcpy(peer->cert_pem, pem, (size_t)pn);
            peer->cert_pem[pn] = 0;
        }
        BIO_free(bio);
        snprintf(peer->config, sizeof peer->config, "%s", x.config);
        snprintf(peer->tee, sizeof peer->tee, "%s", x.tee);
        peer->id = id;
        if (o->expect_config_sha256 && CRYPTO_memcmp(o->expect_config_sha256, peer->config_sha256, 32)) {
            char h[65];
            tl_hex(peer->config_sha256, 32, h);
            rc = tl_errf(err, TL_EPOLICY, "the server's configuration document (sha256 %s) is not the expected one", h);
        } else if (o->on_verified && o->on_verified(peer, o->on_verified_user)) {
            rc = tl_errf(err, TL_EPOLICY, "refused after verification");
        }
    }
    tl_ratls_ext_free(&x);
    peer->verified = rc == 0;
    return rc;
}

/* Replaces OpenSSL's chain verification for this connection: the leaf must be a valid RA-TLS
 * certificate for the policy. Returning 0 aborts the handshake before any request is sent. */
static int verify_cb(X509_STORE_CTX *sctx, void *arg)
{
    ctx *c = arg;
    c->checked = 1;
    if (tl_client_check_leaf(c->o, X509_STORE_CTX_get0_cert(sctx), c->peer, &c->check)) {
        X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
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
