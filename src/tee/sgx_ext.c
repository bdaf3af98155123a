/* A minimal strict DER walker for the SGX extension: definite lengths only, every length checked
 * against its enclosing element. */
#include "tee/sgx_ext.h"

#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <string.h>

typedef struct {
    const uint8_t *p, *end;
} der;

/* Reads one TLV; on success *val/vlen hold the contents and d advances past it. */
static int tlv(der *d, int want_tag, const uint8_t **val, size_t *vlen)
{
    if (d->end - d->p < 2)
        return -1;
    int tag = d->p[0];
    size_t len = d->p[1];
    const uint8_t *q = d->p + 2;
    if (len & 0x80) {
        size_t nb = len & 0x7f;
        if (nb == 0 || nb > 3 || (size_t)(d->end - q) < nb)
            return -1;
        len = 0;
        for (size_t i = 0; i < nb; i++)
            len = len << 8 | *q++;
        if (len < 0x80)
            return -1; /* not minimal */
    }
    if ((size_t)(d->end - q) < len || (want_tag >= 0 && tag != want_tag))
        return -1;
    *val = q;
    *vlen = len;
    d->p = q + len;
    return tag;
}

/* OID 1.2.840.113741.1.13.1 in DER */
static const uint8_t SGX_OID[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};

/* 1 when the OID is SGX_OID followed by the arcs a (and b if b >= 0). */
static int oid_is(const uint8_t *o, size_t n, int a, int b)
{
    size_t want = sizeof SGX_OID + (b >= 0 ? 2 : 1);
    return n == want && !memcmp(o, SGX_OID, sizeof SGX_OID) && o[sizeof SGX_OID] == a &&
           (b < 0 || o[sizeof SGX_OID + 1] == b);
}

static int small_int(const uint8_t *v, size_t n, long max, long *out)
{
    if (n == 0 || n > 3 || (v[0] & 0x80) || (n > 1 && v[0] == 0 && !(v[1] & 0x80)))
        return -1; /* negative or non-minimal */
    long x = 0;
    for (size_t i = 0; i < n; i++)
        x = x << 8 | v[i];
    if (x > max)
        return -1;
    *out = x;
    return 0;
}

static int parse_tcb(const uint8_t *v, size_t n, tl_pck_ext *e, int *seen)
{
    der d = {v, v + n};
    while (d.p < d.end) {
        const uint8_t *item, *oid, *val;
        size_t il, ol, vl;
        if (tlv(&d, 0x30, &item, &il) < 0)
            return -1;
        der s = {item, item + il};
        if (tlv(&s, 0x06, &oid, &ol) < 0)
            return -1;
        int tag = tlv(&s, -1, &val, &vl);
        if (tag < 0 || s.p != s.end || ol != sizeof SGX_OID + 2 || !oid_is(oid, ol, 2, oid[ol - 1]))
            return -1;
        int k = oid[ol - 1];
        long x;
        if (k >= 1 && k <= 16) {
            if (tag != 0x02 || small_int(val, vl, 255, &x))
                return -1;
            e->comp[k - 1] = (uint8_t)x;
        } else if (k == 17) {
            if (tag != 0x02 || small_int(val, vl, 65535, &x))
                return -1;
            e->pcesvn = (uint16_t)x;
        } else if (k == 18) {
            if (tag != 0x04 || vl != 16)
                return -1;
            memcpy(e->cpusvn, val, 16);
        } else {
            continue; /* unknown TCB item: ignored */
        }
        if (*seen & (1 << k))
            return -1; /* duplicate */
        *seen |= 1 << k;
    }
    return 0;
}

int tl_pck_ext_parse_der(const uint8_t *p, size_t n, tl_pck_ext *e, tl_err *err)
{
    memset(e, 0, sizeof *e);
    der top = {p, p + n};
    const uint8_t *body;
    size_t bl;
    if (tlv(&top, 0x30, &body, &bl) < 0 || top.p != top.end)
        return tl_errf(err, TL_EINVAL, "PCK certificate SGX extension: not a DER SEQUENCE");
    der d = {body, body + bl};
    int have = 0, tcb_seen = 0;
    while (d.p < d.end) {
        const uint8_t *item, *oid, *val;
        size_t il, ol, vl;
        if (tlv(&d, 0x30, &item, &il) < 0)
            return tl_errf(err, TL_EINVAL, "PCK certificate SGX extension: malformed entry");
        der s = {item, item + il};
        int tag;
        if (tlv(&s, 0x06, &oid, &ol) < 0 || (tag = tlv(&s, -1, &val, &vl)) < 0 || s.p != s.end)
            return tl_errf(err, TL_EINVAL, "PCK certificate SGX extension: malformed entry");
        int bit = 0;
        if (oid_is(oid, ol, 2, -1)) {
            if (tag != 0x30 || parse_tcb(val, vl, e, &tcb_seen))
                return tl_errf(err, TL_EINVAL, "PCK certificate SGX extension: malformed TCB (OID ...13.1.2)");
            bit = 2;
        } else if (oid_is(oid, ol, 3, -1)) {
            if (tag != 0x04 || vl != 2)
                return tl_errf(err, TL_EINVAL, "PCK certificate SGX extension: PCE-ID is not 2 bytes");
            memcpy(e->pceid, val, 2);
            bit = 3;
        } else if (oid_is(oid, ol, 4, -1)) {
            if (tag != 0x04 || vl != 6)
                return tl_errf(err, TL_EINVAL, "PCK certificate SGX extension: FMSPC is not 6 bytes");
            memcpy(e->fmspc, val, 6);
            bit = 4;
        } else if (oid_is(oid, ol, 5, -1)) {
            long x;
            if (tag != 0x0a || small_int(val, vl, 2, &x))
                return tl_errf(err, TL_EINVAL, "PCK certificate SGX extension: bad SGX type");
            e->sgx_type = (int)x;
            bit = 5;
        } else {
            continue; /* PPID, PlatformInstanceID, Configuration: not needed here */
        }
        if (have & (1 << bit))
            return tl_errf(err, TL_EINVAL, "PCK certificate SGX extension: entry ...13.1.%d appears twice", bit);
        have |= 1 << bit;
    }
    if ((have & 0x1c) != 0x1c)
        return tl_errf(err, TL_EINVAL, "PCK certificate SGX extension: TCB, PCE-ID or FMSPC missing");
    if ((tcb_seen & 0x3fffe) != 0x3fffe)
        return tl_errf(err, TL_EINVAL, "PCK certificate SGX extension: TCB lacks some of components 1..16 and PCESVN");
    return 0;
}

int tl_pck_ext_from_cert(X509 *pck, tl_pck_ext *out, tl_err *err)
{
    ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    int idx = obj ? X509_get_ext_by_OBJ(pck, obj, -1) : -1;
    int again = obj && idx >= 0 ? X509_get_ext_by_OBJ(pck, obj, idx) : -1;
    ASN1_OBJECT_free(obj);
    if (idx < 0)
        return tl_errf(err, TL_EINVAL, "PCK certificate has no SGX extension (OID 1.2.840.113741.1.13.1)");
    if (again >= 0)
        return tl_errf(err, TL_EINVAL, "PCK certificate has two SGX extensions");
    ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_get_ext(pck, idx));
    return tl_pck_ext_parse_der(ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v), out, err);
}
