/* The report-data binding formula of binding.h, computed with OpenSSL's SHA-512. */
#include "tee/binding.h"

#include <openssl/evp.h>
#include <string.h>

#include "util/bytes.h"

static int purpose_ok(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-'))
            return 0;
    return 1;
}

int tl_binding_report_data(const char *purpose, const tl_bind_field *fields, size_t n, uint8_t out[64], tl_err *err)
{
    memset(out, 0, 64);
    if (!purpose_ok(purpose))
        return tl_errf(err, TL_EINVAL, "binding: purpose must be 1..32 characters of [a-z0-9-]");
    if (n > TL_BIND_MAX_FIELDS || (n && !fields))
        return tl_errf(err, TL_EINVAL, "binding: %zu fields (at most %d)", n, TL_BIND_MAX_FIELDS);
    for (size_t i = 0; i < n; i++)
        if (fields[i].len > 0xffffffffu || (fields[i].len && !fields[i].data))
            return tl_errf(err, TL_EINVAL, "binding: field %zu of %s is out of range", i, purpose);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int ol = 0;
    int ok = c && EVP_DigestInit_ex(c, EVP_sha512(), NULL) == 1 && EVP_DigestUpdate(c, "teelm/", 6) == 1 &&
             EVP_DigestUpdate(c, purpose, strlen(purpose)) == 1 && EVP_DigestUpdate(c, "/v1", 4) == 1; /* with NUL */
    for (size_t i = 0; ok && i < n; i++) {
        uint32_t l = (uint32_t)fields[i].len;
        uint8_t be[4];
        tl_store_be32(be, l);
        ok = EVP_DigestUpdate(c, be, 4) == 1 && (!l || EVP_DigestUpdate(c, fields[i].data, l) == 1);
    }
    ok = ok && EVP_DigestFinal_ex(c, out, &ol) == 1 && ol == 64;
    EVP_MD_CTX_free(c);
    if (!ok) {
        memset(out, 0, 64);
        return tl_err_ssl(err, TL_ECRYPTO, "binding: SHA-512");
    }
    return 0;
}
