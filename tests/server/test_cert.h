/* For the RA-TLS tests: an X.509 v3 certificate for key, valid from now for an hour, with the
 * given serial and nothing else (no subject, no extensions, not signed yet), so that each test adds
 * the extensions it is about and signs it. */
#ifndef TEELM_TEST_CERT_H
#define TEELM_TEST_CERT_H

#include <openssl/x509.h>

static inline X509 *test_bare_cert(EVP_PKEY *key, long serial)
{
    X509 *c = X509_new();
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
    X509_gmtime_adj(X509_getm_notBefore(c), 0);
    X509_gmtime_adj(X509_getm_notAfter(c), 3600);
    X509_set_pubkey(c, key);
    return c;
}

#endif
