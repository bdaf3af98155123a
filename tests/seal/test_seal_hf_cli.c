/* teelm commands on sealed Hugging Face models. `teelm inspect` shows only the public header;
 * `teelm unseal` gives back a directory with model.safetensors (every tensor in its sealed dtype,
 * byte for byte) and the carried files; `teelm export` refuses a sealed model. Then, on a real
 * Hugging Face directory written by tests/reference/make_hf_model.py: `teelm seal --model DIR`
 * (full and --split) carries config.json, generation_config.json and the tokenizer files, and
 * `teelm unseal` gives back the same tensors as DIR's model.safetensors and the same files, and
 * tl_model_open (what every command opens a model with) reads the sealed model as the same model
 * as DIR, with the same tokenizer (the carried tokenizer.json + tokenizer_config.json). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/open.h"
#include "formats/checkpoint.h"
#include "formats/safetensors.h"
#include "seal/seal.h"
#include "tokenizer/tokenizer.h"
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
    /* a tiny byte-level BPE tokenizer.json (merges "a b" -> "ab") and its config */
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    FILE *tf = fopen(p, "w");
    CHECK(tf != NULL);
    if (tf) {
        fputs("{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[{\"id\":3,\"content\":"
              "\"<s>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}],"
              "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":"
              "true,\"use_regex\":true},\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":"
              "true,\"trim_offsets\":true,\"use_regex\":true},\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":"
              "null,\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":"
              "false,\"ignore_merges\":false,\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}}\n", tf);
        fclose(tf);
    }
    test_sh("printf '{\"bos_token\":\"<s>\",\"add_bos_token\":false}' > %s/tokenizer_config.json", dir);
    tl_checkpoint plain;
    if (tl_checkpoint_load(dir, &plain, &e) || !tl_config_is_hf(&plain.cfg)) {
        CHECKF(0, "the Hugging Face directory does not load: %s", e.msg);
        return test_finish();
    }
    uint32_t *want_ids = NULL;
    size_t want_n = 0;
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    tl_tokenizer *pt = tl_tokenizer_load(p, NULL, &e);
    CHECKF(pt && tl_tokenizer_encode(pt, "abab ba", 7, 0, &want_ids, &want_n, &e) == 0 && want_n >= 2,
           "plaintext tokenizer: %s", e.msg);
    tl_tokenizer_free(pt);
    /* a plaintext Hugging Face model's own tokenizer through tl_model_tokenizer (ck->hf_dir) */
    uint32_t *pids = NULL;
    size_t pn = 0;
    pt = tl_model_tokenizer(&plain, NULL, NULL, &e);
    CHECKF(pt && tl_tokenizer_encode(pt, "abab ba", 7, 0, &pids, &pn, &e) == 0 && pn == want_n && want_ids &&
           memcmp(pids, want_ids, pn * sizeof *pids) == 0, "plaintext model tokenizer: %s", e.msg);
    free(pids);
    tl_tokenizer_free(pt);
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
        /* every command's opening path: the sealed model is the same model, with the same tokenizer */
        tl_checkpoint sealed;
        snprintf(p, sizeof p, "%s/s%d.key", tmp, split);
        snprintf(q, sizeof q, "%s/s%d%s", tmp, split, split ? "" : ".sealed");
        tl_open_opts oo = {.key_file = p};
        int orc = tl_model_open(q, &oo, &sealed, &e);
        CHECKF(orc == 0 && oo.sealed && memcmp(&sealed.cfg, &plain.cfg, sizeof sealed.cfg) == 0 &&
               sealed.nw == plain.nw, "%s: tl_model_open: %s", what, e.msg);
        if (!orc) {
            int bad = 0;
            tl_param *list = calloc((size_t)plain.nw, sizeof *list);
            tl_params_list(&plain.cfg, list);
            for (int i = 0; i < plain.nw && sealed.nw == plain.nw; i++)
                bad += sealed.w[i].dtype != plain.w[i].dtype ||
                       memcmp(sealed.w[i].data, plain.w[i].data, list[i].numel * tl_dtype_size(plain.w[i].dtype)) != 0;
            CHECKF(bad == 0, "%s: %d tensors differ after tl_model_open", what, bad);
            free(list);
            tl_tokenizer *st = tl_model_tokenizer(&sealed, NULL, NULL, &e);
            uint32_t *ids = NULL;
            size_t nids = 0;
            CHECKF(st && tl_tokenizer_encode(st, "abab ba", 7, 0, &ids, &nids, &e) == 0 && nids == want_n &&
                   want_ids && memcmp(ids, want_ids, nids * sizeof *ids) == 0, "%s: sealed tokenizer: %s", what, e.msg);
            free(ids);
            tl_tokenizer_free(st);
            tl_checkpoint_free(&sealed);
        }
        /* the unsealed directory loads as the same model */
        tl_checkpoint back;
        snprintf(q, sizeof q, "%s/u%d", tmp, split);
        CHECKF(tl_checkpoint_load(q, &back, &e) == 0 && memcmp(&back.cfg, &plain.cfg, sizeof back.cfg) == 0,
               "%s: unsealed directory: %s", what, e.msg);
        tl_checkpoint_free(&back);
    }
    free(want_ids);
    tl_checkpoint_free(&plain);
    test_sh("rm -rf %s", tmp);
    return test_finish();
}
