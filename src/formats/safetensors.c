#include "formats/safetensors.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "util/bytes.h"
#include "util/io.h"
#include "util/json_fields.h"

static int cmp_offsets(const void *a, const void *b)
{
    const tl_st_tensor *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_names(const void *a, const void *b, void *base)
{
    const tl_st_tensor *t = base;
    return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

static int parse_meta(tl_st_file *f, json_t *m, tl_err *err)
{
    if (!json_is_object(m))
        return tl_errf(err, TL_EINVAL, "%s: __metadata__ must be an object", f->label);
    size_t n = json_object_size(m);
    f->meta_key = calloc(n ? n : 1, sizeof *f->meta_key);
    f->meta_val = calloc(n ? n : 1, sizeof *f->meta_val);
    if (!f->meta_key || !f->meta_val)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", f->label);
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        if (!json_is_string(v))
            return tl_errf(err, TL_EINVAL, "%s: __metadata__ value of '%.64s' is not a string", f->label, k);
        f->meta_key[f->nmeta] = strdup(k);
        f->meta_val[f->nmeta] = strdup(json_string_value(v));
        if (!f->meta_key[f->nmeta] || !f->meta_val[f->nmeta]) {
            f->nmeta++;
            return tl_errf(err, TL_ENOMEM, "%s: out of memory", f->label);
        }
        f->nmeta++;
    }
    return 0;
}


static int parse_tensor(tl_st_file *f, const char *name, json_t *o, tl_st_tensor *t, tl_err *err)
{
    const char *L = f->label;
    if (!json_is_object(o))
        return tl_errf(err, TL_EINVAL, "%s: entry '%.128s' is not an object", L, name);
    if (!*name || strlen(name) > TL_ST_NAME_MAX)
        return tl_errf(err, TL_EINVAL, "%s: tensor name of length %zu is not allowed", L, strlen(name));
    static const tl_json_field fields[] = {{"dtype", TL_JF_ANY, 1}, {"shape", TL_JF_ANY, 1}, {"data_offsets", TL_JF_ANY, 1}, {NULL}};
    json_t *fv[3];
    const char *k;
    tl_jf_status st = tl_json_fields(o, fields, fv, &k);
    if (st == TL_JF_UNKNOWN)
        return tl_errf(err, TL_EINVAL, "%s: tensor '%.128s' has unknown field '%.64s'", L, name, k);
    if (st)
        return tl_errf(err, TL_EINVAL, "%s: tensor '%.128s' lacks field '%s'", L, name, k);
    json_t *dt = fv[0], *shape = fv[1], *offs = fv[2];
    int d = json_is_string(dt) ? tl_dtype_from_name(json_string_value(dt)) : -1;
    if (d < 0)
        return tl_errf(err, TL_EINVAL, "%s: tensor '%.128s' has unsupported dtype %.32s", L, name,
                       json_is_string(dt) ? json_string_value(dt) : "(not a string)");
    t->dtype = (tl_dtype)d;
    if (!json_is_array(shape) || json_array_size(shape) > TL_ST_MAX_DIMS)
        return tl_errf(err, TL_EINVAL, "%s: tensor '%.128s': shape must be an array of at most %d integers",
                       L, name, TL_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    uint64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        uint64_t dim;
        if (tl_json_u64(json_array_get(shape, (size_t)i), &dim) || dim > INT64_MAX)
            return tl_errf(err, TL_EINVAL, "%s: tensor '%.128s': shape[%d] is not a non-negative integer", L, name, i);
        if (__builtin_mul_overflow(numel, dim, &numel))
            return tl_errf(err, TL_EINVAL, "%s: tensor '%.128s': shape overflows 64 bits", L, name);
        t->shape[i] = (int64_t)dim;
    }
    t->numel = numel;
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, (uint64_t)tl_dtype_size(t->dtype), &nbytes))
        return tl_errf(err, TL_EINVAL, "%s: tensor '%.128s': byte size overflows 64 bits", L, name);
    if (!json_is_array(offs) || json_array_size(offs) != 2 || tl_json_u64(json_array_get(offs, 0), &t->begin) ||
        tl_json_u64(json_array_get(offs, 1), &t->end))
        return tl_errf(err, TL_EINVAL, "%s: tensor '%.128s': data_offsets must be two non-negative integers", L, name);
    if (t->end < t->begin)
        return tl_errf(err, TL_EINVAL, "%s: tensor '%.128s': data_offsets end %llu is before begin %llu", L, name,
                       (unsigned long long)t->end, (unsigned long long)t->begin);
    if (t->end - t->begin != nbytes)
        return tl_errf(err, TL_EINVAL,
                       "%s: tensor '%.128s': data_offsets span %llu bytes but %s shape needs %llu", L, name,
                       (unsigned long long)(t->end - t->begin), tl_dtype_name(t->dtype),
                       (unsigned long long)nbytes);
    if (t->end > f->data_len)
        return tl_errf(err, TL_EINVAL, "%s: tensor '%.128s': data_offsets [%llu, %llu] outside the data section "
                       "(%llu bytes; file truncated?)", L, name, (unsigned long long)t->begin,
                       (unsigned long long)t->end, (unsigned long long)f->data_len);
    t->name = strdup(name);
    if (!t->name)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", L);
    return 0;
}

/* hdr: the N header bytes; f->data_len already set. */
static int parse_header(tl_st_file *f, const char *hdr, size_t n, tl_err *err)
{
    const char *L = f->label;
    if (n == 0 || hdr[0] != '{')
        return tl_errf(err, TL_EINVAL, "%s: header does not start with '{' (not a safetensors file?)", L);
    json_error_t je;
    json_t *root = json_loadb(hdr, n, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return tl_errf(err, TL_EINVAL, "%s: bad JSON header at byte %d: %s", L, je.position, je.text);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = tl_errf(err, TL_EINVAL, "%s: header is not a JSON object", L);
        goto out;
    }
    size_t cap = json_object_size(root);
    f->t = calloc(cap ? cap : 1, sizeof *f->t);
    if (!f->t) {
        rc = tl_errf(err, TL_ENOMEM, "%s: out of memory", L);
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (!strcmp(k, "__metadata__"))
            rc = parse_meta(f, v, err);
        else if ((rc = parse_tensor(f, k, v, &f->t[f->n], err)) == 0)
            f->n++;
        if (rc)
            goto out;
    }
    qsort(f->t, (size_t)f->n, sizeof *f->t, cmp_offsets);
    uint64_t at = 0;
    for (int i = 0; i < f->n; i++) {
        const tl_st_tensor *t = &f->t[i];
        if (t->begin < at) {
            rc = tl_errf(err, TL_EINVAL, "%s: tensor '%.128s' (bytes %llu..%llu) overlaps '%.128s'", L, t->name,
                         (unsigned long long)t->begin, (unsigned long long)t->end, f->t[i - 1].name);
            goto out;
        }
        if (t->begin > at) {
            rc = tl_errf(err, TL_EINVAL, "%s: %llu unused bytes before tensor '%.128s' (data must be contiguous)", L,
                         (unsigned long long)(t->begin - at), t->name);
            goto out;
        }
        at = t->end;
    }
    if (at != f->data_len) {
        rc = tl_errf(err, TL_EINVAL, "%s: file length does not match the header: tensors cover %llu data bytes, "
                     "the file has %llu", L, (unsigned long long)at, (unsigned long long)f->data_len);
        goto out;
    }
    f->by_name = calloc(cap ? cap : 1, sizeof *f->by_name);
    if (!f->by_name) {
        rc = tl_errf(err, TL_ENOMEM, "%s: out of memory", L);
        goto out;
    }
    for (int i = 0; i < f->n; i++)
        f->by_name[i] = i;
    qsort_r(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_names, f->t);
out:
    json_decref(root);
    return rc;
}

static int check_sizes(tl_st_file *f, uint64_t file_len, const uint8_t le[8], uint64_t *hlen, tl_err *err)
{
    uint64_t n = tl_load_le64(le);
    if (n > TL_ST_HEADER_MAX)
        return tl_errf(err, TL_EINVAL, "%s: header size %llu is larger than the limit of %u bytes", f->label,
                       (unsigned long long)n, TL_ST_HEADER_MAX);
    if (n > file_len - 8)
        return tl_errf(err, TL_EINVAL, "%s: header size %llu is larger than the rest of the file (%llu bytes; truncated?)",
                       f->label, (unsigned long long)n, (unsigned long long)(file_len - 8));
    *hlen = n;
    f->data_start = 8 + n;
    f->data_len = file_len - 8 - n;
    return 0;
}

static void init(tl_st_file *f, const char *label)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    snprintf(f->label, sizeof f->label, "%s", label);
}

int tl_st_open_mem(const uint8_t *buf, size_t len, const char *label, tl_st_file *f, tl_err *err)
{
    init(f, label);
    f->mem = buf;
    uint64_t hlen = 0;
    int rc;
    if (len < 8)
        rc = tl_errf(err, TL_EINVAL, "%s: %zu bytes is too short for a safetensors file", label, len);
    else if ((rc = check_sizes(f, len, buf, &hlen, err)) == 0)
        rc = parse_header(f, (const char *)buf + 8, (size_t)hlen, err);
    if (rc)
        tl_st_close(f);
    return rc;
}

int tl_st_open(const char *path, tl_st_file *f, tl_err *err)
{
    init(f, path);
    if ((f->fd = tl_open_regular(path, err)) < 0) /* non-blocking: a FIFO is refused, not waited on */
        return err ? err->code : TL_EIO;
    struct stat st;
    uint8_t le[8];
    uint64_t hlen = 0;
    char *hdr = NULL;
    int rc;
    if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = tl_errf(err, TL_EINVAL, "%s: not a regular file", path);
    else if (st.st_size < 8)
        rc = tl_errf(err, TL_EINVAL, "%s: %lld bytes is too short for a safetensors file", path, (long long)st.st_size);
    else if (tl_pread_all(f->fd, le, 8, 0))
        rc = tl_errf(err, TL_EIO, "%s: read failed", path);
    else if ((rc = check_sizes(f, (uint64_t)st.st_size, le, &hlen, err)) == 0) {
        hdr = malloc(hlen ? hlen : 1);
        if (!hdr)
            rc = tl_errf(err, TL_ENOMEM, "%s: out of memory for a %llu-byte header", path, (unsigned long long)hlen);
        else if (tl_pread_all(f->fd, hdr, hlen, 8))
            rc = tl_errf(err, TL_EIO, "%s: read failed", path);
        else
            rc = parse_header(f, hdr, (size_t)hlen, err);
    }
    free(hdr);
    if (rc)
        tl_st_close(f);
    return rc;
}

void tl_st_close(tl_st_file *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    for (int i = 0; i < f->n; i++)
        free(f->t[i].name);
    free(f->t);
    free(f->by_name);
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta_key[i]);
        free(f->meta_val[i]);
    }
    free(f->meta_key);
    free(f->meta_val);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

const tl_st_tensor *tl_st_find(const tl_st_file *f, const char *name)
{
    int lo = 0, hi = f->by_name ? f->n - 1 : -1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(f->t[f->by_name[mid]].name, name);
        if (!c)
            return &f->t[f->by_name[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

const char *tl_st_meta(const tl_st_file *f, const char *key)
{
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta_key[i], key) == 0)
            return f->meta_val[i];
    return NULL;
}

static int read_at(const tl_st_file *f, uint64_t off, void *dst, size_t n, tl_err *err)
{
    if (f->mem) {
        memcpy(dst, f->mem + f->data_start + off, n);
        return 0;
    }
    if (tl_pread_all(f->fd, dst, n, f->data_start + off))
        return tl_errf(err, TL_EIO, "%s: read failed (file changed while reading?)", f->label);
    return 0;
}

int tl_st_read_raw(const tl_st_file *f, const tl_st_tensor *t, void *dst, tl_err *err)
{
    return read_at(f, t->begin, dst, (size_t)(t->end - t->begin), err);
}

int tl_st_read_f32(const tl_st_file *f, const tl_st_tensor *t, float *dst, tl_err *err)
{
    if (t->dtype == TL_DT_F32)
        return tl_st_read_raw(f, t, dst, err);
    size_t es = tl_dtype_size(t->dtype);
    enum { CHUNK = 1 << 14 };
    uint8_t *buf = malloc(CHUNK * 8);
    if (!buf)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", f->label);
    for (uint64_t i = 0; i < t->numel; i += CHUNK) {
        size_t n = t->numel - i < CHUNK ? (size_t)(t->numel - i) : CHUNK;
        if (read_at(f, t->begin + i * es, buf, n * es, err)) {
            OPENSSL_cleanse(buf, CHUNK * 8);
            free(buf);
            return err->code;
        }
        tl_dtype_to_f32(t->dtype, buf, dst + i, n);
    }
    OPENSSL_cleanse(buf, CHUNK * 8); /* weights */
    free(buf);
    return 0;
}

/* ---- writer ---- */

static char *build_header(const tl_st_out *t, int n, const char *const *meta, int nmeta, uint64_t *sizes,
                          size_t *hlen, tl_err *err)
{
    json_t *root = json_object();
    if (nmeta) {
        json_t *m = json_object();
        for (int i = 0; i < nmeta; i++)
            json_object_set_new(m, meta[2 * i], json_string(meta[2 * i + 1]));
        json_object_set_new(root, "__metadata__", m);
    }
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        uint64_t numel = 1;
        json_t *shape = json_array();
        for (int d = 0; d < t[i].ndim; d++) {
            json_array_append_new(shape, json_integer(t[i].shape[d]));
            if (t[i].shape[d] < 0 || __builtin_mul_overflow(numel, (uint64_t)t[i].shape[d], &numel))
                numel = UINT64_MAX;
        }
        if (numel == UINT64_MAX || t[i].ndim > TL_ST_MAX_DIMS || (unsigned)t[i].dtype >= TL_DT_COUNT) {
            json_decref(shape);
            json_decref(root);
            tl_errf(err, TL_EINVAL, "tensor '%.128s': bad shape or dtype", t[i].name);
            return NULL;
        }
        sizes[i] = numel * tl_dtype_size(t[i].dtype);
        json_t *e = json_pack("{s:s,s:o,s:[I,I]}", "dtype", tl_dtype_name(t[i].dtype), "shape", shape,
                              "data_offsets", (json_int_t)at, (json_int_t)(at + sizes[i]));
        if (!e || json_object_get(root, t[i].name) || !strcmp(t[i].name, "__metadata__")) {
            json_decref(e);
            json_decref(root);
            tl_errf(err, TL_EINVAL, "tensor '%.128s': duplicate or invalid name", t[i].name);
            return NULL;
        }
        if (json_object_set_new(root, t[i].name, e)) {
            json_decref(root);
            tl_errf(err, TL_EINVAL, "tensor '%.128s': duplicate or invalid name", t[i].name);
            return NULL;
        }
        at += sizes[i];
    }
    char *js = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!js) {
        tl_errf(err, TL_ENOMEM, "out of memory building a safetensors header");
        return NULL;
    }
    size_t len = strlen(js), padded = (len + 7) / 8 * 8;
    char *h = realloc(js, padded + 8);
    if (!h) {
        free(js);
        tl_errf(err, TL_ENOMEM, "out of memory building a safetensors header");
        return NULL;
    }
    memmove(h + 8, h, len);
    memset(h + 8 + len, ' ', padded - len);
    for (int i = 0; i < 8; i++)
        h[i] = (char)(((uint64_t)padded >> (8 * i)) & 0xff);
    *hlen = padded + 8;
    return h;
}

static int emit_data(void *ctx, int i, tl_atomic_file *af, tl_err *err)
{
    const tl_st_out *t = ctx;
    uint64_t numel = 1;
    for (int d = 0; d < t[i].ndim; d++)
        numel *= (uint64_t)t[i].shape[d]; /* build_header checked the product */
    return tl_atomic_write(af, t[i].data, (size_t)(numel * tl_dtype_size(t[i].dtype)), err);
}

int tl_st_write(const char *path, const tl_st_out *t, int n, const char *const *meta, int nmeta, int mode,
                tl_err *err)
{
    return tl_st_write_stream(path, t, n, meta, nmeta, mode, emit_data, (void *)t, err);
}

int tl_st_write_stream(const char *path, const tl_st_out *t, int n, const char *const *meta, int nmeta, int mode,
                       tl_st_emit emit, void *ctx, tl_err *err)
{
    uint64_t *sizes = calloc((size_t)n + 1, sizeof *sizes);
    if (!sizes)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", path);
    size_t hlen;
    char *hdr = build_header(t, n, meta, nmeta, sizes, &hlen, err);
    if (!hdr) {
        free(sizes);
        return tl_err_prefix(err, "%s", path);
    }
    /* a private temporary with a random name: never a file or link planted beside the target */
    tl_atomic_file af;
    int rc = tl_atomic_open(&af, path, mode, err), opened = !rc;
    if (!rc)
        rc = tl_atomic_write(&af, hdr, hlen, err);
    for (int i = 0; i < n && !rc; i++)
        rc = emit(ctx, i, &af, err);
    if (!rc)
        rc = tl_atomic_commit(&af, err);
    else if (opened)
        tl_atomic_abort(&af); /* closes and unlinks once; a second call is a no-op */
    free(hdr);
    free(sizes);
    return rc;
}
