/* One link of AMD's SEV-SNP chain: ARK -> ASK/ASVK -> VCEK/VLEK are all RSASSA-PSS with SHA-384,
 * MGF1-SHA-384 and a 48-byte salt (AMD spec 57230). Any other algorithm or parameters are refused
 * before the signature is checked, so a chain cannot be downgraded to what OpenSSL would also
 * accept (SHA-1 PSS, PKCS#1 v1.5). */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>

#include "tee/certs.h"
#include "tee/snp_internal.h"

static int is_sha384(const X509_ALGOR *a)
{
    return a && OBJ_obj2nid(a->algorithm) == NID_sha384 &&
           (!a->parameter || a->parameter->type == V_ASN1_NULL); /* absent or NULL parameters */
}

static int check_pss(X509 *c, const char *what, tl_err *err)
{
    const X509_ALGOR *alg = NULL;
    X509_get0_signature(NULL, &alg, c);
    if (!alg || OBJ_obj2nid(alg->algorithm) != NID_rsassaPss)
        return tl_errf(err, TL_ECRYPTO, "%s: signature algorithm is %s, not RSASSA-PSS", what,
                       alg ? OBJ_nid2sn(OBJ_obj2nid(alg->algorithm)) : "absent");
    if (!alg->parameter || alg->parameter->type != V_ASN1_SEQUENCE)
        return tl_errf(err, TL_ECRYPTO, "%s: RSASSA-PSS parameters are absent (SHA-1 defaults are not AMD's)", what);
    RSA_PSS_PARAMS *p = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_PSS_PARAMS), alg->parameter);
    int rc = 0;
    if (!p) {
        rc = tl_errf(err, TL_ECRYPTO, "%s: RSASSA-PSS parameters do not parse", what);
    } else if (!is_sha384(p->hashAlgorithm)) {
        rc = tl_errf(err, TL_ECRYPTO, "%s: RSASSA-PSS hash is not SHA-384", what);
    } else if (!p->maskGenAlgorithm || OBJ_obj2nid(p->maskGenAlgorithm->algorithm) != NID_mgf1) {
        rc = tl_errf(err, TL_ECRYPTO, "%s: RSASSA-PSS mask generation is not MGF1", what);
    } else {
        X509_ALGOR *mh = p->maskGenAlgorithm->parameter && p->maskGenAlgorithm->parameter->type == V_ASN1_SEQUENCE
                             ? ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(X509_ALGOR), p->maskGenAlgorithm->parameter)
                             : NULL;
        long salt = p->saltLength ? ASN1_INTEGER_get(p->saltLength) : 20;
        long trailer = p->trailerField ? ASN1_INTEGER_get(p->trailerField) : 1;
        if (!is_sha384(mh))
            rc = tl_errf(err, TL_ECRYPTO, "%s: RSASSA-PSS MGF1 hash is not SHA-384", what);
        else if (salt != 48)
            rc = tl_errf(err, TL_ECRYPTO, "%s: RSASSA-PSS salt length is %ld, not 48", what, salt);
        else if (trailer != 1)
            rc = tl_errf(err, TL_ECRYPTO, "%s: RSASSA-PSS trailer field is %ld, not 1", what, trailer);
        X509_ALGOR_free(mh);
    }
    RSA_PSS_PARAMS_free(p);
    return rc;
}

int tl_snp_check_cert(X509 *c, EVP_PKEY *key, time_t now, const char *what, tl_err *err)
{
    int rc = check_pss(c, what, err);
    if (rc)
        return rc;
    if (!key || !EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_get_bits(key) != 4096) {
        ERR_clear_error();
        return tl_errf(err, TL_ECRYPTO, "%s: the issuer's key is not RSA-4096", what);
    }
    int ok = X509_verify(c, key);
    ERR_clear_error();
    if (ok != 1)
        return tl_errf(err, TL_ECRYPTO, "%s: signature does not verify with the issuer's key", what);
    time_t nb, na;
    char a[32], b[32], n[32];
    if (tl_asn1_time_t(X509_get0_notBefore(c), &nb) || tl_asn1_time_t(X509_get0_notAfter(c), &na))
        return tl_errf(err, TL_EINVAL, "%s: validity times do not parse", what);
    tl_format_iso8601(nb, a);
    tl_format_iso8601(na, b);
    tl_format_iso8601(now, n);
    if (now < nb)
        return tl_errf(err, TL_ESTATE, "%s is not yet valid: notBefore %s is after the verification time %s", what, a, n);
    if (now > na)
        return tl_errf(err, TL_ESTATE, "%s has expired: notAfter %s is before the verification time %s", what, b, n);
    return 0;
}
