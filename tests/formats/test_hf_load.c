/* The Hugging Face loader (formats/hf_dir.h) against the PyTorch reference
 * (tests/reference/hf_models.py, through hf_fixtures.py / hf_sums.py):
 *   - a matrix of valid directories (Llama, Mistral, Qwen2, GPT-2 with and without the
 *     "transformer." prefix and its buffers; F32/F16/BF16; single-file and sharded): every ck->w
 *     entry holds exactly the values the reference reads (SHA-256 of the float32 values, per
 *     tensor), in the stored dtype, pointing into the read-only mappings (no copy), and the config
 *     is the reference's;
 *   - every make_hf_model.py --hostile mode and the hand-made refusals: refused, with a message
 *     containing the reference's wording (docs/architectures.md "What is refused");
 *   - tl_hf_save round trips: the same bytes and config back, sharded and dtype-converted
 *     exports equal to torch's rounding (hf_sums.py --as). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "formats/checkpoint.h"
#include "formats/hf_dir.h"
#include "formats/hf_save.h"
#include "model/params.h"
#include "test.h"
#include "util/codec.h"
#include "util/io.h"

static char py[512], src[4096];

static void sha_f32(const tl_wref *w, size_t numel, char hex[65])
{
    float *f = malloc(numel * sizeof *f);
    unsigned char d[32];
    tl_dtype_to_f32(w->dtype, w->data, f, numel);
    EVP_Digest(f, numel * sizeof *f, d, NULL, EVP_sha256(), NULL);
    tl_hex(d, 32, hex);
    free(f);
}

static int inside_maps(const tl_checkpoint *ck, const void *p, size_t n)
{
    for (int i = 0; i < ck->nmaps; i++) {
        const char *a = ck->maps[i].addr;
        if ((const char *)p >= a && (const char *)p + n <= a + ck->maps[i].len)
            return 1;
    }
    return 0;
}

/* ck against a sums file (hf_sums.py lines, optionally after a "config" line). */
static void compare(const tl_checkpoint *ck, const char *sums, const char *what, int mapped)
{
    FILE *f = fopen(sums, "r");
    CHECKF(f != NULL, "%s: %s", what, sums);
    if (!f)
        return;
    int np = tl_params_count(&ck->cfg), seen = 0;
    tl_param *p = calloc((size_t)np, sizeof *p);
    tl_params_list(&ck->cfg, p);
    CHECKF(ck->nw == np && ck->params == NULL && ck->w, "%s: %d weights for %d parameters", what, ck->nw, np);
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "config ", 7)) {
            int v[12];
            char rope[32], eos[128];
            CHECK(sscanf(line + 7, "%d %d %d %d %d %d %d %d %d %d %d %31s %127s", &v[0], &v[1], &v[2], &v[3], &v[4],
                         &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], rope, eos) == 13);
            const tl_config *c = &ck->cfg;
            int got[11] = {c->d_model, c->n_head, c->n_kv_head, c->head_dim, c->n_layer, c->d_ff, c->vocab_size,
                           c->max_pos, c->tie_embeddings, c->qkv_bias, c->o_bias};
            for (int i = 0; i < 11; i++)
                CHECKF(got[i] == v[i], "%s: config field %d: %d, reference %d", what, i, got[i], v[i]);
            CHECKF(c->context_length == c->max_pos, "%s: context_length", what);
            const char *rt = c->arch == TL_ARCH_GPT2 ? "none" : c->rope_type == TL_ROPE_LLAMA3 ? "llama3"
                           : c->rope_type == TL_ROPE_LINEAR ? "linear" : "default";
            CHECKF(!strcmp(rt, rope), "%s: rope %s, reference %s", what, rt, rope);
            char mine[128] = "";
            for (int i = 0; i < c->n_eos; i++)
                snprintf(mine + strlen(mine), sizeof mine - strlen(mine), "%s%d", i ? "," : "", c->eos_ids[i]);
            CHECKF(!strcmp(c->n_eos ? mine : "-", eos), "%s: eos %s, reference %s", what, mine, eos);
            continue;
        }
        char name[256], dt[16], hex[65], got[65];
        if (sscanf(line, "%255s %15s %64s", name, dt, hex) != 3)
            continue;
        const tl_param *q = tl_params_find(p, np, name);
        CHECKF(q != NULL, "%s: the reference's tensor %s is not in the table", what, name);
        if (!q)
            continue;
        int k = (int)(q - p);
        seen++;
        CHECKF(!strcmp(tl_dtype_name(ck->w[k].dtype), dt), "%s: %s dtype %s, reference %s", what, name,
               tl_dtype_name(ck->w[k].dtype), dt);
        size_t bytes = q->numel * tl_dtype_size(ck->w[k].dtype);
        if (mapped)
            CHECKF(inside_maps(ck, ck->w[k].data, bytes), "%s: %s is not inside a mapping", what, name);
        sha_f32(&ck->w[k], q->numel, got);
        CHECKF(!strcmp(got, hex), "%s: %s values differ from the reference's", what, name);
    }
    CHECKF(seen == np, "%s: the reference lists %d tensors, the model has %d", what, seen, np);
    fclose(f);
    free(p);
}

static const char *good[] = {
    "llama-tied-f32", "llama-untied-f16-bias-hd", "llama-bf16-sharded-llama3", "llama-linear-rope",
    "mistral-untied-f16-sharded", "qwen2-tied-bf16", "qwen2-untied-sharded", "gpt2-bare-f32",
    "gpt2-prefix-buffers-f16-sharded", "gpt2-prefix-bf16", "llama-inv-freq",
};

static void test_good(const char *root)
{
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char dir[4096], sums[4200];
        snprintf(dir, sizeof dir, "%s/good/%s", root, good[i]);
        snprintf(sums, sizeof sums, "%s.sums", dir);
        tl_checkpoint ck;
        tl_err err = {0};
        int rc = tl_checkpoint_load_ex(dir, 0, &ck, &err);
        CHECKF(rc == 0, "%s: %s", good[i], err.msg);
        if (rc)
            continue;
        CHECKF(!strcmp(ck.hf_dir, dir) && ck.tokenizer_path[0] == 0, "%s: hf_dir '%s'", good[i], ck.hf_dir);
        CHECKF(ck.wbuf == NULL && ck.nmaps >= 1, "%s: %d mappings, wbuf %p", good[i], ck.nmaps, ck.wbuf);
        compare(&ck, sums, good[i], 1);
        tl_checkpoint_free(&ck);
    }
}

static void test_hostile(const char *root)
{
    char tsv[4200];
    snprintf(tsv, sizeof tsv, "%s/hostile.tsv", root);
    FILE *f = fopen(tsv, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char *c = strtok(line, "\t"), *d = strtok(NULL, "\t"), *frag = strtok(NULL, "\t");
        if (!c || !d || !frag)
            continue;
        tl_checkpoint ck;
        tl_err err = {0};
        int rc = tl_checkpoint_load_ex(d, 0, &ck, &err);
        CHECKF(rc != 0, "hostile %s: loaded", c);
        if (!rc) {
            tl_checkpoint_free(&ck);
            continue;
        }
        CHECKF(strstr(err.msg, frag) != NULL, "hostile %s: '%s' lacks '%s'", c, err.msg, frag);
        /* the checkpoint is left empty: nothing to free, nothing mapped */
        CHECKF(ck.w == NULL && ck.nmaps == 0 && ck.params == NULL, "hostile %s: checkpoint not empty", c);
        n++;
    }
    fclose(f);
    CHECKF(n >= 50, "only %d hostile cases ran", n);
}

static int same_config(const tl_config *a, const tl_config *b)
{
    return !memcmp(a, b, sizeof *a);
}

static void test_save(const char *root)
{
    static const struct { const char *name; int dtype, shards; const char *as; } cases[] = {
        {"llama-tied-f32", -1, 1, NULL},
        {"llama-tied-f32", TL_DT_F16, 3, "F16"},
        {"llama-untied-f16-bias-hd", TL_DT_BF16, 2, "BF16"},
        {"llama-bf16-sharded-llama3", -1, 1, NULL},
        {"llama-bf16-sharded-llama3", TL_DT_F32, 1, "F32"},
        {"gpt2-prefix-buffers-f16-sharded", -1, 1, NULL},
        {"gpt2-bare-f32", TL_DT_BF16, 5, "BF16"},
        {"qwen2-untied-sharded", TL_DT_F16, 1, "F16"},
        {"mistral-untied-f16-sharded", -1, 7, NULL},
    };
    char list[4200];
    snprintf(list, sizeof list, "%s/saved.checks", root);
    FILE *checks = fopen(list, "w");
    CHECKF(checks != NULL, "cannot write %s", list);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char dir[4096], out[4096], sums[4200], what[256];
        snprintf(dir, sizeof dir, "%s/good/%s", root, cases[i].name);
        snprintf(out, sizeof out, "%s/saved/%zu", root, i);
        snprintf(what, sizeof what, "save %s dtype %d shards %d", cases[i].name, cases[i].dtype, cases[i].shards);
        tl_checkpoint a, b;
        tl_err err = {0};
        CHECKF(tl_checkpoint_load_ex(dir, 0, &a, &err) == 0, "%s: %s", what, err.msg);
        tl_hf_save_opts o = {cases[i].dtype, cases[i].shards};
        tl_hf_save_report rep;
        int rc = tl_hf_save(&a, out, &o, &rep, &err);
        CHECKF(rc == 0, "%s: %s", what, err.msg);
        CHECKF(rep.nfiles == cases[i].shards && rep.ntensors == a.nw, "%s: %d files, %d tensors", what, rep.nfiles,
               rep.ntensors);
        rc = rc ? rc : tl_checkpoint_load_ex(out, 0, &b, &err);
        CHECKF(rc == 0, "%s: reload: %s", what, err.msg);
        if (!rc) {
            CHECKF(same_config(&a.cfg, &b.cfg), "%s: config differs after the round trip", what);
            if (cases[i].dtype < 0 || cases[i].as == NULL) {
                snprintf(sums, sizeof sums, "%s.sums", dir);
                compare(&b, sums, what, 1);
                for (int k = 0; k < a.nw; k++) {
                    tl_param *p = calloc((size_t)a.nw, sizeof *p);
                    tl_params_list(&a.cfg, p);
                    CHECKF(a.w[k].dtype == b.w[k].dtype &&
                           !memcmp(a.w[k].data, b.w[k].data, p[k].numel * tl_dtype_size(a.w[k].dtype)),
                           "%s: %s bytes differ", what, p[k].name);
                    free(p);
                }
            } else {
                /* torch's rounding of the original values, computed by the reference */
                snprintf(sums, sizeof sums, "%s/saved/%zu.sums", root, i);
                CHECK(test_sh("%s %s/tests/formats/hf_sums.py %s --as %s > %s", py, src, dir, cases[i].as, sums) == 0);
                compare(&b, sums, what, 1);
            }
            /* and the reference accepts what was written (checked below, all in one process) */
            if (checks)
                fprintf(checks, "check %s\n", out);
            tl_checkpoint_free(&b);
        }
        tl_checkpoint_free(&a);
    }
    /* one torch import for every export (hf_models.py batch names a refused one on stderr) */
    if (checks) {
        fclose(checks);
        CHECKF(test_sh("%s %s/tests/reference/hf_models.py batch %s >/dev/null", py, src, list) == 0,
               "the reference refuses an export (its line is named above)");
    }
    /* exporting over an earlier export with another shard count leaves only the new files */
    char dir[4096], out[4096];
    snprintf(dir, sizeof dir, "%s/good/llama-tied-f32", root);
    snprintf(out, sizeof out, "%s/saved/over", root);
    tl_checkpoint a;
    tl_err err = {0};
    CHECK(tl_checkpoint_load_ex(dir, 0, &a, &err) == 0);
    for (int s = 3; s >= 1; s -= 1) {
        tl_hf_save_opts o = {-1, s == 2 ? 4 : s};
        CHECKF(tl_hf_save(&a, out, &o, NULL, &err) == 0, "%s", err.msg);
        int n = test_sh("test $(ls %s | grep -c 'safetensors') -eq %d", out, s == 1 ? 1 : s == 2 ? 5 : 4);
        CHECKF(n == 0, "stale weight files after exporting %d shards", o.shards);
    }
    tl_checkpoint_free(&a);
}

int main(void)
{
    const char *p = getenv("TEELM_PYTHON"), *s = getenv("TEELM_SRC");
    snprintf(py, sizeof py, "%s", p ? p : "/usr/bin/python3");
    snprintf(src, sizeof src, "%s", s ? s : ".");
    if (test_sh("%s -c 'import torch, numpy' 2>/dev/null", py) != 0)
        test_skip("no PyTorch for the reference (scripts/install-deps.sh installs python3-torch)");
    const char *root = test_tmpdir();
    if (test_sh("%s %s/tests/formats/hf_fixtures.py %s", py, src, root) != 0) {
        CHECKF(0, "hf_fixtures.py failed");
        return test_finish();
    }
    test_good(root);
    test_hostile(root);
    test_save(root);
    test_sh("rm -rf %s", root);
    return test_finish();
}
