/* Hugging Face directories written from a tl_checkpoint (see hf_save.h). */
#include "formats/hf_save.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "formats/checkpoint.h"
#include "formats/hf_config.h"
#include "formats/hf_dir.h"
#include "formats/safetensors.h"
#include "model/params.h"
#include "util/io.h"
#include "util/secmem.h"

const char *const tl_hf_tokenizer_files[] = {
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
    "merges.txt", "tokenizer.model", "chat_template.json", "chat_template.jinja", NULL,
};


typedef struct {
    const tl_checkpoint *ck;
    const tl_param *p;
    const int *idx; /* parameter index of each tensor of this file */
    int out_dtype;  /* -1: as stored */
    unsigned long long bytes;
} emit_ctx;

/* A Conv1D matrix in a block type is stored [out][in] (model/weights.h); safetensors holds it
 * [in][out]: dequantized whole, then transposed. */
static int emit_transposed(emit_ctx *c, int k, int out_dtype, tl_atomic_file *af, tl_err *err)
{
    const tl_wref *w = &c->ck->w[k];
    const size_t in = (size_t)c->p[k].shape[0], o = (size_t)c->p[k].shape[1], n = in * o;
    const size_t oes = tl_dtype_size((tl_dtype)out_dtype);
    float *f = malloc(n * sizeof *f), *g = malloc(n * sizeof *g);
    int rc = 0;
    if (!f || !g) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory converting %s", c->p[k].name);
    } else {
        tl_dtype_to_f32(w->dtype, w->data, f, n);
        for (size_t r = 0; r < o; r++)
            for (size_t j = 0; j < in; j++)
                g[j * o + r] = f[r * in + j];
        tl_dtype_from_f32((tl_dtype)out_dtype, g, f, n); /* into f: out elements are at most 4 bytes */
        rc = tl_atomic_write(af, f, n * oes, err);
        c->bytes += n * oes;
    }
    tl_sec_free(f); /* weights */
    tl_sec_free(g);
    return rc;
}

static int emit(void *vctx, int i, tl_atomic_file *af, tl_err *err)
{
    emit_ctx *c = vctx;
    int k = c->idx[i];
    const tl_wref *w = &c->ck->w[k];
    size_t numel = c->p[k].numel, es = tl_dtype_size(w->dtype);
    /* block types (a quantized GGUF) have no safetensors dtype: as stored means dequantized to F32 */
    const int out_dtype = c->out_dtype < 0 && tl_dtype_is_block(w->dtype) ? TL_DT_F32 : c->out_dtype;
    if (out_dtype < 0 || out_dtype == (int)w->dtype) {
        c->bytes += numel * es;
        return tl_atomic_write(af, w->data, numel * es, err);
    }
    if (tl_dtype_is_block(w->dtype) && c->p[k].ndim == 2 && c->p[k].in_dim == 0)
        return emit_transposed(c, k, out_dtype, af, err);
    enum { CHUNK = 1 << 14 };
    float *f = malloc(CHUNK * sizeof *f);
    uint8_t *o = malloc(CHUNK * 4);
    int rc = 0;
    if (!f || !o)
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
    size_t oes = tl_dtype_size((tl_dtype)out_dtype);
    for (size_t at = 0; at < numel && !rc; at += CHUNK) {
        size_t n = numel - at < CHUNK ? numel - at : CHUNK;
        /* CHUNK is a whole number of blocks of every block type */
        tl_dtype_to_f32(w->dtype, (const uint8_t *)w->data + tl_dtype_bytes(w->dtype, at), f, n);
        tl_dtype_from_f32(out_dtype, f, o, n);
        rc = tl_atomic_write(af, o, n * oes, err);
    }
    c->bytes += numel * oes;
    if (f)
        OPENSSL_cleanse(f, CHUNK * sizeof *f); /* weights */
    if (o)
        OPENSSL_cleanse(o, CHUNK * 4);
    free(f);
    free(o);
    return rc;
}

static int is_shard_name(const char *s)
{
    int k, n, used = 0;
    return sscanf(s, "model-%5d-of-%5d.safetensors%n", &k, &n, &used) == 2 && used == (int)strlen(s) &&
           strlen(s) == strlen("model-00001-of-00001.safetensors");
}

/* A weight file of the other layout, or a shard of an earlier save with another count. */
static int stale_weights(const char *name, void *nshards)
{
    const int shards = *(const int *)nshards;
    int k = 0, n = 0;
    if (is_shard_name(name)) {
        sscanf(name, "model-%5d-of-%5d", &k, &n);
        return shards <= 1 || n != shards || k < 1 || k > shards;
    }
    return (shards <= 1 && !strcmp(name, TL_HF_INDEX)) || (shards > 1 && !strcmp(name, TL_FILE_FULL));
}

static int copy_file(const char *srcdir, const char *dir, const char *name, int *copied, tl_err *err)
{
    char src[4096], dst[4096];
    if (tl_path_join(src, sizeof src, srcdir, name) || tl_path_join(dst, sizeof dst, dir, name))
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    if (!tl_is_file(src))
        return 0;
    uint8_t *data;
    size_t len;
    if (tl_read_file(src, 1u << 30, &data, &len, err))
        return err ? err->code : TL_EIO;
    int rc = tl_write_file_atomic(dst, data, len, 0644, err);
    free(data);
    *copied += !rc;
    return rc;
}

static int write_json(const char *dir, const char *name, json_t *o, tl_err *err)
{
    char p[4096];
    if (tl_path_join(p, sizeof p, dir, name)) {
        json_decref(o);
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    }
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    size_t n = strlen(s);
    s[n] = '\n'; /* json_dumps leaves room for the NUL we replace; the length below excludes it */
    int rc = tl_write_file_atomic(p, s, n + 1, 0644, err);
    free(s);
    return rc;
}

int tl_hf_save(const tl_checkpoint *ck, const char *dir, const tl_hf_save_opts *opts, tl_hf_save_report *rep,
               tl_err *err)
{
    tl_hf_save_report r0;
    rep = rep ? rep : &r0;
    memset(rep, 0, sizeof *rep);
    const tl_config *cfg = &ck->cfg;
    if (!tl_config_is_hf(cfg) || !ck->w)
        return tl_errf(err, TL_EINVAL, "not a Hugging Face family model");
    int np = tl_params_count(cfg), out_dt = opts ? opts->dtype : -1;
    if (np != ck->nw)
        return tl_errf(err, TL_EINVAL, "the model holds %d tensors, its config implies %d", ck->nw, np);
    if (out_dt >= 0 && out_dt != TL_DT_F32 && out_dt != TL_DT_F16 && out_dt != TL_DT_BF16)
        return tl_errf(err, TL_EINVAL, "the output dtype must be F32, F16 or BF16");
    int shards = opts && opts->shards > 1 ? opts->shards : 1;
    if (shards > np)
        shards = np;
    if (shards > 99999)
        return tl_errf(err, TL_EINVAL, "at most 99999 shards");
    tl_param *p = calloc((size_t)np, sizeof *p);
    tl_st_out *t = calloc((size_t)np, sizeof *t);
    int *idx = calloc((size_t)np, sizeof *idx);
    int rc = 0;
    if (!p || !t || !idx) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = tl_mkdirs(dir, 0755, err)))
        goto out;
    tl_params_list(cfg, p);
    int uniform = out_dt >= 0 ? out_dt : tl_dtype_is_block(ck->w[0].dtype) ? TL_DT_F32 : (int)ck->w[0].dtype;
    unsigned long long total = 0;
    for (int i = 0; i < np; i++) {
        int dt = out_dt >= 0 ? out_dt : tl_dtype_is_block(ck->w[i].dtype) ? TL_DT_F32 : (int)ck->w[i].dtype;
        if (dt != uniform)
            uniform = -1;
        t[i] = (tl_st_out){p[i].name, (tl_dtype)dt, p[i].ndim, {p[i].shape[0], p[i].shape[1]}, NULL};
        total += p[i].numel * tl_dtype_size((tl_dtype)dt);
        idx[i] = i;
    }
    static const char *meta[] = {"format", "pt"};
    json_t *wm = json_object();
    /* contiguous runs of the table of about total/shards bytes each */
    int start = 0;
    unsigned long long acc = 0;
    for (int s = 0; s < shards && !rc; s++) {
        int end = start;
        unsigned long long goal = total / (unsigned long long)shards * (unsigned long long)(s + 1);
        while (end < np && (end == start || s == shards - 1 || acc < goal) && np - end > shards - 1 - s) {
            acc += p[end].numel * tl_dtype_size(t[end].dtype);
            end++;
        }
        char name[64], path[4096];
        if (shards == 1)
            snprintf(name, sizeof name, "%s", TL_FILE_FULL);
        else
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
        if (tl_path_join(path, sizeof path, dir, name)) {
            rc = tl_errf(err, TL_EINVAL, "%s: path too long", dir);
            break;
        }
        emit_ctx ec = {ck, p, idx + start, out_dt, 0};
        rc = tl_st_write_stream(path, t + start, end - start, meta, 1, 0644, emit, &ec, err);
        for (int i = start; i < end && !rc; i++)
            json_object_set_new(wm, p[i].name, json_string(name));
        rep->bytes += ec.bytes;
        rep->nfiles += !rc;
        rep->ntensors += rc ? 0 : end - start;
        start = end;
    }
    if (!rc && shards > 1)
        rc = write_json(dir, TL_HF_INDEX, json_pack("{s:{s:I},s:O}", "metadata", "total_size", (json_int_t)total,
                                                    "weight_map", wm), err);
    json_decref(wm);
    if (!rc)
        rc = tl_remove_files_where(dir, stale_weights, &shards, err);
    char *cj = rc ? NULL : tl_hf_config_to_json(cfg, uniform);
    if (!rc && !cj)
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
    if (!rc) {
        char path[4096];
        size_t n = strlen(cj);
        if (tl_path_join(path, sizeof path, dir, TL_HF_CONFIG))
            rc = tl_errf(err, TL_EINVAL, "%s: path too long", dir);
        else {
            cj[n] = '\n';
            rc = tl_write_file_atomic(path, cj, n + 1, 0644, err);
        }
    }
    free(cj);
    /* generation settings (sampling defaults besides the ids) and the tokenizer travel unchanged */
    int same = ck->hf_dir[0] && !strcmp(ck->hf_dir, dir);
    char gsrc[4096];
    if (!rc && ck->hf_dir[0] && !tl_path_join(gsrc, sizeof gsrc, ck->hf_dir, TL_HF_GENERATION) && tl_is_file(gsrc)) {
        if (!same)
            rc = copy_file(ck->hf_dir, dir, TL_HF_GENERATION, &rep->ncopied, err);
    } else if (!rc && (cfg->n_eos || cfg->bos_id >= 0)) {
        json_t *g = json_object();
        if (cfg->bos_id >= 0)
            json_object_set_new(g, "bos_token_id", json_integer(cfg->bos_id));
        if (cfg->n_eos == 1)
            json_object_set_new(g, "eos_token_id", json_integer(cfg->eos_ids[0]));
        else if (cfg->n_eos > 1) {
            json_t *a = json_array();
            for (int i = 0; i < cfg->n_eos; i++)
                json_array_append_new(a, json_integer(cfg->eos_ids[i]));
            json_object_set_new(g, "eos_token_id", a);
        }
        rc = write_json(dir, TL_HF_GENERATION, g, err);
    }
    for (int i = 0; !rc && !same && ck->hf_dir[0] && tl_hf_tokenizer_files[i]; i++)
        rc = copy_file(ck->hf_dir, dir, tl_hf_tokenizer_files[i], &rep->ncopied, err);
out:
    free(p);
    free(t);
    free(idx);
    return rc;
}
