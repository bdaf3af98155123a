/* Hugging Face model directories (see hf_dir.h). The checks follow tests/reference/hf_models.py
 * load_dir: index entries naming a shard that lacks the tensor, tensors held twice, tensors the
 * index does not list, then per tensor (files in index order, names sorted) the GPT-2 prefix, the
 * name, then missing tensors, then shapes and dtypes. */
#include "formats/hf_dir.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/checkpoint.h"
#include "util/io.h"

#define PREFIX "transformer."

/* ---- the index ---- */

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const tl_hf_index_entry *)a)->tensor, ((const tl_hf_index_entry *)b)->tensor);
}

static int plain_shard_name(const char *s, size_t len)
{
    static const char ext[] = ".safetensors";
    return len > 0 && len <= TL_HF_SHARD_NAME_MAX && strlen(s) == len && !strchr(s, '/') && !strchr(s, '\\') &&
           strcmp(s, ".") && strcmp(s, "..") && len >= sizeof ext - 1 && !strcmp(s + len - (sizeof ext - 1), ext);
}

void tl_hf_index_free(tl_hf_index *ix)
{
    for (int i = 0; i < ix->nshards; i++)
        free(ix->shards[i]);
    for (int i = 0; i < ix->n; i++)
        free(ix->e[i].tensor);
    free(ix->shards);
    free(ix->e);
    memset(ix, 0, sizeof *ix);
}

int tl_hf_index_parse(const char *json, size_t len, tl_hf_index *ix, tl_err *err)
{
    memset(ix, 0, sizeof *ix);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return tl_errf(err, TL_EINVAL, TL_HF_INDEX ": not JSON: %s (line %d)", je.text, je.line);
    json_t *wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    int rc = 0;
    if (!json_is_object(wm)) {
        rc = tl_errf(err, TL_EINVAL, TL_HF_INDEX ": weight_map is missing or not an object");
        goto out;
    }
    size_t n = json_object_size(wm);
    ix->e = calloc(n ? n : 1, sizeof *ix->e);
    ix->shards = calloc(n ? n : 1, sizeof *ix->shards);
    if (!ix->e || !ix->shards) {
        rc = tl_errf(err, TL_ENOMEM, TL_HF_INDEX ": out of memory");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(wm, k, v) {
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        if (!s || !plain_shard_name(s, json_string_length(v))) {
            if (s && strlen(s) == json_string_length(v)) /* quoted as the reference quotes it */
                rc = tl_errf(err, TL_EINVAL, TL_HF_INDEX ": shard '%.300s' is not a plain .safetensors file name "
                             "inside the model directory", s);
            else {
                char *shown = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                rc = tl_errf(err, TL_EINVAL, TL_HF_INDEX ": shard %.300s is not a plain .safetensors file name "
                             "inside the model directory", shown ? shown : "?");
                free(shown);
            }
            goto out;
        }
        if (!*k || strlen(k) > TL_ST_NAME_MAX) {
            rc = tl_errf(err, TL_EINVAL, TL_HF_INDEX ": a tensor name of length %zu is not allowed", strlen(k));
            goto out;
        }
        int sh = -1;
        for (int i = ix->nshards - 1; i >= 0 && sh < 0; i--) /* entries of one shard are usually adjacent */
            if (!strcmp(ix->shards[i], s))
                sh = i;
        if (sh < 0) {
            if (!(ix->shards[ix->nshards] = strdup(s))) {
                rc = tl_errf(err, TL_ENOMEM, TL_HF_INDEX ": out of memory");
                goto out;
            }
            sh = ix->nshards++;
        }
        if (!(ix->e[ix->n].tensor = strdup(k))) {
            rc = tl_errf(err, TL_ENOMEM, TL_HF_INDEX ": out of memory");
            goto out;
        }
        ix->e[ix->n++].shard = sh;
    }
    qsort(ix->e, (size_t)ix->n, sizeof *ix->e, cmp_entry);
out:
    json_decref(root);
    if (rc)
        tl_hf_index_free(ix);
    return rc;
}

static const tl_hf_index_entry *index_find(const tl_hf_index *ix, const char *name)
{
    tl_hf_index_entry key = {(char *)name, 0};
    return bsearch(&key, ix->e, (size_t)ix->n, sizeof *ix->e, cmp_entry);
}

/* ---- the directory ---- */

typedef struct {
    const char *name;
    int file;
    const tl_st_tensor *t;
} held;

static int cmp_held(const void *a, const void *b)
{
    const held *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->file > y->file) - (x->file < y->file);
}

/* "N" of "PREFIX.N.SUFFIX" as a layer index below L, or -1. */
static int layer_of(const char *name, const char *prefix, const char *suffix, int L)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), nl = strlen(name);
    if (nl <= pl + sl || strncmp(name, prefix, pl) || strcmp(name + nl - sl, suffix))
        return -1;
    long v = 0;
    size_t digits = nl - pl - sl;
    if (digits > 9)
        return -1;
    for (size_t i = 0; i < digits; i++) {
        char ch = name[pl + i];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    return v < L ? (int)v : -1;
}

/* Buffers real checkpoints carry that the forward pass recomputes: accepted, not used. */
static int ignorable(const tl_config *c, const char *bare)
{
    if (c->arch == TL_ARCH_GPT2) /* the causal mask [1,1,P,P] and the scalar -1e4 */
        return layer_of(bare, "h.", ".attn.bias", c->n_layer) >= 0 ||
               layer_of(bare, "h.", ".attn.masked_bias", c->n_layer) >= 0;
    return layer_of(bare, "model.layers.", ".self_attn.rotary_emb.inv_freq", c->n_layer) >= 0;
}

static void shape_str(int ndim, const int64_t *shape, char *out, size_t n)
{
    size_t at = (size_t)snprintf(out, n, "[");
    for (int i = 0; i < ndim && at < n; i++)
        at += (size_t)snprintf(out + at, n - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (at < n)
        snprintf(out + at, n - at, "]");
}

void tl_hf_dir_close(tl_hf_dir *h)
{
    for (int i = 0; h->st && i < h->nfiles; i++)
        tl_st_close(&h->st[i]);
    for (int i = 0; h->files && i < h->nfiles; i++)
        free(h->files[i]);
    free(h->st);
    free(h->files);
    free(h->p);
    free(h->pfile);
    free(h->pt);
    memset(h, 0, sizeof *h);
}

/* Which files hold the weights: model.safetensors, or the shards of the index. */
static int list_files(tl_hf_dir *h, tl_hf_index *ix, tl_err *err)
{
    char p[4096];
    if (tl_path_join(p, sizeof p, h->dir, TL_FILE_FULL))
        return tl_errf(err, TL_EINVAL, "%s: path too long", h->dir);
    if (tl_is_file(p)) {
        h->files = calloc(1, sizeof *h->files);
        if (!h->files || !(h->files[0] = strdup(TL_FILE_FULL)))
            return tl_errf(err, TL_ENOMEM, "out of memory");
        h->nfiles = 1;
        return 0;
    }
    if (tl_path_join(p, sizeof p, h->dir, TL_HF_INDEX))
        return tl_errf(err, TL_EINVAL, "%s: path too long", h->dir);
    if (!tl_is_file(p))
        return tl_errf(err, TL_ENOTFOUND, "%s: neither model.safetensors nor model.safetensors.index.json", h->dir);
    uint8_t *data;
    size_t len;
    if (tl_read_file(p, TL_HF_JSON_MAX, &data, &len, err))
        return err ? err->code : TL_EIO;
    int rc = tl_hf_index_parse((const char *)data, len, ix, err);
    free(data);
    if (rc)
        return rc;
    h->sharded = 1;
    h->files = calloc((size_t)(ix->nshards ? ix->nshards : 1), sizeof *h->files);
    if (!h->files)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    for (int i = 0; i < ix->nshards; i++) {
        if (tl_path_join(p, sizeof p, h->dir, ix->shards[i]))
            return tl_errf(err, TL_EINVAL, "%s: path too long", h->dir);
        if (!tl_is_file(p))
            return tl_errf(err, TL_ENOTFOUND, TL_HF_INDEX ": shard %s does not exist", ix->shards[i]);
        if (!(h->files[i] = strdup(ix->shards[i])))
            return tl_errf(err, TL_ENOMEM, "out of memory");
        h->nfiles++;
    }
    if (ix->nshards == 0)
        return tl_errf(err, TL_EINVAL, TL_HF_INDEX ": weight_map is empty");
    return 0;
}

static int open_headers(tl_hf_dir *h, tl_err *err)
{
    h->st = calloc((size_t)h->nfiles, sizeof *h->st);
    if (!h->st)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    for (int i = 0; i < h->nfiles; i++)
        h->st[i].fd = -1;
    for (int i = 0; i < h->nfiles; i++) {
        char p[4096];
        tl_path_join(p, sizeof p, h->dir, h->files[i]);
        if (tl_st_open(p, &h->st[i], err))
            return err ? err->code : TL_EINVAL;
        for (int j = 0; j < h->st[i].n; j++) {
            tl_dtype dt = h->st[i].t[j].dtype;
            if (dt != TL_DT_F32 && dt != TL_DT_F16 && dt != TL_DT_BF16)
                return tl_errf(err, TL_EINVAL, "%s: tensor %.128s: dtype %s (only F32, F16, BF16)", p,
                               h->st[i].t[j].name, tl_dtype_name(dt));
        }
    }
    return 0;
}

/* The index and the files must agree exactly. */
static int check_index(const tl_hf_dir *h, const tl_hf_index *ix, held *all, int nall, tl_err *err)
{
    for (int i = 0; i < ix->n; i++)
        if (!tl_st_find(&h->st[ix->e[i].shard], ix->e[i].tensor))
            return tl_errf(err, TL_EINVAL, TL_HF_INDEX ": %.200s is mapped to %s, which does not hold it",
                           ix->e[i].tensor, h->files[ix->e[i].shard]);
    for (int i = 1; i < nall; i++)
        if (!strcmp(all[i].name, all[i - 1].name))
            return tl_errf(err, TL_EINVAL, "tensor %.200s appears in both %s and %s", all[i].name,
                           h->files[all[i - 1].file], h->files[all[i].file]);
    for (int i = 0; ix->n && i < nall; i++) {
        const tl_hf_index_entry *e = index_find(ix, all[i].name);
        if (!e || e->shard != all[i].file)
            return tl_errf(err, TL_EINVAL, "%s: tensor %.200s is not in the index's weight_map", h->files[all[i].file],
                           all[i].name);
    }
    return 0;
}

/* Matches every stored tensor to a parameter of the table (or an ignorable buffer). */
static int match_names(tl_hf_dir *h, tl_err *err)
{
    const tl_config *c = &h->hc.cfg;
    int *sorted = malloc((size_t)h->np * sizeof *sorted);
    if (!sorted)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    tl_params_index(h->p, h->np, sorted);
    for (int i = 0; i < h->np; i++)
        h->pfile[i] = -1;
    int rc = 0, prefix = -1;
    for (int f = 0; f < h->nfiles && !rc; f++)
        for (int j = 0; j < h->st[f].n && !rc; j++) {
            const tl_st_tensor *t = &h->st[f].t[h->st[f].by_name[j]];
            const char *n = t->name, *bare = n;
            if (c->arch == TL_ARCH_GPT2 && !strcmp(n, "lm_head.weight")) {
                if (c->tie_embeddings) { /* GPT2LMHeadModel's own head (never prefixed) only when untied */
                    rc = tl_errf(err, TL_EINVAL, "tensor lm_head.weight: GPT-2's head is tied to wte (config.json "
                                 "tie_word_embeddings is not false); a separate lm_head is not used");
                    break;
                }
            } else if (c->arch == TL_ARCH_GPT2) {
                /* GPT2LMHeadModel.save_pretrained writes "transformer.h.0..."; the OpenAI conversion "h.0..." */
                int has = !strncmp(n, PREFIX, sizeof PREFIX - 1);
                if (prefix < 0)
                    prefix = has;
                else if (prefix != has) {
                    rc = tl_errf(err, TL_EINVAL, "tensor %.200s: mixes names with and without the 'transformer.' prefix", n);
                    break;
                }
                if (has)
                    bare = n + sizeof PREFIX - 1;
            }
            int k = tl_params_index_find(h->p, sorted, h->np, bare);
            if (k >= 0) {
                h->pfile[k] = f;
                h->pt[k] = t;
            } else if (ignorable(c, bare))
                h->nignored++;
            else
                rc = tl_errf(err, TL_EINVAL, "tensor %.200s (%s) is not part of %s with this config.json", n,
                             h->files[f], h->hc.arch_name);
        }
    h->prefixed = prefix > 0;
    free(sorted);
    for (int i = 0; i < h->np && !rc; i++)
        if (h->pfile[i] < 0)
            rc = tl_errf(err, TL_EINVAL, "tensor %s is missing%s", h->p[i].name,
                         !strcmp(h->p[i].name, "lm_head.weight") ? " (config.json tie_word_embeddings is false)" : "");
    return rc;
}

static int check_tensors(const tl_hf_dir *h, tl_err *err)
{
    for (int i = 0; i < h->np; i++) {
        const tl_st_tensor *t = h->pt[i];
        const tl_param *p = &h->p[i];
        int ok = t->ndim == p->ndim;
        for (int d = 0; ok && d < p->ndim; d++)
            ok = t->shape[d] == p->shape[d];
        if (!ok) {
            char a[160], b[64];
            shape_str(t->ndim, t->shape, a, sizeof a);
            shape_str(p->ndim, p->shape, b, sizeof b);
            return tl_errf(err, TL_EINVAL, "tensor %.200s: shape %s, config.json implies %s", t->name, a, b);
        }
        if (h->hc.torch_dtype >= 0 && (int)t->dtype != h->hc.torch_dtype) {
            static const char *names[TL_DT_COUNT] = {[TL_DT_F32] = "float32", [TL_DT_F16] = "float16",
                                                     [TL_DT_BF16] = "bfloat16"};
            return tl_errf(err, TL_EINVAL, "tensor %.200s: dtype %s but config.json torch_dtype is %s", t->name,
                           tl_dtype_name(t->dtype), names[h->hc.torch_dtype]);
        }
    }
    return 0;
}

int tl_hf_dir_open(const char *dir, tl_hf_dir *h, tl_err *err)
{
    memset(h, 0, sizeof *h);
    tl_hf_index ix = {0};
    held *all = NULL;
    int rc;
    if (strlen(dir) >= sizeof h->dir)
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    snprintf(h->dir, sizeof h->dir, "%s", dir);
    if ((rc = tl_hf_config_load(dir, &h->hc, err)) || (rc = list_files(h, &ix, err)) || (rc = open_headers(h, err)))
        goto out;
    size_t nall = 0;
    for (int f = 0; f < h->nfiles; f++)
        nall += (size_t)h->st[f].n;
    if (nall > (size_t)INT32_MAX || !(all = malloc((nall ? nall : 1) * sizeof *all))) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory for %zu tensor names", nall);
        goto out;
    }
    size_t k = 0;
    for (int f = 0; f < h->nfiles; f++)
        for (int j = 0; j < h->st[f].n; j++)
            all[k++] = (held){h->st[f].t[j].name, f, &h->st[f].t[j]};
    qsort(all, nall, sizeof *all, cmp_held);
    if ((rc = check_index(h, &ix, all, (int)nall, err)))
        goto out;
    /* the config's bounds were checked (at most 2^36 parameters, 4096 layers): the table is small */
    h->np = tl_params_count(&h->hc.cfg);
    h->p = calloc((size_t)h->np, sizeof *h->p);
    h->pfile = calloc((size_t)h->np, sizeof *h->pfile);
    h->pt = calloc((size_t)h->np, sizeof *h->pt);
    if (!h->p || !h->pfile || !h->pt) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    tl_params_list(&h->hc.cfg, h->p);
    if ((rc = match_names(h, err)) || (rc = check_tensors(h, err)))
        goto out;
out:
    free(all);
    tl_hf_index_free(&ix);
    if (rc) {
        int code = err && err->code ? err->code : rc;
        tl_hf_dir_close(h);
        return code;
    }
    return 0;
}

int tl_hf_dir_map(const tl_hf_dir *h, tl_checkpoint *ck, tl_err *err)
{
    memset(ck, 0, sizeof *ck);
    ck->cfg = h->hc.cfg;
    snprintf(ck->hf_dir, sizeof ck->hf_dir, "%s", h->dir);
    ck->w = calloc((size_t)h->np, sizeof *ck->w);
    ck->maps = calloc((size_t)h->nfiles, sizeof *ck->maps);
    if (!ck->w || !ck->maps) {
        tl_checkpoint_free(ck);
        return tl_errf(err, TL_ENOMEM, "out of memory");
    }
    ck->nw = h->np;
    int rc = 0;
    char **base = calloc((size_t)h->nfiles, sizeof *base);
    if (!base)
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
    for (int f = 0; f < h->nfiles && !rc; f++) {
        const tl_st_file *s = &h->st[f];
        int used = 0;
        for (int i = 0; i < h->np; i++)
            used |= h->pfile[i] == f;
        if (!used)
            continue;
        uint64_t len = s->data_start + s->data_len;
        struct stat st;
        /* the header was validated against this length: a file that changed since is refused */
        if (fstat(s->fd, &st) || (uint64_t)st.st_size != len || len > SIZE_MAX) {
            rc = tl_errf(err, TL_EIO, "%s: changed while being loaded", s->label);
            break;
        }
        void *m = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, s->fd, 0);
        if (m == MAP_FAILED) {
            rc = tl_errf(err, TL_EIO, "%s: mmap: %s", s->label, strerror(errno));
            break;
        }
        madvise(m, (size_t)len, MADV_WILLNEED); /* advisory: start reading ahead */
        ck->maps[ck->nmaps++] = (struct tl_ck_map){m, (size_t)len};
        base[f] = (char *)m + s->data_start;
    }
    /* tensors not aligned to their element size (possible only in hand-made files mixing dtypes)
     * go to one owned buffer, each at a 64-byte boundary */
    size_t extra = 0;
    for (int i = 0; i < h->np && !rc; i++) {
        size_t es = tl_dtype_size(h->pt[i]->dtype), bytes = (size_t)(h->pt[i]->end - h->pt[i]->begin);
        if ((uintptr_t)(base[h->pfile[i]] + h->pt[i]->begin) % es)
            extra += (bytes + 63) / 64 * 64;
    }
    if (!rc && extra && !(ck->wbuf = aligned_alloc(64, extra)))
        rc = tl_errf(err, TL_ENOMEM, "out of memory for %zu bytes of unaligned tensors", extra);
    ck->wbuf_len = ck->wbuf ? extra : 0;
    size_t at = 0;
    for (int i = 0; i < h->np && !rc; i++) {
        const tl_st_tensor *t = h->pt[i];
        const char *src = base[h->pfile[i]] + t->begin;
        size_t es = tl_dtype_size(t->dtype), bytes = (size_t)(t->end - t->begin);
        if ((uintptr_t)src % es) {
            memcpy((char *)ck->wbuf + at, src, bytes);
            src = (char *)ck->wbuf + at;
            at += (bytes + 63) / 64 * 64;
        }
        ck->w[i] = (tl_wref){src, t->dtype};
    }
    free(base);
    if (rc)
        tl_checkpoint_free(ck);
    return rc;
}

int tl_hf_load(const char *dir, tl_checkpoint *ck, tl_err *err)
{
    tl_hf_dir h;
    memset(ck, 0, sizeof *ck);
    int rc = tl_hf_dir_open(dir, &h, err);
    if (rc)
        return rc;
    rc = tl_hf_dir_map(&h, ck, err);
    tl_hf_dir_close(&h);
    return rc;
}
