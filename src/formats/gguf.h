/* GGUF v2/v3 reader (ggml's docs/gguf.md; teelm's subset and checks: docs/gguf.md):
 *   "GGUF" | u32 version | u64 tensor_count | u64 kv_count | kv* | tensor_info* | pad | data
 * The whole file is mapped read-only; parsing is in two passes: the first walks every byte of the
 * header with bounds checks and allocates nothing (counts, string lengths, array lengths, nesting,
 * types, dims, offsets are checked against what the file can hold), the second fills tables sized
 * by the validated counts. Tensor data ranges must be aligned to general.alignment, inside the file
 * and not overlap. Values are read in place (no copies of strings or arrays). */
#ifndef TEELM_FORMATS_GGUF_H
#define TEELM_FORMATS_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum {
    TL_GGUF_U8 = 0, TL_GGUF_I8, TL_GGUF_U16, TL_GGUF_I16, TL_GGUF_U32, TL_GGUF_I32, TL_GGUF_F32, TL_GGUF_BOOL,
    TL_GGUF_STR, TL_GGUF_ARR, TL_GGUF_U64, TL_GGUF_I64, TL_GGUF_F64, TL_GGUF_NTYPES
};

/* ggml tensor type ids used by name in teelm (the reader knows every id up to MXFP4). */
enum { TL_GGML_F32 = 0, TL_GGML_F16 = 1, TL_GGML_Q4_0 = 2, TL_GGML_Q8_0 = 8, TL_GGML_Q4_K = 12, TL_GGML_Q6_K = 14,
       TL_GGML_BF16 = 30 };

#define TL_GGUF_MAX_DIMS 4      /* GGML_MAX_DIMS */
#define TL_GGUF_NAME_MAX 63     /* tensor names: GGML_MAX_NAME - 1 bytes */
#define TL_GGUF_KEY_MAX 65535   /* keys: at most 2^16 - 1 bytes (the spec) */
#define TL_GGUF_MAX_DEPTH 8     /* arrays of arrays nest at most this deep */
#define TL_GGUF_DEFAULT_ALIGN 32

typedef struct {
    const char *p; /* not NUL-terminated; points into the mapping */
    uint64_t n;
} tl_gguf_str;

typedef struct {
    tl_gguf_str key;
    uint32_t type;       /* TL_GGUF_* */
    uint32_t arr_type;   /* arrays: element type */
    uint64_t arr_n;      /* arrays: element count */
    const uint8_t *val;  /* the value (arrays: the first element) in the mapping */
} tl_gguf_kv;

typedef struct {
    tl_gguf_str name;
    uint32_t ndim;
    uint64_t dims[TL_GGUF_MAX_DIMS]; /* dims[0] varies fastest (ggml's ne) */
    uint32_t type;                   /* ggml type id */
    uint64_t offset;                 /* from the data section start */
    uint64_t numel, nbytes;
    const uint8_t *data;             /* in the mapping */
} tl_gguf_tensor;

typedef struct {
    char label[512];
    const uint8_t *base; /* the mapping (or caller's memory) */
    size_t len;
    int mapped;
    uint32_t version;
    uint64_t alignment, data_start;
    tl_gguf_kv *kv;
    uint64_t nkv;
    tl_gguf_tensor *t;
    uint64_t nt;
} tl_gguf;

/* Opens and validates path (mapped read-only; tl_gguf_close unmaps). */
int tl_gguf_open(const char *path, tl_gguf *g, tl_err *err);
/* Same over memory the caller keeps while g is used (fuzzing, tests). */
int tl_gguf_open_mem(const uint8_t *buf, size_t len, const char *label, tl_gguf *g, tl_err *err);
void tl_gguf_close(tl_gguf *g);
/* Hands the mapping over to the caller (who munmaps base/len); g keeps pointing into it. */
void tl_gguf_release_map(tl_gguf *g);

/* 1 when the first four bytes of the file are "GGUF". */
int tl_gguf_is_file(const char *path);

const tl_gguf_kv *tl_gguf_find(const tl_gguf *g, const char *key);
const tl_gguf_tensor *tl_gguf_tensor_find(const tl_gguf *g, const char *name);
/* Element i of an array of strings / numbers (the kv is checked by the caller; i < arr_n). Numeric
 * arrays read any integer/float element type. */
tl_gguf_str tl_gguf_arr_str(const tl_gguf_kv *kv, uint64_t i);
double tl_gguf_arr_num(const tl_gguf_kv *kv, uint64_t i);

/* Typed getters: 0 and *out set when key is present with a compatible type, 1 when absent, a
 * negative value and err set (naming the key and the type found) for another type or out of range. */
int tl_gguf_get_u64(const tl_gguf *g, const char *key, uint64_t max, uint64_t *out, tl_err *err);
int tl_gguf_get_f64(const tl_gguf *g, const char *key, double *out, tl_err *err);
int tl_gguf_get_bool(const tl_gguf *g, const char *key, int *out, tl_err *err);
int tl_gguf_get_str(const tl_gguf *g, const char *key, tl_gguf_str *out, tl_err *err);

/* "F32", "Q4_K", ... for a ggml type id; NULL when unknown. Block size and bytes per block: 0 for
 * unknown ids. */
const char *tl_ggml_type_name(uint32_t type);
uint32_t tl_ggml_block_size(uint32_t type);
uint32_t tl_ggml_type_size(uint32_t type);
/* Value type name ("uint32", "string", ...). */
const char *tl_gguf_value_type_name(uint32_t type);

#endif
