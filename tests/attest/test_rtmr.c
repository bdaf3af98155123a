/* TDX runtime measurement (hostile-host item 2): `tl_tee_measure_runtime` on tsm:tdx_guest extends
 * RTMR3 with SHA-384(/proc/self/exe), then SHA-384(config), through the kernel's measurement
 * sysfs. No TD here, so a temp dir stands in for /sys/class/misc/tdx_guest/measurements and an
 * injected write function plays the driver (RTMR = SHA-384(RTMR ‖ written 48 bytes)). Every digest
 * this test expects it computes itself with OpenSSL, not with the code under test. Also: the
 * kernel without the interface, a kernel that does not extend, a failing write, a second call,
 * and the no-op backends (sim, SEV-SNP). */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tee/rtmr.h"
#include "tee/tee.h"
#include "tee/tee_io.h"
#include "attest_test.h"
#include "test.h"

typedef enum { KERNEL_EXTENDS, KERNEL_OVERWRITES, KERNEL_REFUSES } kernel_mode;

typedef struct {
    const char *provider;
    kernel_mode mode;
    int nwrites;           /* writes to rtmr3:sha384 */
    uint8_t written[4][48];
    size_t written_len[4];
} fake_kernel;

static int put_file(const char *p, const void *d, size_t n)
{
    FILE *f = fopen(p, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(d, 1, n, f);
    return fclose(f) || w != n ? -1 : 0;
}

static size_t get_file(const char *p, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* SHA-384 of a whole file, independently of src/tee/rtmr.c */
static void sha384_file(const char *path, uint8_t out[48])
{
    FILE *f = fopen(path, "rb");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CHECK(f && md && EVP_DigestInit_ex(md, EVP_sha384(), NULL) == 1);
    uint8_t buf[1 << 14];
    size_t n;
    while (f && md && (n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(md, buf, n);
    unsigned int len = 48;
    CHECK(md && EVP_DigestFinal_ex(md, out, &len) == 1 && len == 48);
    EVP_MD_CTX_free(md);
    if (f)
        fclose(f);
}

static void sha384(const void *d, size_t n, uint8_t out[48])
{
    unsigned int len = 48;
    CHECK(EVP_Digest(d, n, out, &len, EVP_sha384(), NULL) == 1 && len == 48);
}

/* what TDG.MR.RTMR.EXTEND does, written out again here */
static void extend(uint8_t rtmr[48], const uint8_t d[48])
{
    uint8_t in[96];
    memcpy(in, rtmr, 48);
    memcpy(in + 48, d, 48);
    sha384(in, sizeof in, rtmr);
}

/* ---- the injected file operations: configfs-tsm for opening, the tdx_guest driver for RTMR3 ---- */

static int k_mkdir(const char *path, void *ctx)
{
    fake_kernel *k = ctx;
    if (mkdir(path, 0700))
        return -1;
    char p[2048];
    snprintf(p, sizeof p, "%s/provider", path);
    return put_file(p, k->provider, strlen(k->provider));
}

static int k_rmdir(const char *path, void *ctx)
{
    (void)ctx;
    char p[2048];
    snprintf(p, sizeof p, "%s/provider", path);
    unlink(p);
    return rmdir(path);
}

static int k_read(const char *path, uint8_t *buf, size_t cap, size_t *n, void *ctx)
{
    (void)ctx;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    *n = fread(buf, 1, cap, f);
    fclose(f);
    return 0;
}

static int k_write(const char *path, const uint8_t *d, size_t n, void *ctx)
{
    fake_kernel *k = ctx;
    if (!strstr(path, "/rtmr3:sha384")) {
        errno = EACCES;
        return -1;
    }
    if (k->nwrites < 4) {
        memcpy(k->written[k->nwrites], d, n < 48 ? n : 48);
        k->written_len[k->nwrites] = n;
    }
    k->nwrites++;
    if (k->mode == KERNEL_REFUSES) {
        errno = EINVAL;
        return -1;
    }
    if (n != 48) { /* the driver's rule: one 48-byte write from offset 0 */
        errno = EINVAL;
        return -1;
    }
    uint8_t r[48];
    if (get_file(path, r, sizeof r) != 48) {
        errno = EIO;
        return -1;
    }
    if (k->mode == KERNEL_EXTENDS)
        extend(r, d);
    else
        memcpy(r, d, 48);
    return put_file(path, r, 48);
}

static tl_tee *open_td(const char *dir, fake_kernel *k, tl_err *e)
{
    char root[1024], mr[1024];
    snprintf(root, sizeof root, "%s/report", dir);
    snprintf(mr, sizeof mr, "%s/measurements", dir);
    mkdir(root, 0700);
    tl_tsm_io io = {.root = root, .mkdir_fn = k_mkdir, .rmdir_fn = k_rmdir, .read_fn = k_read, .write_fn = k_write,
                    .ctx = k, .mr_root = mr};
    return tl_tee_tsm_open_io(&io, e);
}

/* open_td with k reset: provider, mode, and nothing written yet. */
static tl_tee *open_fresh(const char *dir, fake_kernel *k, const char *provider, kernel_mode mode, tl_err *e)
{
    memset(k, 0, sizeof *k);
    k->provider = provider;
    k->mode = mode;
    return open_td(dir, k, e);
}

static void set_rtmr3(const char *dir, const uint8_t v[48])
{
    char p[1024];
    snprintf(p, sizeof p, "%s/measurements", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/measurements/rtmr3:sha384", dir);
    CHECK(put_file(p, v, 48) == 0);
}

static void get_rtmr3(const char *dir, uint8_t v[48])
{
    char p[1024];
    snprintf(p, sizeof p, "%s/measurements/rtmr3:sha384", dir);
    CHECK(get_file(p, v, 48) == 48);
}

int main(void)
{
    const char *dir = test_tmpdir();
    static const char config[] = "teelm serve v1 plaintext_model=0 host_key_file=0 api_keys=1";
    uint8_t e1[48], e2[48], initial[48], want[48], got[48];
    sha384_file("/proc/self/exe", e1);
    sha384(config, strlen(config), e2);
    memset(initial, 0x5a, sizeof initial); /* something extended RTMR3 before: it is chained, not reset */
    memcpy(want, initial, 48);
    extend(want, e1);
    extend(want, e2);
    tl_err e = {0};

    /* the extension: exactly two 48-byte writes, e1 then e2, and RTMR3 ends at the chained value */
    set_rtmr3(dir, initial);
    fake_kernel k = {.provider = "tdx_guest\n", .mode = KERNEL_EXTENDS};
    tl_tee *t = open_td(dir, &k, &e);
    CHECKF(t != NULL, "%s", e.msg);
    if (t) {
        CHECK(strcmp(t->name, "tsm:tdx_guest") == 0);
        int rc = tl_tee_measure_runtime(t, (const uint8_t *)config, strlen(config), &e);
        CHECKF(rc == 0, "%s", e.msg);
        CHECKF(k.nwrites == 2, "%d writes", k.nwrites);
        CHECK(k.written_len[0] == 48 && memcmp(k.written[0], e1, 48) == 0);
        CHECK(k.written_len[1] == 48 && memcmp(k.written[1], e2, 48) == 0);
        get_rtmr3(dir, got);
        CHECK(memcmp(got, want, 48) == 0);
        /* the verifier's side computes the same value */
        uint8_t pred[48];
        CHECKF(tl_rtmr3_expected(NULL, (const uint8_t *)config, strlen(config), initial, pred, &e) == 0, "%s", e.msg);
        CHECK(memcmp(pred, want, 48) == 0);
        /* once per process: a second extension would make RTMR3 match no policy */
        CHECK(tl_tee_measure_runtime(t, (const uint8_t *)config, strlen(config), &e) == TL_ESTATE &&
              contains(e.msg, "already"));
        CHECK(k.nwrites == 2);
        tl_tee_close(t);
    }

    /* from a fresh boot (RTMR3 zero) with another configuration: the documented formula */
    uint8_t zero[48] = {0}, cfg2[] = "other", w2[48], d2[48];
    set_rtmr3(dir, zero);
    t = open_fresh(dir, &k, "tdx_guest", KERNEL_EXTENDS, &e);
    CHECKF(t && tl_tee_measure_runtime(t, cfg2, 5, &e) == 0, "%s", e.msg);
    memcpy(w2, zero, 48);
    extend(w2, e1);
    sha384(cfg2, 5, d2);
    extend(w2, d2);
    get_rtmr3(dir, got);
    CHECK(memcmp(got, w2, 48) == 0);
    tl_tee_close(t);
    /* tl_rtmr3_expected without an initial value starts from zero; extend is SHA-384(old ‖ new) */
    uint8_t pred[48];
    CHECK(tl_rtmr3_expected(NULL, cfg2, 5, NULL, pred, &e) == 0 && memcmp(pred, w2, 48) == 0);
    uint8_t r[48] = {0}, r2[48] = {0};
    CHECK(tl_rtmr_extend(r, e1) == 0);
    extend(r2, e1);
    CHECK(memcmp(r, r2, 48) == 0);
    CHECK(tl_rtmr3_expected("/nonexistent/teelm", cfg2, 5, NULL, pred, &e) == TL_EIO &&
          contains(e.msg, "/nonexistent/teelm"));

    /* a kernel without the measurements interface (before Linux 6.16): refused, not skipped */
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/old", dir);
    mkdir(sub, 0700);
    t = open_fresh(sub, &k, "tdx_guest", KERNEL_EXTENDS, &e);
    CHECKF(t != NULL, "%s", e.msg);
    if (t) {
        CHECK(tl_tee_measure_runtime(t, (const uint8_t *)config, strlen(config), &e) == TL_EUNSUPPORTED);
        CHECKF(contains(e.msg, "rtmr3:sha384 is absent") && contains(e.msg, "6.16"), "%s", e.msg);
        CHECK(k.nwrites == 0);
        tl_tee_close(t);
    }

    /* a kernel that stores instead of extending: the read-back notices */
    set_rtmr3(dir, zero);
    t = open_fresh(dir, &k, "tdx_guest", KERNEL_OVERWRITES, &e);
    CHECK(t && tl_tee_measure_runtime(t, (const uint8_t *)config, strlen(config), &e) == TL_ESTATE);
    CHECKF(contains(e.msg, "after extending, expected"), "%s", e.msg);
    tl_tee_close(t);

    /* the write is refused: the error names the file and the event */
    set_rtmr3(dir, zero);
    t = open_fresh(dir, &k, "tdx_guest", KERNEL_REFUSES, &e);
    CHECK(t && tl_tee_measure_runtime(t, (const uint8_t *)config, strlen(config), &e) == TL_EIO);
    CHECKF(contains(e.msg, "rtmr3:sha384") && contains(e.msg, "executable digest") && contains(e.msg, "Invalid"), "%s",
           e.msg);
    tl_tee_close(t);

    /* a register file of the wrong size is not a register */
    char p[1024];
    snprintf(p, sizeof p, "%s/measurements/rtmr3:sha384", dir);
    CHECK(put_file(p, zero, 47) == 0);
    t = open_fresh(dir, &k, "tdx_guest", KERNEL_EXTENDS, &e);
    CHECK(t && tl_tee_measure_runtime(t, (const uint8_t *)config, strlen(config), &e) == TL_EIO);
    CHECKF(contains(e.msg, "47 bytes"), "%s", e.msg);
    CHECK(k.nwrites == 0);
    tl_tee_close(t);

    /* the real file operations on a plain file (a "kernel" that stores writes): one 48-byte write,
     * then the read-back refuses */
    set_rtmr3(dir, zero);
    char root[1024], mr[1024];
    snprintf(root, sizeof root, "%s/report", dir);
    snprintf(mr, sizeof mr, "%s/measurements", dir);
    memset(&k, 0, sizeof k);
    k.provider = "tdx_guest";
    tl_tsm_io io = {.root = root, .mkdir_fn = k_mkdir, .rmdir_fn = k_rmdir, .ctx = &k, .mr_root = mr};
    t = tl_tee_tsm_open_io(&io, &e);
    CHECKF(t != NULL, "%s", e.msg);
    if (t) {
        CHECK(tl_tee_measure_runtime(t, (const uint8_t *)config, strlen(config), &e) == TL_ESTATE);
        get_rtmr3(dir, got);
        CHECK(memcmp(got, e2, 48) == 0); /* the last write, whole, from offset 0 */
        tl_tee_close(t);
    }

    /* SEV-SNP has no RTMRs: nothing written, success */
    t = open_fresh(dir, &k, "sev_guest", KERNEL_EXTENDS, &e);
    CHECKF(t && tl_tee_measure_runtime(t, (const uint8_t *)config, strlen(config), &e) == 0, "%s", e.msg);
    CHECK(k.nwrites == 0);
    tl_tee_close(t);

    /* sim: its MRENCLAVE binds executable and configuration already */
    tl_tee_opts so = {.config = (const uint8_t *)config, .config_len = strlen(config)};
    t = tl_tee_open_opts("sim", &so, &e);
    CHECKF(t && tl_tee_measure_runtime(t, (const uint8_t *)config, strlen(config), &e) == 0, "%s", e.msg);
    tl_tee_close(t);
    CHECK(tl_tee_measure_runtime(NULL, NULL, 0, &e) == TL_EINVAL);

    test_sh("rm -rf '%s'", dir);
    return test_finish();
}
