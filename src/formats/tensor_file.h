/* One reader interface over every tensor file format teelm reads: open a file, list its named
 * tensors (key, dtype, shape), read one as stored or as float32, look up string metadata.
 * Loading (checkpoint_load.c), import and inspect use only this; the strict format parsers
 * (safetensors.h, pth.h) sit underneath, one backend each. A new format adds a backend in
 * tensor_file.c and a case in tl_tensor_file_detect. */
#ifndef TEELM_FORMATS_TENSOR_FILE_H
#define TEELM_FORMATS_TENSOR_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"
#include "util/err.h"

#define TL_TF_MAX_DIMS 8 /* no backend yields tensors of more dimensions */

typedef enum { TL_TF_AUTO = 0, TL_TF_SAFETENSORS, TL_TF_PTH } tl_tf_format;

typedef struct {
    const char *key;      /* name as stored in the file */
    tl_dtype dtype;
    int ndim;
    const int64_t *shape; /* ndim sizes */
    uint64_t numel;
} tl_tf_tensor;

typedef struct tl_tf_backend tl_tf_backend;

typedef struct {
    const char *path;
    const char *format;   /* "safetensors" or "pth" */
    int n;
    tl_tf_tensor *t;      /* in the file's order (safetensors: by data offset; pth: pickle order) */
    int thread_safe;      /* reads of different tensors may run concurrently */
    const tl_tf_backend *be;
    void *impl;
} tl_tensor_file;

/* The format of a file from its first bytes: a zip or a legacy pickle is .pth (the .pth reader
 * refuses legacy files with a hint), anything else is read as safetensors. */
tl_tf_format tl_tensor_file_detect(const char *path);
/* Opens and validates path as `format` (TL_TF_AUTO: tl_tensor_file_detect). Error messages are
 * the format parser's and name the file. */
int tl_tensor_file_open(const char *path, tl_tf_format format, tl_tensor_file *f, tl_err *err);
/* Safe on a zeroed or failed-to-open f. */
void tl_tensor_file_close(tl_tensor_file *f);

/* Index of the tensor stored under key, or -1. */
int tl_tensor_file_find(const tl_tensor_file *f, const char *key);
/* A string metadata value (safetensors __metadata__), or NULL (also for formats without any). */
const char *tl_tensor_file_meta(const tl_tensor_file *f, const char *key);
/* Bytes of tensor i as stored: numel * dtype size. */
size_t tl_tensor_file_bytes(const tl_tensor_file *f, int i);
/* Tensor i as contiguous row-major little-endian elements of its own dtype. */
int tl_tensor_file_read_raw(const tl_tensor_file *f, int i, void *dst, tl_err *err);
/* Tensor i converted to numel float32 values. */
int tl_tensor_file_read_f32(const tl_tensor_file *f, int i, float *dst, tl_err *err);

#endif
