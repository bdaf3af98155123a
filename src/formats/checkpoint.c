/* Assembly of a checkpoint from named tensors (any source format). Loading from disk is in
 * checkpoint_load.c, writing in checkpoint_save.c. */
#include "formats/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/checkpoint_parts.h"
#include "formats/layout.h"
#include "model/params.h"

/* Zeroes what no tensor covers (alignment padding), for arenas that are then filled tensor by
 * tensor: zeroing the whole arena first would cost a pass over all the weights. */
static void zero_padding(const tl_config *cfg, const tl_param *p, int np, float *arena)
{
    size_t at = 0, end = tl_checkpoint_arena_bytes(cfg) / sizeof(float);
    for (int i = 0; i < np; i++) {
        memset(arena + at, 0, (p[i].offset - at) * sizeof(float));
        at = p[i].offset + p[i].numel;
    }
    memset(arena + at, 0, (end - at) * sizeof(float));
}

static int check_mask(const tl_tensor_src *s, const tl_config *c, int block, int head, tl_err *err)
{
    char got[96];
    tl_shape_str(s->ndim, s->shape, got, sizeof got);
    if (block >= c->n_layer || head >= c->n_head)
        return tl_errf(err, TL_EINVAL, "%s: unexpected mask buffer %s (the config has %d blocks of %d heads)", s->where,
                       s->name, c->n_layer, c->n_head);
    if (s->ndim != 2 || s->shape[0] != c->context_length || s->shape[1] != c->context_length)
        return tl_errf(err, TL_EINVAL, "%s: mask buffer %s has shape %s, the config needs [%d,%d]", s->where, s->name,
                       got, c->context_length, c->context_length);
    size_t C = (size_t)c->context_length;
    float *m = malloc(C * C * sizeof *m);
    if (!m)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    int rc = s->read(s->ctx, m, err);
    for (size_t i = 0; !rc && i < C; i++)
        for (size_t j = 0; j < C; j++)
            if (m[i * C + j] != (j <= i ? 1.0f : 0.0f)) {
                rc = tl_errf(err, TL_EINVAL, "%s: mask buffer %s is not the causal lower-triangular ones matrix "
                             "(element [%zu,%zu] = %g)", s->where, s->name, i, j, (double)m[i * C + j]);
                break;
            }
    free(m);
    return rc;
}

/* Reads every validated tensor into its arena slice; on two threads when every source allows it
 * and there is enough data (the copy from the page cache is what loading costs). */
static int read_all(const tl_tensor_src *src, int n, const int *target, const tl_param *p, float *arena, tl_err *err)
{
    size_t bytes = 0;
    int parallel = 1, rc = 0;
    for (int i = 0; i < n; i++)
        if (target[i] >= 0) {
            bytes += p[target[i]].numel * sizeof(float);
            parallel &= src[i].thread_safe;
        }
    parallel = parallel && bytes >= (8u << 20);
#pragma omp parallel for schedule(dynamic, 1) num_threads(2) if (parallel)
    for (int i = 0; i < n; i++) {
        if (target[i] < 0)
            continue;
        int failed;
#pragma omp atomic read
        failed = rc;
        if (failed)
            continue;
        tl_err e = {0};
        if (src[i].read(src[i].ctx, arena + p[target[i]].offset, &e)) {
#pragma omp critical(tl_checkpoint_read_err)
            if (!rc) {
                *err = e;
                rc = e.code;
            }
        }
    }
    return rc;
}

static int part_present(const tl_parts *present, const char *name)
{
    tl_part part;
    char key[TL_FULLNAME_MAX];
    if (!present || tl_part_of_full_name(name, &part, key, sizeof key))
        return 1;
    return part.kind == TL_PART_EMBEDDING ? present->embedding
         : part.kind == TL_PART_FINAL ? present->final
         : part.kind == TL_PART_BLOCK ? present->blocks[part.block] : 1;
}

static int assemble(const tl_tensor_src *src, int n, const tl_config *cfg, const tl_parts *present, tl_checkpoint *ck,
                    tl_err *err)
{
    memset(ck, 0, sizeof *ck);
    tl_config c;
    char note[sizeof ck->note] = "";
    if (cfg) {
        c = *cfg;
        if (tl_config_validate(&c, err))
            return err->code;
    } else {
        tl_named_shape *ns = calloc((size_t)n + 1, sizeof *ns);
        if (!ns)
            return tl_errf(err, TL_ENOMEM, "out of memory");
        for (int i = 0; i < n; i++)
            ns[i] = (tl_named_shape){src[i].name, src[i].ndim, src[i].shape};
        int rc = tl_infer_config(ns, n, 0, &c, note, sizeof note, err);
        free(ns);
        if (rc)
            return rc;
    }
    int np = tl_params_count(&c);
    tl_param *p = calloc((size_t)np, sizeof *p);
    int *sorted = calloc((size_t)np, sizeof *sorted);
    char *seen = calloc((size_t)np, 1);
    int *target = malloc(((size_t)n + 1) * sizeof *target);
    int rc = 0;
    if (!p || !sorted || !seen || !target) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    tl_params_list(&c, p);
    tl_params_index(p, np, sorted);
    ck->cfg = c;
    if (!(ck->params = tl_checkpoint_arena_alloc(&c))) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory for %zu bytes of parameters", tl_checkpoint_arena_bytes(&c));
        goto out;
    }
    zero_padding(&c, p, np, ck->params);
    for (int i = 0; i < n; i++)
        target[i] = -1;
    for (int i = 0; i < n && !rc; i++) {
        const tl_tensor_src *s = &src[i];
        int blk, head;
        if (tl_is_mask_name(s->name, &blk, &head)) {
            rc = check_mask(s, &c, blk, head, err);
            continue;
        }
        int k = tl_params_index_find(p, sorted, np, s->name);
        if (k < 0) {
            rc = tl_errf(err, TL_EINVAL, "%s: unexpected tensor %s (not a parameter of this model: %d blocks, %d heads, "
                         "norm=%s, pos=%s, tie_embeddings=%s)", s->where, s->name, c.n_layer, c.n_head,
                         c.prenorm ? "pre" : "post", c.learned_pos ? "learned" : "sinusoidal",
                         c.tie_embeddings ? "true" : "false");
            break;
        }
        if (seen[k]) {
            rc = tl_errf(err, TL_EINVAL, "%s: tensor %s appears twice", s->where, s->name);
            break;
        }
        seen[k] = 1;
        if (s->ndim != p[k].ndim || s->shape[0] != p[k].shape[0] || (p[k].ndim == 2 && s->shape[1] != p[k].shape[1])) {
            char got[96], want[96];
            tl_shape_str(s->ndim, s->shape, got, sizeof got);
            tl_shape_str(p[k].ndim, p[k].shape, want, sizeof want);
            rc = tl_errf(err, TL_EINVAL, "%s: tensor %s has shape %s, the config needs %s", s->where, s->name, got, want);
            break;
        }
        target[i] = k;
    }
    if (!rc) {
        int missing = 0, first = -1;
        for (int i = 0; i < np; i++)
            if (!seen[i] && part_present(present, p[i].name) && missing++ == 0)
                first = i;
        if (missing) {
            char key[TL_FULLNAME_MAX], stem[64];
            tl_part part;
            if (tl_part_of_full_name(p[first].name, &part, key, sizeof key) == 0)
                tl_part_stem(part, stem, sizeof stem);
            else
                snprintf(stem, sizeof stem, "?");
            rc = tl_errf(err, TL_EINVAL, "missing tensor %s (split layout: '%s' in %s) and %d more of %d parameters",
                         p[first].name, key, stem, missing - 1, np);
        }
    }
    if (!rc)
        rc = read_all(src, n, target, p, ck->params, err);
    if (!rc)
        snprintf(ck->note, sizeof ck->note, "%s", note);
out:
    if (rc)
        tl_checkpoint_free(ck);
    free(p);
    free(sorted);
    free(seen);
    free(target);
    return rc;
}

int tl_checkpoint_assemble(const tl_tensor_src *src, int n, const tl_config *cfg, tl_checkpoint *ck, tl_err *err)
{
    return assemble(src, n, cfg, NULL, ck, err);
}

int tl_checkpoint_assemble_parts(const tl_tensor_src *src, int n, const tl_config *cfg, const tl_parts *present,
                                 tl_checkpoint *ck, tl_err *err)
{
    return assemble(src, n, cfg, present, ck, err);
}
