/* The AMD X.509 extensions of VCEK and VLEK certificates (AMD "Versioned Chip Endorsement Key"
 * spec 57230 and "VLEK" spec 58369): productName IA5String, SPLs as DER INTEGERs (an SPL of 0x80 or
 * more has a leading zero byte), hwID as the raw 64 (Turin: 8) CHIP_ID bytes or, in some
 * certificates, those bytes DER-wrapped in an OCTET STRING. */
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "tee/snp_internal.h"

static const char *const OIDS[] = {
    "1.3.6.1.4.1.3704.1.2",   "1.3.6.1.4.1.3704.1.3.1", "1.3.6.1.4.1.3704.1.3.2", "1.3.6.1.4.1.3704.1.3.3",
    "1.3.6.1.4.1.3704.1.3.8", "1.3.6.1.4.1.3704.1.3.9", "1.3.6.1.4.1.3704.1.4",
};
static const char *const NAMES[] = {"productName", "blSPL", "teeSPL", "snpSPL", "ucodeSPL", "fmcSPL", "hwID"};

/* DER tag-length header of a primitive with a short or one/two-byte long length; returns the
 * header size or 0. */
static size_t der_head(const uint8_t *v, size_t n, uint8_t tag, size_t *len)
{
    if (n < 2 || v[0] != tag)
        return 0;
    if (v[1] < 0x80) {
        *len = v[1];
        return 2 + *len == n ? 2 : 0;
    }
    if (v[1] == 0x81 && n >= 3 && v[2] >= 0x80) {
        *len = v[2];
        return 3 + *len == n ? 3 : 0;
    }
    return 0;
}

int tl_snp_certext_value(int which, const uint8_t *v, size_t n, tl_snp_certext *o, tl_err *err)
{
    size_t l = 0, h;
    if (which < 0 || which > 6)
        return tl_errf(err, TL_EINVAL, "SEV-SNP certificate extension %d is unknown", which);
    const char *name = NAMES[which];
    if (which == 0) {
        if (!(h = der_head(v, n, 0x16, &l)) || l == 0 || l >= sizeof o->product_name)
            return tl_errf(err, TL_EINVAL, "VCEK extension %s is not an IA5String of 1..31 characters", name);
        for (size_t i = 0; i < l; i++)
            if (v[h + i] < 0x20 || v[h + i] > 0x7e)
                return tl_errf(err, TL_EINVAL, "VCEK extension %s has a non-printable character", name);
        memcpy(o->product_name, v + h, l);
        o->product_name[l] = 0;
        return 0;
    }
    if (which <= 5) {
        int k = which - 1;
        /* INTEGER 0..255 in minimal DER: 02 01 xx (xx < 0x80) or 02 02 00 xx (xx >= 0x80) */
        if ((h = der_head(v, n, 0x02, &l)) && l == 1 && v[2] < 0x80)
            o->spl[k] = v[2];
        else if (h && l == 2 && v[2] == 0 && v[3] >= 0x80)
            o->spl[k] = v[3];
        else
            return tl_errf(err, TL_EINVAL, "VCEK extension %s is not a DER INTEGER 0..255", name);
        o->has_spl[k] = 1;
        return 0;
    }
    /* hwID: raw, or wrapped in an OCTET STRING */
    const uint8_t *p = v;
    o->hwid_wrapped = 0;
    if ((h = der_head(v, n, 0x04, &l)) && (l == 64 || l == 8)) {
        p = v + h;
        n = l;
        o->hwid_wrapped = 1;
    }
    if (n != 64 && n != 8)
        return tl_errf(err, TL_EINVAL, "VCEK extension hwID is %zu bytes, neither 64 (nor 8 on Turin), raw or DER-wrapped", n);
    memcpy(o->hwid, p, n);
    o->hwid_len = (int)n;
    return 0;
}

int tl_snp_certext_parse(X509 *c, tl_snp_certext *o, tl_err *err)
{
    memset(o, 0, sizeof *o);
    for (int w = 0; w < 7; w++) {
        ASN1_OBJECT *obj = OBJ_txt2obj(OIDS[w], 1);
        if (!obj)
            return tl_errf(err, TL_ENOMEM, "out of memory");
        int idx = X509_get_ext_by_OBJ(c, obj, -1), again = idx >= 0 ? X509_get_ext_by_OBJ(c, obj, idx) : -1;
        ASN1_OBJECT_free(obj);
        if (idx < 0)
            continue;
        if (again >= 0)
            return tl_errf(err, TL_EINVAL, "VCEK certificate has extension %s (%s) twice", NAMES[w], OIDS[w]);
        ASN1_OCTET_STRING *d = X509_EXTENSION_get_data(X509_get_ext(c, idx));
        if (!d || tl_snp_certext_value(w, ASN1_STRING_get0_data(d), (size_t)ASN1_STRING_length(d), o, err))
            return err ? (err->code ? err->code : TL_EINVAL) : TL_EINVAL;
    }
    return 0;
}
