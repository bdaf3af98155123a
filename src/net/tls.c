/* The TLS policy, self-signed certificates and fingerprints for the HTTPS plumbing (server.h). */
#include "net/server.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

/* TLS 1.2: forward-secret AEAD suites only (no CBC, no SHA-1 MACs, no static RSA); TLS 1.3 keeps
 * OpenSSL's default suites, which are all AEAD. */
const char tl_net_tls12_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

int tl_net_tls_policy(SSL_CTX *ctx, int server, tl_err *err)
{
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, tl_net_tls12_ciphers) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256") != 1)
        return tl_err_ssl(err, TL_ECRYPTO, "TLS cipher policy");
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    if (server) {
        /* No resumption at all: a ticket is encrypted under a key that lives as long as the
         * process, so whoever later reads that key (or a stolen ticket plus it) could decrypt
         * every resumed session; and every session here is a fresh, cheap handshake anyway. */
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
        SSL_CTX_set_num_tickets(ctx, 0);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    return 0;
}

static int add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ex)
        return 0;
    int ok = X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return ok;
}

int tl_net_selfsigned(const char *names, int days, X509 **out_cert, EVP_PKEY **out_key, tl_err *err)
{
    *out_cert = NULL;
    *out_key = NULL;
    /* subjectAltName: each name is an IP address if it parses as one, else a DNS name */
    char san[2048] = "", list[1024];
    if (snprintf(list, sizeof list, "%s", names) >= (int)sizeof list)
        return tl_errf(err, TL_EINVAL, "certificate names too long");
    char *save = NULL;
    for (char *n = strtok_r(list, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
        unsigned char buf[16];
        int ip = inet_pton(AF_INET, n, buf) == 1 || inet_pton(AF_INET6, n, buf) == 1;
        size_t l = strlen(san);
        if (!n[0] || (strpbrk(n, " ,:") && !ip))
            return tl_errf(err, TL_EINVAL, "bad certificate name '%s'", n);
        snprintf(san + l, sizeof san - l, "%s%s:%s", l ? "," : "", ip ? "IP" : "DNS", n);
    }
    if (!san[0])
        return tl_errf(err, TL_EINVAL, "a certificate needs at least one name");
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    int ok = key && cert;
    ok = ok && X509_set_version(cert, 2);
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    if (ok && RAND_bytes(serial, sizeof serial) == 1) {
        serial[0] &= 0x7f;
        bn = BN_bin2bn(serial, sizeof serial, NULL);
        ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    } else {
        ok = 0;
    }
    BN_free(bn);
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400);
    X509_NAME *name = ok ? X509_get_subject_name(cert) : NULL;
    ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)"teelm self-signed", -1, -1, 0) &&
         X509_set_issuer_name(cert, name) && X509_set_pubkey(cert, key);
    ok = ok && add_ext(cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
         add_ext(cert, NID_key_usage, "critical,digitalSignature,keyCertSign") &&
         add_ext(cert, NID_ext_key_usage, "serverAuth") && add_ext(cert, NID_subject_key_identifier, "hash") &&
         add_ext(cert, NID_subject_alt_name, san);
    ok = ok && X509_sign(cert, key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(cert);
        EVP_PKEY_free(key);
        return tl_err_ssl(err, TL_ECRYPTO, "self-signed certificate");
    }
    *out_cert = cert;
    *out_key = key;
    return 0;
}

void tl_net_cert_fingerprint(X509 *cert, char out[97])
{
    unsigned char md[32];
    unsigned int n = 0;
    X509_digest(cert, EVP_sha256(), md, &n);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[3 * i] = hex[md[i] >> 4];
        out[3 * i + 1] = hex[md[i] & 15];
        out[3 * i + 2] = i == 31 ? 0 : ':';
    }
}
