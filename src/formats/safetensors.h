/* safetensors reader and writer (https://github.com/huggingface/safetensors, docs/weights-format.md):
 *   u64 little-endian N | N bytes of JSON header | data
 * The header maps tensor names to {"dtype","shape","data_offsets":[begin,end]} (offsets relative to
 * the data section) plus an optional "__metadata__" object of string -> string.
 * The reader is strict: header size capped, duplicate keys and unknown fields refused, every size
 * computed with overflow checks, tensors must tile the data section exactly (no gap, no overlap)
 * and the file length must match. Tensor data is read on demand with pread (no copy of the file). */
#ifndef TEELM_FORMATS_SAFETENSORS_H
#define TEELM_FORMATS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"
#include "util/err.h"
#include "util/io.h"

#define TL_ST_MAX_DIMS 8
#define TL_ST_HEADER_MAX (100u << 20) /* the reference implementation's cap */
#define TL_ST_NAME_MAX 1024

typedef struct {
    char *name;
    tl_dtype dtype;
    int ndim;
    int64_t shape[TL_ST_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end; /* byte offsets into the data section */
} tl_st_tensor;

typedef struct {
    char label[512];          /* file path (or caller's label), for messages */
    int fd;                   /* -1 when parsed from memory */
    const uint8_t *mem;       /* whole file when parsed from memory (not owned) */
    uint64_t data_start;      /* 8 + N */
    uint64_t data_len;
    tl_st_tensor *t;          /* sorted by data offset */
    int n;
    int *by_name;             /* indices into t sorted by name, for tl_st_find */
    char **meta_key, **meta_val;
    int nmeta;
} tl_st_file;

int tl_st_open(const char *path, tl_st_file *f, tl_err *err);
/* Parses a file image held in memory (kept by the caller while f is used). */
int tl_st_open_mem(const uint8_t *buf, size_t len, const char *label, tl_st_file *f, tl_err *err);
void tl_st_close(tl_st_file *f);

const tl_st_tensor *tl_st_find(const tl_st_file *f, const char *name);
/* Value of a __metadata__ key, or NULL. */
const char *tl_st_meta(const tl_st_file *f, const char *key);
/* Copies the tensor's bytes as stored (end - begin bytes). */
int tl_st_read_raw(const tl_st_file *f, const tl_st_tensor *t, void *dst, tl_err *err);
/* Reads the tensor as numel float32 values: F32 is read straight into dst, other dtypes are
 * converted through a small bounce buffer. */
int tl_st_read_f32(const tl_st_file *f, const tl_st_tensor *t, float *dst, tl_err *err);

/* One tensor to write; data holds numel * dtype size bytes, little-endian, row-major. */
typedef struct {
    const char *name;
    tl_dtype dtype;
    int ndim;
    int64_t shape[TL_ST_MAX_DIMS];
    const void *data;
} tl_st_out;

/* Writes tensors in the given order, with metadata pairs meta[2*i] -> meta[2*i+1], to a temporary
 * file renamed over path (mode 0600/0644...). The header is padded with spaces to 8 bytes so the
 * data section is 8-byte aligned. */
int tl_st_write(const char *path, const tl_st_out *t, int n, const char *const *meta, int nmeta,
                int mode, tl_err *err);
/* Same, with the data produced tensor by tensor: emit(ctx, i, af, err) must tl_atomic_write
 * exactly numel * dtype size bytes of tensor i (t[i].data is not read). For writers that convert
 * or gather on the fly without holding a copy of every tensor. */
typedef int (*tl_st_emit)(void *ctx, int i, tl_atomic_file *af, tl_err *err);
int tl_st_write_stream(const char *path, const tl_st_out *t, int n, const char *const *meta, int nmeta, int mode,
                       tl_st_emit emit, void *ctx, tl_err *err);

#endif
