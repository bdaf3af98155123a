/* Parsing of Intel's signed collateral JSON. Intel may add fields, so unknown fields are ignored;
 * every field used must be present with the right type and range. */
#include "tee/tcbinfo.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "tee/certs.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/json_fields.h"

#define FAIL(...) do { tl_errf(err, TL_EINVAL, __VA_ARGS__); goto fail; } while (0)

static const char *str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static int intval(json_t *o, const char *k, long max, long *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return -1;
    *out = (long)json_integer_value(v);
    return 0;
}

static int hexfield(json_t *o, const char *k, uint8_t *out, size_t n)
{
    const char *s = str(o, k);
    return s ? tl_unhex(s, strlen(s), out, n) : TL_CODEC_ELEN;
}

static int dates(json_t *o, time_t *issue, time_t *next)
{
    return tl_parse_iso8601(str(o, "issueDate"), issue) || tl_parse_iso8601(str(o, "nextUpdate"), next) ? -1 : 0;
}

static const char *const statuses[] = {"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
                                       "ConfigurationAndSWHardeningNeeded", "OutOfDate",
                                       "OutOfDateConfigurationNeeded", "Revoked"};

static int status_ok(const char *s)
{
    for (size_t i = 0; s && i < sizeof statuses / sizeof *statuses; i++)
        if (!strcmp(s, statuses[i]))
            return 1;
    return 0;
}

/* tcbStatus, tcbDate, advisoryIDs of one level */
static int level_common(json_t *lv, char status[48], char date[32], char adv[512])
{
    const char *s = str(lv, "tcbStatus"), *d = str(lv, "tcbDate");
    time_t t;
    if (!status_ok(s) || !d || tl_parse_iso8601(d, &t))
        return -1;
    snprintf(status, 48, "%s", s);
    snprintf(date, 32, "%s", d);
    adv[0] = 0;
    json_t *a = json_object_get(lv, "advisoryIDs");
    if (a) {
        size_t i;
        json_t *e;
        if (!json_is_array(a))
            return -1;
        json_array_foreach(a, i, e) {
            const char *id = json_string_value(e);
            size_t used = strlen(adv);
            if (!id || strchr(id, ',') || used + strlen(id) + 2 > 512)
                return -1;
            snprintf(adv + used, 512 - used, "%s%s", used ? "," : "", id);
        }
    }
    return 0;
}

static int components(json_t *arr, uint8_t out[16])
{
    if (!json_is_array(arr) || json_array_size(arr) != 16)
        return -1;
    for (size_t i = 0; i < 16; i++) {
        long v;
        if (intval(json_array_get(arr, i), "svn", 255, &v))
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int isv_levels(json_t *arr, tl_isv_level *lv, int *n)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > TL_MAX_LEVELS)
        return -1;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        long svn;
        if (intval(json_object_get(e, "tcb"), "isvsvn", 65535, &svn) ||
            level_common(e, lv[i].status, lv[i].date, lv[i].advisories))
            return -1;
        lv[i].isvsvn = (uint16_t)svn;
    }
    *n = (int)json_array_size(arr);
    return 0;
}

/* The JSON object of a collateral document; NULL after an error naming `what` and the place. */
static json_t *load_doc(const char *text, size_t n, const char *what, tl_err *err)
{
    json_error_t je;
    json_t *o = tl_json_load_object(text, n, &je, NULL);
    if (!o)
        tl_errf(err, TL_EINVAL, "%s: invalid JSON at line %d column %d: %s", what, je.line, je.column, je.text);
    return o;
}

int tl_tcb_info_parse(const char *text, size_t n, tl_tcb_info *t, tl_err *err)
{
    memset(t, 0, sizeof *t);
    json_t *o = load_doc(text, n, "TCB info", err);
    long v;
    if (!o)
        return TL_EINVAL;
    const char *id = str(o, "id");
    if (intval(o, "version", 100, &v) || (v != 2 && v != 3))
        FAIL("TCB info: version must be 2 or 3");
    t->version = (int)v;
    if (t->version == 3 ? !id || (strcmp(id, "SGX") && strcmp(id, "TDX")) : id != NULL)
        FAIL("TCB info: id must be \"SGX\" or \"TDX\"");
    snprintf(t->id, sizeof t->id, "%s", id ? id : "SGX");
    if (dates(o, &t->issue, &t->next))
        FAIL("TCB info: issueDate/nextUpdate missing or not ISO 8601 UTC");
    if (hexfield(o, "fmspc", t->fmspc, 6) || hexfield(o, "pceId", t->pceid, 2))
        FAIL("TCB info: fmspc (6 bytes hex) or pceId (2 bytes hex) missing or malformed");
    json_t *levels = json_object_get(o, "tcbLevels");
    if (!json_is_array(levels) || json_array_size(levels) == 0 || json_array_size(levels) > TL_MAX_LEVELS)
        FAIL("TCB info: tcbLevels must be a list of 1..%d levels", TL_MAX_LEVELS);
    size_t i;
    json_t *lv;
    json_array_foreach(levels, i, lv) {
        tl_tcb_level *L = &t->levels[i];
        json_t *tcb = json_object_get(lv, "tcb");
        if (!json_is_object(tcb) || level_common(lv, L->status, L->date, L->advisories))
            FAIL("TCB info: tcbLevels[%zu] lacks tcb, a known tcbStatus or tcbDate", i);
        if (intval(tcb, "pcesvn", 65535, &v))
            FAIL("TCB info: tcbLevels[%zu].tcb.pcesvn missing", i);
        L->pcesvn = (uint16_t)v;
        if (t->version == 3) {
            if (components(json_object_get(tcb, "sgxtcbcomponents"), L->sgx))
                FAIL("TCB info: tcbLevels[%zu].tcb.sgxtcbcomponents must hold 16 {svn} entries", i);
            json_t *tdx = json_object_get(tcb, "tdxtcbcomponents");
            if (tdx && components(tdx, L->tdx))
                FAIL("TCB info: tcbLevels[%zu].tcb.tdxtcbcomponents must hold 16 {svn} entries", i);
            L->has_tdx = tdx != NULL;
            if (!strcmp(t->id, "TDX") && !tdx)
                FAIL("TCB info: TDX tcbLevels[%zu] lacks tdxtcbcomponents", i);
        } else { /* version 2: flat sgxtcbcomp01svn..16svn */
            for (int c = 0; c < 16; c++) {
                char k[24];
                snprintf(k, sizeof k, "sgxtcbcomp%02dsvn", c + 1);
                if (intval(tcb, k, 255, &v))
                    FAIL("TCB info: tcbLevels[%zu].tcb.%s missing", i, k);
                L->sgx[c] = (uint8_t)v;
            }
        }
    }
    t->nlevels = (int)json_array_size(levels);
    json_t *mod = json_object_get(o, "tdxModule");
    if (mod) {
        if (hexfield(mod, "mrsigner", t->module_mrsigner, 48) || hexfield(mod, "attributes", t->module_attributes, 8) ||
            hexfield(mod, "attributesMask", t->module_attributes_mask, 8))
            FAIL("TCB info: tdxModule needs mrsigner (48 bytes), attributes and attributesMask (8 bytes) in hex");
        t->has_tdx_module = 1;
    }
    json_t *mods = json_object_get(o, "tdxModuleIdentities");
    if (mods) {
        if (!json_is_array(mods) || json_array_size(mods) > 8)
            FAIL("TCB info: tdxModuleIdentities must be a list of at most 8");
        json_array_foreach(mods, i, lv) {
            tl_tdx_module_id *m = &t->modules[i];
            const char *mid = str(lv, "id");
            if (!mid || strlen(mid) >= sizeof m->id || hexfield(lv, "mrsigner", m->mrsigner, 48) ||
                hexfield(lv, "attributes", m->attributes, 8) || hexfield(lv, "attributesMask", m->attributes_mask, 8) ||
                isv_levels(json_object_get(lv, "tcbLevels"), m->levels, &m->nlevels))
                FAIL("TCB info: tdxModuleIdentities[%zu] is malformed", i);
            snprintf(m->id, sizeof m->id, "%s", mid);
        }
        t->nmodules = (int)json_array_size(mods);
    }
    json_decref(o);
    return 0;
fail:
    json_decref(o);
    return TL_EINVAL;
}

int tl_qe_identity_parse(const char *text, size_t n, tl_qe_identity *q, tl_err *err)
{
    memset(q, 0, sizeof *q);
    json_t *o = load_doc(text, n, "QE identity", err);
    long v;
    if (!o)
        return TL_EINVAL;
    const char *id = str(o, "id");
    if (!id || (strcmp(id, "QE") && strcmp(id, "TD_QE") && strcmp(id, "QVE")))
        FAIL("QE identity: id must be \"QE\" or \"TD_QE\"");
    snprintf(q->id, sizeof q->id, "%s", id);
    if (intval(o, "version", 100, &v) || v != 2)
        FAIL("QE identity: version must be 2");
    q->version = 2;
    if (dates(o, &q->issue, &q->next))
        FAIL("QE identity: issueDate/nextUpdate missing or not ISO 8601 UTC");
    uint8_t ms[4], mm[4];
    if (hexfield(o, "miscselect", ms, 4) || hexfield(o, "miscselectMask", mm, 4) ||
        hexfield(o, "attributes", q->attributes, 16) || hexfield(o, "attributesMask", q->attributes_mask, 16) ||
        hexfield(o, "mrsigner", q->mrsigner, 32))
        FAIL("QE identity: miscselect(Mask) (4 bytes), attributes(Mask) (16 bytes) or mrsigner (32 bytes) malformed");
    /* miscselect is written as a big-endian hex number */
    q->miscselect = tl_load_be32(ms);
    q->miscselect_mask = tl_load_be32(mm);
    if (intval(o, "isvprodid", 65535, &v))
        FAIL("QE identity: isvprodid missing");
    q->isvprodid = (uint16_t)v;
    if (isv_levels(json_object_get(o, "tcbLevels"), q->levels, &q->nlevels))
        FAIL("QE identity: tcbLevels malformed");
    json_decref(o);
    return 0;
fail:
    json_decref(o);
    return TL_EINVAL;
}
