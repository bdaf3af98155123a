/* Real DCAP verification of SGX v3 / TDX v4 quotes against the pinned Intel SGX Root CA and the
 * operator's collateral. The checks run in the order docs/attestation.md lists; the first failure
 * is returned with a message naming it. */
#include <openssl/crypto.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee/certs.h"
#include "tee/collateral.h"
#include "tee/ecdsa.h"
#include "tee/sgx_ext.h"
#include "tee/tcbinfo.h"
#include "tee/verify_internal.h"
#include "util/bytes.h"
#include "util/codec.h"

static const uint8_t INTEL_QE_VENDOR[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                            0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

typedef struct {
    X509_CRL *root_crl, *pck_crl;
    STACK_OF(X509_CRL) *crls;      /* both */
    STACK_OF(X509_CRL) *root_only;
    STACK_OF(X509) *tcb_chain, *qe_chain;
    tl_tcb_info *tcb;
    tl_qe_identity *qe;
} dcap_ctx;

static void ctx_free(dcap_ctx *c)
{
    sk_X509_CRL_free(c->crls);
    sk_X509_CRL_free(c->root_only);
    X509_CRL_free(c->root_crl);
    X509_CRL_free(c->pck_crl);
    sk_X509_pop_free(c->tcb_chain, X509_free);
    sk_X509_pop_free(c->qe_chain, X509_free);
    free(c->tcb);
    free(c->qe);
}

static void iso(time_t t, char out[32]) { tl_format_iso8601(t, out); }

/* A signed collateral document: its issuer chain to the anchor (with the root CA CRL), its
 * ECDSA signature over the exact text, and its issueDate..nextUpdate window. */
static int check_signed(const char *what, const char *chain_pem, const char *text, size_t len, const uint8_t sig[64],
                        dcap_ctx *c, X509 *anchor, time_t now, STACK_OF(X509) **chain_out, tl_err *err)
{
    char name[64];
    snprintf(name, sizeof name, "%s issuer chain", what);
    STACK_OF(X509) *ch = tl_pem_chain((const uint8_t *)chain_pem, strlen(chain_pem), 2, name, err);
    if (!ch)
        return err->code;
    *chain_out = ch;
    if (tl_chain_verify(ch, anchor, c->root_only, now, name, err))
        return err->code;
    /* Only Intel's TCB Signing certificate, issued directly by the root, may sign collateral: any other
     * certificate under the root (a PCK certificate whose key leaked from one platform, say) may not. */
    char cn[128] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(ch, 0)), NID_commonName, cn, sizeof cn);
    if (strcmp(cn, "Intel SGX TCB Signing"))
        return tl_errf(err, TL_ECRYPTO, "%s: signed by \"%s\", not by the Intel SGX TCB Signing certificate", what, cn);
    if (!tl_ecdsa_verify_raw(X509_get0_pubkey(sk_X509_value(ch, 0)), (const uint8_t *)text, len, sig))
        return tl_errf(err, TL_ECRYPTO, "%s signature does not verify over its JSON text with the signing certificate", what);
    return 0;
}

static int check_window(const char *what, time_t issue, time_t next, time_t now, tl_err *err)
{
    char a[32], b[32], n[32];
    iso(issue, a);
    iso(next, b);
    iso(now, n);
    if (now < issue)
        return tl_errf(err, TL_ESTATE, "%s is not yet valid: issueDate %s is after the verification time %s", what, a, n);
    if (now >= next) /* [issueDate, nextUpdate): the rule OpenSSL applies to a CRL's nextUpdate */
        return tl_errf(err, TL_ESTATE, "%s has expired: nextUpdate %s is not after the verification time %s", what, b, n);
    return 0;
}

static int status_rank_outofdate(const char *s) { return !strcmp(s, "OutOfDate") || !strcmp(s, "OutOfDateConfigurationNeeded"); }

/* Intel's convergence: a component (QE identity, TDX module) that is OutOfDate makes an otherwise
 * better platform OutOfDate (keeping "ConfigurationNeeded"); Revoked anywhere is Revoked. */
static void converge(char status[48], const char *other)
{
    if (!strcmp(other, "Revoked")) {
        snprintf(status, 48, "Revoked");
    } else if (status_rank_outofdate(other)) {
        if (!strcmp(status, "UpToDate") || !strcmp(status, "SWHardeningNeeded"))
            snprintf(status, 48, "OutOfDate");
        else if (!strcmp(status, "ConfigurationNeeded") || !strcmp(status, "ConfigurationAndSWHardeningNeeded"))
            snprintf(status, 48, "OutOfDateConfigurationNeeded");
    }
}

static void add_advisories(char out[512], const char *list)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int dup = 0;
        size_t tl = strlen(tok);
        for (const char *p = out; (p = strstr(p, tok)); p += tl)
            if ((p == out || p[-1] == ',') && (p[tl] == ',' || p[tl] == 0))
                dup = 1;
        size_t used = strlen(out);
        if (!dup && used + tl + 2 < 512)
            snprintf(out + used, 512 - used, "%s%s", used ? "," : "", tok);
    }
}

static const tl_isv_level *isv_match(const tl_isv_level *lv, int n, uint16_t svn)
{
    for (int i = 0; i < n; i++) /* levels are ordered best first; the first one we reach applies */
        if (svn >= lv[i].isvsvn)
            return &lv[i];
    return NULL;
}

static void svns(const uint8_t *v, int from, char *out, size_t n)
{
    out[0] = 0;
    for (int i = from; i < 16; i++)
        snprintf(out + strlen(out), n - strlen(out), "%s%u", i > from ? "," : "", v[i]);
}

/* QE identity: the QE report must come from the enclave Intel names (mrsigner, isvprodid,
 * masked miscselect and attributes); its ISVSVN picks the level. */
static int check_qe(const tl_quote *q, const tl_qe_identity *qe, const tl_isv_level **lv, tl_err *err)
{
    const uint8_t *r = q->qe_report;
    const char *want_id = q->version == 4 ? "TD_QE" : "QE";
    if (strcmp(qe->id, want_id))
        return tl_errf(err, TL_EINVAL, "QE identity is for \"%s\", this %s quote needs \"%s\"", qe->id,
                       q->version == 4 ? "TDX" : "SGX", want_id);
    if (memcmp(r + TL_RB_MRSIGNER, qe->mrsigner, 32)) {
        char g[65], w[65];
        tl_hex(r + TL_RB_MRSIGNER, 32, g);
        tl_hex(qe->mrsigner, 32, w);
        return tl_errf(err, TL_ECRYPTO, "QE identity: QE report MRSIGNER %s is not Intel's %s", g, w);
    }
    if (tl_load_le16(r + TL_RB_ISVPRODID) != qe->isvprodid)
        return tl_errf(err, TL_ECRYPTO, "QE identity: QE report ISVPRODID %u differs from %u", tl_load_le16(r + TL_RB_ISVPRODID),
                       qe->isvprodid);
    uint32_t misc = tl_load_le32(r + TL_RB_MISCSELECT);
    if ((misc & qe->miscselect_mask) != (qe->miscselect & qe->miscselect_mask))
        return tl_errf(err, TL_ECRYPTO, "QE identity: QE report MISCSELECT %08x does not match %08x under mask %08x", misc,
                       qe->miscselect, qe->miscselect_mask);
    for (int i = 0; i < 16; i++)
        if ((r[TL_RB_ATTRIBUTES + i] & qe->attributes_mask[i]) != (qe->attributes[i] & qe->attributes_mask[i]))
            return tl_errf(err, TL_ECRYPTO, "QE identity: QE report ATTRIBUTES do not match under the mask (byte %d)", i);
    uint16_t svn = tl_load_le16(r + TL_RB_ISVSVN);
    *lv = isv_match(qe->levels, qe->nlevels, svn);
    if (!*lv)
        return tl_errf(err, TL_ESTATE, "QE identity: QE ISVSVN %u is below every level (QE TCB unrecognised)", svn);
    return 0;
}

/* TDX module: tee_tcb_svn[1] names the module series; 0 means the tdxModule entry applies and the
 * module SVN is judged by the TCB level's tdxtcbcomponents. */
static int check_tdx_module(const tl_quote *q, const tl_tcb_info *t, const tl_isv_level **lv, tl_err *err)
{
    const uint8_t *b = q->body, *svn = b + TL_TD_TEE_TCB_SVN;
    const uint8_t *mrsigner, *attr, *mask;
    char name[16] = "tdxModule";
    *lv = NULL;
    const tl_tdx_module_id *m = NULL;
    if (svn[1] == 0) {
        if (!t->has_tdx_module)
            return tl_errf(err, TL_EINVAL, "TCB info has no tdxModule entry for this TDX quote");
        mrsigner = t->module_mrsigner;
        attr = t->module_attributes;
        mask = t->module_attributes_mask;
    } else {
        snprintf(name, sizeof name, "TDX_%02X", svn[1]);
        for (int i = 0; i < t->nmodules; i++)
            if (!strcmp(t->modules[i].id, name))
                m = &t->modules[i];
        if (!m)
            return tl_errf(err, TL_ESTATE, "TCB info has no TDX module identity %s (tee_tcb_svn[1] = %u)", name, svn[1]);
        mrsigner = m->mrsigner;
        attr = m->attributes;
        mask = m->attributes_mask;
    }
    if (memcmp(b + TL_TD_MRSIGNERSEAM, mrsigner, 48))
        return tl_errf(err, TL_ECRYPTO, "TDX module: MRSIGNERSEAM differs from %s's mrsigner", name);
    for (int i = 0; i < 8; i++)
        if ((b[TL_TD_SEAM_ATTRIBUTES + i] & mask[i]) != (attr[i] & mask[i]))
            return tl_errf(err, TL_ECRYPTO, "TDX module: SEAMATTRIBUTES do not match %s's attributes under its mask", name);
    if (m) {
        *lv = isv_match(m->levels, m->nlevels, svn[0]);
        if (!*lv)
            return tl_errf(err, TL_ESTATE, "TDX module %s: SVN %u (tee_tcb_svn[0]) is below every level (TDX module TCB unrecognised)",
                           name, svn[0]);
    }
    return 0;
}

int tl_verify_dcap(const tl_quote *q, STACK_OF(X509) *chain, const tl_collateral *col, time_t now, X509 *anchor,
                   tl_identity *id, tl_err *err)
{
    if (!col)
        return tl_errf(err, TL_EINVAL, "a DCAP quote needs collateral (TCB info, QE identity, CRLs): give --collateral or --pccs");
    dcap_ctx c;
    memset(&c, 0, sizeof c);
    int rc = 0;
#define CHECK_RC(x) do { if ((rc = (x))) goto out; } while (0)
    if (memcmp(q->qe_vendor_id, INTEL_QE_VENDOR, 16))
        CHECK_RC(tl_errf(err, TL_ECRYPTO, "quote QE vendor id is not Intel's"));
    /* 1. CRLs */
    c.root_crl = tl_crl_parse(col->root_ca_crl, col->root_ca_crl_len);
    c.pck_crl = tl_crl_parse(col->pck_crl, col->pck_crl_len);
    if (!c.root_crl)
        CHECK_RC(tl_errf(err, TL_EINVAL, "collateral root_ca_crl is not a CRL"));
    if (!c.pck_crl)
        CHECK_RC(tl_errf(err, TL_EINVAL, "collateral pck_crl is not a CRL"));
    c.crls = sk_X509_CRL_new_null();
    c.root_only = sk_X509_CRL_new_null();
    if (!c.crls || !c.root_only || !sk_X509_CRL_push(c.crls, c.root_crl) || !sk_X509_CRL_push(c.crls, c.pck_crl) ||
        !sk_X509_CRL_push(c.root_only, c.root_crl))
        CHECK_RC(tl_errf(err, TL_ENOMEM, "out of memory"));
    /* 2. PCK chain to the pinned root, intermediate and leaf checked against the CRLs */
    CHECK_RC(tl_chain_verify(chain, anchor, c.crls, now, "PCK certificate chain", err));
    /* 3-4. TCB info and QE identity: signing chains, signatures over the exact text */
    CHECK_RC(check_signed("TCB info", col->tcb_info_issuer_chain, col->tcb_info, col->tcb_info_len, col->tcb_info_sig, &c,
                          anchor, now, &c.tcb_chain, err));
    CHECK_RC(check_signed("QE identity", col->qe_identity_issuer_chain, col->qe_identity, col->qe_identity_len,
                          col->qe_identity_sig, &c, anchor, now, &c.qe_chain, err));
    c.tcb = malloc(sizeof *c.tcb);
    c.qe = malloc(sizeof *c.qe);
    if (!c.tcb || !c.qe)
        CHECK_RC(tl_errf(err, TL_ENOMEM, "out of memory"));
    CHECK_RC(tl_tcb_info_parse(col->tcb_info, col->tcb_info_len, c.tcb, err));
    CHECK_RC(tl_qe_identity_parse(col->qe_identity, col->qe_identity_len, c.qe, err));
    /* 5. validity windows */
    CHECK_RC(check_window("TCB info", c.tcb->issue, c.tcb->next, now, err));
    CHECK_RC(check_window("QE identity", c.qe->issue, c.qe->next, now, err));
    /* 6. QE report signature (PCK key), attestation key binding, quote signature */
    CHECK_RC(tl_quote_check_signatures(q, sk_X509_value(chain, 0), err));
    tl_quote_identity(q, id); /* authentic from here on; a TL_ESTATE below still shows it */
    /* 7. QE identity */
    const tl_isv_level *qe_lv;
    CHECK_RC(check_qe(q, c.qe, &qe_lv, err));
    /* 8. platform TCB: PCK certificate SGX extension vs TCB info */
    tl_pck_ext ext;
    CHECK_RC(tl_pck_ext_from_cert(sk_X509_value(chain, 0), &ext, err));
    memcpy(id->fmspc, ext.fmspc, 6);
    const char *want_tcb_id = q->version == 4 ? "TDX" : "SGX";
    if (strcmp(c.tcb->id, want_tcb_id))
        CHECK_RC(tl_errf(err, TL_EINVAL, "TCB info is for %s, this quote needs %s TCB info", c.tcb->id, want_tcb_id));
    if (memcmp(ext.fmspc, c.tcb->fmspc, 6)) {
        char a[13], b[13];
        tl_hex(ext.fmspc, 6, a);
        tl_hex(c.tcb->fmspc, 6, b);
        CHECK_RC(tl_errf(err, TL_EINVAL, "TCB info is for FMSPC %s, the PCK certificate's platform is FMSPC %s", b, a));
    }
    if (memcmp(ext.pceid, c.tcb->pceid, 2))
        CHECK_RC(tl_errf(err, TL_EINVAL, "TCB info pceId differs from the PCK certificate's PCE-ID"));
    const uint8_t *tee_svn = q->body + TL_TD_TEE_TCB_SVN;
    int tdx_from = q->version == 4 && tee_svn[1] > 0 ? 2 : 0;
    const tl_tcb_level *lvl = NULL;
    for (int i = 0; i < c.tcb->nlevels && !lvl; i++) {
        const tl_tcb_level *L = &c.tcb->levels[i];
        int ok = ext.pcesvn >= L->pcesvn;
        for (int k = 0; k < 16 && ok; k++)
            ok = ext.comp[k] >= L->sgx[k];
        if (q->version == 4)
            for (int k = tdx_from; k < 16 && ok; k++)
                ok = tee_svn[k] >= L->tdx[k];
        if (ok)
            lvl = L;
    }
    if (!lvl) {
        char s[80], t[80] = "";
        svns(ext.comp, 0, s, sizeof s);
        if (q->version == 4) {
            snprintf(t, sizeof t, "; TDX components from %d: ", tdx_from);
            svns(tee_svn, tdx_from, t + strlen(t), sizeof t - strlen(t));
        }
        CHECK_RC(tl_errf(err, TL_ESTATE,
                         "TCB unrecognised: no TCB level matches the platform (no matching TCB level): PCK SGX components %s, "
                         "PCESVN %u%s",
                         s, ext.pcesvn, t));
    }
    /* 9. TDX module identity */
    const tl_isv_level *mod_lv = NULL;
    if (q->version == 4)
        CHECK_RC(check_tdx_module(q, c.tcb, &mod_lv, err));
    /* 10. result */
    snprintf(id->tcb_status, sizeof id->tcb_status, "%s", lvl->status);
    snprintf(id->tcb_date, sizeof id->tcb_date, "%s", lvl->date);
    snprintf(id->qe_status, sizeof id->qe_status, "%s", qe_lv->status);
    add_advisories(id->advisories, lvl->advisories);
    if (mod_lv) {
        snprintf(id->tdx_module_status, sizeof id->tdx_module_status, "%s", mod_lv->status);
        converge(id->tcb_status, mod_lv->status);
        add_advisories(id->advisories, mod_lv->advisories);
    }
    converge(id->tcb_status, qe_lv->status);
    add_advisories(id->advisories, qe_lv->advisories);
    if (!strcmp(id->tcb_status, "Revoked"))
        rc = tl_errf(err, TL_ESTATE, "TCB status Revoked (TCB level %s, QE %s%s%s)", lvl->status, qe_lv->status,
                     mod_lv ? ", TDX module " : "", mod_lv ? mod_lv->status : "");
out:
    ctx_free(&c);
    return rc;
}
