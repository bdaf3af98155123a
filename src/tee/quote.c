/* DCAP quote parser: every read is bounds-checked against the declared lengths, and the declared
 * lengths must nest exactly (signature data = its fields; type-6 data = its fields). */
#include "tee/quote.h"

#include <string.h>

#include "util/bytes.h"

typedef struct {
    const uint8_t *p;
    size_t off, end; /* reading [off, end) */
} cur;

static int take(cur *c, size_t n, const uint8_t **out, const char *what, tl_err *err)
{
    if (n > c->end - c->off) {
        tl_errf(err, TL_EINVAL, "quote truncated: %s at offset %zu needs %zu bytes, %zu left", what, c->off, n,
                c->end - c->off);
        return TL_EINVAL; /* a constant, so the compiler sees *out is set whenever 0 is returned */
    }
    *out = c->p + c->off;
    c->off += n;
    return 0;
}

static int take16(cur *c, uint16_t *v, const char *what, tl_err *err)
{
    const uint8_t *b;
    if (take(c, 2, &b, what, err))
        return TL_EINVAL;
    *v = tl_load_le16(b);
    return 0;
}

static int take32(cur *c, uint32_t *v, const char *what, tl_err *err)
{
    const uint8_t *b;
    if (take(c, 4, &b, what, err))
        return TL_EINVAL;
    *v = tl_load_le32(b);
    return 0;
}

#define TRY(x) do { int rc_ = (x); if (rc_) return rc_; } while (0)

/* QE report, its signature, auth data and certification data (the inner type 5 chain). */
static int parse_qe_part(cur *c, tl_quote *q, tl_err *err)
{
    TRY(take(c, TL_SGX_REPORT_BODY, &q->qe_report, "QE report", err));
    TRY(take(c, 64, &q->qe_report_sig, "QE report signature", err));
    TRY(take16(c, &q->qe_auth_len, "QE auth data length", err));
    TRY(take(c, q->qe_auth_len, &q->qe_auth, "QE auth data", err));
    TRY(take16(c, &q->cert_type, "certification data type", err));
    TRY(take32(c, &q->cert_len, "certification data size", err));
    if (q->cert_type != 5)
        return tl_errf(err, TL_EUNSUPPORTED,
                       "quote certification data type %u is not supported (need 5: PCK certificate chain)%s",
                       q->cert_type, q->cert_type == 1 || q->cert_type == 2 || q->cert_type == 3
                                         ? "; PPID-based types need a PCK certificate lookup this verifier refuses"
                                         : "");
    TRY(take(c, q->cert_len, &q->cert_data, "certification data", err));
    return 0;
}

int tl_quote_parse(const uint8_t *p, size_t len, tl_quote *q, tl_err *err)
{
    memset(q, 0, sizeof *q);
    cur c = {p, 0, len};
    const uint8_t *h;
    TRY(take(&c, TL_QUOTE_HEADER, &h, "header", err));
    q->version = tl_load_le16(h);
    q->att_key_type = tl_load_le16(h + 2);
    q->tee_type = tl_load_le32(h + 4);
    q->qe_svn = tl_load_le16(h + 8);
    q->pce_svn = tl_load_le16(h + 10);
    q->qe_vendor_id = h + 12;
    if (q->version != 3 && q->version != 4)
        return tl_errf(err, TL_EUNSUPPORTED, "quote version %u is not supported (3 = SGX, 4 = TDX)", q->version);
    if (q->att_key_type != 2)
        return tl_errf(err, TL_EUNSUPPORTED, "quote attestation key type %u is not supported (2 = ECDSA P-256)",
                       q->att_key_type);
    if (q->version == 3 && q->tee_type != TL_TEE_TYPE_SGX)
        return tl_errf(err, TL_EINVAL, "quote v3 has tee_type 0x%x, expected 0 (SGX)", q->tee_type);
    if (q->version == 4 && q->tee_type != TL_TEE_TYPE_TDX)
        return tl_errf(err, TL_EUNSUPPORTED, "quote v4 has tee_type 0x%x, only 0x81 (TDX) is supported", q->tee_type);
    q->body_len = q->version == 3 ? TL_SGX_REPORT_BODY : TL_TDX_REPORT_BODY;
    TRY(take(&c, q->body_len, &q->body, "report body", err));
    q->signed_len = c.off;
    TRY(take32(&c, &q->sig_data_len, "signature data length", err));
    if (q->sig_data_len > c.end - c.off)
        return tl_errf(err, TL_EINVAL, "quote truncated: signature data length %u at offset %zu exceeds the %zu bytes left",
                       q->sig_data_len, q->signed_len, c.end - c.off);
    cur s = {p, c.off, c.off + q->sig_data_len};
    TRY(take(&s, 64, &q->sig, "quote signature", err));
    TRY(take(&s, 64, &q->att_key, "attestation key", err));
    if (q->version == 3) {
        TRY(parse_qe_part(&s, q, err));
        q->outer_cert_type = q->cert_type;
    } else {
        uint32_t outer_len;
        TRY(take16(&s, &q->outer_cert_type, "certification data type", err));
        TRY(take32(&s, &outer_len, "certification data size", err));
        if (q->outer_cert_type != 6)
            return tl_errf(err, TL_EUNSUPPORTED, "TDX quote certification data type %u is not supported (need 6: QE report)",
                           q->outer_cert_type);
        if (outer_len != s.end - s.off)
            return tl_errf(err, TL_EINVAL, "TDX quote certification data size %u does not match the %zu bytes of signature data left",
                           outer_len, s.end - s.off);
        TRY(parse_qe_part(&s, q, err));
    }
    if (s.off != s.end)
        return tl_errf(err, TL_EINVAL, "quote signature data has %zu unexplained bytes after the certification data",
                       s.end - s.off);
    q->end = s.end;
    for (size_t i = q->end; i < len; i++)
        if (p[i])
            return tl_errf(err, TL_EINVAL,
                           "quote has non-zero trailing bytes after the signature data (offset %zu of %zu); only zero padding is accepted",
                           i, len);
    return 0;
}

void tl_quote_identity(const tl_quote *q, tl_identity *id)
{
    memset(id, 0, sizeof *id);
    const uint8_t *b = q->body;
    if (q->version == 3) {
        id->kind = TL_TEE_KIND_SGX;
        memcpy(id->attributes, b + TL_RB_ATTRIBUTES, 16);
        memcpy(id->mrenclave, b + TL_RB_MRENCLAVE, 32);
        memcpy(id->mrsigner, b + TL_RB_MRSIGNER, 32);
        id->isv_prod_id = tl_load_le16(b + TL_RB_ISVPRODID);
        id->isv_svn = tl_load_le16(b + TL_RB_ISVSVN);
        memcpy(id->report_data, b + TL_RB_REPORTDATA, 64);
        id->debug = (b[TL_RB_ATTRIBUTES] & 0x02) != 0; /* SGX ATTRIBUTES.DEBUG */
    } else {
        id->kind = TL_TEE_KIND_TDX;
        memcpy(id->tee_tcb_svn, b + TL_TD_TEE_TCB_SVN, 16);
        memcpy(id->td_attributes, b + TL_TD_ATTRIBUTES, 8);
        memcpy(id->mrtd, b + TL_TD_MRTD, 48);
        for (int i = 0; i < 4; i++)
            memcpy(id->rtmr[i], b + TL_TD_RTMR0 + 48 * i, 48);
        memcpy(id->report_data, b + TL_TD_REPORTDATA, 64);
        id->debug = (b[TL_TD_ATTRIBUTES] & 0x01) != 0; /* TDATTRIBUTES.DEBUG (bit 0) */
    }
}
