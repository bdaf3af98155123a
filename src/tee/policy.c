/* Acceptance policy (docs/policy.md): strict JSON — unknown fields, wrong types and hex of the wrong
 * length are errors — and a check whose refusal names the field and both values. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee/policy.h"
#include "tee/snp.h"
#include "util/codec.h"
#include "util/io.h"
#include "util/json_fields.h"

#define MAX_LIST 64

typedef struct {
    int n;
    uint8_t v[MAX_LIST][48];
} hexlist;

typedef struct {
    int set;
    uint8_t v[48];
} hexval;

struct tl_policy {
    hexlist mrenclave;        /* 32-byte entries */
    hexval mrsigner;          /* 32 */
    int isv_prod_id;          /* -1 = unset */
    int min_isv_svn;          /* -1 = unset */
    int allow_debug, allow_simulation;
    int nstatus;
    char statuses[8][40];
    int has_tdx;
    hexlist mrtd;             /* 48 */
    hexval rtmr[4];           /* 48 */
    int allow_unmeasured_os;  /* tdx: MRTD without all four RTMRs */
    int td_attr_set;
    uint8_t td_attr[8], td_attr_mask[8];
    int has_snp;
    hexlist snp_measurement;  /* 48 */
    hexlist snp_host_data;    /* 32 */
    hexlist snp_id_key, snp_author_key; /* 48 */
    int snp_rd_set;
    uint8_t snp_report_data[64];
    int snp_allow_smt, snp_allow_ma, snp_single_socket;
    int snp_min_tcb[5];       /* bootloader, tee, snp, microcode, fmc; -1 = unset */
    int snp_vmpl_mask;        /* bit v: VMPL v allowed */
    int snp_product_mask;     /* bit p: TL_SNP_* allowed */
    int snp_signer_mask;      /* bit 0 vcek, bit 1 vlek */
};

static const char *const known_status[] = {"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
                                           "ConfigurationAndSWHardeningNeeded", "OutOfDate",
                                           "OutOfDateConfigurationNeeded"};

static int get_hex(json_t *v, const char *field, size_t n, uint8_t *out, tl_err *err)
{
    if (!json_is_string(v))
        return tl_errf(err, TL_EINVAL, "policy: %s must be a hex string of %zu bytes", field, n);
    const char *s = json_string_value(v);
    if (tl_unhex(s, strlen(s), out, n))
        return tl_errf(err, TL_EINVAL, "policy: %s must be %zu hex digits, got \"%.100s\" (%zu characters)", field,
                       2 * n, s, strlen(s));
    return 0;
}

/* A field that takes one hex value or a list of them. */
static int get_hexlist(json_t *v, const char *field, size_t n, hexlist *out, tl_err *err)
{
    if (json_is_string(v)) {
        out->n = 1;
        return get_hex(v, field, n, out->v[0], err);
    }
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > MAX_LIST)
        return tl_errf(err, TL_EINVAL, "policy: %s must be a hex string or a list of 1..%d hex strings", field,
                       MAX_LIST);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        char f[64];
        snprintf(f, sizeof f, "%s[%zu]", field, i);
        if (get_hex(e, f, n, out->v[i], err))
            return err->code;
    }
    out->n = (int)json_array_size(v);
    return 0;
}

static int get_bool(json_t *v, const char *field, int *out, tl_err *err)
{
    if (!json_is_boolean(v))
        return tl_errf(err, TL_EINVAL, "policy: %s must be true or false", field);
    *out = json_is_true(v);
    return 0;
}

static int get_u16(json_t *v, const char *field, int *out, tl_err *err)
{
    long long x;
    if (tl_json_int(v, 0, 65535, &x))
        return tl_errf(err, TL_EINVAL, "policy: %s must be an integer 0..65535", field);
    *out = (int)x;
    return 0;
}

/* The fields of a policy object; an unknown one is refused, naming the ones there are. */
static int check_fields(json_t *o, const tl_json_field *fields, json_t **vals, const char *where, const char *known,
                        tl_err *err)
{
    const char *k;
    if (tl_json_fields(o, fields, vals, &k) == TL_JF_UNKNOWN)
        return tl_errf(err, TL_EINVAL, "policy: unknown field %s%.60s%s (known: %s)", where ? where : "\"", k,
                       where ? "" : "\"", known);
    return 0;
}

static int parse_tdx(json_t *o, tl_policy *p, tl_err *err)
{
    if (!json_is_object(o))
        return tl_errf(err, TL_EINVAL, "policy: tdx must be an object");
    enum { MRTD, RTMR0, ALLOW = RTMR0 + 4, ATTR, MASK, NF };
    static const tl_json_field fields[] = {{"mrtd"}, {"rtmr0"}, {"rtmr1"}, {"rtmr2"}, {"rtmr3"}, {"allow_unmeasured_os"},
                                           {"td_attributes"}, {"td_attributes_mask"}, {NULL}};
    json_t *v[NF];
    if (check_fields(o, fields, v, "tdx.",
                     "mrtd, rtmr0..rtmr3, allow_unmeasured_os, td_attributes, td_attributes_mask", err))
        return err->code;
    if (v[MRTD] && get_hexlist(v[MRTD], "tdx.mrtd", 48, &p->mrtd, err))
        return err->code;
    for (int i = 0; i < 4; i++) {
        char f[16];
        snprintf(f, sizeof f, "tdx.rtmr%d", i);
        if (v[RTMR0 + i] && get_hex(v[RTMR0 + i], f, 48, p->rtmr[i].v, err))
            return err->code;
        p->rtmr[i].set = v[RTMR0 + i] != NULL;
    }
    if ((v[ALLOW] && get_bool(v[ALLOW], "tdx.allow_unmeasured_os", &p->allow_unmeasured_os, err)) ||
        (v[ATTR] && get_hex(v[ATTR], "tdx.td_attributes", 8, p->td_attr, err)) ||
        (v[MASK] && get_hex(v[MASK], "tdx.td_attributes_mask", 8, p->td_attr_mask, err)))
        return err->code;
    int have_val = v[ATTR] != NULL, have_mask = v[MASK] != NULL;
    if (have_val != have_mask)
        return tl_errf(err, TL_EINVAL, "policy: tdx.td_attributes and tdx.td_attributes_mask go together");
    if (have_val) {
        for (int i = 0; i < 8; i++)
            if (p->td_attr[i] & ~p->td_attr_mask[i])
                return tl_errf(err, TL_EINVAL, "policy: tdx.td_attributes has bits outside tdx.td_attributes_mask");
        p->td_attr_set = 1;
    }
    if (!p->mrtd.n)
        return tl_errf(err, TL_EINVAL, "policy: tdx needs mrtd (the TD's build-time measurement)");
    /* MRTD measures only the TD firmware: without RTMR0-2 (firmware configuration, boot loader and
     * kernel, command line and initrd) any OS booted from that firmware passes, and it can extend
     * RTMR3 with whatever digests it likes; without RTMR3 any program in the measured OS passes. */
    for (int i = 0; i < 4 && !p->allow_unmeasured_os; i++)
        if (!p->rtmr[i].set)
            return tl_errf(err, TL_EINVAL,
                           "policy: tdx.rtmr%d is missing: a TDX policy must pin rtmr0, rtmr1, rtmr2 and rtmr3 (MRTD "
                           "measures only the firmware, not the kernel, initrd, command line or teelm; 'teelm attest "
                           "rtmr3' computes rtmr3), or say \"allow_unmeasured_os\": true in tdx",
                           i);
    p->has_tdx = 1;
    return 0;
}

static int in_list(const hexlist *l, const uint8_t *v, size_t n);
static int refuse_list(const char *field, const hexlist *l, const uint8_t *v, size_t n, tl_err *err);

static const char *const SNP_TCB_NAMES[5] = {"bootloader", "tee", "snp", "microcode", "fmc"};

/* A list of names (or one name) into a bit mask. */
static int get_names(json_t *v, const char *field, const char *const *names, int nnames, int *mask, tl_err *err)
{
    json_t *one = json_is_string(v) ? v : NULL;
    if (!one && (!json_is_array(v) || json_array_size(v) == 0))
        return tl_errf(err, TL_EINVAL, "policy: %s must be a name or a non-empty list of names", field);
    *mask = 0;
    for (size_t i = 0; i < (one ? 1 : json_array_size(v)); i++) {
        const char *s = json_string_value(one ? one : json_array_get(v, i));
        int k = -1;
        for (int j = 0; s && j < nnames; j++)
            if (!strcmp(s, names[j]))
                k = j;
        if (k < 0)
            return tl_errf(err, TL_EINVAL, "policy: %s: \"%.40s\" is not one of %s%s%s%s%s", field, s ? s : "(not a string)",
                           names[0], nnames > 1 ? ", " : "", nnames > 1 ? names[1] : "", nnames > 2 ? ", " : "",
                           nnames > 2 ? names[2] : "");
        *mask |= 1 << k;
    }
    return 0;
}

static int parse_snp(json_t *o, tl_policy *p, tl_err *err)
{
    if (!json_is_object(o))
        return tl_errf(err, TL_EINVAL, "policy: sev_snp must be an object");
    const char *k;
    json_t *v;
    static const char *const products[] = {"Milan", "Genoa", "Turin"}, *const signers[] = {"vcek", "vlek"};
    json_object_foreach(o, k, v) {
        int rc = 0;
        if (!strcmp(k, "measurement"))
            rc = get_hexlist(v, "sev_snp.measurement", 48, &p->snp_measurement, err);
        else if (!strcmp(k, "host_data"))
            rc = get_hexlist(v, "sev_snp.host_data", 32, &p->snp_host_data, err);
        else if (!strcmp(k, "id_key_digest"))
            rc = get_hexlist(v, "sev_snp.id_key_digest", 48, &p->snp_id_key, err);
        else if (!strcmp(k, "author_key_digest"))
            rc = get_hexlist(v, "sev_snp.author_key_digest", 48, &p->snp_author_key, err);
        else if (!strcmp(k, "report_data")) {
            const char *s = json_string_value(v);
            if (!s || tl_unhex(s, strlen(s), p->snp_report_data, 64))
                rc = tl_errf(err, TL_EINVAL, "policy: sev_snp.report_data must be 128 hex digits (64 bytes)");
            p->snp_rd_set = 1;
        } else if (!strcmp(k, "allow_smt"))
            rc = get_bool(v, "sev_snp.allow_smt", &p->snp_allow_smt, err);
        else if (!strcmp(k, "allow_migration_agent"))
            rc = get_bool(v, "sev_snp.allow_migration_agent", &p->snp_allow_ma, err);
        else if (!strcmp(k, "require_single_socket"))
            rc = get_bool(v, "sev_snp.require_single_socket", &p->snp_single_socket, err);
        else if (!strcmp(k, "products"))
            rc = get_names(v, "sev_snp.products", products, 3, &p->snp_product_mask, err);
        else if (!strcmp(k, "signers"))
            rc = get_names(v, "sev_snp.signers", signers, 2, &p->snp_signer_mask, err);
        else if (!strcmp(k, "vmpl")) {
            json_t *one = json_is_integer(v) ? v : NULL;
            if (!one && (!json_is_array(v) || !json_array_size(v)))
                rc = tl_errf(err, TL_EINVAL, "policy: sev_snp.vmpl must be 0..3 or a list of them");
            p->snp_vmpl_mask = 0;
            for (size_t i = 0; !rc && i < (one ? 1 : json_array_size(v)); i++) {
                json_t *e = one ? one : json_array_get(v, i);
                if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 3)
                    rc = tl_errf(err, TL_EINVAL, "policy: sev_snp.vmpl must be 0..3 or a list of them");
                else
                    p->snp_vmpl_mask |= 1 << json_integer_value(e);
            }
        } else if (!strcmp(k, "min_tcb")) {
            if (!json_is_object(v))
                rc = tl_errf(err, TL_EINVAL, "policy: sev_snp.min_tcb must be an object");
            const char *tk;
            json_t *tv;
            json_object_foreach(v, tk, tv) {
                int idx = -1;
                for (int j = 0; j < 5; j++)
                    if (!strcmp(tk, SNP_TCB_NAMES[j]))
                        idx = j;
                if (rc)
                    break;
                if (idx < 0)
                    rc = tl_errf(err, TL_EINVAL, "policy: unknown field sev_snp.min_tcb.%.40s (known: bootloader, tee, snp, microcode, fmc)", tk);
                else if (!json_is_integer(tv) || json_integer_value(tv) < 0 || json_integer_value(tv) > 255)
                    rc = tl_errf(err, TL_EINVAL, "policy: sev_snp.min_tcb.%s must be an integer 0..255", tk);
                else
                    p->snp_min_tcb[idx] = (int)json_integer_value(tv);
            }
        } else
            rc = tl_errf(err, TL_EINVAL,
                         "policy: unknown field sev_snp.%.40s (known: measurement, host_data, id_key_digest, author_key_digest, "
                         "report_data, allow_smt, allow_migration_agent, require_single_socket, min_tcb, vmpl, products, signers)",
                         k);
        if (rc)
            return rc;
    }
    if (!p->snp_measurement.n)
        return tl_errf(err, TL_EINVAL, "policy: sev_snp needs measurement");
    p->has_snp = 1;
    return 0;
}

static int check_snp(const tl_policy *p, const tl_identity *id, tl_err *err)
{
    if (!p->has_snp)
        return tl_errf(err, TL_EPOLICY, "policy: has no sev_snp rule for this SEV-SNP evidence");
    if (!in_list(&p->snp_measurement, id->snp_measurement, 48))
        return refuse_list("sev_snp.measurement", &p->snp_measurement, id->snp_measurement, 48, err);
    if (p->snp_host_data.n && !in_list(&p->snp_host_data, id->snp_host_data, 32))
        return refuse_list("sev_snp.host_data", &p->snp_host_data, id->snp_host_data, 32, err);
    if (p->snp_id_key.n && !in_list(&p->snp_id_key, id->snp_id_key_digest, 48))
        return refuse_list("sev_snp.id_key_digest", &p->snp_id_key, id->snp_id_key_digest, 48, err);
    if (p->snp_author_key.n && !in_list(&p->snp_author_key, id->snp_author_key_digest, 48))
        return refuse_list("sev_snp.author_key_digest", &p->snp_author_key, id->snp_author_key_digest, 48, err);
    if (p->snp_rd_set && memcmp(p->snp_report_data, id->report_data, 64)) {
        char g[129], w[129];
        tl_hex(id->report_data, 64, g);
        tl_hex(p->snp_report_data, 64, w);
        return tl_errf(err, TL_EPOLICY, "policy: sev_snp.report_data %s differs from the required %s", g, w);
    }
    uint64_t gp = id->snp_policy;
    if (((gp >> TL_SNP_POLICY_SMT) & 1) && !p->snp_allow_smt)
        return tl_errf(err, TL_EPOLICY, "policy: the guest policy allows SMT (bit 16) and sev_snp.allow_smt is false");
    if (((gp >> TL_SNP_POLICY_MIGRATE_MA) & 1) && !p->snp_allow_ma)
        return tl_errf(err, TL_EPOLICY,
                       "policy: the guest policy allows a migration agent (MIGRATE_MA, bit 18), which can export the guest's memory, and sev_snp.allow_migration_agent is false");
    if (!((gp >> TL_SNP_POLICY_SINGLE_SOCKET) & 1) && p->snp_single_socket)
        return tl_errf(err, TL_EPOLICY, "policy: the guest policy does not require a single socket (bit 20) and sev_snp.require_single_socket is true");
    if (!(p->snp_vmpl_mask >> id->snp_vmpl & 1))
        return tl_errf(err, TL_EPOLICY, "policy: vmpl %u is not in sev_snp.vmpl", id->snp_vmpl);
    if (id->snp_product < 0 || !(p->snp_product_mask >> id->snp_product & 1))
        return tl_errf(err, TL_EPOLICY, "policy: product %s is not in sev_snp.products", tl_snp_product_name(id->snp_product));
    int signer_bit = id->snp_signer == TL_SNP_SIGNER_VLEK ? 2 : 1;
    if (!(p->snp_signer_mask & signer_bit))
        return tl_errf(err, TL_EPOLICY, "policy: signer %s is not in sev_snp.signers", signer_bit == 2 ? "vlek" : "vcek");
    tl_snp_tcb t;
    tl_snp_tcb_decode(id->snp_reported_tcb, id->snp_product == TL_SNP_TURIN, &t);
    const int have[5] = {t.bootloader, t.tee, t.snp, t.microcode, t.fmc};
    for (int i = 0; i < 5; i++) {
        if (p->snp_min_tcb[i] < 0)
            continue;
        if (i == 4 && id->snp_product != TL_SNP_TURIN)
            continue; /* FMC exists on Turin only */
        if (have[i] < p->snp_min_tcb[i])
            return tl_errf(err, TL_EPOLICY, "policy: reported_tcb %s %d is below sev_snp.min_tcb.%s %d", SNP_TCB_NAMES[i], have[i],
                           SNP_TCB_NAMES[i], p->snp_min_tcb[i]);
    }
    return 0;
}

static int parse_statuses(json_t *v, tl_policy *p, tl_err *err)
{
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 6)
        return tl_errf(err, TL_EINVAL, "policy: tcb_statuses must be a list of 1..6 TCB status names");
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        const char *s = json_string_value(e);
        int ok = 0;
        for (size_t j = 0; s && j < sizeof known_status / sizeof *known_status; j++)
            ok |= !strcmp(s, known_status[j]);
        if (!ok)
            return tl_errf(err, TL_EINVAL,
                           "policy: tcb_statuses[%zu] \"%.60s\" is not an acceptable TCB status (UpToDate, SWHardeningNeeded, "
                           "ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, OutOfDate, OutOfDateConfigurationNeeded; "
                           "Revoked is never acceptable)", i, s ? s : "(not a string)");
        snprintf(p->statuses[i], sizeof p->statuses[i], "%s", s);
    }
    p->nstatus = (int)json_array_size(v);
    return 0;
}

static int parse_obj(json_t *root, tl_policy *p, tl_err *err)
{
    if (!json_is_object(root))
        return tl_errf(err, TL_EINVAL, "policy: must be a JSON object");
    enum { VERSION, COMMENT, MRENCLAVE, MRSIGNER, PROD, SVN, DEBUG, SIM, STATUSES, TDX, SNP, NF };
    static const tl_json_field fields[] = {{"version"},     {"comment"},          {"mrenclave"},    {"mrsigner"},
                                           {"isv_prod_id"}, {"min_isv_svn"},      {"allow_debug"},  {"allow_simulation"},
                                           {"tcb_statuses"}, {"tdx"},             {"sev_snp"},      {NULL}};
    json_t *v[NF];
    if (check_fields(root, fields, v, NULL,
                     "version, comment, mrenclave, mrsigner, isv_prod_id, min_isv_svn, allow_debug, allow_simulation, "
                     "tcb_statuses, tdx, sev_snp", err))
        return err->code;
    if (v[VERSION] && json_integer_value(v[VERSION]) != 1)
        return tl_errf(err, TL_EINVAL, "policy: version must be 1");
    if (v[COMMENT] && !json_is_string(v[COMMENT]))
        return tl_errf(err, TL_EINVAL, "policy: comment must be a string");
    p->mrsigner.set = v[MRSIGNER] != NULL;
    if ((v[MRENCLAVE] && get_hexlist(v[MRENCLAVE], "mrenclave", 32, &p->mrenclave, err)) ||
        (v[MRSIGNER] && get_hex(v[MRSIGNER], "mrsigner", 32, p->mrsigner.v, err)) ||
        (v[PROD] && get_u16(v[PROD], "isv_prod_id", &p->isv_prod_id, err)) ||
        (v[SVN] && get_u16(v[SVN], "min_isv_svn", &p->min_isv_svn, err)) ||
        (v[DEBUG] && get_bool(v[DEBUG], "allow_debug", &p->allow_debug, err)) ||
        (v[SIM] && get_bool(v[SIM], "allow_simulation", &p->allow_simulation, err)) ||
        (v[STATUSES] && parse_statuses(v[STATUSES], p, err)) || (v[TDX] && parse_tdx(v[TDX], p, err)) ||
        (v[SNP] && parse_snp(v[SNP], p, err)))
        return err->code;
    if (p->mrsigner.set && p->isv_prod_id < 0)
        return tl_errf(err, TL_EINVAL, "policy: mrsigner needs isv_prod_id (a signer may sign many products)");
    if (!p->mrenclave.n && !p->mrsigner.set && !p->has_tdx && !p->has_snp)
        return tl_errf(err, TL_EINVAL, "policy: admits nothing: give mrenclave, mrsigner + isv_prod_id, tdx or sev_snp");
    if (!p->nstatus) {
        p->nstatus = 1;
        snprintf(p->statuses[0], sizeof p->statuses[0], "UpToDate");
    }
    return 0;
}

tl_policy *tl_policy_parse(const char *text, tl_err *err)
{
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        tl_errf(err, TL_EINVAL, "policy: invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    tl_policy *p = calloc(1, sizeof *p);
    if (!p) {
        json_decref(root);
        tl_errf(err, TL_ENOMEM, "policy: out of memory");
        return NULL;
    }
    p->isv_prod_id = p->min_isv_svn = -1;
    /* SEV-SNP defaults (docs/policy.md): SMT allowed, no migration agent, any socket count,
     * every VMPL, product and signer; no minimum TCB */
    p->snp_allow_smt = 1;
    p->snp_vmpl_mask = 0xf;
    p->snp_product_mask = 7;
    p->snp_signer_mask = 3;
    for (int i = 0; i < 5; i++)
        p->snp_min_tcb[i] = -1;
    tl_err local = {0};
    if (parse_obj(root, p, err ? err : &local)) {
        free(p);
        p = NULL;
    }
    json_decref(root);
    return p;
}

tl_policy *tl_policy_load(const char *path, tl_err *err)
{
    uint8_t *buf;
    size_t n;
    if (tl_read_file(path, 1 << 20, &buf, &n, err))
        return NULL;
    tl_policy *p = NULL;
    if (memchr(buf, 0, n))
        tl_errf(err, TL_EINVAL, "%s: policy contains a NUL byte", path);
    else if (!(p = tl_policy_parse((const char *)buf, err)))
        tl_err_prefix(err, "%s", path);
    free(buf);
    return p;
}

void tl_policy_free(tl_policy *p) { free(p); }

static int in_list(const hexlist *l, const uint8_t *v, size_t n)
{
    for (int i = 0; i < l->n; i++)
        if (!memcmp(l->v[i], v, n))
            return 1;
    return 0;
}

static int refuse_list(const char *field, const hexlist *l, const uint8_t *v, size_t n, tl_err *err)
{
    char got[97], want[3][97];
    tl_hex(v, n, got);
    for (int i = 0; i < l->n && i < 3; i++)
        tl_hex(l->v[i], n, want[i]);
    return tl_errf(err, TL_EPOLICY, "policy: %s %s is not in the allowed list [%s%s%s%s%s%s]", field, got, want[0],
                   l->n > 1 ? ", " : "", l->n > 1 ? want[1] : "", l->n > 2 ? ", " : "", l->n > 2 ? want[2] : "",
                   l->n > 3 ? ", ..." : "");
}

static int refuse_val(const char *field, const uint8_t *want, const uint8_t *got, size_t n, tl_err *err)
{
    char g[97], w[97];
    tl_hex(got, n, g);
    tl_hex(want, n, w);
    return tl_errf(err, TL_EPOLICY, "policy: %s %s differs from the required %s", field, g, w);
}

int tl_policy_check(const tl_policy *p, const tl_identity *id, tl_err *err)
{
    if (!p || !id)
        return tl_errf(err, TL_EINVAL, "policy: no policy or identity");
    if (id->simulated && !p->allow_simulation)
        return tl_errf(err, TL_EPOLICY,
                       "policy: simulated is true (evidence from the sim backend, which protects nothing) and "
                       "allow_simulation is false");
    if (id->debug && !p->allow_debug)
        return tl_errf(err, TL_EPOLICY, "policy: debug is true (a debug %s can be inspected by the host) and allow_debug is false",
                       id->kind == TL_TEE_KIND_TDX ? "TD" : id->kind == TL_TEE_KIND_SEV_SNP ? "guest" : "enclave");
    if (!id->simulated && id->kind != TL_TEE_KIND_SEV_SNP) { /* AMD states no TCB status: sev_snp.min_tcb */
        int ok = 0;
        char list[300] = "";
        for (int i = 0; i < p->nstatus; i++) {
            ok |= !strcmp(id->tcb_status, p->statuses[i]);
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", p->statuses[i]);
        }
        if (!ok)
            return tl_errf(err, TL_EPOLICY, "policy: tcb_status %s%s%s%s is not in tcb_statuses [%s]",
                           id->tcb_status[0] ? id->tcb_status : "(none)", id->advisories[0] ? " (advisories " : "",
                           id->advisories, id->advisories[0] ? ")" : "", list);
    }
    switch (id->kind) {
    case TL_TEE_KIND_SGX:
        if (!p->mrenclave.n && !p->mrsigner.set)
            return tl_errf(err, TL_EPOLICY, "policy: has no SGX rule (mrenclave or mrsigner) for this SGX evidence");
        if (p->mrenclave.n && !in_list(&p->mrenclave, id->mrenclave, 32))
            return refuse_list("mrenclave", &p->mrenclave, id->mrenclave, 32, err);
        if (p->mrsigner.set && memcmp(p->mrsigner.v, id->mrsigner, 32))
            return refuse_val("mrsigner", p->mrsigner.v, id->mrsigner, 32, err);
        if (p->isv_prod_id >= 0 && id->isv_prod_id != p->isv_prod_id)
            return tl_errf(err, TL_EPOLICY, "policy: isv_prod_id %u differs from the required %d", id->isv_prod_id,
                           p->isv_prod_id);
        if (p->min_isv_svn >= 0 && id->isv_svn < p->min_isv_svn)
            return tl_errf(err, TL_EPOLICY, "policy: isv_svn %u is below min_isv_svn %d", id->isv_svn, p->min_isv_svn);
        return 0;
    case TL_TEE_KIND_TDX:
        if (!p->has_tdx)
            return tl_errf(err, TL_EPOLICY, "policy: has no tdx rule for this TDX evidence");
        if (!in_list(&p->mrtd, id->mrtd, 48))
            return refuse_list("tdx.mrtd", &p->mrtd, id->mrtd, 48, err);
        for (int i = 0; i < 4; i++)
            if (p->rtmr[i].set && memcmp(p->rtmr[i].v, id->rtmr[i], 48)) {
                char f[16];
                snprintf(f, sizeof f, "tdx.rtmr%d", i);
                return refuse_val(f, p->rtmr[i].v, id->rtmr[i], 48, err);
            }
        if (p->td_attr_set) {
            uint8_t masked[8];
            for (int i = 0; i < 8; i++)
                masked[i] = id->td_attributes[i] & p->td_attr_mask[i];
            if (memcmp(masked, p->td_attr, 8)) {
                char g[17], w[17], m[17];
                tl_hex(id->td_attributes, 8, g);
                tl_hex(p->td_attr, 8, w);
                tl_hex(p->td_attr_mask, 8, m);
                return tl_errf(err, TL_EPOLICY, "policy: tdx.td_attributes %s masked with %s differs from the required %s",
                               g, m, w);
            }
        }
        return 0;
    case TL_TEE_KIND_SEV_SNP:
        return check_snp(p, id, err);
    }
    return tl_errf(err, TL_EPOLICY, "policy: unknown evidence kind %d", (int)id->kind);
}
