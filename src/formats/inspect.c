#include "formats/inspect.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "formats/checkpoint.h"
#include "formats/pth.h"
#include "formats/safetensors.h"
#include "util/io.h"

static int add_tensor(tl_inspect_report *r, int *cap, tl_err *err)
{
    if (r->n == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        tl_inspect_tensor *nt = realloc(r->t, (size_t)nc * sizeof *nt);
        if (!nt)
            return tl_errf(err, TL_ENOMEM, "out of memory");
        r->t = nt;
        *cap = nc;
    }
    memset(&r->t[r->n], 0, sizeof r->t[r->n]);
    return 0;
}

static int add_file(tl_inspect_report *r, const char *path, tl_err *err)
{
    char **nf = realloc(r->files, (size_t)(r->nfiles + 1) * sizeof *nf);
    if (!nf)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    r->files = nf;
    const char **fm = realloc(r->formats, (size_t)(r->nfiles + 1) * sizeof *fm);
    if (!fm)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    r->formats = fm;
    if (!(r->files[r->nfiles] = strdup(path)))
        return tl_errf(err, TL_ENOMEM, "out of memory");
    r->formats[r->nfiles++] = "";
    return 0;
}

static void stem_part(const char *path, tl_part *part)
{
    static const char *exts[] = {".safetensors", ".pth", ".pt"};
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", base);
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(stem), el = strlen(exts[i]);
        if (l > el && !strcmp(stem + l - el, exts[i])) {
            stem[l - el] = 0;
            break;
        }
    }
    if (tl_part_from_stem(stem, part))
        *part = (tl_part){TL_PART_MODEL, 0};
}

static void set_names(tl_inspect_tensor *t, tl_part part, const char *key)
{
    snprintf(t->key, sizeof t->key, "%s", key);
    if (part.kind == TL_PART_MODEL || tl_part_full_name(part, key, t->name, sizeof t->name))
        snprintf(t->name, sizeof t->name, "%s", key);
}

static int hash_buf(const void *data, size_t n, unsigned char out[32], tl_err *err)
{
    if (EVP_Digest(data, n, out, NULL, EVP_sha256(), NULL) != 1)
        return tl_err_ssl(err, TL_ECRYPTO, "SHA-256");
    return 0;
}

static int inspect_st(tl_inspect_report *r, int fi, tl_part part, int *cap, const char **cfgjs, tl_err *err)
{
    tl_st_file f;
    if (tl_st_open(r->files[fi], &f, err))
        return err->code;
    r->formats[fi] = "safetensors";
    int rc = 0;
    const char *c = tl_st_meta(&f, TL_META_CONFIG);
    if (c && !*cfgjs && !(*cfgjs = strdup(c)))
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
    for (int i = 0; i < f.n && !rc; i++) {
        const tl_st_tensor *t = &f.t[i];
        if ((rc = add_tensor(r, cap, err)))
            break;
        tl_inspect_tensor *x = &r->t[r->n];
        set_names(x, part, t->name);
        x->file = fi;
        x->dtype = t->dtype;
        x->ndim = t->ndim;
        memcpy(x->shape, t->shape, sizeof x->shape);
        size_t bytes = (size_t)(t->end - t->begin);
        uint8_t *buf = malloc(bytes ? bytes : 1);
        if (!buf)
            rc = tl_errf(err, TL_ENOMEM, "%s: out of memory for tensor '%.128s'", r->files[fi], t->name);
        else if (!(rc = tl_st_read_raw(&f, t, buf, err)))
            rc = hash_buf(buf, bytes, x->sha256, err);
        if (buf)
            OPENSSL_cleanse(buf, bytes);
        free(buf);
        if (!rc)
            r->n++;
    }
    tl_st_close(&f);
    return rc;
}

static int inspect_pth(tl_inspect_report *r, int fi, tl_part part, int *cap, tl_err *err)
{
    tl_pth_file f;
    if (tl_pth_open(r->files[fi], &f, err))
        return err->code;
    r->formats[fi] = "pth";
    int rc = 0;
    for (int i = 0; i < f.sd.n && !rc; i++) {
        const tl_pk_tensor *t = &f.sd.t[i];
        if ((rc = add_tensor(r, cap, err)))
            break;
        tl_inspect_tensor *x = &r->t[r->n];
        set_names(x, part, t->name);
        x->file = fi;
        x->dtype = t->dtype;
        x->ndim = t->ndim;
        memcpy(x->shape, t->size, sizeof x->shape);
        size_t bytes = (size_t)t->numel * tl_dtype_size(t->dtype);
        uint8_t *buf = malloc(bytes ? bytes : 1);
        if (!buf)
            rc = tl_errf(err, TL_ENOMEM, "%s: out of memory for tensor '%.128s'", r->files[fi], t->name);
        else if (!(rc = tl_pth_read_raw(&f, i, buf, err)))
            rc = hash_buf(buf, bytes, x->sha256, err);
        if (buf)
            OPENSSL_cleanse(buf, bytes);
        free(buf);
        if (!rc)
            r->n++;
    }
    tl_pth_close(&f);
    return rc;
}

static int is_pth(const char *path)
{
    uint8_t m[4] = {0};
    int fd = tl_open_regular(path, NULL);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, m, 4);
    close(fd);
    return (n == 4 && !memcmp(m, "PK\3\4", 4)) || (n >= 2 && m[0] == 0x80 && m[1] <= 5);
}

static int weight_filter(const struct dirent *d, const char *ext)
{
    size_t l = strlen(d->d_name), el = strlen(ext);
    return d->d_name[0] != '.' && l > el && !strcmp(d->d_name + l - el, ext);
}
static int st_filter(const struct dirent *d)
{
    if (!weight_filter(d, ".safetensors"))
        return 0;
    tl_part p;
    stem_part(d->d_name, &p);
    return p.kind != TL_PART_MODEL; /* split-layout parts only */
}
static int pth_filter(const struct dirent *d) { return weight_filter(d, ".pth") || weight_filter(d, ".pt"); }

static int list_dir(tl_inspect_report *r, const char *dir, tl_err *err)
{
    char p[4096];
    if (tl_path_join(p, sizeof p, dir, TL_FILE_OPTIMIZER))
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    r->has_optimizer = tl_is_file(p);
    tl_path_join(p, sizeof p, dir, TL_FILE_FULL);
    if (tl_is_file(p))
        return add_file(r, p, err);
    int (*filters[2])(const struct dirent *) = {st_filter, pth_filter};
    for (int k = 0; k < 2; k++) {
        struct dirent **list;
        int m = scandir(dir, &list, filters[k], alphasort), rc = 0;
        if (m < 0)
            return tl_errf(err, TL_EIO, "%s: cannot list the directory", dir);
        for (int j = 0; j < m; j++) {
            if (!rc && tl_path_join(p, sizeof p, dir, list[j]->d_name))
                rc = tl_errf(err, TL_EINVAL, "%s: path too long", dir);
            if (!rc)
                rc = add_file(r, p, err);
            free(list[j]);
        }
        free(list);
        if (rc || m > 0)
            return rc;
    }
    return tl_errf(err, TL_ENOTFOUND, "%s: no model.safetensors, split-layout .safetensors or .pth files", dir);
}

static int cmp_tensor_names(const void *a, const void *b, void *base)
{
    const tl_inspect_tensor *t = base;
    return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

int tl_inspect(const char *path, tl_inspect_report *r, tl_err *err)
{
    memset(r, 0, sizeof *r);
    int rc, cap = 0;
    if (tl_is_dir(path))
        rc = list_dir(r, path, err);
    else if (tl_is_file(path))
        rc = add_file(r, path, err);
    else
        rc = tl_errf(err, TL_ENOTFOUND, "%s: no such file or directory", path);
    const char *cfgjs = NULL;
    for (int i = 0; i < r->nfiles && !rc; i++) {
        tl_part part;
        stem_part(r->files[i], &part);
        rc = is_pth(r->files[i]) ? inspect_pth(r, i, part, &cap, err) : inspect_st(r, i, part, &cap, &cfgjs, err);
    }
    int *order = rc ? NULL : malloc((size_t)(r->n ? r->n : 1) * sizeof *order);
    EVP_MD_CTX *md = rc ? NULL : EVP_MD_CTX_new();
    if (!rc && (!order || !md))
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
    if (!rc) {
        for (int i = 0; i < r->n; i++)
            order[i] = i;
        qsort_r(order, (size_t)r->n, sizeof *order, cmp_tensor_names, r->t);
        int ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
        for (int i = 0; i < r->n && ok; i++) {
            const tl_inspect_tensor *t = &r->t[order[i]];
            ok = EVP_DigestUpdate(md, t->name, strlen(t->name) + 1) == 1 && EVP_DigestUpdate(md, t->sha256, 32) == 1;
        }
        if (!ok || EVP_DigestFinal_ex(md, r->total, NULL) != 1)
            rc = tl_err_ssl(err, TL_ECRYPTO, "SHA-256");
    }
    if (!rc && cfgjs) {
        tl_err ce = {0};
        if (tl_config_parse(cfgjs, &r->cfg, &ce) == 0)
            r->config_state = TL_CONFIG_GIVEN;
        else
            snprintf(r->note, sizeof r->note, "config in metadata is invalid: %.400s", ce.msg);
    } else if (!rc) {
        tl_named_shape *ns = calloc((size_t)r->n + 1, sizeof *ns);
        tl_err ce = {0};
        if (!ns)
            rc = tl_errf(err, TL_ENOMEM, "out of memory");
        for (int i = 0; ns && i < r->n; i++)
            ns[i] = (tl_named_shape){r->t[i].name, r->t[i].ndim, r->t[i].shape};
        if (ns && tl_infer_config(ns, r->n, &r->cfg, r->note, sizeof r->note, &ce) == 0)
            r->config_state = TL_CONFIG_INFERRED;
        else if (ns)
            snprintf(r->note, sizeof r->note, "no config in the files and %.400s", ce.msg);
        free(ns);
    }
    EVP_MD_CTX_free(md);
    free(order);
    free((void *)cfgjs);
    if (rc)
        tl_inspect_free(r);
    return rc;
}

void tl_inspect_free(tl_inspect_report *r)
{
    for (int i = 0; i < r->nfiles; i++)
        free(r->files[i]);
    free(r->files);
    free(r->formats);
    free(r->t);
    memset(r, 0, sizeof *r);
}
