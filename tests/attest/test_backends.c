/* The occlum and tsm backends against TEST DOUBLES (no SGX device or confidential VM here):
 *  - occlum: a regular file in a temp dir stands in for /dev/sgx and an injected ioctl function
 *    plays Occlum's driver, answering with the real quote of fixture set A;
 *  - tsm: a temp dir stands in for /sys/kernel/config/tsm/report, and injected file operations play
 *    the kernel (mkdir creates provider/generation, writing inblob bumps generation, outblob holds
 *    the real TDX quote of fixture set B, or a synthetic SEV-SNP report).
 * Covered: success (and the evidence verifies with the real collateral), EBUSY retry with bounded
 * backoff, EIO, a too-small buffer, generation races, cleanup of report entries. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tee/certs.h"
#include "tee/quote.h"
#include "tee/snp.h"
#include "tee/tee_io.h"
#include "tee/verify.h"
#include "attest_test.h"
#include "test.h"
#include "util/io.h"

static uint8_t *load(const char *rel, size_t *n)
{
    const char *p = test_shared(rel);
    uint8_t *d = NULL;
    tl_err e = {0};
    if (!p || tl_read_file(p, 1 << 20, &d, n, &e))
        test_skip("../shared/fixtures/dcap is absent");
    return d;
}

/* ---------------- occlum ---------------- */

typedef struct {
    const uint8_t *quote;
    size_t quote_len;
    uint32_t size_reported, size_reported_later, size_required;
    int size_calls, gen_calls;
    int busy;          /* EBUSY for this many calls */
    int fail_errno;    /* GEN fails with this */
    int garbage;       /* GEN returns a corrupted quote */
    unsigned slept[16];
    int nsleeps;
} fake_sgx;

static int fake_ioctl(int fd, unsigned long req, void *arg, void *ctx)
{
    (void)fd;
    fake_sgx *f = ctx;
    if (f->busy > 0) {
        f->busy--;
        errno = EBUSY;
        return -1;
    }
    if (req == TL_SGXIOC_GET_DCAP_QUOTE_SIZE) {
        /* size_reported_later (when set) is what the device says from the second query on */
        *(uint32_t *)arg = f->size_calls++ == 0 || !f->size_reported_later ? f->size_reported : f->size_reported_later;
        return 0;
    }
    if (req != TL_SGXIOC_GEN_DCAP_QUOTE) {
        errno = ENOTTY;
        return -1;
    }
    f->gen_calls++;
    tl_sgxioc_gen_dcap_quote *g = arg;
    if (f->fail_errno) {
        errno = f->fail_errno;
        return -1;
    }
    if (*g->quote_len < f->size_required) {
        errno = EINVAL;
        return -1;
    }
    /* the driver puts the caller's report data in the ISV report; this double can only return
     * the fixture quote, so it must be asked for exactly its report data */
    memset(g->quote_buf, 0, *g->quote_len);
    memcpy(g->quote_buf, f->quote, f->quote_len);
    if (memcmp(g->report_data, f->quote + 48 + 320, 64))
        g->quote_buf[48 + 320] ^= 0xff; /* i.e. evidence for other report data */
    if (f->garbage)
        g->quote_buf[433] ^= 0x40; /* signature data length */
    *g->quote_len = (uint32_t)f->quote_len;
    return 0;
}

static void fake_sleep(unsigned ms, void *ctx)
{
    fake_sgx *f = ctx;
    if (f->nsleeps < 16)
        f->slept[f->nsleeps] = ms;
    f->nsleeps++;
}

static tl_tee *open_fake(const char *dev, fake_sgx *f, tl_err *e)
{
    tl_occlum_io io = {dev, fake_ioctl, fake_sleep, f};
    return tl_tee_occlum_open_io(&io, e);
}

static void test_occlum(const char *dir)
{
    size_t an, cn;
    uint8_t *aq = load("fixtures/dcap/sgx_v3_quote_phala.bin", &an);
    uint8_t *acol_raw = load("fixtures/dcap/sgx_v3_quote_phala_collateral.json", &cn);
    free(acol_raw);
    tl_err e = {0};
    tl_collateral *col = tl_collateral_load(test_shared("fixtures/dcap/sgx_v3_quote_phala_collateral.json"), &e);
    char dev[512];
    snprintf(dev, sizeof dev, "%s/sgx", dir);
    CHECK(test_sh("touch %s", dev) == 0); /* the fake device node */
    const uint8_t *rd = aq + 48 + 320;
    time_t now = 0;
    tl_parse_iso8601("2025-07-01T00:00:00Z", &now);

    /* success: the quote comes back trimmed of the driver's zero padding and verifies */
    const fake_sgx f = {.quote = aq, .quote_len = an, .size_reported = (uint32_t)an + 100, .size_required = (uint32_t)an};
    fake_sgx f0 = f;
    tl_tee *t = open_fake(dev, &f0, &e);
    CHECKF(t != NULL, "%s", e.msg);
    uint8_t *ev = NULL;
    size_t n = 0;
    tl_identity id;
    if (t) {
        CHECK(strcmp(t->name, "occlum") == 0 && t->simulated == 0);
        CHECKF(tl_tee_evidence(t, rd, &ev, &n, &e) == 0, "%s", e.msg);
        CHECK(n == an && ev && memcmp(ev, aq, an) == 0);
        CHECKF(tl_evidence_verify(ev, n, col, now, &id, &e) == 0, "%s", e.msg);
        CHECK(strcmp(id.tcb_status, "ConfigurationAndSWHardeningNeeded") == 0 && !id.simulated);
        free(ev);
        /* a device answering with a quote for other report data is caught */
        uint8_t other[64] = {1};
        CHECK(tl_tee_evidence(t, other, &ev, &n, &e) == TL_EINVAL && contains(e.msg, "different report data"));
        CHECK(ev == NULL);
        tl_tee_close(t);
    }

    /* EBUSY three times, then success: bounded exponential backoff 10, 20, 40 ms */
    fake_sgx b = f;
    b.busy = 3;
    t = open_fake(dev, &b, &e);
    CHECKF(t && tl_tee_evidence(t, rd, &ev, &n, &e) == 0, "%s", e.msg);
    CHECK(b.nsleeps == 3 && b.slept[0] == 10 && b.slept[1] == 20 && b.slept[2] == 40);
    free(ev);
    tl_tee_close(t);
    /* EBUSY forever: gives up after 8 attempts, having waited < 3 s in total */
    fake_sgx bb = f;
    bb.busy = 1000;
    t = open_fake(dev, &bb, &e);
    CHECK(t && tl_tee_evidence(t, rd, &ev, &n, &e) == TL_EIO);
    CHECKF(contains(e.msg, "busy after 8 attempts"), "%s", e.msg);
    unsigned total = 0;
    for (int i = 0; i < bb.nsleeps && i < 16; i++)
        total += bb.slept[i];
    CHECK(bb.nsleeps == 7 && total < 3000);
    tl_tee_close(t);

    /* EIO: DCAP not ready */
    fake_sgx io = f;
    io.fail_errno = EIO;
    t = open_fake(dev, &io, &e);
    CHECK(t && tl_tee_evidence(t, rd, &ev, &n, &e) == TL_EIO && contains(e.msg, "DCAP is not ready"));
    tl_tee_close(t);

    /* too-small buffer: the size query under-reports and never grows -> clear error */
    fake_sgx small = f;
    small.size_reported = small.size_reported_later = 1000;
    t = open_fake(dev, &small, &e);
    CHECK(t && tl_tee_evidence(t, rd, &ev, &n, &e) == TL_EINVAL);
    CHECKF(contains(e.msg, "too small") && contains(e.msg, "1000"), "%s", e.msg);
    CHECK(small.gen_calls == 1 && small.size_calls == 2);
    tl_tee_close(t);
    /* ... and when the size has grown in the meantime, one retry with the new size succeeds */
    fake_sgx grow = f;
    grow.size_reported = 1000;
    grow.size_reported_later = (uint32_t)an + 64;
    t = open_fake(dev, &grow, &e);
    CHECKF(t && tl_tee_evidence(t, rd, &ev, &n, &e) == 0, "%s", e.msg);
    CHECK(grow.gen_calls == 2 && n == an);
    free(ev);
    tl_tee_close(t);

    /* a malformed quote from the device */
    fake_sgx g = f;
    g.garbage = 1;
    t = open_fake(dev, &g, &e);
    CHECK(t && tl_tee_evidence(t, rd, &ev, &n, &e) == TL_EINVAL && contains(e.msg, "malformed quote"));
    tl_tee_close(t);

    /* an implausible size */
    fake_sgx z = f;
    z.size_reported = 0;
    t = open_fake(dev, &z, &e);
    CHECK(t && tl_tee_evidence(t, rd, &ev, &n, &e) == TL_EINVAL && contains(e.msg, "implausible quote size"));
    tl_tee_close(t);

    /* no device */
    char none[600];
    snprintf(none, sizeof none, "%s/nosgx", dir);
    fake_sgx f1 = f;
    CHECK(open_fake(none, &f1, &e) == NULL && contains(e.msg, "not running inside an Occlum enclave"));
    /* auto picks occlum when its device exists (the real ioctl on a plain file then fails) */
    tl_tee_opts o = {0};
    o.occlum_device = dev;
    o.tsm_root = "/nonexistent";
    t = tl_tee_open_opts("auto", &o, &e);
    CHECKF(t && strcmp(t->name, "occlum") == 0, "%s", e.msg);
    if (t) {
        CHECK(tl_tee_evidence(t, rd, &ev, &n, &e) != 0 && contains(e.msg, dev));
        tl_tee_close(t);
    }
    tl_collateral_free(col);
    free(aq);
}

/* ---------------- configfs-tsm ---------------- */

typedef struct {
    char provider[32];
    const uint8_t *outblob; /* NULL: build an SNP report from inblob */
    size_t outblob_len;
    int race_on_read;       /* bump generation behind our back on this many outblob reads */
    int fail_outblob;       /* errno for outblob reads */
    int writes, mkdirs, rmdirs;
    const uint8_t *auxblob; /* sev_guest: the host's certificate table (NULL: none, ENOENT) */
    size_t auxblob_len;
    int fetches;            /* fake KDS requests */
    char fetched_url[400];
    const uint8_t *kds_vcek; /* what the fake KDS serves */
    size_t kds_vcek_len;
} fake_tsm;

static int put_text(const char *dir, const char *name, const char *text)
{
    char p[2100];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static unsigned long get_gen(const char *dir)
{
    char p[2100];
    snprintf(p, sizeof p, "%s/generation", dir);
    FILE *f = fopen(p, "r");
    unsigned long g = 0;
    if (f) {
        if (fscanf(f, "%lu", &g) != 1)
            g = 0;
        fclose(f);
    }
    return g;
}

static void bump_gen(const char *dir)
{
    char b[32];
    snprintf(b, sizeof b, "%lu\n", get_gen(dir) + 1);
    put_text(dir, "generation", b);
}

static int tsm_mkdir(const char *path, void *ctx)
{
    fake_tsm *f = ctx;
    if (mkdir(path, 0700))
        return -1;
    f->mkdirs++;
    char prov[40];
    snprintf(prov, sizeof prov, "%s\n", f->provider);
    put_text(path, "provider", prov);
    put_text(path, "generation", "0\n");
    return 0;
}

static int tsm_rmdir(const char *path, void *ctx)
{
    fake_tsm *f = ctx;
    f->rmdirs++;
    return test_sh("rm -rf '%s'", path) == 0 ? 0 : -1; /* configfs removes the attributes itself */
}

static int tsm_write(const char *path, const uint8_t *d, size_t n, void *ctx)
{
    fake_tsm *f = ctx;
    if (!strstr(path, "/inblob") || n > 64) {
        errno = EINVAL;
        return -1;
    }
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    fwrite(d, 1, n, fp);
    fclose(fp);
    f->writes++;
    char dir[1024];
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
    bump_gen(dir);
    return 0;
}

static int tsm_read(const char *path, uint8_t *buf, size_t cap, size_t *n, void *ctx)
{
    fake_tsm *f = ctx;
    char dir[1024];
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
    if (strstr(path, "/outblob")) {
        if (f->fail_outblob) {
            errno = f->fail_outblob;
            return -1;
        }
        /* the "kernel" produces the report for the inblob now */
        uint8_t in[64] = {0}, rep[1184];
        char ip[1100];
        snprintf(ip, sizeof ip, "%s/inblob", dir);
        FILE *fp = fopen(ip, "rb");
        if (fp) {
            if (fread(in, 1, 64, fp) != 64)
                memset(in, 0, 64);
            fclose(fp);
        }
        const uint8_t *out = f->outblob;
        size_t len = f->outblob_len;
        if (!out) { /* SEV-SNP ATTESTATION_REPORT: version 2, ECDSA P-384, our report data */
            memset(rep, 0, sizeof rep);
            rep[0] = 2;
            rep[0x34] = 1;
            rep[0x08 + 2] = 0x08; /* policy bit 19 (debug) */
            memcpy(rep + 0x50, in, 64);
            memset(rep + 0x90, 0x5a, 48);
            out = rep;
            len = sizeof rep;
        }
        if (f->race_on_read > 0) {
            f->race_on_read--;
            bump_gen(dir); /* another process wrote the entry meanwhile */
        }
        if (len > cap)
            len = cap;
        memcpy(buf, out, len);
        *n = len;
        return 0;
    }
    if (strstr(path, "/auxblob") && f->auxblob) {
        *n = f->auxblob_len < cap ? f->auxblob_len : cap;
        memcpy(buf, f->auxblob, *n);
        return 0;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    *n = fread(buf, 1, cap, fp);
    fclose(fp);
    return 0;
}

static int fake_kds(const char *url, uint8_t **body, size_t *n, void *ctx, tl_err *err)
{
    fake_tsm *f = ctx;
    f->fetches++;
    snprintf(f->fetched_url, sizeof f->fetched_url, "%s", url);
    if (!f->kds_vcek || !strstr(url, "/vcek/v1/Milan/"))
        return tl_errf(err, TL_ENOTFOUND, "fake KDS: %s: HTTP status 404", url);
    *body = malloc(f->kds_vcek_len);
    memcpy(*body, f->kds_vcek, f->kds_vcek_len);
    *n = f->kds_vcek_len;
    return 0;
}

static int entries_left(const char *root)
{
    DIR *d = opendir(root);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static tl_tee *open_tsm(const char *root, fake_tsm *f, tl_err *e)
{
    tl_tsm_io io = {root, tsm_mkdir, tsm_rmdir, tsm_read, tsm_write, f};
    return tl_tee_tsm_open_io(&io, e);
}

/* SEV-SNP through the fake configfs: the real fixture report as outblob (asked for its own report
 * data), its certificates from the host's auxblob table, from files, or from a (fake) KDS with a
 * cache; the evidence the backend assembles must verify. */
static void test_tsm_snp(const char *root)
{
    size_t rn, vn, an;
    uint8_t *rep = load("fixtures/snp/milan_v2_virtee.report", &rn);
    uint8_t *vcek = load("fixtures/snp/milan_v2_virtee.vcek.der", &vn);
    uint8_t *amd = load("fixtures/snp/milan_ask_ark_asvk.pem", &an);
    free(amd);
    time_t now = 0;
    tl_parse_iso8601("2025-06-01T00:00:00Z", &now);
    const uint8_t *rd = rep + 0x50;
    tl_err e = {0};
    tl_identity id;
    uint8_t *ev = NULL;
    size_t n = 0;
    /* the host's table: VCEK only, padded with zeros to a page as hosts do */
    tl_snp_cert_entry ce = {TL_SNP_CERT_VCEK, vcek, vn};
    uint8_t *tab = NULL, *page = calloc(1, 8192);
    size_t tl = 0;
    CHECK(tl_snp_certtable_build(&ce, 1, &tab, &tl, &e) == 0 && tl < 8192);
    memcpy(page, tab, tl);
    fake_tsm h = {.provider = "sev_guest", .outblob = rep, .outblob_len = rn, .auxblob = page, .auxblob_len = 8192};
    tl_tee *t = open_tsm(root, &h, &e);
    if (t && tl_tee_evidence(t, rd, &ev, &n, &e) == 0) {
        CHECK(n == rn + tl && !memcmp(ev, rep, rn));
        CHECKF(tl_evidence_verify(ev, n, NULL, now, &id, &e) == 0, "%s", e.msg);
        CHECK(id.kind == TL_TEE_KIND_SEV_SNP && id.snp_product == TL_SNP_MILAN && !memcmp(id.report_data, rd, 64));
        free(ev);
    } else {
        CHECKF(0, "auxblob: %s", e.msg);
    }
    tl_tee_close(t);
    /* a garbage auxblob is refused, naming it */
    memset(page, 0xEE, 64);
    fake_tsm g = h;
    t = open_tsm(root, &g, &e);
    CHECKF(t && tl_tee_evidence(t, rd, &ev, &n, &e) != 0 && contains(e.msg, "auxblob"), "%s", e.msg);
    tl_tee_close(t);
    /* no host table: the VCEK from a file */
    char vpath[600];
    snprintf(vpath, sizeof vpath, "%s/../vcek.der", root);
    FILE *fp = fopen(vpath, "wb");
    if (fp) {
        fwrite(vcek, 1, vn, fp);
        fclose(fp);
    }
    const char *files[1] = {vpath};
    fake_tsm fl = {.provider = "sev_guest", .outblob = rep, .outblob_len = rn};
    tl_tsm_io io = {root, tsm_mkdir, tsm_rmdir, tsm_read, tsm_write, &fl};
    io.snp_cert_files = files;
    io.n_snp_cert_files = 1;
    t = tl_tee_tsm_open_io(&io, &e);
    CHECKF(t && tl_tee_evidence(t, rd, &ev, &n, &e) == 0, "%s", e.msg);
    if (t && ev) {
        CHECKF(tl_evidence_verify(ev, n, NULL, now, &id, &e) == 0, "%s", e.msg);
        free(ev);
        ev = NULL;
    }
    tl_tee_close(t);
    /* no table, no file: AMD's KDS at the URL the chip id and reported TCB name, then the cache */
    char cache[600];
    snprintf(cache, sizeof cache, "%s/../vcek-cache", root);
    CHECK(mkdir(cache, 0700) == 0);
    fake_tsm k = {.provider = "sev_guest", .outblob = rep, .outblob_len = rn, .kds_vcek = vcek, .kds_vcek_len = vn};
    tl_tsm_io kio = {root, tsm_mkdir, tsm_rmdir, tsm_read, tsm_write, &k};
    kio.snp_vcek_url = "https://kds.example";
    kio.snp_vcek_cache = cache;
    kio.fetch_fn = fake_kds;
    for (int round = 0; round < 2; round++) {
        t = tl_tee_tsm_open_io(&kio, &e);
        CHECKF(t && tl_tee_evidence(t, rd, &ev, &n, &e) == 0, "KDS round %d: %s", round, e.msg);
        if (t && ev) {
            CHECKF(tl_evidence_verify(ev, n, NULL, now, &id, &e) == 0, "%s", e.msg);
            free(ev);
            ev = NULL;
        }
        tl_tee_close(t);
    }
    /* reported_tcb 0x7308000000000003 (SOURCES.txt): bl 3, tee 0, snp 8, microcode 0x73 = 115 */
    char want[400] = "https://kds.example/vcek/v1/Milan/";
    for (int i = 0; i < 64; i++)
        snprintf(want + strlen(want), 3, "%02x", rep[0x1A0 + i]);
    strcat(want, "?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115");
    CHECKF(!strcmp(k.fetched_url, want), "%s", k.fetched_url);
    CHECKF(k.fetches == 1, "fetched %d times (the second round must use the cache)", k.fetches);
    free(tab);
    free(page);
    free(rep);
    free(vcek);
}

static void test_tsm(const char *dir)
{
    size_t bn;
    uint8_t *bq = load("fixtures/dcap/tdx_v4_quote_phala.bin", &bn);
    tl_err e = {0};
    tl_collateral *col = tl_collateral_load(test_shared("fixtures/dcap/tdx_v4_quote_phala_collateral.json"), &e);
    char root[512];
    snprintf(root, sizeof root, "%s/tsm-report", dir);
    CHECK(mkdir(root, 0700) == 0);
    const uint8_t *rd = bq + 568;
    time_t now = 0;
    tl_parse_iso8601("2025-07-01T00:00:00Z", &now);
    uint8_t *ev = NULL;
    size_t n = 0;
    tl_identity id;

    /* TDX: success, the real quote verifies, entries are removed */
    const fake_tsm f = {.provider = "tdx_guest", .outblob = bq, .outblob_len = 4936};
    fake_tsm f0 = f;
    tl_tee *t = open_tsm(root, &f0, &e);
    CHECKF(t != NULL, "%s", e.msg);
    if (t) {
        CHECK(strcmp(t->name, "tsm:tdx_guest") == 0 && !t->simulated);
        CHECKF(tl_tee_evidence(t, rd, &ev, &n, &e) == 0, "%s", e.msg);
        CHECK(n == 4936 && memcmp(ev, bq, 4936) == 0);
        CHECKF(tl_evidence_verify(ev, n, col, now, &id, &e) == 0, "%s", e.msg);
        CHECK(id.kind == TL_TEE_KIND_TDX && strcmp(id.tcb_status, "UpToDate") == 0);
        free(ev);
        CHECK(f0.writes == 1 && f0.mkdirs == 2 && f0.rmdirs == 2 && entries_left(root) == 0);
        /* evidence for other report data than asked is refused */
        uint8_t other[64] = {7};
        CHECK(tl_tee_evidence(t, other, &ev, &n, &e) == TL_EINVAL && contains(e.msg, "different report data"));
        tl_tee_close(t);
    }

    /* one race (generation moves while we read outblob): a fresh entry, then success */
    fake_tsm r = f;
    r.race_on_read = 1;
    t = open_tsm(root, &r, &e);
    CHECKF(t && tl_tee_evidence(t, rd, &ev, &n, &e) == 0, "%s", e.msg);
    CHECK(r.writes == 2 && entries_left(root) == 0);
    free(ev);
    tl_tee_close(t);
    /* racing every time: bounded retries, then a clear error */
    fake_tsm rr = f;
    rr.race_on_read = 100;
    t = open_tsm(root, &rr, &e);
    CHECK(t && tl_tee_evidence(t, rd, &ev, &n, &e) == TL_ESTATE);
    CHECKF(contains(e.msg, "gave up after 4 racing attempts") && contains(e.msg, "generation moved"), "%s", e.msg);
    CHECK(rr.writes == 4 && entries_left(root) == 0);
    tl_tee_close(t);

    /* EIO from outblob (the quoting service is down) */
    fake_tsm io = f;
    io.fail_outblob = EIO;
    t = open_tsm(root, &io, &e);
    CHECK(t && tl_tee_evidence(t, rd, &ev, &n, &e) == TL_EIO && contains(e.msg, "not ready"));
    CHECK(entries_left(root) == 0);
    tl_tee_close(t);

    /* SEV-SNP without any certificate source: the report alone is not evidence anyone can verify */
    fake_tsm s = {.provider = "sev_guest"};
    t = open_tsm(root, &s, &e);
    CHECKF(t && strcmp(t->name, "tsm:sev_guest") == 0, "%s", e.msg);
    uint8_t rd2[64];
    for (int i = 0; i < 64; i++)
        rd2[i] = (uint8_t)(200 - i);
    CHECKF(t && tl_tee_evidence(t, rd2, &ev, &n, &e) == TL_ENOTFOUND && contains(e.msg, "--snp-vcek-url"), "%s", e.msg);
    CHECK(entries_left(root) == 0);
    tl_tee_close(t);
    test_tsm_snp(root);

    /* an unknown provider, a missing root */
    fake_tsm u = {.provider = "cca_guest", .outblob = bq, .outblob_len = 4936};
    CHECK(open_tsm(root, &u, &e) == NULL && contains(e.msg, "provider \"cca_guest\" is not supported"));
    char none[600];
    snprintf(none, sizeof none, "%s/none", dir);
    fake_tsm f1 = f;
    CHECK(open_tsm(none, &f1, &e) == NULL && contains(e.msg, "cannot create report entry"));
    /* auto picks tsm when there is no SGX device but a report root (a plain dir: no provider) */
    tl_tee_opts o = {0};
    o.occlum_device = "/nonexistent/sgx";
    o.tsm_root = root;
    CHECK(tl_tee_open_opts("auto", &o, &e) == NULL && contains(e.msg, "tee tsm") && contains(e.msg, "provider"));
    tl_collateral_free(col);
    free(bq);
}

int main(void)
{
    if (!test_shared("fixtures/dcap/SOURCES.txt"))
        test_skip("../shared/fixtures/dcap is absent");
    const char *dir = test_tmpdir();
    char d[64];
    snprintf(d, sizeof d, "%s", dir);
    test_occlum(d);
    test_tsm(d);
    test_sh("rm -rf %s", d);
    return test_finish();
}
