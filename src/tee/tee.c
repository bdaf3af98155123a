/* Backend selection and the calls every backend shares. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tee/tee.h"
#include "tee/tee_io.h"
#include "tee/verify.h"

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static tl_tee *tsm_open(const tl_tee_opts *o, tl_err *err)
{
    tl_tsm_io io = {.root = o->tsm_root, .mr_root = o->tsm_mr_root, .snp_cert_files = o->snp_cert_files,
                    .n_snp_cert_files = o->n_snp_cert_files, .snp_vcek_cache = o->snp_vcek_cache,
                    .snp_vcek_url = o->snp_vcek_url};
    return tl_tee_tsm_open_io(&io, err);
}

tl_tee *tl_tee_open_opts(const char *name, const tl_tee_opts *o, tl_err *err)
{
    static const tl_tee_opts none;
    if (!o)
        o = &none;
    if (!name || strcmp(name, "auto") == 0) {
        /* Only real backends: silently running unprotected would defeat the point. */
        const char *dev = o->occlum_device ? o->occlum_device : "/dev/sgx";
        const char *tsm = o->tsm_root ? o->tsm_root : "/sys/kernel/config/tsm/report";
        if (exists(dev))
            return tl_tee_occlum_open(dev, err);
        if (exists(tsm))
            return tsm_open(o, err);
        tl_errf(err, TL_ENOTFOUND,
                "no TEE found (no Occlum %s, no configfs-tsm %s); this process is not in an SGX enclave or a "
                "TDX/SEV-SNP guest. For development only, '--tee sim' runs without protection",
                dev, tsm);
        return NULL;
    }
    if (strcmp(name, "sim") == 0)
        return tl_tee_sim_open_opts(o, err);
    if (strcmp(name, "occlum") == 0)
        return tl_tee_occlum_open(o->occlum_device, err);
    if (strcmp(name, "tsm") == 0)
        return tsm_open(o, err);
    tl_errf(err, TL_EINVAL, "unknown TEE backend '%s' (expected sim, occlum, tsm or auto)", name);
    return NULL;
}

tl_tee *tl_tee_open(const char *name, tl_err *err) { return tl_tee_open_opts(name, NULL, err); }

int tl_tee_evidence(tl_tee *t, const uint8_t rd[64], uint8_t **ev, size_t *len, tl_err *err)
{
    *ev = NULL;
    *len = 0;
    return t->evidence(t, rd, ev, len, err);
}

int tl_tee_self(tl_tee *t, tl_identity *id, tl_err *err)
{
    static const uint8_t zero[64];
    uint8_t *ev;
    size_t n;
    if (tl_tee_evidence(t, zero, &ev, &n, err))
        return err ? err->code : TL_EIO;
    int rc = tl_evidence_parse(ev, n, id, err);
    free(ev);
    if (!rc)
        id->simulated = t->simulated;
    return rc;
}

int tl_tee_measure_runtime(tl_tee *t, const uint8_t *config, size_t config_len, tl_err *err)
{
    if (!t)
        return tl_errf(err, TL_EINVAL, "tee: no TEE to measure into");
    return t->measure_runtime ? t->measure_runtime(t, config, config_len, err) : 0;
}

void tl_tee_close(tl_tee *t)
{
    if (t && t->close)
        t->close(t);
}
