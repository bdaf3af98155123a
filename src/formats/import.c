#include "formats/import.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/checkpoint.h"
#include "formats/checkpoint_parts.h"
#include "formats/layout.h"
#include "formats/part_srcs.h"
#include "formats/tensor_file.h"
#include "util/io.h"

#define MAX_FILES 65536

static int has_ext(const char *name, const char **ext_out)
{
    static const char *exts[] = {".pth", ".pt"};
    size_t len = strlen(name);
    for (int i = 0; i < 2; i++) {
        size_t el = strlen(exts[i]);
        if (len > el && !strcmp(name + len - el, exts[i])) {
            *ext_out = exts[i];
            return 1;
        }
    }
    return 0;
}

static int pth_filter(const struct dirent *d)
{
    const char *ext;
    return d->d_name[0] != '.' && has_ext(d->d_name, &ext);
}

static int add_path(tl_part_file **s, int *n, int *cap, const char *path, tl_err *err)
{
    if (*n >= MAX_FILES)
        return tl_errf(err, TL_EINVAL, "more than %d .pth files", MAX_FILES);
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        tl_part_file *ns = realloc(*s, (size_t)nc * sizeof *ns);
        if (!ns)
            return tl_errf(err, TL_ENOMEM, "out of memory");
        memset(ns + *cap, 0, (size_t)(nc - *cap) * sizeof *ns);
        *s = ns;
        *cap = nc;
    }
    if (strlen(path) >= sizeof (*s)[*n].path)
        return tl_errf(err, TL_EINVAL, "%s: path too long", path);
    snprintf((*s)[*n].path, sizeof (*s)[*n].path, "%s", path);
    tl_part_from_path(path, &(*s)[*n].part);
    (*n)++;
    return 0;
}

static int expand(const char *const *src, int nsrc, tl_part_file **out, int *n, tl_err *err)
{
    int cap = 0, rc = 0;
    *out = NULL;
    *n = 0;
    for (int i = 0; i < nsrc && !rc; i++) {
        if (tl_is_dir(src[i])) {
            struct dirent **list;
            int m = scandir(src[i], &list, pth_filter, alphasort);
            if (m < 0)
                return tl_errf(err, TL_EIO, "%s: cannot list the directory", src[i]);
            if (m == 0)
                rc = tl_errf(err, TL_ENOTFOUND, "%s: no .pth files in the directory", src[i]);
            for (int j = 0; j < m; j++) {
                char p[4096];
                if (!rc && tl_path_join(p, sizeof p, src[i], list[j]->d_name))
                    rc = tl_errf(err, TL_EINVAL, "%s: path too long", src[i]);
                if (!rc)
                    rc = add_path(out, n, &cap, p, err);
                free(list[j]);
            }
            free(list);
        } else if (tl_is_file(src[i]))
            rc = add_path(out, n, &cap, src[i], err);
        else
            rc = tl_errf(err, TL_ENOTFOUND, "%s: no such file or directory", src[i]);
    }
    return rc;
}

static const tl_tensor_src *find(const tl_tensor_src *s, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s[i].name, name))
            return &s[i];
    return NULL;
}

static int import_partial(const tl_tensor_src *src, int n, const char *dest, tl_import_report *rep, tl_err *err)
{
    tl_config cfg;
    tl_named_shape *ns = calloc((size_t)n + 1, sizeof *ns);
    if (!ns)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    int masks = 0, mblock, mhead;
    for (int i = 0; i < n; i++) {
        ns[i] = (tl_named_shape){src[i].name, src[i].ndim, src[i].shape};
        masks |= tl_is_mask_name(src[i].name, &mblock, &mhead);
    }
    int rc = tl_infer_config(ns, n, TL_INFER_PARTIAL, &cfg, NULL, 0, err);
    free(ns);
    if (rc)
        return rc;
    char *blocks = calloc((size_t)cfg.n_layer, 1);
    if (!blocks)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    tl_parts pr = {.blocks = blocks, .masks = masks};
    for (int i = 0; i < n; i++) {
        tl_part part;
        char key[TL_FULLNAME_MAX];
        if (tl_part_of_full_name(src[i].name, &part, key, sizeof key))
            continue; /* reported as unexpected by the assembly */
        if (part.kind == TL_PART_EMBEDDING)
            pr.embedding = 1;
        else if (part.kind == TL_PART_FINAL)
            pr.final = 1;
        else if (part.kind == TL_PART_BLOCK)
            blocks[part.block] = 1;
    }
    tl_checkpoint ck;
    rc = tl_checkpoint_assemble_parts(src, n, &cfg, &pr, &ck, err);
    if (!rc) {
        rc = tl_checkpoint_save_parts(dest, &ck, &pr, err);
        tl_checkpoint_free(&ck);
    }
    if (!rc) {
        char missing[600] = "", present[200] = "";
        size_t at = 0;
        int nb = 0, first = -1;
        if (!pr.embedding)
            at += (size_t)snprintf(missing + at, sizeof missing - at, "%stoken_embedding", at ? ", " : "");
        for (int b = 0; b < cfg.n_layer; b++) {
            if (blocks[b]) {
                nb++;
                if (first < 0)
                    first = b;
            } else if (at < sizeof missing)
                at += (size_t)snprintf(missing + at, sizeof missing - at, "%stransformer_block_%d", at ? ", " : "", b);
        }
        if (!pr.final && at < sizeof missing)
            snprintf(missing + at, sizeof missing - at, "%sfinal_linear", at ? ", " : "");
        snprintf(present, sizeof present, "%s%d block file%s%s", pr.embedding ? "token_embedding, " : "", nb,
                 nb == 1 ? "" : "s", pr.final ? ", final_linear" : "");
        rep->nwritten = pr.embedding + nb + pr.final;
        snprintf(rep->note, sizeof rep->note,
                 "the model is incomplete: it has %s but lacks %s; wrote the parts present as split-layout "
                 "files with the same keys, without a config; it cannot be loaded until the missing parts are added",
                 present, missing);
    }
    free(blocks);
    return rc;
}

/* A file names its part (model.pth, token_embedding.pth, ...): every tensor must be of it, once. */
static int pth_name(tl_part_srcs *s, int k, const tl_part_file *f, const tl_tf_tensor *t, tl_err *err)
{
    tl_part back;
    char key[TL_FULLNAME_MAX];
    if (tl_part_full_name(f->part, t->key, s->names[k], sizeof s->names[k]) ||
        tl_part_of_full_name(s->names[k], &back, key, sizeof key) ||
        (f->part.kind != TL_PART_MODEL && (back.kind != f->part.kind || back.block != f->part.block)))
        return tl_errf(err, TL_EINVAL, "%s: tensor '%.128s' is not part of a %s (file names tell the part: "
                       "model.pth, token_embedding.pth, transformer_block_N.pth, final_linear.pth)",
                       f->path, t->key, f->part.kind == TL_PART_MODEL ? "teelm/prototype model" : "this module");
    for (int q = 0; q < k; q++)
        if (!strcmp(s->names[q], s->names[k]))
            return tl_errf(err, TL_EINVAL, "%s: tensor %s also comes from %s", f->path, s->names[k], s->where[q]);
    return 0;
}

int tl_import_pth(const char *const *srcs, int nsrc, const char *dest, int layouts, tl_import_report *rep, tl_err *err)
{
    memset(rep, 0, sizeof *rep);
    tl_part_file *s = NULL;
    int n = 0, rc = expand(srcs, nsrc, &s, &n, err);
    if (rc) {
        free(s);
        return rc;
    }
    for (int i = 0; i < n && !rc; i++)
        rc = tl_tensor_file_open(s[i].path, TL_TF_PTH, &s[i].f, err);
    tl_part_srcs ps = {0};
    if (!rc)
        rc = tl_part_srcs_build(s, n, 0, pth_name, &ps, err);
    const tl_tensor_src *src = ps.src;
    int total = ps.n;
    if (!rc) {
        rep->nfiles = n;
        rep->ntensors = total;
        /* complete: embedding, final layer and blocks 0..max all present */
        int max_block = -1, emb = find(src, total, "token_embedding_table.weight") != NULL,
            fin = find(src, total, "final_linear_layer.bias") != NULL;
        for (int i = 0; i < total; i++) {
            tl_part part;
            char key[TL_FULLNAME_MAX];
            if (!tl_part_of_full_name(src[i].name, &part, key, sizeof key) && part.kind == TL_PART_BLOCK &&
                part.block > max_block)
                max_block = part.block;
        }
        char *seen = calloc((size_t)max_block + 2, 1);
        int gaps = 0;
        for (int i = 0; seen && i < total; i++) {
            tl_part part;
            char key[TL_FULLNAME_MAX];
            if (!tl_part_of_full_name(src[i].name, &part, key, sizeof key) && part.kind == TL_PART_BLOCK)
                seen[part.block] = 1;
        }
        for (int b = 0; seen && b <= max_block; b++)
            gaps += !seen[b];
        free(seen);
        if (emb && fin && max_block >= 0 && !gaps) {
            tl_checkpoint ck;
            rc = tl_checkpoint_assemble(src, total, NULL, &ck, err);
            if (!rc) {
                snprintf(rep->note, sizeof rep->note, "%s", ck.note);
                rc = tl_checkpoint_save(dest, &ck, layouts, err);
                rep->complete = !rc;
                rep->nwritten = (layouts & TL_LAYOUT_FULL ? 1 : 0) + (layouts & TL_LAYOUT_SPLIT ? ck.cfg.n_layer + 2 : 0);
                tl_checkpoint_free(&ck);
            }
        } else
            rc = import_partial(src, total, dest, rep, err);
    }
    tl_part_srcs_free(&ps);
    for (int i = 0; i < n; i++)
        tl_tensor_file_close(&s[i].f);
    free(s);
    return rc;
}
