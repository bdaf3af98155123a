/* SEV-SNP ATTESTATION_REPORT parsing (AMD SEV-SNP ABI spec 56860, table "ATTESTATION_REPORT"),
 * TCB_VERSION decoding per product, and the GHCB certificate table. Structure only: verification
 * is snp_verify.c. Offsets are in docs/attestation-snp.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee/snp.h"
#include "tee/verify_internal.h"
#include "util/bytes.h"
#include "util/codec.h"

enum {
    O_VERSION = 0x00, O_GUEST_SVN = 0x04, O_POLICY = 0x08, O_FAMILY_ID = 0x10, O_IMAGE_ID = 0x20, O_VMPL = 0x30,
    O_SIG_ALGO = 0x34, O_CURRENT_TCB = 0x38, O_PLATFORM_INFO = 0x40, O_SIGNER = 0x48, O_REPORT_DATA = 0x50,
    O_MEASUREMENT = 0x90, O_HOST_DATA = 0xC0, O_ID_KEY = 0xE0, O_AUTHOR_KEY = 0x110, O_REPORT_ID = 0x140,
    O_REPORT_ID_MA = 0x160, O_REPORTED_TCB = 0x180, O_CPUID_FAM = 0x188, O_CPUID_MOD = 0x189, O_CPUID_STEP = 0x18A,
    O_CHIP_ID = 0x1A0, O_COMMITTED_TCB = 0x1E0, O_CURRENT_BUILD = 0x1E8, O_COMMITTED_BUILD = 0x1EC,
    O_LAUNCH_TCB = 0x1F0, O_LAUNCH_MIT = 0x1F8, O_CURRENT_MIT = 0x200, O_SIG_R = 0x2A0, O_SIG_S = 0x2E8,
    O_SIG_RESERVED = 0x330, SIG_FIELD = 72,
};


const char *tl_snp_product_name(int p)
{
    static const char *const n[] = {"Milan", "Genoa", "Turin"};
    return p >= 0 && p < TL_SNP_NPRODUCTS ? n[p] : "unknown";
}

void tl_snp_tcb_decode(uint64_t raw, int turin, tl_snp_tcb *o)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(raw >> (8 * i));
    memset(o, 0, sizeof *o);
    if (turin) {
        o->fmc = b[0];
        o->bootloader = b[1];
        o->tee = b[2];
        o->snp = b[3];
    } else {
        o->bootloader = b[0];
        o->tee = b[1];
        o->snp = b[6];
    }
    o->microcode = b[7];
}

int tl_snp_product_of_cpuid(uint8_t fam, uint8_t mod)
{
    if (fam == 0x19 && mod <= 0x0F)
        return TL_SNP_MILAN;
    if (fam == 0x19 && ((mod >= 0x10 && mod <= 0x1F) || (mod >= 0xA0 && mod <= 0xAF)))
        return TL_SNP_GENOA;
    if (fam == 0x1A && mod <= 0x11)
        return TL_SNP_TURIN;
    return -1;
}

int tl_snp_looks_like(const uint8_t *r, size_t len)
{
    if (!r || len < TL_SNP_REPORT_LEN)
        return 0;
    /* any small version goes to the SEV-SNP parser, which then names what is wrong */
    uint32_t v = tl_load_le32(r + O_VERSION);
    return v >= 1 && v <= 31;
}

/* A 72-byte little-endian R or S: a P-384 scalar takes 48 bytes, the rest must be zero. */
static int sig_scalar(const uint8_t *f, uint8_t be[48], const char *name, int off, tl_err *err)
{
    for (int i = 48; i < SIG_FIELD; i++)
        if (f[i])
            return tl_errf(err, TL_EINVAL, "SEV-SNP report signature %s (0x%03X): byte %d of the 72-byte little-endian field is not zero (a P-384 scalar has 48)",
                           name, off, i);
    for (int i = 0; i < 48; i++)
        be[i] = f[47 - i];
    return 0;
}

int tl_snp_report_parse(const uint8_t *r, size_t len, tl_snp_report *o, tl_err *err)
{
    if (!r || len != TL_SNP_REPORT_LEN)
        return tl_errf(err, TL_EINVAL, "SEV-SNP report is %zu bytes, expected %d", r ? len : 0, TL_SNP_REPORT_LEN);
    memset(o, 0, sizeof *o);
    o->version = tl_load_le32(r + O_VERSION);
    if (o->version != 2 && o->version != 3 && o->version != 5)
        return tl_errf(err, TL_EUNSUPPORTED, "SEV-SNP report version %u (0x000) is not supported (2, 3 or 5)", o->version);
    o->sig_algo = tl_load_le32(r + O_SIG_ALGO);
    if (o->sig_algo != 1)
        return tl_errf(err, TL_EUNSUPPORTED, "SEV-SNP report signature_algo %u (0x034) is not ECDSA P-384 with SHA-384 (1)",
                       o->sig_algo);
    o->signer_info = tl_load_le32(r + O_SIGNER);
    o->signer = (int)((o->signer_info >> 2) & 7);
    if (o->signer == TL_SNP_SIGNER_NONE)
        return tl_errf(err, TL_ECRYPTO, "SEV-SNP report signer (0x048 bits 2-4) is \"none\": the report is not signed");
    if (o->signer != TL_SNP_SIGNER_VCEK && o->signer != TL_SNP_SIGNER_VLEK)
        return tl_errf(err, TL_EINVAL, "SEV-SNP report signer (0x048 bits 2-4) is %d, neither VCEK (0) nor VLEK (1)", o->signer);
    o->guest_svn = tl_load_le32(r + O_GUEST_SVN);
    o->policy = tl_load_le64(r + O_POLICY);
    memcpy(o->family_id, r + O_FAMILY_ID, 16);
    memcpy(o->image_id, r + O_IMAGE_ID, 16);
    o->vmpl = tl_load_le32(r + O_VMPL);
    if (o->vmpl > 3)
        return tl_errf(err, TL_EINVAL, "SEV-SNP report vmpl %u (0x030) is not 0..3", o->vmpl);
    o->current_tcb = tl_load_le64(r + O_CURRENT_TCB);
    o->platform_info = tl_load_le64(r + O_PLATFORM_INFO);
    memcpy(o->report_data, r + O_REPORT_DATA, 64);
    memcpy(o->measurement, r + O_MEASUREMENT, 48);
    memcpy(o->host_data, r + O_HOST_DATA, 32);
    memcpy(o->id_key_digest, r + O_ID_KEY, 48);
    memcpy(o->author_key_digest, r + O_AUTHOR_KEY, 48);
    memcpy(o->report_id, r + O_REPORT_ID, 32);
    memcpy(o->report_id_ma, r + O_REPORT_ID_MA, 32);
    o->reported_tcb = tl_load_le64(r + O_REPORTED_TCB);
    o->product = -1;
    if (o->version >= 3) {
        o->cpuid_fam = r[O_CPUID_FAM];
        o->cpuid_mod = r[O_CPUID_MOD];
        o->cpuid_step = r[O_CPUID_STEP];
        o->product = tl_snp_product_of_cpuid(o->cpuid_fam, o->cpuid_mod);
        if (o->product < 0)
            return tl_errf(err, TL_EUNSUPPORTED,
                           "SEV-SNP report CPUID family 0x%02X model 0x%02X (0x188) is not a known SEV-SNP product (Milan, Genoa, Turin)",
                           o->cpuid_fam, o->cpuid_mod);
    }
    memcpy(o->chip_id, r + O_CHIP_ID, 64);
    o->committed_tcb = tl_load_le64(r + O_COMMITTED_TCB);
    o->current_build = r[O_CURRENT_BUILD];
    o->current_minor = r[O_CURRENT_BUILD + 1];
    o->current_major = r[O_CURRENT_BUILD + 2];
    o->committed_build = r[O_COMMITTED_BUILD];
    o->committed_minor = r[O_COMMITTED_BUILD + 1];
    o->committed_major = r[O_COMMITTED_BUILD + 2];
    o->launch_tcb = tl_load_le64(r + O_LAUNCH_TCB);
    if (o->version >= 5) {
        o->launch_mit_vector = tl_load_le64(r + O_LAUNCH_MIT);
        o->current_mit_vector = tl_load_le64(r + O_CURRENT_MIT);
    }
    if (sig_scalar(r + O_SIG_R, o->sig_r, "R", O_SIG_R, err) || sig_scalar(r + O_SIG_S, o->sig_s, "S", O_SIG_S, err))
        return err ? err->code : TL_EINVAL;
    /* the signature area is not signed: its reserved tail must be zero, or it could carry anything */
    for (int i = O_SIG_RESERVED; i < TL_SNP_REPORT_LEN; i++)
        if (r[i])
            return tl_errf(err, TL_EINVAL, "SEV-SNP report signature reserved area (0x330..0x49F): byte 0x%03X is not zero", i);
    return 0;
}

int tl_snp_kds_vcek_url_base(const char *base, const tl_snp_report *s, int product, char *out, size_t n)
{
    int turin = product == TL_SNP_TURIN;
    char hw[129];
    tl_hex(s->chip_id, turin ? 8 : 64, hw);
    tl_snp_tcb t;
    tl_snp_tcb_decode(s->reported_tcb, turin, &t);
    int w = snprintf(out, n, "%s/vcek/v1/%s/%s?blSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u", base ? base : "https://kdsintf.amd.com",
                     product >= 0 ? tl_snp_product_name(product) : "PRODUCT", hw, t.bootloader, t.tee, t.snp, t.microcode);
    if (w >= 0 && (size_t)w < n && turin)
        w += snprintf(out + w, n - (size_t)w, "&fmcSPL=%u", t.fmc);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* ---- certificate table ---- */

static const struct {
    tl_snp_cert_kind kind;
    uint8_t guid[16];
} GUIDS[] = {
    {TL_SNP_CERT_VCEK, {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd}},
    {TL_SNP_CERT_VLEK, {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1}},
    {TL_SNP_CERT_ASK, {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82}},
    {TL_SNP_CERT_ARK, {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae}},
};

int tl_snp_certtable_parse(const uint8_t *t, size_t len, tl_snp_cert_entry out[TL_SNP_MAX_CERTS], int *n, tl_err *err)
{
    static const uint8_t zero[24];
    *n = 0;
    for (size_t pos = 0;; pos += 24) {
        if (pos + 24 > len)
            return tl_errf(err, TL_EINVAL, "SEV-SNP certificate table: entry %d at byte %zu runs past the table's %zu bytes (no all-zero terminator)",
                           *n, pos, len);
        const uint8_t *e = t + pos;
        if (!memcmp(e, zero, 24)) {
            if (!*n)
                return tl_errf(err, TL_EINVAL, "SEV-SNP evidence: %zu bytes after the report are a certificate table with no entries", len);
            break;
        }
        if (*n == TL_SNP_MAX_CERTS)
            return tl_errf(err, TL_EINVAL, "SEV-SNP certificate table: more than %d entries", TL_SNP_MAX_CERTS);
        uint32_t off = tl_load_le32(e + 16), l = tl_load_le32(e + 20);
        if (l == 0 || off > len || l > len - off || off < pos + 48)
            return tl_errf(err, TL_EINVAL, "SEV-SNP certificate table: entry %d (offset %u, length %u) is not inside the table's %zu bytes after the entries",
                           *n, off, l, len);
        tl_snp_cert_entry *c = &out[(*n)++];
        c->kind = TL_SNP_CERT_OTHER;
        for (size_t g = 0; g < sizeof GUIDS / sizeof *GUIDS; g++)
            if (!memcmp(e, GUIDS[g].guid, 16))
                c->kind = GUIDS[g].kind;
        c->der = t + off;
        c->len = l;
    }
    return 0;
}

int tl_snp_certtable_build(const tl_snp_cert_entry *in, int n, uint8_t **out, size_t *len, tl_err *err)
{
    if (n < 0 || n > TL_SNP_MAX_CERTS)
        return tl_errf(err, TL_EINVAL, "SEV-SNP certificate table: %d entries (1..%d)", n, TL_SNP_MAX_CERTS);
    size_t head = 24 * ((size_t)n + 1), total = head;
    for (int i = 0; i < n; i++) {
        if (in[i].kind == TL_SNP_CERT_OTHER || !in[i].len || in[i].len > (1u << 20))
            return tl_errf(err, TL_EINVAL, "SEV-SNP certificate table: entry %d has no known kind or a bad length", i);
        total += in[i].len;
    }
    uint8_t *t = calloc(1, total);
    if (!t)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    size_t off = head;
    for (int i = 0; i < n; i++) {
        uint8_t *e = t + 24 * (size_t)i;
        for (size_t g = 0; g < sizeof GUIDS / sizeof *GUIDS; g++)
            if (GUIDS[g].kind == in[i].kind)
                memcpy(e, GUIDS[g].guid, 16);
        for (int b = 0; b < 4; b++) {
            e[16 + b] = (uint8_t)(off >> (8 * b));
            e[20 + b] = (uint8_t)(in[i].len >> (8 * b));
        }
        memcpy(t + off, in[i].der, in[i].len);
        off += in[i].len;
    }
    *out = t;
    *len = total;
    return 0;
}

/* ---- identity (unverified) ---- */

int tl_is_snp_report(const uint8_t *r, size_t len) { return tl_snp_looks_like(r, len); }

void tl_snp_identity(const tl_snp_report *s, tl_identity *id)
{
    memset(id, 0, sizeof *id);
    id->kind = TL_TEE_KIND_SEV_SNP;
    memcpy(id->report_data, s->report_data, 64);
    memcpy(id->snp_measurement, s->measurement, 48);
    id->snp_policy = s->policy;
    id->debug = (int)((s->policy >> TL_SNP_POLICY_DEBUG) & 1);
    id->snp_version = s->version;
    id->snp_vmpl = s->vmpl;
    id->snp_signer = s->signer;
    id->snp_product = s->product;
    id->snp_reported_tcb = s->reported_tcb;
    id->snp_guest_svn = s->guest_svn;
    id->snp_platform_info = s->platform_info;
    memcpy(id->snp_host_data, s->host_data, 32);
    memcpy(id->snp_id_key_digest, s->id_key_digest, 48);
    memcpy(id->snp_author_key_digest, s->author_key_digest, 48);
    memcpy(id->snp_chip_id, s->chip_id, 64);
    memcpy(id->snp_family_id, s->family_id, 16);
    memcpy(id->snp_image_id, s->image_id, 16);
}

int tl_snp_parse(const uint8_t *ev, size_t len, tl_identity *id, tl_err *err)
{
    tl_snp_report s;
    if (len < TL_SNP_REPORT_LEN)
        return tl_errf(err, TL_EINVAL, "SEV-SNP evidence is %zu bytes, shorter than the %d-byte report", len, TL_SNP_REPORT_LEN);
    if (tl_snp_report_parse(ev, TL_SNP_REPORT_LEN, &s, err))
        return err ? err->code : TL_EINVAL;
    if (len > TL_SNP_REPORT_LEN) {
        tl_snp_cert_entry c[TL_SNP_MAX_CERTS];
        int n;
        if (tl_snp_certtable_parse(ev + TL_SNP_REPORT_LEN, len - TL_SNP_REPORT_LEN, c, &n, err))
            return err ? err->code : TL_EINVAL;
    }
    tl_snp_identity(&s, id);
    return 0;
}
