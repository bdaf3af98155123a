/* A restricted unpickler for torch.save state_dicts (data.pkl of a .pth zip; docs/weights-format.md).
 * It is a data parser, not a Python VM: it knows only the protocol-2 opcodes torch.save emits and
 * the globals a state_dict of tensors needs (collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, torch.*Storage), and refuses
 * anything else with an error naming the opcode or global. Nothing from the file is executed. */
#ifndef TEELM_FORMATS_PICKLE_H
#define TEELM_FORMATS_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"
#include "util/err.h"

#define TL_PK_MAX_DIMS 8
#define TL_PK_MAX_BYTES (64u << 20) /* data.pkl size limit */

typedef struct {
    char *name;             /* state_dict key */
    tl_dtype dtype;         /* from the storage type */
    char *storage_key;      /* zip entry <archive>/data/<storage_key>; [A-Za-z0-9_]+ */
    int64_t storage_numel;  /* elements in the whole storage */
    int64_t offset;         /* storage offset of element [0,...], in elements */
    int ndim;
    int64_t size[TL_PK_MAX_DIMS], stride[TL_PK_MAX_DIMS];
    int64_t numel;
} tl_pk_tensor;

typedef struct {
    tl_pk_tensor *t;        /* in pickle order */
    int n;
} tl_pk_state_dict;

/* Parses a pickled state_dict: a dict (or OrderedDict) of str -> tensor. Validates every view
 * against its storage (sizes, strides, offset with overflow checks). label names the source. */
int tl_pickle_state_dict(const uint8_t *data, size_t len, const char *label, tl_pk_state_dict *sd, tl_err *err);
void tl_pk_state_dict_free(tl_pk_state_dict *sd);
/* 1 if the view is row-major contiguous (strides of a dense tensor, ignoring size-1 dims). */
int tl_pk_contiguous(const tl_pk_tensor *t);

#endif
