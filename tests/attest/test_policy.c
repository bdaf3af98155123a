/* Policy parsing (strict) and checking: every refusal names the field that differed and both values. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tee/certs.h"
#include "tee/collateral.h"
#include "tee/policy.h"
#include "tee/verify.h"
#include "attest_test.h"
#include "test.h"
#include "util/codec.h"
#include "util/io.h"

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

/* bad() of the policy text printf formats. */
static void __attribute__((format(printf, 2, 3))) badf(const char *why, const char *fmt, ...)
{
    char j[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j, sizeof j, fmt, ap);
    va_end(ap);
    bad(j, why);
}

/* Fixture set B: a real TDX quote, verified with its collateral, judged by policies pinning its
 * real RTMRs (RTMR0-2 from its boot, RTMR3 all zero: nothing extended it). */
static const char *B_MRTD = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";
static const char *B_RTMR[4] = {
    "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0",
    "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378",
    "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"};

static void b_policy(char *j, size_t cap, const char *r0, const char *r1, const char *r2, const char *r3)
{
    snprintf(j, cap, "{\"tdx\":{\"mrtd\":\"%s\",\"rtmr0\":\"%s\",\"rtmr1\":\"%s\",\"rtmr2\":\"%s\",\"rtmr3\":\"%s\"}}",
             B_MRTD, r0, r1, r2, r3);
}

static void test_fixture_b(void)
{
    const char *qp = test_shared("fixtures/dcap/tdx_v4_quote_phala.bin");
    const char *cp = test_shared("fixtures/dcap/tdx_v4_quote_phala_collateral.json");
    if (!qp || !cp) {
        printf("fixture set B is absent: its part of this test is skipped\n");
        return;
    }
    uint8_t *q = NULL;
    size_t n = 0;
    tl_err e = {0};
    time_t now = 0;
    CHECK(tl_parse_iso8601("2025-07-01T00:00:00Z", &now) == 0);
    tl_collateral *col = tl_collateral_load(cp, &e);
    CHECKF(col != NULL, "%s", e.msg);
    CHECKF(tl_read_file(qp, 1 << 20, &q, &n, &e) == 0, "%s", e.msg);
    tl_identity id;
    int rc = col && q ? tl_evidence_verify(q, n, col, now, &id, &e) : -1;
    CHECKF(rc == 0, "set B does not verify: %s", e.msg);
    if (rc == 0) {
        char j[2048];
        for (int i = 0; i < 4; i++) {
            char h[97];
            tl_hex(id.rtmr[i], 48, h);
            CHECKF(strcmp(h, B_RTMR[i]) == 0, "rtmr%d %s", i, h);
        }
        b_policy(j, sizeof j, B_RTMR[0], B_RTMR[1], B_RTMR[2], B_RTMR[3]);
        accept(j, &id);
        /* another kernel (RTMR1) or another teelm / configuration (RTMR3): refused by name, both values */
        const char *other = "0184452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378";
        b_policy(j, sizeof j, B_RTMR[0], other, B_RTMR[2], B_RTMR[3]);
        refuse(j, &id, "tdx.rtmr1", B_RTMR[1], other);
        b_policy(j, sizeof j, B_RTMR[0], B_RTMR[1], B_RTMR[2], other);
        refuse(j, &id, "tdx.rtmr3 000000", other, NULL);
        /* MRTD alone admitted this quote before; now the policy itself is refused */
        snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\"}}", B_MRTD);
        bad(j, "tdx.rtmr0 is missing");
        snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",\"allow_unmeasured_os\":true}}", B_MRTD);
        accept(j, &id);
    }
    free(q);
    tl_collateral_free(col);
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
    /* the RTMRs of `td`: rtmr2 is 22.., the others zero (adapted: every policy below pins all four,
     * which a TDX policy must since MRTD alone measures only the firmware) */
    char rt[512];
    snprintf(rt, sizeof rt, "\"rtmr0\":\"%s\",\"rtmr1\":\"%s\",\"rtmr2\":\"%s\",\"rtmr3\":\"%s\"", zero48, zero48,
             r2, zero48);
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",%s,\"td_attributes\":\"0000001000000000\",\"td_attributes_mask\":\"ffffffffffffffff\"}}", mrtd, rt);
    accept(j, &td);
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":[\"%s\"],%s}}", zero48, rt);
    refuse(j, &td, "tdx.mrtd", mrtd, zero48);
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",\"rtmr0\":\"%s\",\"rtmr1\":\"%s\",\"rtmr2\":\"%s\",\"rtmr3\":\"%s\"}}", mrtd,
             zero48, zero48, zero48, zero48);
    refuse(j, &td, "tdx.rtmr2", r2, zero48);
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",%s,\"td_attributes\":\"0000000000000000\",\"td_attributes_mask\":\"00000010000000ff\"}}", mrtd, rt);
    refuse(j, &td, "tdx.td_attributes 0000001000000000", "0000000000000000", NULL);
    tl_identity tdd = td;
    tdd.debug = 1;
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",%s}}", mrtd, rt);
    refuse(j, &tdd, "debug", "TD", NULL);

    /* hostile host item 2: a policy that pins only the firmware (MRTD) admits any OS and any
     * program booted from it, so it is refused when loaded, naming the first missing RTMR... */
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\"}}", mrtd);
    bad(j, "tdx.rtmr0 is missing");
    bad(j, "allow_unmeasured_os");
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",\"rtmr0\":\"%s\",\"rtmr1\":\"%s\",\"rtmr2\":\"%s\"}}", mrtd, zero48,
             zero48, r2);
    bad(j, "tdx.rtmr3 is missing");
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",\"rtmr0\":\"%s\",\"rtmr2\":\"%s\",\"rtmr3\":\"%s\"}}", mrtd, zero48,
             r2, zero48);
    bad(j, "tdx.rtmr1 is missing");
    /* ... unless it says so explicitly */
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",\"allow_unmeasured_os\":true}}", mrtd);
    accept(j, &td);
    badf("tdx.rtmr0 is missing", "{\"tdx\":{\"mrtd\":\"%s\",\"allow_unmeasured_os\":false}}", mrtd);
    badf("tdx.allow_unmeasured_os must be true or false", "{\"tdx\":{\"mrtd\":\"%s\",\"allow_unmeasured_os\":1}}", mrtd);
    /* with allow_unmeasured_os, the RTMRs it does give still hold */
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",\"allow_unmeasured_os\":true,\"rtmr3\":\"%s\"}}", mrtd, r2);
    refuse(j, &td, "tdx.rtmr3", zero48, r2);
    /* an RTMR3 that differs (another program, or another configuration) is refused by name */
    tl_identity td3 = td;
    td3.rtmr[3][47] = 1;
    snprintf(j, sizeof j, "{\"tdx\":{\"mrtd\":\"%s\",%s}}", mrtd, rt);
    refuse(j, &td3, "tdx.rtmr3 0000", "01 differs from the required 0000", NULL);
    test_fixture_b();

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
    badf("unknown field \"mrenclve\"", "{\"mrenclave\":\"%s\",\"mrenclve\":1}", MRE);
    badf("Revoked is never acceptable", "{\"mrenclave\":\"%s\",\"tcb_statuses\":[\"Revoked\"]}", MRE);
    badf("mrsigner needs isv_prod_id", "{\"mrsigner\":\"%s\"}", MRS);
    badf("duplicate", "{\"mrenclave\":\"%s\",\"mrenclave\":\"%s\"}", MRE, MRE);
    bad("{}", "admits nothing");
    bad("[]", "must be a JSON object");
    bad("{\"mrenclave\":", "invalid JSON");
    badf("allow_debug must be true or false", "{\"mrenclave\":\"%s\",\"allow_debug\":1}", MRE);
    badf("mrenclave must be 64 hex digits", "{\"mrenclave\":\"%.62szz\"}", MRE);
    badf("unknown field tdx.rtmr4", "{\"tdx\":{\"mrtd\":\"%s\",\"rtmr4\":\"%s\"}}", mrtd, mrtd);
    badf("outside", "{\"tdx\":{\"mrtd\":\"%s\",\"td_attributes\":\"0100000000000000\",\"td_attributes_mask\":\"0000000000000000\"}}", mrtd);
    badf("isv_prod_id must be an integer 0..65535", "{\"mrsigner\":\"%s\",\"isv_prod_id\":70000}", MRS);
    tl_err e = {0};
    CHECK(tl_policy_load("/nonexistent/policy.json", &e) == NULL && contains(e.msg, "/nonexistent/policy.json"));
    return test_finish();
}
