/* The tsm backend: evidence from Linux configfs-tsm in a TDX or SEV-SNP guest
 * (Documentation/ABI/testing/configfs-tsm): mkdir REPORT_ROOT/NAME, write ≤ 64 bytes to inblob,
 * read outblob; `provider` names the format (tdx_guest: TDX quote v4; sev_guest: SNP attestation
 * report); `generation` counts writes, so reading it after writing inblob and again after reading
 * outblob detects another writer racing on the same entry — then we retry. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tee/tee_io.h"
#include "tee/verify.h"

#define RACE_TRIES 4
#define MAX_OUTBLOB (1 << 20)

typedef struct {
    tl_tee base;
    tl_tsm_io io;
    char root[512];
    char name[80]; /* "tsm:tdx_guest" */
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

static int sys_write(const char *p, const uint8_t *d, size_t n, void *ctx)
{
    (void)ctx;
    FILE *f = fopen(p, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(d, 1, n, f);
    int rc = fclose(f);
    if (w != n || rc) {
        if (!errno)
            errno = EIO;
        return -1;
    }
    return 0;
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
static int attempt(tsm_tee *t, const uint8_t rd[64], uint8_t **out, size_t *len, tl_err *err)
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
    if (!rc)
        rc = read_generation(t, entry, &g2, err);
    if (!rc && g2 != g1)
        rc = tl_errf(err, TL_ESTATE, "tee tsm: generation moved from %lu to %lu while reading outblob (another writer)", g1,
                     g2);
    drop_entry(t, entry);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

static int tsm_evidence(tl_tee *tt, const uint8_t rd[64], uint8_t **evidence, size_t *len, tl_err *err)
{
    tsm_tee *t = (tsm_tee *)tt;
    int rc = 0;
    for (int i = 0; i < RACE_TRIES; i++) {
        uint8_t *buf = NULL;
        size_t n = 0;
        rc = attempt(t, rd, &buf, &n, err);
        if (rc == TL_ESTATE)
            continue; /* raced: a fresh entry, again */
        if (rc)
            return rc;
        tl_identity id;
        if (tl_evidence_parse(buf, n, &id, err)) {
            free(buf);
            return tl_err_prefix(err, "tee tsm: %s outblob", t->name);
        }
        if (memcmp(id.report_data, rd, 64)) {
            free(buf);
            return tl_errf(err, TL_EINVAL, "tee tsm: %s returned evidence for different report data", t->name);
        }
        uint8_t *shrunk = realloc(buf, n);
        *evidence = shrunk ? shrunk : buf;
        *len = n;
        return 0;
    }
    return tl_err_prefix(err, "tee tsm: gave up after %d racing attempts", RACE_TRIES);
}

static void tsm_close(tl_tee *t) { free(t); }

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
    snprintf(t->root, sizeof t->root, "%s", io->root ? io->root : "/sys/kernel/config/tsm/report");
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
    t->base.name = t->name;
    t->base.simulated = 0;
    t->base.evidence = tsm_evidence;
    t->base.close = tsm_close;
    t->base.impl = t;
    return &t->base;
}

tl_tee *tl_tee_tsm_open(const char *root, tl_err *err)
{
    tl_tsm_io io = {root, NULL, NULL, NULL, NULL, NULL};
    return tl_tee_tsm_open_io(&io, err);
}
