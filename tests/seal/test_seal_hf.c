/* Sealed Hugging Face models (docs/sealed-format.md "Data", "tokenizer_files"): Llama untied BF16,
 * Qwen2 F16 and GPT-2 F32, full and split, sealed straight from ck->w. The independent reader
 * (tests/reference/sealed_ref.py, written from the doc) recomputes the layout and its per-tensor
 * bytes equal the source; tl_seal_read gives back the same config, dtypes, bytes and carried files;
 * no plaintext reaches the files; tampering, truncation, a wrong key and manifests with a bad dtype,
 * offset, size or carried-file name are refused with messages that say so. Files sealed before
 * these fields existed still open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seal/crypto.h"
#include "seal/format.h"
#include "seal/seal.h"
#include "seal_fixture.h"
#include "test.h"
#include "util/codec.h"
#include "util/io.h"
#include "util/sha.h"

static const char *tmp, *py, *src;
static char keyfile[4096];

/* carried files: small texts standing in for a Hugging Face directory's */
static char tok_json[6000], tok_cfg[300], cfg_json[200];

static size_t tensor_bytes(const tl_param *p, tl_dtype dt) { return p->numel * tl_dtype_size(dt); }

static void sha_hex(const void *p, size_t n, char out[65])
{
    uint8_t h[32];
    tl_sha256(p, n, h);
    tl_hex(h, 32, out);
}

/* No 32-byte window of any tensor (nor of the tokenizer) appears in the sealed file. */
static void check_no_plaintext(const char *file, const tl_checkpoint *ck, const tl_param *list, const char *what)
{
    size_t len;
    uint8_t *d = fx_slurp(file, &len);
    int leaks = 0;
    for (int i = 0; i < ck->nw; i++) {
        size_t b = tensor_bytes(&list[i], ck->w[i].dtype);
        if (b >= 32 && memmem(d, len, ck->w[i].data, 32))
            leaks++;
    }
    if (memmem(d, len, tok_json, 32) || memmem(d, len, "model.embed_tokens", 18) || memmem(d, len, "\"vocab_size\"", 12))
        leaks++;
    CHECKF(leaks == 0, "%s: %d plaintext pieces found in %s", what, leaks, file);
    free(d);
}

static void expect_same(const char *path, const tl_data_key *key, const tl_checkpoint *ck, const tl_param *list,
                        const char *what)
{
    tl_checkpoint got;
    tl_err e = {0};
    int rc = tl_seal_read(path, key, &got, NULL, &e);
    CHECKF(rc == 0, "%s: %s", what, e.msg);
    if (rc)
        return;
    CHECKF(memcmp(&got.cfg, &ck->cfg, sizeof got.cfg) == 0, "%s: config differs", what);
    CHECKF(got.params == NULL && got.nw == ck->nw && got.wbuf, "%s: not a weight table", what);
    int diff = 0, misaligned = 0;
    for (int i = 0; i < ck->nw && got.nw == ck->nw; i++) {
        diff += got.w[i].dtype != ck->w[i].dtype ||
                memcmp(got.w[i].data, ck->w[i].data, tensor_bytes(&list[i], ck->w[i].dtype)) != 0;
        misaligned += ((uintptr_t)got.w[i].data % 64) != 0;
        /* the pointers stay inside the owned buffer */
        diff += (const uint8_t *)got.w[i].data + tensor_bytes(&list[i], ck->w[i].dtype) >
                (const uint8_t *)got.wbuf + got.wbuf_len;
    }
    CHECKF(diff == 0 && misaligned == 0, "%s: %d tensors differ, %d misaligned", what, diff, misaligned);
    const char *names[3] = {"config.json", "tokenizer.json", "tokenizer_config.json"};
    const char *texts[3] = {cfg_json, tok_json, tok_cfg};
    CHECKF(got.nfiles == 3 && got.tokenizer_data == NULL, "%s: %d carried files", what, got.nfiles);
    for (int i = 0; i < 3 && got.nfiles == 3; i++) {
        const struct tl_ck_file *f = tl_checkpoint_file(&got, names[i]);
        CHECKF(f && f == &got.files[i] && f->len == strlen(texts[i]) && memcmp(f->data, texts[i], f->len) == 0 &&
               f->data[f->len] == 0, "%s: carried %s differs", what, names[i]);
    }
    CHECK(tl_checkpoint_file(&got, "vocab.json") == NULL);
    tl_checkpoint_free(&got);
}

static void round_trips(const tl_data_key *key, tl_arch arch, tl_dtype dt, const char *label)
{
    tl_checkpoint ck;
    tl_err e = {0};
    if (fx_hf_model(&ck, arch, dt, 11 + (uint64_t)arch, &e)) {
        CHECKF(0, "%s: fixture: %s", label, e.msg);
        return;
    }
    tl_param *list = calloc((size_t)ck.nw, sizeof *list);
    tl_params_list(&ck.cfg, list);
    tl_seal_carry carry[3] = {{"config.json", (const uint8_t *)cfg_json, strlen(cfg_json)},
                              {"tokenizer.json", (const uint8_t *)tok_json, strlen(tok_json)},
                              {"tokenizer_config.json", (const uint8_t *)tok_cfg, strlen(tok_cfg)}};
    for (int split = 0; split < 2; split++) {
        char path[4096], what[128], out[1 << 16], want[200], hex[65];
        snprintf(path, sizeof path, "%s/%s-%d%s", tmp, label, split, split ? "" : ".sealed");
        snprintf(what, sizeof what, "%s %s", label, split ? "split" : "full");
        tl_seal_opts o = {.split = split, .chunk_size = 4096, .carry = carry, .ncarry = 3};
        CHECKF(tl_seal_write(&ck, key, &o, path, &e) == 0, "%s: %s", what, e.msg);
        expect_same(path, key, &ck, list, what);
        /* what the reference reader sees */
        int rc = fx_run_ref(py, src, keyfile, path, out, sizeof out);
        CHECKF(rc == 0, "%s: reference reader failed: %.2000s", what, out);
        int bad = 0;
        for (int i = 0; i < ck.nw && rc == 0; i++) {
            sha_hex(ck.w[i].data, tensor_bytes(&list[i], dt), hex);
            snprintf(want, sizeof want, "\"%s\": \"%s\"", list[i].name, hex);
            bad += strstr(out, want) == NULL;
        }
        CHECKF(rc || bad == 0, "%s: %d of %d tensors differ in the reference reader", what, bad, ck.nw);
        char n_t[32];
        snprintf(n_t, sizeof n_t, "\"tensors\": %d,", ck.nw);
        sha_hex(tok_json, strlen(tok_json), hex);
        snprintf(want, sizeof want, "\"bytes\": %zu, \"name\": \"tokenizer.json\", \"sha256\": \"%s\"", strlen(tok_json),
                 hex);
        CHECKF(rc || (strstr(out, n_t) && strstr(out, want)), "%s: reference: tensors/tokenizer files: %.300s", what,
               out);
        if (!split) {
            check_no_plaintext(path, &ck, list, what);
        } else {
            /* one part per block plus embeddings and final group: 1 + 1 + n_layer + 1 files */
            char part[8192];
            int parts = 0;
            for (int i = 1; i < 64; i++) {
                snprintf(part, sizeof part, "%s/part-%03d.sealed", path, i);
                if (access(part, F_OK) != 0)
                    break;
                parts++;
                check_no_plaintext(part, &ck, list, what);
            }
            snprintf(part, sizeof part, "%s/model.sealed", path);
            check_no_plaintext(part, &ck, list, what);
            CHECKF(parts == ck.cfg.n_layer + 2, "%s: %d parts for %d layers", what, parts, ck.cfg.n_layer);
        }
    }
    /* tampering with a split part, truncating, and a wrong key */
    char path[4096], part[8192];
    snprintf(path, sizeof path, "%s/%s-1", tmp, label);
    snprintf(part, sizeof part, "%s/part-002.sealed", path);
    CHECK(test_sh("cp %s %s.orig && printf '\\x55' | dd of=%s bs=1 seek=300 conv=notrunc status=none", part, part,
                  part) == 0);
    fx_expect_refused(path, key, "authentication failed", "flipped byte in a part");
    CHECK(test_sh("cp %s.orig %s && truncate -s -16 %s", part, part, part) == 0);
    fx_expect_refused(path, key, "truncated", "truncated part");
    CHECK(test_sh("mv %s.orig %s", part, part) == 0);
    expect_same(path, key, &ck, list, "restored part");
    tl_data_key other;
    CHECK(tl_data_key_generate(&other, key->key_id, &e) == 0);
    fx_expect_refused(path, &other, "wrong key", "another key with the same id");
    snprintf(path, sizeof path, "%s/%s-0.sealed", tmp, label);
    fx_expect_refused(path, &other, "wrong key", "another key, full file");
    tl_data_key_clear(&other);
    free(list);
    tl_checkpoint_free(&ck);
}

/* Manifest edits on a Llama BF16 manifest carrying files, each refused with the field named. */
static void bad_manifests(void)
{
    tl_checkpoint ck;
    tl_err e = {0};
    if (fx_hf_model(&ck, TL_ARCH_LLAMA, TL_DT_BF16, 3, &e)) {
        CHECKF(0, "fixture: %s", e.msg);
        return;
    }
    int n = ck.nw;
    tl_param *list = calloc((size_t)n, sizeof *list);
    uint64_t *off = calloc((size_t)n, sizeof *off);
    tl_dtype *dt = calloc((size_t)n, sizeof *dt);
    tl_params_list(&ck.cfg, list);
    for (int i = 0; i < n; i++)
        dt[i] = TL_DT_BF16;
    uint64_t arena = tl_seal_layout(&ck.cfg, list, n, dt, off);
    /* the layout as the doc states it: 64-byte steps over each tensor's bytes */
    uint64_t at = 0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        bad += off[i] != at;
        at += (list[i].numel * 2 + 63) / 64 * 64;
    }
    CHECKF(bad == 0 && arena == at && arena % 64 == 0, "layout: %d offsets differ, arena %llu vs %llu", bad,
           (unsigned long long)arena, (unsigned long long)at);
    tl_seal_file_entry f = {"model", 0, arena};
    tl_seal_carried c[2] = {{"tokenizer.json", 100}, {"tokenizer_config.json", 20}};
    char *good = tl_seal_manifest_json(&ck.cfg, dt, &f, 1, NULL, 0, c, 2);
    tl_seal_manifest m;
    CHECKF(good && tl_seal_manifest_parse(good, strlen(good), 1, &m, &e) == 0, "%s", e.msg);
    if (!good)
        return;
    CHECK(m.ntensors == n && m.arena_bytes == arena && m.ncarried == 2 && m.carried[1].len == 20 &&
          !strcmp(m.carried[1].name, "tokenizer_config.json") && !m.has_tokenizer && m.dtype[n - 1] == TL_DT_BF16 &&
          m.offset[n - 1] == off[n - 1] && memcmp(&m.cfg, &ck.cfg, sizeof m.cfg) == 0);
    tl_seal_manifest_free(&m);
    char off1[64], off1b[64], shape0[64], shape0b[64], end[64], endb[64];
    snprintf(off1, sizeof off1, "\"offset\":%llu}", (unsigned long long)off[1]);
    snprintf(off1b, sizeof off1b, "\"offset\":%llu}", (unsigned long long)off[1] + 64);
    snprintf(shape0, sizeof shape0, "\"shape\":[%d,%d]", ck.cfg.vocab_size, ck.cfg.d_model);
    snprintf(shape0b, sizeof shape0b, "\"shape\":[%d,%d]", ck.cfg.vocab_size + 1, ck.cfg.d_model);
    snprintf(end, sizeof end, "\"end\":%llu", (unsigned long long)arena);
    snprintf(endb, sizeof endb, "\"end\":%llu", (unsigned long long)arena + 64);
    struct {
        const char *from, *to, *want;
    } edits[] = {
        {"\"dtype\":\"BF16\"", "\"dtype\":\"F64\"", "dtype 'F64' is not F32, F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K"},
        {"\"dtype\":\"BF16\"", "\"dtype\":\"I8\"", "dtype 'I8' is not F32, F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K"},
        {"\"dtype\":\"BF16\"", "\"dtype\":\"bf16\"", "dtype 'bf16'"},
        {"\"dtype\":\"BF16\"", "\"dtype\":16", "dtype (absent)"},
        {",\"dtype\":\"BF16\"", "", "'model.embed_tokens.weight' dtype (absent)"},
        /* a valid dtype that is not the one sealed moves every later offset */
        {"\"dtype\":\"BF16\"", "\"dtype\":\"F32\"", "offset"},
        {off1, off1b, "does not match the arena layout"},
        {"\"offset\":0}", "\"offset\":-64}", "non-negative"},
        {shape0, shape0b, "shape does not match"},
        {end, endb, "does not continue the arena"},
        {"\"dtype\":\"BF16\"", "\"dtype\":\"BF16\",\"bytes\":9", "unknown field 'bytes' in a tensor"},
        {"\"name\":\"tokenizer.json\"", "\"name\":\"../tokenizer.json\"", "plain file name"},
        {"\"name\":\"tokenizer.json\"", "\"name\":\".tokenizer.json\"", "plain file name"},
        {"\"name\":\"tokenizer.json\"", "\"name\":\"a/b\"", "plain file name"},
        {"\"name\":\"tokenizer.json\"", "\"name\":\"\"", "plain file name"},
        {"\"name\":\"tokenizer.json\"", "\"name\":\"tokenizer_config.json\"", "listed twice"},
        {"\"bytes\":100", "\"bytes\":67108864", "exceed"},
        {"\"bytes\":100", "\"bytes\":-1", "non-negative"},
        {"\"bytes\":100}", "\"bytes\":100,\"sha\":1}", "unknown field 'sha' in a tokenizer file"},
        {"\"tokenizer_files\":[", "\"tokenizer\":{\"name\":\"t\",\"bytes\":1},\"tokenizer_files\":[", "exclude each other"},
        {"\"tokenizer_files\":[{\"name\":\"tokenizer.json\",\"bytes\":100},{\"name\":\"tokenizer_config.json\",\"bytes\":20}]",
         "\"tokenizer_files\":[]", "1 to 16"},
        {"\"arch\":\"llama\"", "\"arch\":\"gpt2\"", "manifest"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char *s = strstr(good, edits[i].from);
        CHECKF(s != NULL, "edit %zu: '%s' not in manifest", i, edits[i].from);
        if (!s)
            continue;
        static char buf[1 << 17];
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(s - good), good, edits[i].to, s + strlen(edits[i].from));
        memset(&e, 0, sizeof e);
        int rc = tl_seal_manifest_parse(buf, strlen(buf), 1, &m, &e);
        CHECKF(rc != 0 && strstr(e.msg, edits[i].want) && strncmp(e.msg, "manifest", 8) == 0, "edit %zu: rc %d '%s'", i,
               rc, e.msg);
        if (!rc)
            tl_seal_manifest_free(&m);
    }
    /* 17 carried files are too many */
    tl_seal_carried many[17];
    for (int i = 0; i < 17; i++) {
        snprintf(many[i].name, sizeof many[i].name, "f%d.json", i);
        many[i].len = 1;
    }
    char *big = tl_seal_manifest_json(&ck.cfg, dt, &f, 1, NULL, 0, many, 17);
    CHECK(big && tl_seal_manifest_parse(big, strlen(big), 1, &m, &e) != 0 && strstr(e.msg, "1 to 16"));
    free(big);
    free(good);

    /* a seed manifest keeps its old form: no dtype, and one is refused */
    tl_checkpoint seed;
    CHECK(fx_model(&seed, 1, 50, &e) == 0);
    tl_seal_file_entry sf = {"model", 0, fx_arena_bytes(&seed)};
    char *sm = tl_seal_manifest_json(&seed.cfg, NULL, &sf, 1, "tokenizer.tiktoken", 10, NULL, 0);
    CHECK(sm && !strstr(sm, "dtype") && !strstr(sm, "tokenizer_files") && !strstr(sm, "arch"));
    char *s0 = sm ? strstr(sm, "\"offset\":0}") : NULL;
    CHECK(s0 != NULL);
    if (s0) {
        static char buf[1 << 16];
        snprintf(buf, sizeof buf, "%.*s\"dtype\":\"F32\",%s", (int)(s0 - sm), sm, s0);
        CHECK(tl_seal_manifest_parse(buf, strlen(buf), 1, &m, &e) != 0 && strstr(e.msg, "unknown field 'dtype'"));
    }
    free(sm);
    tl_checkpoint_free(&seed);
    free(list);
    free(off);
    free(dt);
    tl_checkpoint_free(&ck);
}

/* What tl_seal_write refuses before writing anything. */
static void writer_refusals(const tl_data_key *key)
{
    tl_checkpoint ck;
    tl_err e = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s/refused.sealed", tmp);
    if (fx_hf_model(&ck, TL_ARCH_QWEN2, TL_DT_F16, 9, &e)) {
        CHECKF(0, "fixture: %s", e.msg);
        return;
    }
    tl_seal_carry ok = {"tokenizer.json", (const uint8_t *)"{}", 2};
    tl_seal_carry badname = {"../tokenizer.json", (const uint8_t *)"{}", 2};
    tl_seal_carry twice[2] = {ok, ok};
    tl_seal_opts o = {.chunk_size = 4096, .carry = &badname, .ncarry = 1};
    CHECK(tl_seal_write(&ck, key, &o, path, &e) != 0 && strstr(e.msg, "plain file name"));
    o.carry = twice;
    o.ncarry = 2;
    CHECK(tl_seal_write(&ck, key, &o, path, &e) != 0 && strstr(e.msg, "twice"));
    o = (tl_seal_opts){.chunk_size = 4096, .carry = &ok, .ncarry = 1, .tokenizer = (const uint8_t *)"x",
                       .tokenizer_len = 1, .tokenizer_name = "t"};
    CHECK(tl_seal_write(&ck, key, &o, path, &e) != 0 && strstr(e.msg, "not both"));
    o = (tl_seal_opts){.chunk_size = 4096};
    ck.w[3].dtype = TL_DT_I8;
    CHECK(tl_seal_write(&ck, key, &o, path, &e) != 0 && strstr(e.msg, "a dtype other than F32, F16, BF16, Q8_0"));
    ck.w[3].dtype = TL_DT_Q4_K; /* rows of this small model are not whole 256-element blocks */
    CHECK(tl_seal_write(&ck, key, &o, path, &e) != 0 && strstr(e.msg, "rows that are not whole blocks"));
    ck.w[3].dtype = TL_DT_F16;
    ck.nw--;
    CHECK(tl_seal_write(&ck, key, &o, path, &e) != 0 && strstr(e.msg, "weights"));
    ck.nw++;
    CHECK(access(path, F_OK) != 0);
    /* without carried files the model still seals and opens (nothing carried) */
    CHECKF(tl_seal_write(&ck, key, &o, path, &e) == 0, "%s", e.msg);
    tl_checkpoint got;
    CHECKF(tl_seal_read(path, key, &got, NULL, &e) == 0 && got.nfiles == 0 && got.files == NULL && got.nw == ck.nw,
           "%s", e.msg);
    tl_checkpoint_free(&got);
    tl_checkpoint_free(&ck);
}

/* A seed model sealed before this format change (the fuzz seed, key id "fuzz", zero key) opens. */
static void old_file_opens(void)
{
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/fuzz/corpus/fuzz_sealed/small_model.bin", src);
    snprintf(out, sizeof out, "%s/old.sealed", tmp);
    size_t len;
    uint8_t *d = fx_slurp(in, &len);
    tl_err e = {0};
    CHECK(len > 1 && tl_write_file_atomic(out, d + 1, len - 1, 0644, &e) == 0); /* first byte: the fuzz selector */
    free(d);
    tl_data_key key = {0};
    memcpy(key.key_id, "fuzz", 5);
    tl_checkpoint ck;
    CHECKF(tl_seal_read(out, &key, &ck, NULL, &e) == 0, "old sealed file: %s", e.msg);
    CHECK(ck.params && ck.cfg.vocab_size == 20 && ck.tokenizer_len == 3 && ck.nfiles == 0 && ck.w == NULL);
    tl_checkpoint_free(&ck);
    /* the fuzz seeds of this format stay valid starting points: the sealed HF model opens, the
     * manifests parse with the file counts their selector byte gives (1 + sel / 3 % 4) */
    snprintf(in, sizeof in, "%s/fuzz/corpus/fuzz_sealed/hf_model.bin", src);
    d = fx_slurp(in, &len);
    CHECK(len > 1 && d[0] % 3 == 2 && tl_write_file_atomic(out, d + 1, len - 1, 0644, &e) == 0);
    free(d);
    CHECKF(tl_seal_read(out, &key, &ck, NULL, &e) == 0, "hf fuzz seed: %s", e.msg);
    CHECK(ck.w && ck.nw > 0 && ck.w[ck.nw - 1].dtype == TL_DT_BF16 && ck.w[0].dtype == TL_DT_F16 && ck.nfiles == 2);
    tl_checkpoint_free(&ck);
    static const char *const man[] = {"hf_manifest.bin", "hf_split_manifest.bin"};
    for (int i = 0; i < 2; i++) {
        snprintf(in, sizeof in, "%s/fuzz/corpus/fuzz_sealed/%s", src, man[i]);
        d = fx_slurp(in, &len);
        tl_seal_manifest m;
        CHECKF(len > 1 && d[0] % 3 == 1 && tl_seal_manifest_parse((const char *)d + 1, len - 1, 1 + d[0] / 3 % 4, &m, &e) == 0,
               "%s: %s", man[i], e.msg);
        if (len > 1 && d[0] % 3 == 1 && m.nfiles)
            tl_seal_manifest_free(&m);
        free(d);
    }
}

int main(void)
{
    py = test_python("cryptography"); /* the reference reader */
    src = getenv("TEELM_SRC");
    tmp = test_tmpdir();
    uint64_t s = 99;
    for (size_t i = 0; i + 1 < sizeof tok_json; i++)
        tok_json[i] = (char)(' ' + fx_rand(&s) % 95);
    snprintf(tok_cfg, sizeof tok_cfg, "{\"bos_token\":\"<s>\",\"add_bos_token\":true,\"chat_template\":\"{{x}}\"}");
    snprintf(cfg_json, sizeof cfg_json, "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":32}");
    tl_err e = {0};
    tl_data_key key;
    snprintf(keyfile, sizeof keyfile, "%s/hf.key", tmp);
    if (tl_data_key_generate(&key, "hf-key", &e) || tl_data_key_write(keyfile, &key, &e)) {
        fprintf(stderr, "setup: %s\n", e.msg);
        return 1;
    }
    round_trips(&key, TL_ARCH_LLAMA, TL_DT_BF16, "llama-bf16");
    round_trips(&key, TL_ARCH_QWEN2, TL_DT_F16, "qwen2-f16");
    round_trips(&key, TL_ARCH_GPT2, TL_DT_F32, "gpt2-f32");
    bad_manifests();
    writer_refusals(&key);
    old_file_opens();
    tl_data_key_clear(&key);
    test_sh("rm -rf %s", tmp);
    return test_finish();
}
