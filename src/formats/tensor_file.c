/* tl_tensor_file backends: thin adapters over the safetensors and .pth parsers. */
#include "formats/tensor_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/pth.h"
#include "formats/safetensors.h"

_Static_assert(TL_ST_MAX_DIMS <= TL_TF_MAX_DIMS && TL_PK_MAX_DIMS <= TL_TF_MAX_DIMS, "backend dims");

struct tl_tf_backend {
    const char *name;
    int thread_safe;
    int (*open)(const char *path, tl_tensor_file *f, tl_err *err); /* sets impl, n, t */
    void (*close)(tl_tensor_file *f);
    int (*find)(const tl_tensor_file *f, const char *key);
    const char *(*meta)(const tl_tensor_file *f, const char *key);
    int (*read_raw)(const tl_tensor_file *f, int i, void *dst, tl_err *err);
    int (*read_f32)(const tl_tensor_file *f, int i, float *dst, tl_err *err);
};

static int alloc_list(tl_tensor_file *f, int n, tl_err *err)
{
    f->t = calloc((size_t)n + 1, sizeof *f->t);
    if (!f->t)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    f->n = n;
    return 0;
}

/* safetensors: pread on demand, so concurrent reads are safe */

static int st_open(const char *path, tl_tensor_file *f, tl_err *err)
{
    tl_st_file *s = calloc(1, sizeof *s);
    if (!s)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    s->fd = -1;
    f->impl = s;
    if (tl_st_open(path, s, err) || alloc_list(f, s->n, err))
        return err->code;
    for (int i = 0; i < s->n; i++)
        f->t[i] = (tl_tf_tensor){s->t[i].name, s->t[i].dtype, s->t[i].ndim, s->t[i].shape, s->t[i].numel};
    return 0;
}

static void st_close(tl_tensor_file *f)
{
    if (f->impl)
        tl_st_close(f->impl);
}

static int st_find(const tl_tensor_file *f, const char *key)
{
    const tl_st_file *s = f->impl;
    const tl_st_tensor *t = tl_st_find(s, key);
    return t ? (int)(t - s->t) : -1;
}

static const char *st_meta(const tl_tensor_file *f, const char *key)
{
    return tl_st_meta(f->impl, key);
}

static int st_read_raw(const tl_tensor_file *f, int i, void *dst, tl_err *err)
{
    const tl_st_file *s = f->impl;
    return tl_st_read_raw(s, &s->t[i], dst, err);
}

static int st_read_f32(const tl_tensor_file *f, int i, float *dst, tl_err *err)
{
    const tl_st_file *s = f->impl;
    return tl_st_read_f32(s, &s->t[i], dst, err);
}

/* .pth: libzip keeps per-archive state, so one read at a time */

static int pth_open(const char *path, tl_tensor_file *f, tl_err *err)
{
    tl_pth_file *p = calloc(1, sizeof *p);
    if (!p)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    f->impl = p;
    if (tl_pth_open(path, p, err) || alloc_list(f, p->sd.n, err))
        return err->code;
    for (int i = 0; i < p->sd.n; i++) {
        const tl_pk_tensor *t = &p->sd.t[i];
        f->t[i] = (tl_tf_tensor){t->name, t->dtype, t->ndim, t->size, (uint64_t)t->numel};
    }
    return 0;
}

static void pth_close(tl_tensor_file *f)
{
    if (f->impl)
        tl_pth_close(f->impl);
}

static int pth_find(const tl_tensor_file *f, const char *key)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].key, key))
            return i;
    return -1;
}

static const char *pth_meta(const tl_tensor_file *f, const char *key)
{
    return NULL;
}

static int pth_read_raw(const tl_tensor_file *f, int i, void *dst, tl_err *err)
{
    return tl_pth_read_raw(f->impl, i, dst, err);
}

static int pth_read_f32(const tl_tensor_file *f, int i, float *dst, tl_err *err)
{
    return tl_pth_read_f32(f->impl, i, dst, err);
}

static const tl_tf_backend backends[] = {
    [TL_TF_SAFETENSORS] = {"safetensors", 1, st_open, st_close, st_find, st_meta, st_read_raw, st_read_f32},
    [TL_TF_PTH] = {"pth", 0, pth_open, pth_close, pth_find, pth_meta, pth_read_raw, pth_read_f32},
};

tl_tf_format tl_tensor_file_detect(const char *path)
{
    uint8_t m[4] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return TL_TF_SAFETENSORS; /* its reader reports the open failure */
    ssize_t n = read(fd, m, 4);
    close(fd);
    return (n == 4 && !memcmp(m, "PK\3\4", 4)) || (n >= 2 && m[0] == 0x80 && m[1] <= 5) ? TL_TF_PTH
                                                                                         : TL_TF_SAFETENSORS;
}

int tl_tensor_file_open(const char *path, tl_tf_format format, tl_tensor_file *f, tl_err *err)
{
    memset(f, 0, sizeof *f);
    if (format == TL_TF_AUTO)
        format = tl_tensor_file_detect(path);
    if (format != TL_TF_SAFETENSORS && format != TL_TF_PTH)
        return tl_errf(err, TL_EINVAL, "%s: unknown tensor file format %d", path, (int)format);
    f->be = &backends[format];
    f->path = path;
    f->format = f->be->name;
    f->thread_safe = f->be->thread_safe;
    if (f->be->open(path, f, err)) {
        int rc = err->code;
        tl_tensor_file_close(f);
        return rc;
    }
    return 0;
}

void tl_tensor_file_close(tl_tensor_file *f)
{
    if (f->be)
        f->be->close(f);
    free(f->impl);
    free(f->t);
    memset(f, 0, sizeof *f);
}

int tl_tensor_file_find(const tl_tensor_file *f, const char *key)
{
    return f->be->find(f, key);
}

const char *tl_tensor_file_meta(const tl_tensor_file *f, const char *key)
{
    return f->be->meta(f, key);
}

size_t tl_tensor_file_bytes(const tl_tensor_file *f, int i)
{
    return (size_t)f->t[i].numel * tl_dtype_size(f->t[i].dtype);
}

int tl_tensor_file_read_raw(const tl_tensor_file *f, int i, void *dst, tl_err *err)
{
    return f->be->read_raw(f, i, dst, err);
}

int tl_tensor_file_read_f32(const tl_tensor_file *f, int i, float *dst, tl_err *err)
{
    return f->be->read_f32(f, i, dst, err);
}
