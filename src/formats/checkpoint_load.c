/* tl_checkpoint_load: finds the weight files of a model (full or split layout), takes the config
 * from their metadata (or infers it), checks that the files belong together, and reads every tensor
 * straight into the parameter arena. Files are read through formats/tensor_file.h. */
#include "formats/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "formats/gguf_model.h"
#include "formats/hf_dir.h"
#include "formats/layout.h"
#include "formats/part_srcs.h"
#include "formats/tensor_file.h"
#include "model/params.h"
#include "util/io.h"

#define MAX_FILES 65536

static int part_rank(const tl_part *p)
{
    return p->kind == TL_PART_MODEL ? -2 : p->kind == TL_PART_EMBEDDING ? -1 : p->kind == TL_PART_BLOCK ? p->block : MAX_FILES;
}

static int cmp_src(const void *a, const void *b)
{
    int x = part_rank(&((const tl_part_file *)a)->part), y = part_rank(&((const tl_part_file *)b)->part);
    return (x > y) - (x < y);
}

/* Split-layout files of dir, sorted embedding, blocks, final. */
static int list_split(const char *dir, tl_part_file **out, int *n, tl_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return tl_errf(err, TL_EIO, "%s: %s", dir, strerror(errno));
    int cap = 16, cnt = 0, rc = 0;
    tl_part_file *s = calloc((size_t)cap, sizeof *s);
    struct dirent *e;
    while (s && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        static const char ext[] = ".safetensors";
        if (len <= sizeof ext - 1 || strcmp(e->d_name + len - (sizeof ext - 1), ext))
            continue;
        char stem[256];
        snprintf(stem, sizeof stem, "%.*s", (int)(len - (sizeof ext - 1)), e->d_name);
        tl_part part;
        if (tl_part_from_stem(stem, &part) || part.kind == TL_PART_MODEL)
            continue;
        if (cnt == MAX_FILES) {
            rc = tl_errf(err, TL_EINVAL, "%s: more than %d split-layout files", dir, MAX_FILES);
            break;
        }
        if (cnt == cap) {
            tl_part_file *ns = realloc(s, (size_t)cap * 2 * sizeof *s);
            if (!ns)
                break;
            s = ns;
            memset(s + cap, 0, (size_t)cap * sizeof *s);
            cap *= 2;
        }
        s[cnt].part = part;
        if (tl_path_join(s[cnt].path, sizeof s[cnt].path, dir, e->d_name)) {
            rc = tl_errf(err, TL_EINVAL, "%s: path too long", dir);
            break;
        }
        cnt++;
    }
    closedir(d);
    if (!rc && !s)
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
    if (rc) {
        free(s);
        return rc;
    }
    qsort(s, (size_t)cnt, sizeof *s, cmp_src);
    *out = s;
    *n = cnt;
    return 0;
}

/* All files must carry the same config and checkpoint id (absent counts as ""): files of two
 * saves or two models must not be mixed silently. */
static int common_meta(tl_part_file *s, int n, const char **config, const char **id, tl_err *err)
{
    *config = NULL;
    *id = tl_tensor_file_meta(&s[0].f, TL_META_ID);
    for (int i = 0; i < n; i++) {
        const char *c = tl_tensor_file_meta(&s[i].f, TL_META_CONFIG), *d = tl_tensor_file_meta(&s[i].f, TL_META_ID);
        if (c && *config && strcmp(c, *config))
            return tl_errf(err, TL_EINVAL, "%s and %s hold different model configs (files of two models?)",
                           s[0].path, s[i].path);
        if (c)
            *config = c;
        if (strcmp(d ? d : "", *id ? *id : ""))
            return tl_errf(err, TL_EINVAL, "%s and %s come from different saves (checkpoint_id %s vs %s)", s[0].path,
                           s[i].path, *id ? *id : "absent", d ? d : "absent");
    }
    for (int i = 0; *config && i < n; i++)
        if (!tl_tensor_file_meta(&s[i].f, TL_META_CONFIG))
            return tl_errf(err, TL_EINVAL, "%s has no model config while %s has one", s[i].path, s[0].path);
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int load_optimizer(const char *path, tl_checkpoint *ck, const char *model_id, tl_err *err)
{
    tl_tensor_file f;
    if (tl_tensor_file_open(path, TL_TF_SAFETENSORS, &f, err))
        return err->code;
    int rc = 0, np = tl_params_count(&ck->cfg);
    tl_param *p = calloc((size_t)np, sizeof *p);
    const char *cfg = tl_tensor_file_meta(&f, TL_META_CONFIG), *id = tl_tensor_file_meta(&f, TL_META_ID);
    uint64_t step, rng;
    tl_config oc;
    char *mine = tl_config_to_json(&ck->cfg), *theirs = NULL;
    if (!p || !mine) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    if (strcmp(id ? id : "", model_id ? model_id : "")) {
        rc = tl_errf(err, TL_EINVAL, "%s belongs to a different save than the weights (checkpoint_id %s vs %s)", path,
                     id ? id : "absent", model_id ? model_id : "absent");
        goto out;
    }
    if (!cfg || tl_config_parse(cfg, &oc, err) || !(theirs = tl_config_to_json(&oc)) || strcmp(mine, theirs)) {
        rc = tl_errf(err, TL_EINVAL, "%s: model config missing or different from the weights'", path);
        goto out;
    }
    if (parse_u64(tl_tensor_file_meta(&f, TL_META_STEP), &step) || step > INT64_MAX ||
        parse_u64(tl_tensor_file_meta(&f, TL_META_RNG), &rng)) {
        rc = tl_errf(err, TL_EINVAL, "%s: metadata 'step' and 'rng_state' must be unsigned decimal integers", path);
        goto out;
    }
    if (f.n != 2 * np) {
        rc = tl_errf(err, TL_EINVAL, "%s: holds %d tensors, expected %d (%s and %s of each parameter)", path, f.n,
                     2 * np, TL_OPT_M_PREFIX, TL_OPT_V_PREFIX);
        goto out;
    }
    size_t bytes = tl_checkpoint_arena_bytes(&ck->cfg);
    ck->adam_m = tl_checkpoint_arena_alloc(&ck->cfg);
    ck->adam_v = tl_checkpoint_arena_alloc(&ck->cfg);
    if (!ck->adam_m || !ck->adam_v) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory for optimizer state");
        goto out;
    }
    memset(ck->adam_m, 0, bytes);
    memset(ck->adam_v, 0, bytes);
    tl_params_list(&ck->cfg, p);
    for (int i = 0; i < np && !rc; i++)
        for (int m = 0; m < 2 && !rc; m++) {
            char name[TL_FULLNAME_MAX];
            snprintf(name, sizeof name, "%s%s", m ? TL_OPT_V_PREFIX : TL_OPT_M_PREFIX, p[i].name);
            int k = tl_tensor_file_find(&f, name);
            const tl_tf_tensor *t = k >= 0 ? &f.t[k] : NULL;
            if (!t)
                rc = tl_errf(err, TL_EINVAL, "%s: missing tensor %s", path, name);
            else if (t->ndim != p[i].ndim || t->shape[0] != p[i].shape[0] ||
                     (p[i].ndim == 2 && t->shape[1] != p[i].shape[1]))
                rc = tl_errf(err, TL_EINVAL, "%s: tensor %s has the wrong shape", path, name);
            else
                rc = tl_tensor_file_read_f32(&f, k, (m ? ck->adam_v : ck->adam_m) + p[i].offset, err);
        }
    ck->step = (int64_t)step;
    ck->rng_state = rng;
out:
    if (rc && ck->adam_m) {
        OPENSSL_cleanse(ck->adam_m, tl_checkpoint_arena_bytes(&ck->cfg));
        free(ck->adam_m);
        ck->adam_m = NULL;
    }
    if (rc && ck->adam_v) {
        OPENSSL_cleanse(ck->adam_v, tl_checkpoint_arena_bytes(&ck->cfg));
        free(ck->adam_v);
        ck->adam_v = NULL;
    }
    free(mine);
    free(theirs);
    free(p);
    tl_tensor_file_close(&f);
    return rc;
}

static void find_tokenizer(const char *dir, tl_checkpoint *ck)
{
    static const char *names[] = {TL_TOKENIZER_TIKTOKEN, TL_TOKENIZER_JSON};
    for (int i = 0; i < 2; i++) {
        char p[sizeof ck->tokenizer_path];
        if (!tl_path_join(p, sizeof p, dir, names[i]) && tl_is_file(p)) {
            memcpy(ck->tokenizer_path, p, sizeof p);
            return;
        }
    }
}

/* A split file holds its own part's tensors only; a whole-model file's keys are the full names. */
static int split_name(tl_part_srcs *s, int k, const tl_part_file *f, const tl_tf_tensor *t, tl_err *err)
{
    tl_part back;
    char key[TL_FULLNAME_MAX];
    if (tl_part_full_name(f->part, t->key, s->names[k], sizeof s->names[k]) ||
        (f->part.kind != TL_PART_MODEL &&
         (tl_part_of_full_name(s->names[k], &back, key, sizeof key) || back.kind != f->part.kind ||
          back.block != f->part.block)))
        return tl_errf(err, TL_EINVAL, "%s: tensor '%.128s' does not belong in this file of the split layout", f->path,
                       t->key);
    return 0;
}

/* Directory members are safetensors by the layout's definition; a file named on its own may be
 * any tensor file format. */
static int load_files(const char *path, tl_part_file *s, int n, tl_tf_format format, tl_checkpoint *ck,
                      const char **id_out, tl_err *err)
{
    int rc = 0;
    for (int i = 0; i < n; i++)
        if ((rc = tl_tensor_file_open(s[i].path, format, &s[i].f, err)))
            return rc;
    const char *cfgjs, *id;
    if ((rc = common_meta(s, n, &cfgjs, &id, err)))
        return rc;
    *id_out = id;
    tl_config cfg;
    if (cfgjs && tl_config_parse(cfgjs, &cfg, err))
        return tl_err_prefix(err, "%s: metadata", s[0].path);

    tl_part_srcs ps;
    if (!(rc = tl_part_srcs_build(s, n, 1, split_name, &ps, err)) &&
        (rc = tl_checkpoint_assemble(ps.src, ps.n, cfgjs ? &cfg : NULL, ck, err)) && strncmp(err->msg, path, strlen(path)))
        tl_err_prefix(err, "%s", path);
    tl_part_srcs_free(&ps);
    return rc;
}

int tl_checkpoint_load(const char *path, tl_checkpoint *ck, tl_err *err)
{
    return tl_checkpoint_load_ex(path, TL_LOAD_OPTIMIZER, ck, err);
}

int tl_checkpoint_load_ex(const char *path, int flags, tl_checkpoint *ck, tl_err *err)
{
    memset(ck, 0, sizeof *ck);
    tl_part_file *s = NULL;
    int n = 0, rc = 0, is_dir = tl_is_dir(path);
    char dir[4096];
    if (is_dir && tl_hf_is_model_dir(path)) /* a Hugging Face directory: config.json names the class */
        return tl_hf_load(path, ck, err);
    if (!is_dir && tl_gguf_is_file(path)) /* a GGUF file (llama.cpp's format): "GGUF" magic */
        return tl_gguf_load(path, ck, err);
    if (is_dir) {
        snprintf(dir, sizeof dir, "%s", path);
        char full[4096];
        if (tl_path_join(full, sizeof full, path, TL_FILE_FULL))
            return tl_errf(err, TL_EINVAL, "%s: path too long", path);
        if (tl_is_file(full)) {
            s = calloc(1, sizeof *s);
            if (!s)
                return tl_errf(err, TL_ENOMEM, "out of memory");
            n = 1;
            s->part = (tl_part){TL_PART_MODEL, 0};
            memcpy(s->path, full, sizeof full);
        } else if ((rc = list_split(path, &s, &n, err)))
            return rc;
        else if (n == 0) {
            free(s);
            return tl_errf(err, TL_ENOTFOUND, "%s: no model.safetensors and no split-layout files "
                           "(token_embedding.safetensors, transformer_block_N.safetensors, final_linear.safetensors)", path);
        }
    } else {
        if (!tl_is_file(path))
            return tl_errf(err, TL_ENOTFOUND, "%s: no such file or directory", path);
        if (strlen(path) >= sizeof s->path)
            return tl_errf(err, TL_EINVAL, "%s: path too long", path);
        s = calloc(1, sizeof *s);
        if (!s)
            return tl_errf(err, TL_ENOMEM, "out of memory");
        n = 1;
        snprintf(s->path, sizeof s->path, "%s", path);
        /* a lone split file keeps its relative keys; anything else is a full-layout file */
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        tl_part_from_path(path, &s->part);
        snprintf(dir, sizeof dir, "%.*s", base == path ? 1 : (int)(base - path), base == path ? "." : path);
    }
    const char *id = NULL;
    rc = load_files(path, s, n, is_dir ? TL_TF_SAFETENSORS : TL_TF_AUTO, ck, &id, err);
    if (!rc && is_dir && (flags & TL_LOAD_OPTIMIZER)) {
        char opt[4096];
        if (!tl_path_join(opt, sizeof opt, path, TL_FILE_OPTIMIZER) && tl_is_file(opt) &&
            (rc = load_optimizer(opt, ck, id, err)))
            tl_checkpoint_free(ck);
    }
    if (!rc)
        find_tokenizer(dir, ck);
    for (int i = 0; i < n; i++)
        tl_tensor_file_close(&s[i].f);
    free(s);
    return rc;
}
