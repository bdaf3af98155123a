#include "formats/inspect.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "formats/checkpoint.h"
#include "formats/hf_dir.h"
#include "formats/tensor_file.h"
#include "util/io.h"
#include "util/sha.h"

_Static_assert(TL_TF_MAX_DIMS <= TL_INSPECT_MAX_DIMS, "inspect holds every tensor's shape");

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

static void set_names(tl_inspect_tensor *t, tl_part part, const char *key)
{
    snprintf(t->key, sizeof t->key, "%s", key);
    if (part.kind == TL_PART_MODEL || tl_part_full_name(part, key, t->name, sizeof t->name))
        snprintf(t->name, sizeof t->name, "%s", key);
}


/* Lists and hashes every tensor of file fi; the first config found in metadata goes to *cfgjs. */
static int inspect_file(tl_inspect_report *r, int fi, int *cap, const char **cfgjs, tl_err *err)
{
    tl_part part;
    tl_part_from_path(r->files[fi], &part);
    tl_tensor_file f;
    if (tl_tensor_file_open(r->files[fi], TL_TF_AUTO, &f, err))
        return err->code;
    r->formats[fi] = f.format;
    int rc = 0;
    const char *c = tl_tensor_file_meta(&f, TL_META_CONFIG);
    if (c && !*cfgjs && !(*cfgjs = strdup(c)))
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
    for (int i = 0; i < f.n && !rc; i++) {
        const tl_tf_tensor *t = &f.t[i];
        if ((rc = add_tensor(r, cap, err)))
            break;
        tl_inspect_tensor *x = &r->t[r->n];
        set_names(x, part, t->key);
        x->file = fi;
        x->dtype = t->dtype;
        x->ndim = t->ndim;
        memcpy(x->shape, t->shape, (size_t)t->ndim * sizeof *t->shape);
        size_t bytes = tl_tensor_file_bytes(&f, i);
        uint8_t *buf = malloc(bytes ? bytes : 1);
        if (!buf)
            rc = tl_errf(err, TL_ENOMEM, "%s: out of memory for tensor '%.128s'", r->files[fi], t->key);
        else if (!(rc = tl_tensor_file_read_raw(&f, i, buf, err)))
            rc = tl_sha256(buf, bytes, x->sha256) ? tl_errf(err, TL_ENOMEM, "SHA-256: out of memory") : 0;
        if (buf)
            OPENSSL_cleanse(buf, bytes);
        free(buf);
        if (!rc)
            r->n++;
    }
    tl_tensor_file_close(&f);
    return rc;
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
    tl_part_from_path(d->d_name, &p);
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

/* A Hugging Face directory: validated and mapped as for loading, every used tensor hashed. */
static int inspect_hf(tl_inspect_report *r, const char *path, tl_err *err)
{
    tl_hf_dir h;
    tl_checkpoint ck;
    int rc = tl_hf_dir_open(path, &h, err);
    if (rc)
        return rc;
    if ((rc = tl_hf_dir_map(&h, &ck, err))) {
        tl_hf_dir_close(&h);
        return rc;
    }
    for (int f = 0; f < h.nfiles && !rc; f++) {
        char p[4096];
        tl_path_join(p, sizeof p, path, h.files[f]);
        if (!(rc = add_file(r, p, err)))
            r->formats[f] = "safetensors";
    }
    r->t = rc ? NULL : calloc((size_t)(h.np ? h.np : 1), sizeof *r->t);
    if (!rc && !r->t)
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
    for (int i = 0; i < h.np && !rc; i++) {
        tl_inspect_tensor *x = &r->t[i];
        snprintf(x->name, sizeof x->name, "%s", h.p[i].name);
        snprintf(x->key, sizeof x->key, "%.*s", (int)sizeof x->key - 1, h.pt[i]->name);
        x->file = h.pfile[i];
        x->dtype = ck.w[i].dtype;
        x->ndim = h.p[i].ndim;
        memcpy(x->shape, h.p[i].shape, sizeof h.p[i].shape);
        rc = tl_sha256(ck.w[i].data, tl_dtype_bytes(ck.w[i].dtype, h.p[i].numel), x->sha256)
                 ? tl_errf(err, TL_ENOMEM, "SHA-256: out of memory") : 0;
        r->n += !rc;
    }
    r->hf = 1;
    r->cfg = h.hc.cfg;
    r->config_state = TL_CONFIG_GIVEN;
    r->hf_arch = h.hc.arch_name;
    r->n_params = h.hc.n_params;
    r->hf_sharded = h.sharded;
    r->hf_ignored = h.nignored;
    r->hf_torch_dtype = h.hc.torch_dtype;
    tl_checkpoint_free(&ck);
    tl_hf_dir_close(&h);
    return rc;
}

int tl_inspect(const char *path, tl_inspect_report *r, tl_err *err)
{
    memset(r, 0, sizeof *r);
    int rc, cap = 0;
    if (tl_is_dir(path) && tl_hf_is_model_dir(path))
        rc = inspect_hf(r, path, err);
    else if (tl_is_dir(path))
        rc = list_dir(r, path, err);
    else if (tl_is_file(path))
        rc = add_file(r, path, err);
    else
        rc = tl_errf(err, TL_ENOTFOUND, "%s: no such file or directory", path);
    const char *cfgjs = NULL;
    for (int i = 0; i < r->nfiles && !rc && !r->hf; i++)
        rc = inspect_file(r, i, &cap, &cfgjs, err);
    int *order = rc ? NULL : malloc((size_t)(r->n ? r->n : 1) * sizeof *order);
    tl_sha *md = rc ? NULL : tl_sha_new(TL_SHA256);
    if (!rc && (!order || !md))
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
    if (!rc) {
        for (int i = 0; i < r->n; i++)
            order[i] = i;
        qsort_r(order, (size_t)r->n, sizeof *order, cmp_tensor_names, r->t);
        for (int i = 0; i < r->n; i++) {
            const tl_inspect_tensor *t = &r->t[order[i]];
            tl_sha_add(md, t->name, strlen(t->name) + 1);
            tl_sha_add(md, t->sha256, 32);
        }
        if (tl_sha_end(md, r->total))
            rc = tl_errf(err, TL_ENOMEM, "SHA-256: out of memory");
        md = NULL;
    }
    if (!rc && r->hf)
        ; /* config.json, validated */
    else if (!rc && cfgjs) {
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
        if (ns && tl_infer_config(ns, r->n, 0, &r->cfg, r->note, sizeof r->note, &ce) == 0)
            r->config_state = TL_CONFIG_INFERRED;
        else if (ns)
            snprintf(r->note, sizeof r->note, "no config in the files and %.400s", ce.msg);
        free(ns);
    }
    tl_sha_free(md);
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
