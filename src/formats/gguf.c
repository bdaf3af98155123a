/* GGUF reader (see gguf.h and docs/gguf.md). Every length read from the file is compared with the
 * bytes left before it is used, so no count, however large, leads to an allocation, a long loop or
 * a read past the end: each element of any loop consumes at least one byte of the file. */
#include "formats/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/io.h"

typedef struct {
    const char *name;
    uint32_t blck, size;
} ggml_type_info;

/* ggml's type table (ggml.h enum ggml_type; ggml.c type_traits): ids 4, 5, 31-33, 36-38 were
 * removed from ggml and are unknown here. */
static const ggml_type_info types[] = {
    [0] = {"F32", 1, 4},        [1] = {"F16", 1, 2},        [2] = {"Q4_0", 32, 18},     [3] = {"Q4_1", 32, 20},
    [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},     [8] = {"Q8_0", 32, 34},     [9] = {"Q8_1", 32, 36},
    [10] = {"Q2_K", 256, 84},   [11] = {"Q3_K", 256, 110},  [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},  [15] = {"Q8_K", 256, 292},  [16] = {"IQ2_XXS", 256, 66}, [17] = {"IQ2_XS", 256, 74},
    [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50}, [20] = {"IQ4_NL", 32, 18},  [21] = {"IQ3_S", 256, 110},
    [22] = {"IQ2_S", 256, 82},  [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},       [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},       [27] = {"I64", 1, 8},       [28] = {"F64", 1, 8},       [29] = {"IQ1_M", 256, 56},
    [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},  [35] = {"TQ2_0", 256, 66},  [39] = {"MXFP4", 32, 17},
};
#define NTYPES (sizeof types / sizeof types[0])

const char *tl_ggml_type_name(uint32_t t) { return t < NTYPES ? types[t].name : NULL; }
uint32_t tl_ggml_block_size(uint32_t t) { return t < NTYPES && types[t].name ? types[t].blck : 0; }
uint32_t tl_ggml_type_size(uint32_t t) { return t < NTYPES && types[t].name ? types[t].size : 0; }

static const char *const vt_names[TL_GGUF_NTYPES] = {"uint8", "int8", "uint16", "int16", "uint32", "int32",
                                                     "float32", "bool", "string", "array", "uint64", "int64",
                                                     "float64"};
static const uint8_t vt_size[TL_GGUF_NTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *tl_gguf_value_type_name(uint32_t t) { return t < TL_GGUF_NTYPES ? vt_names[t] : "unknown"; }

/* ---- cursor ---- */

typedef struct {
    const uint8_t *p;
    size_t len, at;
    const char *label;
    tl_err *err;
} cur;

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static size_t left(const cur *c) { return c->len - c->at; }

static int need(cur *c, uint64_t n, const char *what)
{
    if (n > left(c))
        return tl_errf(c->err, TL_EINVAL, "%s: truncated: %s needs %" PRIu64 " bytes at offset %zu, %zu left",
                       c->label, what, n, c->at, left(c));
    return 0;
}

static int u32(cur *c, uint32_t *v, const char *what)
{
    if (need(c, 4, what))
        return TL_EINVAL;
    *v = rd32(c->p + c->at);
    c->at += 4;
    return 0;
}

static int u64(cur *c, uint64_t *v, const char *what)
{
    if (need(c, 8, what))
        return TL_EINVAL;
    *v = rd64(c->p + c->at);
    c->at += 8;
    return 0;
}

static int str(cur *c, tl_gguf_str *s, const char *what)
{
    uint64_t n;
    if (u64(c, &n, what))
        return TL_EINVAL;
    if (n > left(c))
        return tl_errf(c->err, TL_EINVAL, "%s: %s at offset %zu claims %" PRIu64 " bytes, only %zu left in the file",
                       c->label, what, c->at - 8, n, left(c));
    s->p = (const char *)c->p + c->at;
    s->n = n;
    c->at += (size_t)n;
    return 0;
}

/* Skips one value of type t (validating it); depth counts enclosing arrays. */
static int value(cur *c, uint32_t t, int depth, const char *key, int keylen)
{
    if (t >= TL_GGUF_NTYPES)
        return tl_errf(c->err, TL_EINVAL, "%s: metadata '%.*s': unknown value type %" PRIu32, c->label, keylen, key, t);
    if (t == TL_GGUF_STR) {
        tl_gguf_str s;
        return str(c, &s, "string value");
    }
    if (t == TL_GGUF_BOOL) {
        if (need(c, 1, "bool value"))
            return TL_EINVAL;
        if (c->p[c->at] > 1)
            return tl_errf(c->err, TL_EINVAL, "%s: metadata '%.*s': bool value %u is not 0 or 1", c->label, keylen, key,
                           c->p[c->at]);
        c->at++;
        return 0;
    }
    if (t != TL_GGUF_ARR) {
        if (need(c, vt_size[t], "value"))
            return TL_EINVAL;
        c->at += vt_size[t];
        return 0;
    }
    if (depth >= TL_GGUF_MAX_DEPTH)
        return tl_errf(c->err, TL_EINVAL, "%s: metadata '%.*s': arrays nested deeper than %d", c->label, keylen, key,
                       TL_GGUF_MAX_DEPTH);
    uint32_t et;
    uint64_t n;
    if (u32(c, &et, "array type") || u64(c, &n, "array length"))
        return TL_EINVAL;
    if (et >= TL_GGUF_NTYPES)
        return tl_errf(c->err, TL_EINVAL, "%s: metadata '%.*s': unknown array element type %" PRIu32, c->label, keylen,
                       key, et);
    /* every element takes at least min bytes: a length the rest of the file cannot hold is a lie */
    uint64_t min = et == TL_GGUF_STR ? 8 : et == TL_GGUF_ARR ? 12 : vt_size[et];
    if (n > left(c) / min)
        return tl_errf(c->err, TL_EINVAL, "%s: metadata '%.*s': array of %" PRIu64 " %s elements does not fit in the "
                       "%zu bytes left", c->label, keylen, key, n, vt_names[et], left(c));
    if (et != TL_GGUF_STR && et != TL_GGUF_ARR && et != TL_GGUF_BOOL) {
        c->at += (size_t)(n * min);
        return 0;
    }
    for (uint64_t i = 0; i < n; i++)
        if (value(c, et, depth + 1, key, keylen))
            return TL_EINVAL;
    return 0;
}

static int key_ok(const tl_gguf_str *k)
{
    if (k->n == 0 || k->n > TL_GGUF_KEY_MAX)
        return 0;
    for (uint64_t i = 0; i < k->n; i++)
        if (k->p[i] < 0x20 || k->p[i] > 0x7e)
            return 0;
    return 1;
}

static int name_ok(const tl_gguf_str *k)
{
    if (k->n == 0 || k->n > TL_GGUF_NAME_MAX)
        return 0;
    for (uint64_t i = 0; i < k->n; i++)
        if (k->p[i] == 0)
            return 0;
    return 1;
}

static int streq(tl_gguf_str s, const char *z) { return strlen(z) == s.n && !memcmp(s.p, z, s.n); }

/* One pass over kvs and tensor infos. fill = 0: validate and count only; 1: fill g->kv, g->t. */
static int walk(cur *c, tl_gguf *g, uint64_t nkv, uint64_t nt, int fill)
{
    for (uint64_t i = 0; i < nkv; i++) {
        tl_gguf_str k;
        uint32_t t;
        if (str(c, &k, "metadata key"))
            return TL_EINVAL;
        if (!key_ok(&k))
            return tl_errf(c->err, TL_EINVAL, "%s: metadata key %" PRIu64 " is empty, longer than %d bytes or not "
                           "printable ASCII", c->label, i, TL_GGUF_KEY_MAX);
        if (u32(c, &t, "value type"))
            return TL_EINVAL;
        size_t vat = c->at;
        if (value(c, t, 0, k.p, k.n > 200 ? 200 : (int)k.n))
            return TL_EINVAL;
        if (fill) {
            tl_gguf_kv *kv = &g->kv[i];
            kv->key = k;
            kv->type = t;
            kv->val = c->p + vat;
            if (t == TL_GGUF_ARR) {
                kv->arr_type = rd32(c->p + vat);
                kv->arr_n = rd64(c->p + vat + 4);
                kv->val += 12;
            }
        }
    }
    for (uint64_t i = 0; i < nt; i++) {
        tl_gguf_tensor x = {0};
        if (str(c, &x.name, "tensor name"))
            return TL_EINVAL;
        if (!name_ok(&x.name))
            return tl_errf(c->err, TL_EINVAL, "%s: tensor %" PRIu64 ": name empty, longer than %d bytes or holding NUL",
                           c->label, i, TL_GGUF_NAME_MAX);
        const int nl = (int)x.name.n;
        if (u32(c, &x.ndim, "tensor n_dims"))
            return TL_EINVAL;
        if (x.ndim < 1 || x.ndim > TL_GGUF_MAX_DIMS)
            return tl_errf(c->err, TL_EINVAL, "%s: tensor %.*s: %" PRIu32 " dimensions (1..%d allowed)", c->label, nl,
                           x.name.p, x.ndim, TL_GGUF_MAX_DIMS);
        x.numel = 1;
        for (uint32_t d = 0; d < x.ndim; d++) {
            if (u64(c, &x.dims[d], "tensor dim"))
                return TL_EINVAL;
            if (x.dims[d] == 0 || x.dims[d] > (uint64_t)INT64_MAX / x.numel)
                return tl_errf(c->err, TL_EINVAL, "%s: tensor %.*s: dimension %" PRIu32 " is %" PRIu64 " (zero, or the "
                               "element count overflows 2^63)", c->label, nl, x.name.p, d, x.dims[d]);
            x.numel *= x.dims[d];
        }
        if (u32(c, &x.type, "tensor type") || u64(c, &x.offset, "tensor offset"))
            return TL_EINVAL;
        const uint32_t bs = tl_ggml_block_size(x.type);
        if (!bs)
            return tl_errf(c->err, TL_EINVAL, "%s: tensor %.*s has unknown ggml type id %" PRIu32, c->label, nl,
                           x.name.p, x.type);
        if (x.dims[0] % bs)
            return tl_errf(c->err, TL_EINVAL, "%s: tensor %.*s: type %s needs rows of a multiple of %" PRIu32
                           " elements, dims[0] is %" PRIu64, c->label, nl, x.name.p, tl_ggml_type_name(x.type), bs,
                           x.dims[0]);
        const uint64_t blocks = x.numel / bs, ts = tl_ggml_type_size(x.type);
        if (blocks > UINT64_MAX / ts)
            return tl_errf(c->err, TL_EINVAL, "%s: tensor %.*s: byte size overflows", c->label, nl, x.name.p);
        x.nbytes = blocks * ts;
        if (fill)
            g->t[i] = x;
    }
    return 0;
}

static int cmp_gstr(const tl_gguf_str *a, const tl_gguf_str *b)
{
    int r = memcmp(a->p, b->p, a->n < b->n ? a->n : b->n);
    return r ? r : (a->n > b->n) - (a->n < b->n);
}

static int cmp_key(const void *a, const void *b)
{
    return cmp_gstr(&(*(tl_gguf_kv *const *)a)->key, &(*(tl_gguf_kv *const *)b)->key);
}

static int cmp_name(const void *a, const void *b)
{
    return cmp_gstr(&(*(tl_gguf_tensor *const *)a)->name, &(*(tl_gguf_tensor *const *)b)->name);
}

/* Duplicate keys and tensor names, found by sorting (a file may hold millions of entries). */
static int duplicates(tl_gguf *g, tl_err *err)
{
    uint64_t n = g->nkv > g->nt ? g->nkv : g->nt;
    void **ix = calloc(n ? n : 1, sizeof *ix);
    if (!ix)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", g->label);
    int rc = 0;
    for (uint64_t i = 0; i < g->nkv; i++)
        ix[i] = &g->kv[i];
    qsort(ix, (size_t)g->nkv, sizeof *ix, cmp_key);
    for (uint64_t i = 1; i < g->nkv && !rc; i++)
        if (!cmp_key(&ix[i - 1], &ix[i])) {
            const tl_gguf_kv *k = ix[i];
            rc = tl_errf(err, TL_EINVAL, "%s: metadata key '%.*s' appears twice", g->label,
                         (int)(k->key.n > 200 ? 200 : k->key.n), k->key.p);
        }
    for (uint64_t i = 0; i < g->nt && !rc; i++)
        ix[i] = &g->t[i];
    if (!rc)
        qsort(ix, (size_t)g->nt, sizeof *ix, cmp_name);
    for (uint64_t i = 1; i < g->nt && !rc; i++)
        if (!cmp_name(&ix[i - 1], &ix[i])) {
            const tl_gguf_tensor *t = ix[i];
            rc = tl_errf(err, TL_EINVAL, "%s: tensor %.*s appears twice", g->label, (int)t->name.n, t->name.p);
        }
    free(ix);
    return rc;
}

static int cmp_off(const void *a, const void *b)
{
    const tl_gguf_tensor *x = *(tl_gguf_tensor *const *)a, *y = *(tl_gguf_tensor *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static int parse(tl_gguf *g, tl_err *err)
{
    cur c = {g->base, g->len, 0, g->label, err};
    uint32_t ver;
    uint64_t nt, nkv;
    if (g->len < 4 || memcmp(g->base, "GGUF", 4))
        return tl_errf(err, TL_EINVAL, "%s: not a GGUF file (no \"GGUF\" magic)", g->label);
    c.at = 4;
    if (u32(&c, &ver, "version"))
        return TL_EINVAL;
    if (ver == 1)
        return tl_errf(err, TL_EUNSUPPORTED, "%s: GGUF version 1 (32-bit counts) is not read: convert the file to "
                       "version 3 with llama.cpp", g->label);
    if (ver != 2 && ver != 3)
        return tl_errf(err, TL_EUNSUPPORTED, "%s: GGUF version %" PRIu32 " is not read (2 and 3 are%s)", g->label, ver,
                       (ver & 0xffff) == 0 ? "; a big-endian file?" : "");
    if (u64(&c, &nt, "tensor_count") || u64(&c, &nkv, "metadata_kv_count"))
        return TL_EINVAL;
    /* a key-value pair takes at least 13 bytes, a tensor info at least 29 */
    if (nkv > left(&c) / 13 || nt > left(&c) / 29)
        return tl_errf(err, TL_EINVAL, "%s: header claims %" PRIu64 " metadata entries and %" PRIu64 " tensors, more "
                       "than the %zu bytes of the file can hold", g->label, nkv, nt, g->len);
    const size_t start = c.at;
    if (walk(&c, g, nkv, nt, 0))
        return err->code;
    g->kv = calloc(nkv ? nkv : 1, sizeof *g->kv);
    g->t = calloc(nt ? nt : 1, sizeof *g->t);
    if (!g->kv || !g->t)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", g->label);
    c.at = start;
    if (walk(&c, g, nkv, nt, 1))
        return err->code;
    g->nkv = nkv;
    g->nt = nt;
    if (duplicates(g, err))
        return err->code;
    g->version = ver;
    g->alignment = TL_GGUF_DEFAULT_ALIGN;
    uint64_t al;
    const tl_gguf_kv *ak = tl_gguf_find(g, "general.alignment");
    if (ak && ak->type != TL_GGUF_U32)
        return tl_errf(err, TL_EINVAL, "%s: general.alignment is a %s, not a uint32", g->label,
                       tl_gguf_value_type_name(ak->type));
    if (ak) {
        al = rd32(ak->val);
        if (al == 0 || (al & (al - 1)))
            return tl_errf(err, TL_EINVAL, "%s: general.alignment %" PRIu64 " is not a power of two", g->label, al);
        g->alignment = al;
    }
    uint64_t ds = ((uint64_t)c.at + g->alignment - 1) / g->alignment * g->alignment;
    if (ds > g->len && nt)
        return tl_errf(err, TL_EINVAL, "%s: truncated: the data section would start at %" PRIu64 ", the file has %zu "
                       "bytes", g->label, ds, g->len);
    g->data_start = ds;
    const uint64_t dlen = ds <= g->len ? g->len - ds : 0;
    tl_gguf_tensor **by = calloc(nt ? nt : 1, sizeof *by);
    if (!by)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", g->label);
    int rc = 0;
    for (uint64_t i = 0; i < nt && !rc; i++) {
        tl_gguf_tensor *x = &g->t[i];
        by[i] = x;
        if (x->offset % g->alignment)
            rc = tl_errf(err, TL_EINVAL, "%s: tensor %.*s: offset %" PRIu64 " is not a multiple of the alignment %"
                         PRIu64, g->label, (int)x->name.n, x->name.p, x->offset, g->alignment);
        else if (x->offset > dlen || x->nbytes > dlen - x->offset)
            rc = tl_errf(err, TL_EINVAL, "%s: truncated: tensor %.*s needs bytes %" PRIu64 "..%" PRIu64 " of the data "
                         "section, which has %" PRIu64, g->label, (int)x->name.n, x->name.p, x->offset,
                         x->offset + (x->nbytes <= UINT64_MAX - x->offset ? x->nbytes : 0), dlen);
        else
            x->data = g->base + ds + x->offset;
    }
    if (!rc && nt > 1) {
        qsort(by, (size_t)nt, sizeof *by, cmp_off);
        for (uint64_t i = 1; i < nt && !rc; i++)
            if (by[i - 1]->offset + by[i - 1]->nbytes > by[i]->offset)
                rc = tl_errf(err, TL_EINVAL, "%s: tensors %.*s and %.*s overlap in the data section", g->label,
                             (int)by[i - 1]->name.n, by[i - 1]->name.p, (int)by[i]->name.n, by[i]->name.p);
    }
    free(by);
    return rc;
}

int tl_gguf_open_mem(const uint8_t *buf, size_t len, const char *label, tl_gguf *g, tl_err *err)
{
    memset(g, 0, sizeof *g);
    snprintf(g->label, sizeof g->label, "%s", label);
    g->base = buf;
    g->len = len;
    int rc = parse(g, err);
    if (rc)
        tl_gguf_close(g);
    return rc;
}

int tl_gguf_open(const char *path, tl_gguf *g, tl_err *err)
{
    memset(g, 0, sizeof *g);
    int fd = tl_open_regular(path, err);
    if (fd < 0)
        return err->code ? err->code : TL_EIO;
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return tl_errf(err, TL_EIO, "%s: %s", path, strerror(e));
    }
    if (st.st_size < 24) {
        close(fd);
        return tl_errf(err, TL_EINVAL, "%s: truncated: %lld bytes, a GGUF header has at least 24", path,
                       (long long)st.st_size);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED)
        return tl_errf(err, TL_EIO, "%s: mmap: %s", path, strerror(e));
    snprintf(g->label, sizeof g->label, "%s", path);
    g->base = m;
    g->len = (size_t)st.st_size;
    g->mapped = 1;
    int rc = parse(g, err);
    if (rc)
        tl_gguf_close(g);
    return rc;
}

void tl_gguf_close(tl_gguf *g)
{
    if (g->mapped && g->base)
        munmap((void *)g->base, g->len);
    free(g->kv);
    free(g->t);
    memset(g, 0, sizeof *g);
}

void tl_gguf_release_map(tl_gguf *g) { g->mapped = 0; }

int tl_gguf_is_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char m[4];
    int ok = fread(m, 1, 4, f) == 4 && !memcmp(m, "GGUF", 4);
    fclose(f);
    return ok;
}

const tl_gguf_kv *tl_gguf_find(const tl_gguf *g, const char *key)
{
    for (uint64_t i = 0; i < g->nkv; i++)
        if (streq(g->kv[i].key, key))
            return &g->kv[i];
    return NULL;
}

const tl_gguf_tensor *tl_gguf_tensor_find(const tl_gguf *g, const char *name)
{
    for (uint64_t i = 0; i < g->nt; i++)
        if (streq(g->t[i].name, name))
            return &g->t[i];
    return NULL;
}

static double num_at(uint32_t t, const uint8_t *p)
{
    switch (t) {
    case TL_GGUF_U8: return p[0];
    case TL_GGUF_I8: return (int8_t)p[0];
    case TL_GGUF_U16: return (uint16_t)(p[0] | p[1] << 8);
    case TL_GGUF_I16: return (int16_t)(uint16_t)(p[0] | p[1] << 8);
    case TL_GGUF_U32: return rd32(p);
    case TL_GGUF_I32: return (int32_t)rd32(p);
    case TL_GGUF_BOOL: return p[0];
    case TL_GGUF_U64: return (double)rd64(p);
    case TL_GGUF_I64: return (double)(int64_t)rd64(p);
    case TL_GGUF_F32: {
        uint32_t u = rd32(p);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case TL_GGUF_F64: {
        uint64_t u = rd64(p);
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    }
    return 0;
}

double tl_gguf_arr_num(const tl_gguf_kv *kv, uint64_t i)
{
    return kv->arr_type < TL_GGUF_NTYPES && vt_size[kv->arr_type] ? num_at(kv->arr_type, kv->val + i * vt_size[kv->arr_type]) : 0;
}

/* Strings are variable-length: callers walking all of them use this in order, so a cursor would be
 * faster; tl_gguf_arr_str keeps it simple for the one use (the tokenizer), which walks once. */
tl_gguf_str tl_gguf_arr_str(const tl_gguf_kv *kv, uint64_t i)
{
    const uint8_t *p = kv->val;
    for (uint64_t k = 0; k < i; k++)
        p += 8 + rd64(p);
    return (tl_gguf_str){(const char *)p + 8, rd64(p)};
}

static int is_int(uint32_t t)
{
    return t == TL_GGUF_U8 || t == TL_GGUF_I8 || t == TL_GGUF_U16 || t == TL_GGUF_I16 || t == TL_GGUF_U32 ||
           t == TL_GGUF_I32 || t == TL_GGUF_U64 || t == TL_GGUF_I64;
}

int tl_gguf_get_u64(const tl_gguf *g, const char *key, uint64_t max, uint64_t *out, tl_err *err)
{
    const tl_gguf_kv *kv = tl_gguf_find(g, key);
    if (!kv)
        return 1;
    if (!is_int(kv->type))
        return -tl_errf(err, TL_EINVAL, "%s: %s is a %s, not an integer", g->label, key, tl_gguf_value_type_name(kv->type));
    int neg = (kv->type == TL_GGUF_I64 && (int64_t)rd64(kv->val) < 0) || (kv->type != TL_GGUF_U64 && num_at(kv->type, kv->val) < 0);
    uint64_t v = kv->type == TL_GGUF_U64 || kv->type == TL_GGUF_I64 ? rd64(kv->val) : (uint64_t)num_at(kv->type, kv->val);
    if (neg || v > max)
        return -tl_errf(err, TL_EINVAL, "%s: %s is %s%" PRIu64 ", outside 0..%" PRIu64, g->label, key, neg ? "negative: " : "",
                        v, max);
    *out = v;
    return 0;
}

int tl_gguf_get_f64(const tl_gguf *g, const char *key, double *out, tl_err *err)
{
    const tl_gguf_kv *kv = tl_gguf_find(g, key);
    if (!kv)
        return 1;
    if (kv->type != TL_GGUF_F32 && kv->type != TL_GGUF_F64 && !is_int(kv->type))
        return -tl_errf(err, TL_EINVAL, "%s: %s is a %s, not a number", g->label, key, tl_gguf_value_type_name(kv->type));
    *out = num_at(kv->type, kv->val);
    return 0;
}

int tl_gguf_get_bool(const tl_gguf *g, const char *key, int *out, tl_err *err)
{
    const tl_gguf_kv *kv = tl_gguf_find(g, key);
    if (!kv)
        return 1;
    if (kv->type != TL_GGUF_BOOL)
        return -tl_errf(err, TL_EINVAL, "%s: %s is a %s, not a bool", g->label, key, tl_gguf_value_type_name(kv->type));
    *out = kv->val[0];
    return 0;
}

int tl_gguf_get_str(const tl_gguf *g, const char *key, tl_gguf_str *out, tl_err *err)
{
    const tl_gguf_kv *kv = tl_gguf_find(g, key);
    if (!kv)
        return 1;
    if (kv->type != TL_GGUF_STR)
        return -tl_errf(err, TL_EINVAL, "%s: %s is a %s, not a string", g->label, key, tl_gguf_value_type_name(kv->type));
    *out = (tl_gguf_str){(const char *)kv->val + 8, rd64(kv->val)};
    return 0;
}
