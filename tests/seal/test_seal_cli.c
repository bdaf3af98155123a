/* teelm seal / unseal / tl_model_open on real model directories written by the weights layer:
 * seal → unseal gives back the same weights and tokenizer (full and split), tl_model_open reads
 * sealed models with a key file, and the CLI refuses what it must. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/open.h"
#include "seal/seal.h"
#include "seal_fixture.h"
#include "test.h"
#include "util/io.h"

static const char *bin, *tmp;

static void expect_model(const char *path, const tl_checkpoint *want, const char *key_file, const char *what)
{
    tl_checkpoint got;
    tl_err e = {0};
    tl_open_opts o = {.key_file = key_file};
    int rc = tl_model_open(path, &o, &got, &e);
    CHECKF(rc == 0, "%s: %s", what, e.msg);
    if (rc)
        return;
    CHECKF(o.sealed == (key_file != NULL), "%s: sealed flag %d", what, o.sealed);
    CHECKF(memcmp(&got.cfg, &want->cfg, sizeof got.cfg) == 0, "%s: config differs", what);
    CHECKF(memcmp(got.params, want->params, fx_arena_bytes(want)) == 0, "%s: weights differ", what);
    tl_checkpoint_free(&got);
}

/* Runs teelm with args; returns exit status; stderr goes to tmp/err.txt */
static int teelm(const char *args)
{
    return test_sh("%s %s >%s/out.txt 2>%s/err.txt", bin, args, tmp, tmp);
}

static int err_has(const char *s)
{
    return test_sh("grep -q -- '%s' %s/err.txt", s, tmp) == 0;
}

int main(void)
{
    bin = getenv("TEELM_BIN");
    if (!bin)
        test_skip("TEELM_BIN not set (run through ctest)");
    tmp = test_tmpdir();
    tl_err e = {0};
    tl_checkpoint ck;
    char dir[4096], cmd[8192];
    snprintf(dir, sizeof dir, "%s/plain", tmp);
    if (fx_model(&ck, 11, 77, &e) || tl_mkdirs(dir, 0755, &e) || tl_checkpoint_save(dir, &ck, TL_LAYOUT_FULL, &e)) {
        fprintf(stderr, "setup: %s\n", e.msg);
        return 1;
    }
    /* a tokenizer file beside the weights: the real cl100k ranks when available */
    const char *cl = test_shared("data/cl100k_base.tiktoken");
    if (cl)
        test_sh("cp %s %s/tokenizer.tiktoken", cl, dir);
    else
        test_sh("head -c 20000 /dev/urandom > %s/tokenizer.tiktoken", dir);

    snprintf(cmd, sizeof cmd, "seal --model %s --out %s/m.sealed --key-out %s/k.key --key-id cli-key --chunk-size 4096",
             dir, tmp, tmp);
    CHECKF(teelm(cmd) == 0, "seal failed");
    char p[4096];
    snprintf(p, sizeof p, "%s/k.key", tmp);
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(test_sh("grep -q 'key-id: cli-key' %s", p) == 0);
    snprintf(p, sizeof p, "%s/m.sealed", tmp);
    char kf[4096];
    snprintf(kf, sizeof kf, "%s/k.key", tmp);
    expect_model(p, &ck, kf, "sealed full via tl_model_open");
    expect_model(dir, &ck, NULL, "plaintext via tl_model_open");

    /* the tokenizer travels inside */
    tl_checkpoint got;
    tl_open_opts o = {.key_file = kf};
    if (tl_model_open(p, &o, &got, &e) == 0) {
        size_t n;
        uint8_t *want = NULL;
        char tp[4200];
        snprintf(tp, sizeof tp, "%s/tokenizer.tiktoken", dir);
        CHECK(tl_read_file(tp, 1u << 26, &want, &n, &e) == 0);
        CHECK(got.tokenizer_data && got.tokenizer_len == n && memcmp(got.tokenizer_data, want, n) == 0);
        CHECK(got.tokenizer_path[0] == 0);
        free(want);
        tl_checkpoint_free(&got);
    }

    /* unseal: same weights, same tokenizer bytes */
    snprintf(cmd, sizeof cmd, "unseal --model %s/m.sealed --key-file %s --out %s/back", tmp, kf, tmp);
    CHECKF(teelm(cmd) == 0, "unseal failed");
    snprintf(p, sizeof p, "%s/back", tmp);
    expect_model(p, &ck, NULL, "unsealed full");
    CHECK(test_sh("cmp -s %s/tokenizer.tiktoken %s/back/tokenizer.tiktoken", dir, tmp) == 0);

    /* split */
    snprintf(cmd, sizeof cmd, "seal --model %s --out %s/ms --split --key-out %s/k2.key", dir, tmp, tmp);
    CHECKF(teelm(cmd) == 0, "seal --split failed");
    snprintf(p, sizeof p, "%s/ms", tmp);
    snprintf(kf, sizeof kf, "%s/k2.key", tmp);
    expect_model(p, &ck, kf, "sealed split via tl_model_open");
    CHECK(test_sh("test -f %s/ms/model.sealed && test -f %s/ms/part-005.sealed && ! test -e %s/ms/part-006.sealed", tmp,
                  tmp, tmp) == 0);
    snprintf(cmd, sizeof cmd, "unseal --model %s/ms --key-file %s --out %s/back2", tmp, kf, tmp);
    CHECKF(teelm(cmd) == 0, "unseal split failed");
    CHECK(test_sh("test -f %s/back2/transformer_block_2.safetensors", tmp) == 0);
    snprintf(p, sizeof p, "%s/back2", tmp);
    expect_model(p, &ck, NULL, "unsealed split");

    /* refusals */
    snprintf(cmd, sizeof cmd, "seal --model %s --out %s/m3.sealed --key-out %s/k.key", dir, tmp, tmp);
    CHECK(teelm(cmd) == 1 && err_has("already exists"));
    CHECK(test_sh("test ! -e %s/m3.sealed", tmp) == 0);
    snprintf(cmd, sizeof cmd, "seal --model %s --out %s/m3.sealed", dir, tmp);
    CHECK(teelm(cmd) == 2 && err_has("exactly one of --key-out"));
    snprintf(cmd, sizeof cmd, "seal --model %s/m.sealed --out %s/m4.sealed --key-out %s/k4.key", tmp, tmp, tmp);
    CHECK(teelm(cmd) == 1 && err_has("already sealed"));
    snprintf(cmd, sizeof cmd, "unseal --model %s/m.sealed --key-file %s/k2.key --out %s/back3", tmp, tmp, tmp);
    CHECK(teelm(cmd) == 1 && err_has("key id"));
    /* same id, other key bytes */
    tl_data_key k5;
    snprintf(p, sizeof p, "%s/k.key", tmp);
    CHECK(tl_data_key_read(p, &k5, &e) == 0);
    k5.key[0] ^= 0x80;
    snprintf(p, sizeof p, "%s/k5.key", tmp);
    CHECK(tl_data_key_write(p, &k5, &e) == 0);
    tl_data_key_clear(&k5);
    snprintf(cmd, sizeof cmd, "unseal --model %s/m.sealed --key-file %s/k5.key --out %s/back3", tmp, tmp, tmp);
    CHECK(teelm(cmd) == 1 && err_has("authentication failed"));
    CHECK(test_sh("test ! -e %s/back3/model.safetensors", tmp) == 0);
    /* inspect shows only the public header of a sealed model; export refuses it and names unseal */
    snprintf(cmd, sizeof cmd, "inspect %s/m.sealed", tmp);
    CHECK(teelm(cmd) == 0 && test_sh("grep -q 'key id *cli-key' %s/out.txt && grep -q 'encrypted' %s/out.txt", tmp, tmp) == 0);
    CHECK(test_sh("grep -q 'vocab\\|d_model\\|token_embedding' %s/out.txt", tmp) != 0);
    /* only the header is read: a sealed file larger than any whole-file read limit (sparse) inspects */
    CHECK(test_sh("cp %s/m.sealed %s/big.sealed && truncate -s 1100M %s/big.sealed", tmp, tmp, tmp) == 0);
    snprintf(cmd, sizeof cmd, "inspect %s/big.sealed", tmp);
    CHECK(teelm(cmd) == 0 && test_sh("grep -q 'key id *cli-key' %s/out.txt", tmp) == 0);
    CHECK(test_sh("rm -f %s/big.sealed", tmp) == 0);
    snprintf(cmd, sizeof cmd, "inspect --json %s/ms", tmp);
    CHECK(teelm(cmd) == 0 && test_sh("grep -q \"\\\"file_count\\\":$(ls %s/ms | wc -l)\" %s/out.txt", tmp, tmp) == 0);
    snprintf(cmd, sizeof cmd, "export --model %s/m.sealed --out %s/exp", tmp, tmp);
    CHECK(teelm(cmd) == 1 && err_has("is a sealed model") && err_has("teelm unseal"));
    CHECK(test_sh("test ! -e %s/exp", tmp) == 0);
    /* a sealed model with no key given */
    tl_open_opts none = {0};
    snprintf(p, sizeof p, "%s/m.sealed", tmp);
    CHECK(tl_model_open(p, &none, &got, &e) != 0 && strstr(e.msg, "needs --key-file FILE or --kbs URL"));

    tl_checkpoint_free(&ck);
    test_sh("rm -rf %s", tmp);
    return test_finish();
}
