/* Policy parsing (strict) and checking: every refusal names the field that differed and both values. */
#include <stdio.h>
#include <string.h>

#include "tee/policy.h"
#include "test.h"

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static const char *MRE = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb";
static const char *MRS = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6";

static void unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sscanf(s + 2 * i, "%2hhx", &out[i]);
}

static tl_identity sgx_id(void)
{
    tl_identity id;
    memset(&id, 0, sizeof id);
    id.kind = TL_TEE_KIND_SGX;
    unhex(MRE, id.mrenclave, 32);
    unhex(MRS, id.mrsigner, 32);
    id.isv_prod_id = 4;
    id.isv_svn = 9;
    snprintf(id.tcb_status, sizeof id.tcb_status, "UpToDate");
    return id;
}

/* checks `json` parses and refuses `id` with a message containing each of the given strings */
static void refuse(const char *json, const tl_identity *id, const char *a, const char *b, const char *c)
{
    tl_err e = {0};
    tl_policy *p = tl_policy_parse(json, &e);
    CHECKF(p != NULL, "%s: %s", json, e.msg);
    if (!p)
        return;
    int rc = tl_policy_check(p, id, &e);
    CHECKF(rc == TL_EPOLICY, "%s accepted", json);
    CHECKF(contains(e.msg, a) && (!b || contains(e.msg, b)) && (!c || contains(e.msg, c)), "%s -> %s", json, e.msg);
    tl_policy_free(p);
}

static void accept(const char *json, const tl_identity *id)
{
    tl_err e = {0};
    tl_policy *p = tl_policy_parse(json, &e);
    CHECKF(p != NULL, "%s: %s", json, e.msg);
    if (!p)
        return;
    CHECKF(tl_policy_check(p, id, &e) == 0, "%s refused: %s", json, e.msg);
    tl_policy_free(p);
}

static void bad(const char *json, const char *why)
{
    tl_err e = {0};
    tl_policy *p = tl_policy_parse(json, &e);
    CHECKF(p == NULL, "%s parsed", json);
    CHECKF(p != NULL || (e.code == TL_EINVAL && contains(e.msg, why)), "%s -> %s (want %s)", json, e.msg, why);
    tl_policy_free(p);
}

int main(void)
{
    char j[2048];
    tl_identity id = sgx_id();
    const char *other = "00d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb";

    snprintf(j, sizeof j, "{\"mrenclave\":[\"%s\",\"%s\"]}", other, MRE);
    accept(j, &id);
    snprintf(j, sizeof j, "{\"mrenclave\":\"%s\"}", other);
    refuse(j, &id, "mrenclave", MRE, other);
    snprintf(j, sizeof j, "{\"mrsigner\":\"%s\",\"isv_prod_id\":4,\"min_isv_svn\":9}", MRS);
    accept(j, &id);
    snprintf(j, sizeof j, "{\"mrsigner\":\"%s\",\"isv_prod_id\":4}", other);
    refuse(j, &id, "mrsigner", MRS, other);
    snprintf(j, sizeof j, "{\"mrsigner\":\"%s\",\"isv_prod_id\":5}", MRS);
    refuse(j, &id, "isv_prod_id", "4", "5");
    snprintf(j, sizeof j, "{\"mrsigner\":\"%s\",\"isv_prod_id\":4,\"min_isv_svn\":10}", MRS);
    refuse(j, &id, "isv_svn 9", "min_isv_svn 10", NULL);
    /* both rules given: both must hold */
    snprintf(j, sizeof j, "{\"mrenclave\":\"%s\",\"mrsigner\":\"%s\",\"isv_prod_id\":4}", MRE, other);
    refuse(j, &id, "mrsigner", NULL, NULL);

    /* debug refused unless allowed */
    tl_identity dbg = id;
    dbg.debug = 1;
    snprintf(j, sizeof j, "{\"mrenclave\":\"%s\"}", MRE);
    refuse(j, &dbg, "debug", "allow_debug", NULL);
    snprintf(j, sizeof j, "{\"mrenclave\":\"%s\",\"allow_debug\":true}", MRE);
    accept(j, &dbg);

    /* TCB statuses: default UpToDate only */
    tl_identity old = id;
    snprintf(old.tcb_status, sizeof old.tcb_status, "SWHardeningNeeded");
    snprintf(old.advisories, sizeof old.advisories, "INTEL-SA-00615");
    snprintf(j, sizeof j, "{\"mrenclave\":\"%s\"}", MRE);
    refuse(j, &old, "tcb_status SWHardeningNeeded", "[UpToDate]", "INTEL-SA-00615");
    snprintf(j, sizeof j, "{\"mrenclave\":\"%s\",\"tcb_statuses\":[\"UpToDate\",\"SWHardeningNeeded\"]}", MRE);
    accept(j, &old);

    /* simulation refused unless allowed; simulated evidence carries no TCB status to judge */
    tl_identity sim = id;
    sim.simulated = 1;
    snprintf(sim.tcb_status, sizeof sim.tcb_status, "Simulated");
    snprintf(j, sizeof j, "{\"mrenclave\":\"%s\"}", MRE);
    refuse(j, &sim, "simulated", "allow_simulation", NULL);
    snprintf(j, sizeof j, "{\"mrenclave\":\"%s\",\"allow_simulation\":true}", MRE);
    accept(j, &sim);
    snprintf(j, sizeof j, "{\"mrenclave\":\"%s\",\"allow_simulation\":true}", other);
    refuse(j, &sim, "mrenclave", MRE, NULL);

    /* TDX */
    tl_identity td;
    memset(&td, 0, sizeof td);
    td.kind = TL_TEE_KIND_TDX;
    snprintf(td.tcb_status, sizeof td.tcb_status, "UpToDate");
    memset(td.mrtd, 0xab, 48);
    memset(td.rtmr[2], 0x22, 48);
    td.td_attributes[3] = 0x10;
    char mrtd[97], r2[97], zero48[97];
    memset(mrtd, 0, sizeof mrtd);
    for (int i = 0; i < 48; i++) {
        memcpy(mrtd + 2 * i, "ab", 2);
        memcpy(r2 + 2 * i, "22", 2);
        memcpy(zero48 + 2 * i, "00", 2);
    }
    r2[96] = zero48[96] = 0;
    snprintf(j, sizeof j, "{\"mrenclave\":\"%s\"}", MRE);
    refuse(j, &td, "no tdx rule", NULL, NULL);
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",\"rtmr2\":\"%s\",\"td_attributes\":\"0000001000000000\",\"td_attributes_mask\":\"ffffffffffffffff\"}}", mrtd, r2);
    accept(j, &td);
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":[\"%s\"]}}", zero48);
    refuse(j, &td, "tdx.mrtd", mrtd, zero48);
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",\"rtmr2\":\"%s\"}}", mrtd, zero48);
    refuse(j, &td, "tdx.rtmr2", r2, zero48);
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",\"td_attributes\":\"0000000000000000\",\"td_attributes_mask\":\"00000010000000ff\"}}", mrtd);
    refuse(j, &td, "tdx.td_attributes 0000001000000000", "0000000000000000", NULL);
    tl_identity tdd = td;
    tdd.debug = 1;
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\"}}", mrtd);
    refuse(j, &tdd, "debug", "TD", NULL);

    /* SEV-SNP */
    tl_identity snp;
    memset(&snp, 0, sizeof snp);
    snp.kind = TL_TEE_KIND_SEV_SNP;
    snprintf(snp.tcb_status, sizeof snp.tcb_status, "UpToDate");
    memset(snp.snp_measurement, 0xab, 48);
    snprintf(j, sizeof j, "{\"sev_snp\":{\"measurement\":\"%s\"}}", mrtd);
    accept(j, &snp);
    snprintf(j, sizeof j, "{\"sev_snp\":{\"measurement\":\"%s\"}}", zero48);
    refuse(j, &snp, "sev_snp.measurement", mrtd, NULL);

    /* strict parsing */
    bad("{\"mrenclave\":\"33d8\"}", "mrenclave must be 64 hex digits");
    snprintf(j, sizeof j, "{\"mrenclave\":\"%s\",\"mrenclve\":1}", MRE);
    bad(j, "unknown field \"mrenclve\"");
    snprintf(j, sizeof j, "{\"mrenclave\":\"%s\",\"tcb_statuses\":[\"Revoked\"]}", MRE);
    bad(j, "Revoked is never acceptable");
    snprintf(j, sizeof j, "{\"mrsigner\":\"%s\"}", MRS);
    bad(j, "mrsigner needs isv_prod_id");
    snprintf(j, sizeof j, "{\"mrenclave\":\"%s\",\"mrenclave\":\"%s\"}", MRE, MRE);
    bad(j, "duplicate");
    bad("{}", "admits nothing");
    bad("[]", "must be a JSON object");
    bad("{\"mrenclave\":", "invalid JSON");
    snprintf(j, sizeof j, "{\"mrenclave\":\"%s\",\"allow_debug\":1}", MRE);
    bad(j, "allow_debug must be true or false");
    snprintf(j, sizeof j, "{\"mrenclave\":\"%.62szz\"}", MRE);
    bad(j, "mrenclave must be 64 hex digits");
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",\"rtmr4\":\"%s\"}}", mrtd, mrtd);
    bad(j, "unknown field tdx.rtmr4");
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",\"td_attributes\":\"0100000000000000\",\"td_attributes_mask\":\"0000000000000000\"}}", mrtd);
    bad(j, "outside");
    snprintf(j, sizeof j, "{\"mrsigner\":\"%s\",\"isv_prod_id\":70000}", MRS);
    bad(j, "isv_prod_id must be an integer 0..65535");
    tl_err e = {0};
    CHECK(tl_policy_load("/nonexistent/policy.json", &e) == NULL && contains(e.msg, "/nonexistent/policy.json"));
    return test_finish();
}
