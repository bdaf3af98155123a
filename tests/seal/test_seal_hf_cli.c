/* teelm commands on sealed Hugging Face models. `teelm inspect` shows only the public header;
 * `teelm unseal` gives back a directory with model.safetensors (every tensor in its sealed dtype,
 * byte for byte) and the carried files; `teelm export` refuses a sealed model. Then, on a real
 * Hugging Face directory written by tests/reference/make_hf_model.py: `teelm seal --model DIR`
 * (full and --split) carries config.json, generation_config.json and the tokenizer files, and
 * `teelm unseal` gives back the same tensors as DIR's model.safetensors and the same files. That
 * part needs the Hugging Face directory loader (formats/hf_dir.c, tl_checkpoint_load): without it
 * the test skips after the first part, saying so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/checkpoint.h"
#include "formats/safetensors.h"
#include "seal/seal.h"
#include "seal_fixture.h"
#include "test.h"
#include "util/io.h"

static const char *bin, *tmp;

static int teelm(const char *args)
{
    return test_sh("%s %s >%s/out.txt 2>%s/err.txt", bin, args, tmp, tmp);
}

static int out_has(const char *file, const char *s)
{
    return test_sh("grep -q -- '%s' %s/%s", s, tmp, file) == 0;
}

static int same_file(const char *a, const char *b)
{
    return test_sh("cmp -s %s %s", a, b) == 0;
}

/* Every tensor of cfg in dir/model.safetensors has the dtype, shape and bytes of w[i]. */
static void check_safetensors(const char *path, const tl_config *cfg, const tl_wref *w, const char *what)
{
    tl_st_file f;
    tl_err e = {0};
    if (tl_st_open(path, &f, &e)) {
        CHECKF(0, "%s: %s", what, e.msg);
        return;
    }
    int n = tl_params_count(cfg), bad = 0;
    tl_param *list = calloc((size_t)n, sizeof *list);
    tl_params_list(cfg, list);
    CHECKF(f.n == n, "%s: %d tensors, want %d", what, f.n, n);
    for (int i = 0; i < n; i++) {
        const tl_st_tensor *t = tl_st_find(&f, list[i].name);
        size_t bytes = list[i].numel * tl_dtype_size(w[i].dtype);
        uint8_t *buf = t ? malloc(t->end - t->begin) : NULL;
        if (!t || t->dtype != w[i].dtype || t->ndim != list[i].ndim || t->shape[0] != list[i].shape[0] ||
            (t->ndim == 2 && t->shape[1] != list[i].shape[1]) || t->end - t->begin != bytes || !buf ||
            tl_st_read_raw(&f, t, buf, &e) || memcmp(buf, w[i].data, bytes) != 0)
            bad++;
        free(buf);
    }
    CHECKF(bad == 0, "%s: %d of %d tensors differ", what, bad, n);
    free(list);
    tl_st_close(&f);
}

int main(void)
{
    bin = getenv("TEELM_BIN");
    const char *py = getenv("TEELM_PYTHON"), *src = getenv("TEELM_SRC");
    if (!bin || !py || !src)
        test_skip("TEELM_BIN / TEELM_PYTHON / TEELM_SRC not set (run through ctest)");
    tmp = test_tmpdir();
    tl_err e = {0};
    char args[16384], p[8192], q[8192];

    /* 1. a sealed model built in memory (Llama, BF16) */
    tl_checkpoint ck;
    tl_data_key key;
    if (fx_hf_model(&ck, TL_ARCH_LLAMA, TL_DT_BF16, 21, &e) || tl_data_key_generate(&key, "cli-hf", &e)) {
        fprintf(stderr, "setup: %s\n", e.msg);
        return 1;
    }
    snprintf(p, sizeof p, "%s/k.key", tmp);
    CHECK(tl_data_key_write(p, &key, &e) == 0);
    static const char tokj[] = "{\"model\":{\"type\":\"BPE\"}}", cfgj[] = "{\"architectures\":[\"LlamaForCausalLM\"]}";
    tl_seal_carry carry[2] = {{"config.json", (const uint8_t *)cfgj, sizeof cfgj - 1},
                              {"tokenizer.json", (const uint8_t *)tokj, sizeof tokj - 1}};
    tl_seal_opts o = {.chunk_size = 4096, .carry = carry, .ncarry = 2};
    snprintf(p, sizeof p, "%s/mem.sealed", tmp);
    CHECKF(tl_seal_write(&ck, &key, &o, p, &e) == 0, "%s", e.msg);
    snprintf(args, sizeof args, "inspect %s", p);
    CHECK(teelm(args) == 0 && out_has("out.txt", "sealed model") && out_has("out.txt", "cli-hf") &&
          !out_has("out.txt", "vocab") && !out_has("out.txt", "embed_tokens"));
    snprintf(args, sizeof args, "export --model %s --out %s/exp", p, tmp);
    CHECK(teelm(args) != 0 && out_has("err.txt", "is a sealed model"));
    snprintf(args, sizeof args, "unseal --model %s --key-file %s/k.key --out %s/un", p, tmp, tmp);
    CHECKF(teelm(args) == 0, "unseal failed");
    snprintf(q, sizeof q, "%s/un/model.safetensors", tmp);
    check_safetensors(q, &ck.cfg, ck.w, "unsealed in-memory model");
    snprintf(args, sizeof args, "printf '%%s' '%s' | cmp -s - %s/un/tokenizer.json && printf '%%s' '%s' | cmp -s - "
             "%s/un/config.json", tokj, tmp, cfgj, tmp);
    CHECK(test_sh("%s", args) == 0);
    tl_checkpoint_free(&ck);
    tl_data_key_clear(&key);

    /* 2. a real Hugging Face directory through teelm seal */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/hf", tmp);
    CHECK(test_sh("%s %s/tests/reference/make_hf_model.py %s --family qwen2 --dtype F16 --d 32 --layers 2 --heads 4 "
                  "--kv-heads 2 --ff 48 --vocab 97 --ctx 64 >/dev/null", py, src, dir) == 0);
    test_sh("printf '{\"model\":{\"type\":\"BPE\",\"vocab\":{}}}' > %s/tokenizer.json && "
            "printf '{\"add_bos_token\":false}' > %s/tokenizer_config.json", dir, dir);
    tl_checkpoint plain;
    if (tl_checkpoint_load(dir, &plain, &e) || !tl_config_is_hf(&plain.cfg)) {
        if (test_failures)
            return test_finish();
        test_sh("rm -rf %s", tmp);
        test_skip("the Hugging Face directory loader (formats/hf_dir.c) is not in this build: "
                  "teelm seal --model HFDIR cannot load the model yet");
    }
    for (int split = 0; split < 2; split++) {
        char what[64];
        snprintf(what, sizeof what, "teelm seal %s", split ? "--split" : "(full)");
        snprintf(args, sizeof args, "seal --model %s --out %s/s%d%s %s --key-out %s/s%d.key", dir, tmp, split,
                 split ? "" : ".sealed", split ? "--split" : "", tmp, split);
        CHECKF(teelm(args) == 0 && out_has("out.txt", "carrying config.json, generation_config.json, tokenizer.json, "
                                                      "tokenizer_config.json"), "%s failed", what);
        snprintf(args, sizeof args, "unseal --model %s/s%d%s --key-file %s/s%d.key --out %s/u%d", tmp, split,
                 split ? "" : ".sealed", tmp, split, tmp, split);
        CHECKF(teelm(args) == 0, "%s: unseal failed", what);
        snprintf(q, sizeof q, "%s/u%d/model.safetensors", tmp, split);
        check_safetensors(q, &plain.cfg, plain.w, what);
        static const char *const files[] = {"config.json", "generation_config.json", "tokenizer.json",
                                            "tokenizer_config.json"};
        for (int i = 0; i < 4; i++) {
            snprintf(p, sizeof p, "%s/%s", dir, files[i]);
            snprintf(q, sizeof q, "%s/u%d/%s", tmp, split, files[i]);
            CHECKF(same_file(p, q), "%s: %s differs after unseal", what, files[i]);
        }
        /* the unsealed directory loads as the same model */
        tl_checkpoint back;
        snprintf(q, sizeof q, "%s/u%d", tmp, split);
        CHECKF(tl_checkpoint_load(q, &back, &e) == 0 && memcmp(&back.cfg, &plain.cfg, sizeof back.cfg) == 0,
               "%s: unsealed directory: %s", what, e.msg);
        tl_checkpoint_free(&back);
    }
    tl_checkpoint_free(&plain);
    test_sh("rm -rf %s", tmp);
    return test_finish();
}
