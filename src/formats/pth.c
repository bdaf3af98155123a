#include "formats/pth.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>
#include <openssl/crypto.h>

#include "util/io.h"

#define MAX_ENTRIES (1 << 20)
#define LEGACY_MSG "legacy torch.save format; re-save with torch.save(..., _use_new_zipfile_serialization=True)"

static int check_magic(const uint8_t *b, size_t n, const char *label, tl_err *err)
{
    if (n >= 4 && !memcmp(b, "PK\3\4", 4))
        return 0;
    if (n >= 2 && b[0] == 0x80 && b[1] <= 5)
        return tl_errf(err, TL_EUNSUPPORTED, "%s: " LEGACY_MSG, label);
    return tl_errf(err, TL_EINVAL, "%s: not a PyTorch zip file (torch.save output starts with 'PK')", label);
}

/* Entry index of name, checked to be stored uncompressed and unencrypted; size in *size. */
static int entry(tl_pth_file *f, const char *name, const char *owner, int64_t *idx, uint64_t *size, tl_err *err)
{
    zip_t *z = f->zip;
    zip_int64_t i = zip_name_locate(z, name, ZIP_FL_ENC_RAW);
    if (i < 0)
        return tl_errf(err, TL_EINVAL, "%s: zip entry '%s'%s%.128s%s is missing", f->label, name,
                       owner ? " (storage of tensor '" : "", owner ? owner : "", owner ? "')" : "");
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW, &st) != 0 ||
        !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_METHOD))
        return tl_errf(err, TL_EINVAL, "%s: cannot stat zip entry '%s'", f->label, name);
    if (st.comp_method != ZIP_CM_STORE)
        return tl_errf(err, TL_EINVAL, "%s: zip entry '%s' is compressed (method %d); torch.save stores entries "
                       "uncompressed", f->label, name, (int)st.comp_method);
    (void)owner;
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
        return tl_errf(err, TL_EINVAL, "%s: zip entry '%s' is encrypted", f->label, name);
    *idx = i;
    *size = st.size;
    return 0;
}

/* Reads a whole entry of exactly size bytes, then asks for one more byte so libzip checks the CRC. */
static int read_entry(tl_pth_file *f, int64_t idx, const char *name, void *dst, uint64_t size, tl_err *err)
{
    zip_file_t *zf = zip_fopen_index(f->zip, (zip_uint64_t)idx, 0);
    if (!zf)
        return tl_errf(err, TL_EINVAL, "%s: cannot open zip entry '%s': %s", f->label, name,
                       zip_error_strerror(zip_get_error(f->zip)));
    uint8_t *p = dst, extra;
    uint64_t got = 0;
    int rc = 0;
    while (got < size) {
        zip_int64_t r = zip_fread(zf, p + got, size - got);
        if (r <= 0)
            break;
        got += (uint64_t)r;
    }
    if (got != size || zip_fread(zf, &extra, 1) != 0)
        rc = tl_errf(err, TL_EINVAL, "%s: zip entry '%s' is truncated or corrupt (%s)", f->label, name,
                     zip_error_strerror(zip_file_get_error(zf)));
    zip_fclose(zf);
    return rc;
}

static int parse(tl_pth_file *f, tl_err *err)
{
    zip_t *z = f->zip;
    zip_int64_t n = zip_get_num_entries(z, 0);
    if (n <= 0 || n > MAX_ENTRIES)
        return tl_errf(err, TL_EINVAL, "%s: zip has %lld entries", f->label, (long long)n);
    int found = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        size_t len = name ? strlen(name) : 0;
        if (len > 9 && !strcmp(name + len - 9, "/data.pkl")) {
            if (memchr(name, '/', len - 9) || len - 9 >= sizeof f->prefix)
                continue;
            if (found++)
                return tl_errf(err, TL_EINVAL, "%s: zip has more than one <archive>/data.pkl", f->label);
            snprintf(f->prefix, sizeof f->prefix, "%.*s", (int)(len - 9), name);
        }
    }
    if (!found)
        return tl_errf(err, TL_EINVAL, "%s: zip has no <archive>/data.pkl entry (not a torch.save file?)", f->label);

    char name[512];
    int64_t idx;
    uint64_t size;
    snprintf(name, sizeof name, "%s/byteorder", f->prefix);
    if (zip_name_locate(z, name, ZIP_FL_ENC_RAW) >= 0) {
        char bo[16] = {0};
        if (entry(f, name, NULL, &idx, &size, err))
            return err->code;
        if (size != 6 || read_entry(f, idx, name, bo, size, err) || memcmp(bo, "little", 6))
            return tl_errf(err, TL_EUNSUPPORTED, "%s: only little-endian storages are supported ('%s')", f->label, name);
    }
    snprintf(name, sizeof name, "%s/data.pkl", f->prefix);
    if (entry(f, name, NULL, &idx, &size, err))
        return err->code;
    if (size > TL_PK_MAX_BYTES)
        return tl_errf(err, TL_EINVAL, "%s: data.pkl of %llu bytes is larger than the limit", f->label,
                       (unsigned long long)size);
    uint8_t *pkl = malloc(size ? size : 1);
    if (!pkl)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    int rc = read_entry(f, idx, name, pkl, size, err);
    if (!rc)
        rc = tl_pickle_state_dict(pkl, (size_t)size, f->label, &f->sd, err);
    free(pkl);
    if (rc)
        return rc;

    f->entry = calloc((size_t)f->sd.n + 1, sizeof *f->entry);
    if (!f->entry)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    for (int i = 0; i < f->sd.n; i++) {
        const tl_pk_tensor *t = &f->sd.t[i];
        uint64_t want;
        snprintf(name, sizeof name, "%s/data/%s", f->prefix, t->storage_key);
        if (entry(f, name, t->name, &f->entry[i], &size, err))
            return err->code;
        if (__builtin_mul_overflow((uint64_t)t->storage_numel, (uint64_t)tl_dtype_size(t->dtype), &want) || size != want)
            return tl_errf(err, TL_EINVAL, "%s: storage '%s' of tensor '%.128s' has %llu bytes, its %lld %s elements "
                           "need %llu", f->label, name, t->name, (unsigned long long)size, (long long)t->storage_numel,
                           tl_dtype_name(t->dtype), (unsigned long long)want);
    }
    return 0;
}

static int finish_open(tl_pth_file *f, zip_t *z, zip_error_t *ze, tl_err *err)
{
    if (!z) {
        int rc = tl_errf(err, TL_EINVAL, "%s: bad zip file: %s", f->label, zip_error_strerror(ze));
        zip_error_fini(ze);
        return rc;
    }
    zip_error_fini(ze);
    f->zip = z;
    int rc = parse(f, err);
    if (rc)
        tl_pth_close(f);
    return rc;
}

int tl_pth_open(const char *path, tl_pth_file *f, tl_err *err)
{
    memset(f, 0, sizeof *f);
    snprintf(f->label, sizeof f->label, "%s", path);
    int fd = tl_open_regular(path, err); /* a FIFO is refused here, before zip_open would wait on it */
    if (fd < 0)
        return err ? err->code : TL_ENOTFOUND;
    uint8_t magic[4] = {0};
    ssize_t r = read(fd, magic, 4);
    close(fd);
    if (check_magic(magic, r > 0 ? (size_t)r : 0, path, err))
        return err->code;
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    zip_error_t ze;
    zip_error_init_with_code(&ze, zerr);
    return finish_open(f, z, &ze, err);
}

int tl_pth_open_mem(const uint8_t *buf, size_t len, const char *label, tl_pth_file *f, tl_err *err)
{
    memset(f, 0, sizeof *f);
    snprintf(f->label, sizeof f->label, "%s", label);
    if (check_magic(buf, len, label, err))
        return err->code;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(buf, len, 0, &ze);
    if (!src)
        return finish_open(f, NULL, &ze, err);
    zip_t *z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!z)
        zip_source_free(src);
    return finish_open(f, z, &ze, err);
}

void tl_pth_close(tl_pth_file *f)
{
    if (!f)
        return;
    if (f->zip)
        zip_discard(f->zip);
    tl_pk_state_dict_free(&f->sd);
    free(f->entry);
    memset(f, 0, sizeof *f);
}

int tl_pth_read_raw(tl_pth_file *f, int i, void *dst, tl_err *err)
{
    const tl_pk_tensor *t = &f->sd.t[i];
    size_t es = tl_dtype_size(t->dtype);
    uint64_t bytes = (uint64_t)t->storage_numel * es;
    char name[512];
    snprintf(name, sizeof name, "%s/data/%s", f->prefix, t->storage_key);
    if (t->offset == 0 && t->numel == t->storage_numel && tl_pk_contiguous(t))
        return read_entry(f, f->entry[i], name, dst, bytes, err);
    if (t->numel == 0)
        return 0;
    /* a view: read its storage, then gather element by element in row-major order */
    uint8_t *s = malloc(bytes ? bytes : 1), *out = dst;
    if (!s)
        return tl_errf(err, TL_ENOMEM, "out of memory for storage of '%.128s'", t->name);
    int rc = read_entry(f, f->entry[i], name, s, bytes, err);
    int64_t idx[TL_PK_MAX_DIMS] = {0};
    for (int64_t k = 0; !rc && k < t->numel; k++) {
        int64_t at = t->offset;
        for (int d = 0; d < t->ndim; d++)
            at += idx[d] * t->stride[d];
        memcpy(out + (size_t)k * es, s + (size_t)at * es, es);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->size[d])
                break;
            idx[d] = 0;
        }
    }
    OPENSSL_cleanse(s, bytes);
    free(s);
    return rc;
}

int tl_pth_read_f32(tl_pth_file *f, int i, float *dst, tl_err *err)
{
    const tl_pk_tensor *t = &f->sd.t[i];
    if (t->dtype == TL_DT_F32)
        return tl_pth_read_raw(f, i, dst, err);
    size_t bytes = (size_t)t->numel * tl_dtype_size(t->dtype);
    uint8_t *tmp = malloc(bytes ? bytes : 1);
    if (!tmp)
        return tl_errf(err, TL_ENOMEM, "out of memory for '%.128s'", t->name);
    int rc = tl_pth_read_raw(f, i, tmp, err);
    if (!rc)
        tl_dtype_to_f32(t->dtype, tmp, dst, (size_t)t->numel);
    OPENSSL_cleanse(tmp, bytes);
    free(tmp);
    return rc;
}
