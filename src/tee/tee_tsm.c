/* The tsm backend: evidence from Linux configfs-tsm in a TDX or SEV-SNP guest (sev_guest: the
 * report plus its certificates, snp_tsm.c)
 * (Documentation/ABI/testing/configfs-tsm): mkdir REPORT_ROOT/NAME, write ≤ 64 bytes to inblob,
 * read outblob; `provider` names the format (tdx_guest: TDX quote v4; sev_guest: SNP attestation
 * report); `generation` counts writes, so reading it after writing inblob and again after reading
 * outblob detects another writer racing on the same entry — then we retry.
 * On tdx_guest it also measures teelm into RTMR3 through the kernel's measurement registers
 * (Documentation/ABI/testing/sysfs-devices-virtual-misc-tdx_guest, Linux 6.16+). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tee/pccs.h"
#include "tee/rtmr.h"
#include "tee/snp_tsm.h"
#include "tee/tee_io.h"
#include "tee/verify.h"
#include "util/codec.h"

#define RACE_TRIES 4
#define MAX_OUTBLOB (1 << 20)
#define TDX_MR_ROOT "/sys/class/misc/tdx_guest/measurements"

typedef struct {
    tl_tee base;
    tl_tsm_io io;
    char root[512];
    char name[80]; /* "tsm:tdx_guest" */
    char mr_root[512];
    int measured;
} tsm_tee;

static int sys_mkdir(const char *p, void *ctx) { (void)ctx; return mkdir(p, 0700); }
static int sys_rmdir(const char *p, void *ctx) { (void)ctx; return rmdir(p); }

static int sys_read(const char *p, uint8_t *buf, size_t cap, size_t *n, void *ctx)
{
    (void)ctx;
    FILE *f = fopen(p, "rb");
    if (!f)
        return -1;
    *n = fread(buf, 1, cap, f);
    int e = ferror(f) ? EIO : 0;
    fclose(f);
    errno = e;
    return e ? -1 : 0;
}

/* One write(2) from offset 0: configfs inblob takes the whole blob, and a tdx_guest RTMR
 * attribute refuses anything but a single 48-byte write. The attributes exist already (configfs
 * creates them with the entry, the driver with the device), so nothing is created here. */
static int sys_write(const char *p, const uint8_t *d, size_t n, void *ctx)
{
    (void)ctx;
    int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t w;
    do
        w = write(fd, d, n);
    while (w < 0 && errno == EINTR);
    int e = w < 0 ? errno : (size_t)w != n ? EIO : 0;
    if (close(fd) && !e)
        e = errno;
    errno = e;
    return e ? -1 : 0;
}

static int path(char *out, size_t cap, const tsm_tee *t, const char *entry, const char *attr)
{
    int n = snprintf(out, cap, "%s/%s%s%s", t->root, entry, attr ? "/" : "", attr ? attr : "");
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int read_text(tsm_tee *t, const char *entry, const char *attr, char *buf, size_t cap, tl_err *err)
{
    char p[1024];
    size_t n = 0;
    if (path(p, sizeof p, t, entry, attr) || t->io.read_fn(p, (uint8_t *)buf, cap - 1, &n, t->io.ctx))
        return tl_errf(err, TL_EIO, "tee tsm: cannot read %s/%s/%s: %s", t->root, entry, attr, strerror(errno));
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = 0;
    return 0;
}

static int read_generation(tsm_tee *t, const char *entry, unsigned long *g, tl_err *err)
{
    char b[32], *end;
    if (read_text(t, entry, "generation", b, sizeof b, err))
        return err->code;
    errno = 0;
    *g = strtoul(b, &end, 10);
    if (errno || end == b || *end)
        return tl_errf(err, TL_EIO, "tee tsm: %s/%s/generation is not a number: \"%s\"", t->root, entry, b);
    return 0;
}

static atomic_uint entry_counter;

/* Creates a fresh report entry; its name is written to entry. */
static int new_entry(tsm_tee *t, char entry[64], tl_err *err)
{
    for (int i = 0; i < 100; i++) {
        char p[1024];
        snprintf(entry, 64, "teelm-%ld-%u", (long)getpid(), atomic_fetch_add(&entry_counter, 1));
        if (path(p, sizeof p, t, entry, NULL))
            return tl_errf(err, TL_EINVAL, "tee tsm: path too long");
        if (t->io.mkdir_fn(p, t->io.ctx) == 0)
            return 0;
        if (errno != EEXIST)
            return tl_errf(err, TL_EIO, "tee tsm: cannot create report entry %s: %s", p, strerror(errno));
    }
    return tl_errf(err, TL_EIO, "tee tsm: cannot find a free report entry name under %s", t->root);
}

static void drop_entry(tsm_tee *t, const char *entry)
{
    char p[1024];
    if (!path(p, sizeof p, t, entry, NULL))
        t->io.rmdir_fn(p, t->io.ctx);
}

/* One attempt: 0 and the outblob, TL_ESTATE when another writer raced us, other codes on failure. */
static int attempt(tsm_tee *t, const uint8_t rd[64], uint8_t **out, size_t *len, uint8_t **aux, size_t *aux_len, tl_err *err)
{
    char entry[64], p[1024];
    if (new_entry(t, entry, err))
        return err->code;
    unsigned long g0, g1, g2;
    int rc = read_generation(t, entry, &g0, err);
    if (!rc) {
        path(p, sizeof p, t, entry, "inblob");
        if (t->io.write_fn(p, rd, 64, t->io.ctx))
            rc = tl_errf(err, TL_EIO, "tee tsm: cannot write %s: %s", p, strerror(errno));
    }
    if (!rc)
        rc = read_generation(t, entry, &g1, err);
    if (!rc && g1 != g0 + 1)
        rc = tl_errf(err, TL_ESTATE, "tee tsm: generation moved from %lu to %lu around our inblob write (another writer)",
                     g0, g1);
    uint8_t *buf = NULL;
    size_t n = 0;
    if (!rc) {
        buf = malloc(MAX_OUTBLOB);
        path(p, sizeof p, t, entry, "outblob");
        if (!buf)
            rc = tl_errf(err, TL_ENOMEM, "tee tsm: out of memory");
        else if (t->io.read_fn(p, buf, MAX_OUTBLOB, &n, t->io.ctx))
            rc = tl_errf(err, TL_EIO, "tee tsm: cannot read %s: %s%s", p, strerror(errno),
                         errno == EIO || errno == ENXIO ? " (the TEE's quoting service is not ready?)" : "");
        else if (n == 0 || n >= MAX_OUTBLOB)
            rc = tl_errf(err, TL_EIO, "tee tsm: %s is %s", p, n ? "too large" : "empty");
    }
    /* sev_guest: the host's certificate table (absent or empty when the host gives none) */
    uint8_t *abuf = NULL;
    size_t an = 0;
    if (!rc && aux && !strcmp(t->name, "tsm:sev_guest")) {
        abuf = malloc(MAX_OUTBLOB);
        path(p, sizeof p, t, entry, "auxblob");
        if (!abuf)
            rc = tl_errf(err, TL_ENOMEM, "tee tsm: out of memory");
        else if (t->io.read_fn(p, abuf, MAX_OUTBLOB, &an, t->io.ctx)) {
            if (errno != ENOENT && errno != ENODATA)
                rc = tl_errf(err, TL_EIO, "tee tsm: cannot read %s: %s", p, strerror(errno));
            an = 0;
        }
        else if (an >= MAX_OUTBLOB)
            rc = tl_errf(err, TL_EIO, "tee tsm: %s is too large", p);
    }
    if (!rc)
        rc = read_generation(t, entry, &g2, err);
    if (!rc && g2 != g1)
        rc = tl_errf(err, TL_ESTATE, "tee tsm: generation moved from %lu to %lu while reading outblob (another writer)", g1,
                     g2);
    drop_entry(t, entry);
    if (rc) {
        free(buf);
        free(abuf);
        return rc;
    }
    *out = buf;
    *len = n;
    if (aux) {
        *aux = abuf;
        *aux_len = an;
    } else {
        free(abuf);
    }
    return 0;
}

static int tsm_evidence(tl_tee *tt, const uint8_t rd[64], uint8_t **evidence, size_t *len, tl_err *err)
{
    tsm_tee *t = (tsm_tee *)tt;
    int rc = 0;
    for (int i = 0; i < RACE_TRIES; i++) {
        uint8_t *buf = NULL, *aux = NULL;
        size_t n = 0, an = 0;
        rc = attempt(t, rd, &buf, &n, &aux, &an, err);
        if (rc == TL_ESTATE)
            continue; /* raced: a fresh entry, again */
        if (rc)
            return rc;
        tl_identity id;
        if (tl_evidence_parse(buf, n, &id, err)) {
            free(buf);
            free(aux);
            return tl_err_prefix(err, "tee tsm: %s outblob", t->name);
        }
        if (memcmp(id.report_data, rd, 64)) {
            free(buf);
            free(aux);
            return tl_errf(err, TL_EINVAL, "tee tsm: %s returned evidence for different report data", t->name);
        }
        if (!strcmp(t->name, "tsm:sev_guest")) {
            /* the evidence is the report followed by its certificate table (docs/attestation-snp.md) */
            tl_snp_tsm_src src = {t->io.snp_cert_files, t->io.n_snp_cert_files, t->io.snp_vcek_cache, t->io.snp_vcek_url,
                                  t->io.fetch_fn, t->io.ctx};
            uint8_t *ev = NULL;
            size_t evn = 0;
            rc = tl_snp_tsm_evidence(buf, n, aux, an, &src, &ev, &evn, err);
            free(buf);
            free(aux);
            if (rc)
                return rc;
            *evidence = ev;
            *len = evn;
            return 0;
        }
        free(aux);
        uint8_t *shrunk = realloc(buf, n);
        *evidence = shrunk ? shrunk : buf;
        *len = n;
        return 0;
    }
    return tl_err_prefix(err, "tee tsm: gave up after %d racing attempts", RACE_TRIES);
}

/* Reads one measurement register: exactly 48 bytes. */
static int read_mr(tsm_tee *t, const char *p, uint8_t v[TL_RTMR_LEN], tl_err *err)
{
    uint8_t buf[TL_RTMR_LEN + 1];
    size_t n = 0;
    if (t->io.read_fn(p, buf, sizeof buf, &n, t->io.ctx)) {
        if (errno == ENOENT)
            return tl_errf(err, TL_EUNSUPPORTED,
                           "tee tsm: %s is absent, so this kernel cannot extend RTMR3 (Linux 6.16+ exposes it): "
                           "teelm does not serve from a TD whose evidence does not measure it",
                           p);
        return tl_errf(err, TL_EIO, "tee tsm: cannot read %s: %s", p, strerror(errno));
    }
    if (n != TL_RTMR_LEN)
        return tl_errf(err, TL_EIO, "tee tsm: %s holds %zu bytes, not a 48-byte SHA-384 register", p, n);
    memcpy(v, buf, TL_RTMR_LEN);
    return 0;
}

static int tsm_measure_runtime(tl_tee *tt, const uint8_t *config, size_t config_len, tl_err *err)
{
    tsm_tee *t = (tsm_tee *)tt;
    if (strcmp(t->name, "tsm:tdx_guest"))
        return 0; /* SEV-SNP has no runtime measurement registers */
    if (t->measured)
        return tl_errf(err, TL_ESTATE, "tee tsm: RTMR3 was already extended with this program's measurement");
    char p[1024];
    int pn = snprintf(p, sizeof p, "%s/rtmr3:sha384", t->mr_root);
    if (pn < 0 || (size_t)pn >= sizeof p)
        return tl_errf(err, TL_EINVAL, "tee tsm: measurement path too long");
    uint8_t before[TL_RTMR_LEN], after[TL_RTMR_LEN], want[TL_RTMR_LEN], ev[2][TL_RTMR_LEN];
    if (read_mr(t, p, before, err) || tl_rtmr3_events(NULL, config, config_len, ev[0], ev[1], err))
        return err ? err->code : TL_EIO;
    memcpy(want, before, sizeof want);
    for (int i = 0; i < 2; i++) {
        if (t->io.write_fn(p, ev[i], TL_RTMR_LEN, t->io.ctx))
            return tl_errf(err, TL_EIO, "tee tsm: cannot extend RTMR3 through %s with the %s digest: %s", p,
                           i ? "configuration" : "executable", strerror(errno));
        /* from here on RTMR3 is changed: a failure leaves it unusable until the TD reboots */
        t->measured = 1;
        if (tl_rtmr_extend(want, ev[i]))
            return tl_errf(err, TL_ECRYPTO, "tee tsm: SHA-384 failed");
    }
    /* Read back: a kernel that did not extend, or another process extending RTMR3 at the same
     * time, would leave a value no policy written from `teelm attest rtmr3` accepts. */
    if (read_mr(t, p, after, err))
        return err ? err->code : TL_EIO;
    if (memcmp(after, want, sizeof want)) {
        char a[97], w[97];
        tl_hex(after, sizeof after, a);
        tl_hex(want, sizeof want, w);
        return tl_errf(err, TL_ESTATE,
                       "tee tsm: RTMR3 reads %s after extending, expected %s (did another process extend RTMR3 "
                       "meanwhile?)",
                       a, w);
    }
    return 0;
}

static void tsm_close(tl_tee *t) { free(t); }

static int curl_fetch(const char *url, uint8_t **body, size_t *n, void *ctx, tl_err *err)
{
    (void)ctx;
    return tl_http_get(url, body, n, err);
}

tl_tee *tl_tee_tsm_open_io(const tl_tsm_io *io, tl_err *err)
{
    tsm_tee *t = calloc(1, sizeof *t);
    if (!t) {
        tl_errf(err, TL_ENOMEM, "tee tsm: out of memory");
        return NULL;
    }
    t->io = *io;
    if (!t->io.mkdir_fn)
        t->io.mkdir_fn = sys_mkdir;
    if (!t->io.rmdir_fn)
        t->io.rmdir_fn = sys_rmdir;
    if (!t->io.read_fn)
        t->io.read_fn = sys_read;
    if (!t->io.write_fn)
        t->io.write_fn = sys_write;
    if (!t->io.fetch_fn)
        t->io.fetch_fn = curl_fetch;
    snprintf(t->root, sizeof t->root, "%s", io->root ? io->root : "/sys/kernel/config/tsm/report");
    snprintf(t->mr_root, sizeof t->mr_root, "%s", io->mr_root ? io->mr_root : TDX_MR_ROOT);
    /* the provider names the evidence format; learn it once from a scratch entry */
    char entry[64], provider[64];
    if (new_entry(t, entry, err)) {
        free(t);
        return NULL;
    }
    int rc = read_text(t, entry, "provider", provider, sizeof provider, err);
    drop_entry(t, entry);
    if (!rc && strcmp(provider, "tdx_guest") && strcmp(provider, "sev_guest"))
        rc = tl_errf(err, TL_EUNSUPPORTED, "tee tsm: provider \"%.40s\" is not supported (tdx_guest, sev_guest)", provider);
    if (rc) {
        free(t);
        return NULL;
    }
    snprintf(t->name, sizeof t->name, "tsm:%s", provider);
    t->base = (tl_tee){.name = t->name, .evidence = tsm_evidence, .close = tsm_close,
                       .measure_runtime = tsm_measure_runtime, .impl = t};
    return &t->base;
}

tl_tee *tl_tee_tsm_open(const char *root, tl_err *err)
{
    tl_tsm_io io = {.root = root};
    return tl_tee_tsm_open_io(&io, err);
}
