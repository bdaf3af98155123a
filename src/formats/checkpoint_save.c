/* tl_checkpoint_save: writes the arena as safetensors in the full and/or split layout, plus the
 * optimizer state, each file atomically, all tagged with the config and one random checkpoint id. */
#include "formats/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/rand.h>

#include "formats/checkpoint_parts.h"
#include "formats/layout.h"
#include "formats/safetensors.h"
#include "model/params.h"
#include "util/codec.h"
#include "util/io.h"

#define FILE_MODE 0600 /* plaintext weights are the owner's secret */

typedef struct {
    char name[TL_FULLNAME_MAX]; /* full name */
    char key[TL_FULLNAME_MAX];  /* key in its split-layout file */
    tl_part part;
    tl_st_out out;
} entry;

/* The model's tensors in state_dict-like order: each block's mask buffers come before its
 * parameters (arena order), as PyTorch lists the prototype's buffers with their heads. */
static entry *build_entries(const tl_checkpoint *ck, const float *mask, int *count, tl_err *err)
{
    const tl_config *c = &ck->cfg;
    int np = tl_params_count(c), n = np + c->n_layer * c->n_head, k = 0;
    tl_param *p = calloc((size_t)np, sizeof *p);
    entry *e = calloc((size_t)n, sizeof *e);
    if (!p || !e) {
        free(p);
        free(e);
        tl_errf(err, TL_ENOMEM, "out of memory");
        return NULL;
    }
    tl_params_list(c, p);
    int block = -1;
    for (int i = 0; i < np; i++) {
        tl_part part;
        char key[TL_FULLNAME_MAX];
        if (tl_part_of_full_name(p[i].name, &part, key, sizeof key))
            continue; /* cannot happen: every parameter name maps to a part */
        if (part.kind == TL_PART_BLOCK && part.block != block) {
            block = part.block;
            for (int h = 0; h < c->n_head; h++, k++) {
                entry *m = &e[k];
                snprintf(m->name, sizeof m->name, "transformer_blocks.%d.attention.attention_heads.%d.mask", block, h);
                tl_part_of_full_name(m->name, &m->part, m->key, sizeof m->key);
                m->out = (tl_st_out){.dtype = TL_DT_F32, .ndim = 2,
                                     .shape = {c->context_length, c->context_length}, .data = mask};
            }
        }
        entry *x = &e[k++];
        memcpy(x->name, p[i].name, sizeof p[i].name);
        memcpy(x->key, key, sizeof key);
        x->part = part;
        x->out = (tl_st_out){.dtype = TL_DT_F32, .ndim = p[i].ndim, .shape = {p[i].shape[0], p[i].shape[1]},
                             .data = ck->params + p[i].offset};
    }
    free(p);
    *count = k;
    return e;
}

static int unlink_quiet(const char *dir, const char *name, tl_err *err)
{
    char path[4096];
    if (tl_path_join(path, sizeof path, dir, name))
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    if (unlink(path) != 0 && errno != ENOENT)
        return tl_errf(err, TL_EIO, "%s: cannot remove stale file: %s", path, strerror(errno));
    return 0;
}

/* A split-layout file that the new save does not describe (all of them when *keep_blocks < 0). */
static int stale_split(const char *name, void *keep_blocks)
{
    const int keep = *(const int *)keep_blocks;
    char stem[256];
    size_t len = strlen(name);
    if (len <= 12 || len - 12 >= sizeof stem || strcmp(name + len - 12, ".safetensors"))
        return 0;
    snprintf(stem, sizeof stem, "%.*s", (int)(len - 12), name);
    tl_part part;
    if (tl_part_from_stem(stem, &part) || part.kind == TL_PART_MODEL)
        return 0;
    return keep < 0 || (part.kind == TL_PART_BLOCK && part.block >= keep);
}

static int write_split(const char *dir, entry *e, int n, const char *const *meta, int nmeta, tl_err *err)
{
    tl_st_out *outs = calloc((size_t)n, sizeof *outs);
    if (!outs)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < n && !rc;) {
        int j = i, m = 0;
        while (j < n && e[j].part.kind == e[i].part.kind && e[j].part.block == e[i].part.block) {
            outs[m] = e[j].out;
            outs[m++].name = e[j].key;
            j++;
        }
        char stem[64], file[96], path[4096];
        tl_part_stem(e[i].part, stem, sizeof stem);
        snprintf(file, sizeof file, "%s.safetensors", stem);
        if (tl_path_join(path, sizeof path, dir, file))
            rc = tl_errf(err, TL_EINVAL, "%s: path too long", dir);
        else
            rc = tl_st_write(path, outs, m, meta, nmeta, FILE_MODE, err);
        i = j;
    }
    free(outs);
    return rc;
}

static int write_optimizer(const char *dir, const tl_checkpoint *ck, const char **meta, int nmeta, tl_err *err)
{
    int np = tl_params_count(&ck->cfg), rc = 0;
    tl_param *p = calloc((size_t)np, sizeof *p);
    tl_st_out *o = calloc(2 * (size_t)np, sizeof *o);
    char (*names)[TL_FULLNAME_MAX] = calloc(2 * (size_t)np, sizeof *names);
    char path[4096], step[32], rng[32];
    if (!p || !o || !names) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    tl_params_list(&ck->cfg, p);
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < np; i++) {
            tl_st_out *x = &o[m * np + i];
            snprintf(names[m * np + i], TL_FULLNAME_MAX, "%s%s", m ? TL_OPT_V_PREFIX : TL_OPT_M_PREFIX, p[i].name);
            *x = (tl_st_out){names[m * np + i], TL_DT_F32, p[i].ndim, {p[i].shape[0], p[i].shape[1]},
                             (m ? ck->adam_v : ck->adam_m) + p[i].offset};
        }
    snprintf(step, sizeof step, "%" PRId64, ck->step < 0 ? 0 : ck->step);
    snprintf(rng, sizeof rng, "%" PRIu64, ck->rng_state);
    meta[2 * nmeta] = TL_META_STEP;
    meta[2 * nmeta + 1] = step;
    meta[2 * nmeta + 2] = TL_META_RNG;
    meta[2 * nmeta + 3] = rng;
    if (tl_path_join(path, sizeof path, dir, TL_FILE_OPTIMIZER))
        rc = tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    else
        rc = tl_st_write(path, o, 2 * np, meta, nmeta + 2, FILE_MODE, err);
out:
    free(names);
    free(o);
    free(p);
    return rc;
}

int tl_checkpoint_save(const char *dir, const tl_checkpoint *ck, int layouts, tl_err *err)
{
    if (!layouts || (layouts & ~(TL_LAYOUT_FULL | TL_LAYOUT_SPLIT)))
        return tl_errf(err, TL_EINVAL, "%s: bad layout selection %d", dir, layouts);
    if (!ck->params)
        return tl_errf(err, TL_EINVAL, "%s: checkpoint has no parameters", dir);
    if (tl_config_validate(&ck->cfg, err))
        return err->code;
    if (tl_mkdirs(dir, 0755, err))
        return err->code;
    unsigned char rnd[16];
    char id[33];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return tl_err_ssl(err, TL_ECRYPTO, "checkpoint id");
    tl_hex(rnd, sizeof rnd, id);
    char *cfgjs = tl_config_to_json(&ck->cfg);
    size_t C = (size_t)ck->cfg.context_length;
    float *mask = malloc(C * C * sizeof *mask);
    int n = 0, rc = 0;
    entry *e = NULL;
    if (!cfgjs || !mask) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < C; i++)
        for (size_t j = 0; j < C; j++)
            mask[i * C + j] = j <= i ? 1.0f : 0.0f;
    if (!(e = build_entries(ck, mask, &n, err))) {
        rc = err->code;
        goto out;
    }
    /* room for the optimizer's two extra pairs */
    const char *meta[10] = {"format", "pt", TL_META_CONFIG, cfgjs, TL_META_ID, id};
    const int nmeta = 3;
    if (layouts & TL_LAYOUT_FULL) {
        tl_st_out *o = calloc((size_t)n, sizeof *o);
        char path[4096];
        if (!o) {
            rc = tl_errf(err, TL_ENOMEM, "out of memory");
            goto out;
        }
        for (int i = 0; i < n; i++) {
            o[i] = e[i].out;
            o[i].name = e[i].name;
        }
        if (tl_path_join(path, sizeof path, dir, TL_FILE_FULL))
            rc = tl_errf(err, TL_EINVAL, "%s: path too long", dir);
        else
            rc = tl_st_write(path, o, n, meta, nmeta, FILE_MODE, err);
        free(o);
    }
    if (!rc && (layouts & TL_LAYOUT_SPLIT))
        rc = write_split(dir, e, n, meta, nmeta, err);
    if (!rc && ck->adam_m && ck->adam_v)
        rc = write_optimizer(dir, ck, meta, nmeta, err);
    else if (!rc)
        rc = unlink_quiet(dir, TL_FILE_OPTIMIZER, err);
    if (!rc && !(layouts & TL_LAYOUT_FULL))
        rc = unlink_quiet(dir, TL_FILE_FULL, err);
    if (!rc) {
        int keep = (layouts & TL_LAYOUT_SPLIT) ? ck->cfg.n_layer : -1;
        rc = tl_remove_files_where(dir, stale_split, &keep, err);
    }
out:
    free(e);
    free(mask);
    free(cfgjs);
    return rc;
}

int tl_checkpoint_save_parts(const char *dir, const tl_checkpoint *ck, const tl_parts *present, tl_err *err)
{
    if (tl_mkdirs(dir, 0755, err))
        return err->code;
    size_t C = (size_t)ck->cfg.context_length;
    float *mask = malloc(C * C * sizeof *mask);
    int n = 0, k = 0, rc = 0;
    entry *e = NULL;
    if (!mask)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    for (size_t i = 0; i < C; i++)
        for (size_t j = 0; j < C; j++)
            mask[i * C + j] = j <= i ? 1.0f : 0.0f;
    if (!(e = build_entries(ck, mask, &n, err))) {
        free(mask);
        return err->code;
    }
    for (int i = 0; i < n; i++) {
        tl_part p = e[i].part;
        int blk, head;
        if (!present->masks && tl_is_mask_name(e[i].name, &blk, &head))
            continue;
        if (p.kind == TL_PART_EMBEDDING ? present->embedding
            : p.kind == TL_PART_FINAL   ? present->final
            : p.kind == TL_PART_BLOCK   ? present->blocks[p.block] : 0)
            e[k++] = e[i];
    }
    const char *meta[2] = {"format", "pt"};
    rc = write_split(dir, e, k, meta, 1, err);
    free(e);
    free(mask);
    return rc;
}
