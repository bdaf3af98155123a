#include "formats/part_srcs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tl_part_read {
    const tl_tensor_file *f;
    int i;
};

static int part_read(void *ctx, float *dst, tl_err *err)
{
    tl_part_read *r = ctx;
    return tl_tensor_file_read_f32(r->f, r->i, dst, err);
}

int tl_part_srcs_build(const tl_part_file *files, int n, int model_by_path, tl_part_namer name, tl_part_srcs *s,
                       tl_err *err)
{
    int total = 0, k = 0, rc = 0;
    for (int i = 0; i < n; i++)
        total += files[i].f.n;
    memset(s, 0, sizeof *s);
    s->src = calloc((size_t)total + 1, sizeof *s->src);
    s->rd = calloc((size_t)total + 1, sizeof *s->rd);
    s->names = calloc((size_t)total + 1, sizeof *s->names);
    s->where = calloc((size_t)total + 1, sizeof *s->where);
    if (!s->src || !s->rd || !s->names || !s->where)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    s->n = total;
    for (int i = 0; i < n && !rc; i++)
        for (int j = 0; j < files[i].f.n && !rc; j++, k++) {
            const tl_part_file *f = &files[i];
            const tl_tf_tensor *t = &f->f.t[j];
            size_t wl = strlen(f->path) + strlen(t->key) + 16;
            if (!(s->where[k] = malloc(wl)))
                return tl_errf(err, TL_ENOMEM, "out of memory");
            if (model_by_path && f->part.kind == TL_PART_MODEL)
                snprintf(s->where[k], wl, "%s", f->path);
            else
                snprintf(s->where[k], wl, "%s: key '%s'", f->path, t->key);
            if (!(rc = name(s, k, f, t, err))) {
                s->rd[k] = (tl_part_read){&f->f, j};
                s->src[k] = (tl_tensor_src){s->names[k], s->where[k], t->ndim, t->shape, part_read, &s->rd[k],
                                            f->f.thread_safe};
            }
        }
    return rc;
}

void tl_part_srcs_free(tl_part_srcs *s)
{
    for (int i = 0; s->where && i < s->n; i++)
        free(s->where[i]);
    free(s->where);
    free(s->names);
    free(s->rd);
    free(s->src);
    memset(s, 0, sizeof *s);
}
