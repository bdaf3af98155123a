/* `teelm inspect`: what a weight file or model directory holds (.safetensors, .pth, directories of
 * either), with SHA-256 checksums that do not depend on the format or layout:
 *   per tensor: SHA-256 of its elements, row-major, little-endian, in its own dtype;
 *   total: SHA-256 over, for every tensor in byte order of full names: name, a NUL byte, its 32-byte
 *   per-tensor digest.
 * So a model.pth, the model.safetensors imported from it and the split layout of the same weights
 * all report the same total when the data is float32. A Hugging Face directory is validated as
 * the loader validates it and its tensors hashed from the mapped files. */
#ifndef TEELM_FORMATS_INSPECT_H
#define TEELM_FORMATS_INSPECT_H

#include <stdint.h>

#include "tensor/dtype.h"
#include "formats/layout.h"
#include "model/config.h"
#include "util/err.h"

#define TL_INSPECT_MAX_DIMS 8

typedef struct {
    char name[TL_FULLNAME_MAX]; /* full state_dict name */
    char key[TL_FULLNAME_MAX];  /* key as stored in its file */
    int file;                   /* index into files */
    tl_dtype dtype;
    int ndim;
    int64_t shape[TL_INSPECT_MAX_DIMS];
    unsigned char sha256[32];
} tl_inspect_tensor;

enum { TL_CONFIG_UNKNOWN = 0, TL_CONFIG_GIVEN = 1, TL_CONFIG_INFERRED = 2 };

typedef struct {
    char **files;               /* files read, in order */
    const char **formats;       /* "safetensors" or "pth" per file */
    int nfiles;
    tl_inspect_tensor *t;       /* file by file, in each file's order */
    int n;
    unsigned char total[32];
    int config_state;           /* TL_CONFIG_* */
    tl_config cfg;
    char note[512];             /* inference note, or why the config is unknown */
    int has_optimizer;          /* directory holds optimizer.safetensors */
    /* a Hugging Face model directory (formats/hf_dir.h): cfg is its config (config_state GIVEN),
     * t lists the tensors the model uses under their canonical names (key: as stored), in table
     * order; the total is over canonical names, so sharded, single-file, prefixed or not agree */
    int hf;
    const char *hf_arch;        /* "LlamaForCausalLM", ... (static) */
    unsigned long long n_params;
    int hf_sharded;             /* read through model.safetensors.index.json */
    int hf_ignored;             /* buffers accepted and ignored */
    int hf_torch_dtype;         /* config.json torch_dtype, or -1 */
} tl_inspect_report;

int tl_inspect(const char *path, tl_inspect_report *r, tl_err *err);
void tl_inspect_free(tl_inspect_report *r);

#endif
