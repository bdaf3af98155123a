/* A Hugging Face model directory (docs/architectures.md "The directory"): config.json,
 * generation_config.json, model.safetensors or model.safetensors.index.json + shards, loaded into
 * a tl_checkpoint whose weights are read-only private mappings of the files (no copy: the weights
 * cost page cache, not heap). Every file header is validated by the strict safetensors reader
 * (formats/safetensors.h) and every tensor's name, shape and dtype checked against the config
 * before anything is mapped; refusals use the wording of docs/architectures.md "What is refused". */
#ifndef TEELM_FORMATS_HF_DIR_H
#define TEELM_FORMATS_HF_DIR_H

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "model/checkpoint.h"
#include "model/params.h"
#include "util/err.h"

#define TL_HF_INDEX "model.safetensors.index.json"
#define TL_HF_SHARD_NAME_MAX 255

/* model.safetensors.index.json: the weight_map, sorted by tensor name; shards in the order the
 * weight_map first names them. Shard names are plain .safetensors file names (checked here). */
typedef struct {
    char *tensor;
    int shard;
} tl_hf_index_entry;

typedef struct {
    char **shards;
    int nshards;
    tl_hf_index_entry *e;
    int n;
} tl_hf_index;

int tl_hf_index_parse(const char *json, size_t len, tl_hf_index *ix, tl_err *err);
void tl_hf_index_free(tl_hf_index *ix);

/* A validated directory, headers parsed, nothing mapped yet. */
typedef struct {
    tl_hf_config hc;
    char dir[4096];
    int sharded;             /* 1: read through model.safetensors.index.json */
    int prefixed;            /* GPT-2 names carry "transformer." */
    int nfiles;
    char **files;            /* base names, in the index's order (or "model.safetensors") */
    tl_st_file *st;          /* one validated header (and open descriptor) per file */
    int np;
    tl_param *p;             /* tl_params_list(&hc.cfg) */
    int *pfile;              /* per parameter: index into files */
    const tl_st_tensor **pt; /* per parameter: its tensor in st[pfile[i]] */
    int nignored;            /* buffers accepted and ignored (rotary_emb.inv_freq, attn.bias, ...) */
} tl_hf_dir;

/* Validates dir completely (config, index, every header, names, shapes, dtypes). */
int tl_hf_dir_open(const char *dir, tl_hf_dir *h, tl_err *err);
void tl_hf_dir_close(tl_hf_dir *h);
/* Maps the files of an opened directory read-only into ck (ck->w, ck->maps, ck->cfg, ck->hf_dir;
 * ck->params stays NULL). A tensor whose data is not aligned to its element size in the file is
 * copied into ck->wbuf instead (Hugging Face's own files never need this). */
int tl_hf_dir_map(const tl_hf_dir *h, tl_checkpoint *ck, tl_err *err);
/* tl_hf_dir_open + tl_hf_dir_map. */
int tl_hf_load(const char *dir, tl_checkpoint *ck, tl_err *err);

#endif
