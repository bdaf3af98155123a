/* The sealed files teelm writes are read by an independent implementation written from
 * docs/sealed-format.md (tests/reference/sealed_ref.py, python3-cryptography): same arena bytes,
 * same tokenizer, same config; and that reader also refuses a tampered file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seal/crypto.h"
#include "seal/seal.h"
#include "seal_fixture.h"
#include "test.h"
#include "util/codec.h"
#include "util/io.h"
#include "util/sha.h"

static int run_ref(const char *py, const char *src, const char *key, const char *model, char *out, size_t n)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s/tests/reference/sealed_ref.py %s %s 2>&1", py, src, key, model);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t got = fread(out, 1, n - 1, p);
    out[got] = 0;
    return pclose(p);
}

int main(void)
{
    const char *py = getenv("TEELM_PYTHON"), *src = getenv("TEELM_SRC");
    if (!py || !src)
        test_skip("TEELM_PYTHON / TEELM_SRC not set (run through ctest)");
    if (test_sh("%s -c 'import cryptography' 2>/dev/null", py) != 0)
        test_skip("python3-cryptography is not installed for the reference reader");
    const char *tmp = test_tmpdir();
    tl_err e = {0};
    tl_checkpoint ck;
    tl_data_key key;
    uint8_t tok[3000];
    uint64_t s = 5;
    for (size_t i = 0; i < sizeof tok; i++)
        tok[i] = (uint8_t)fx_rand(&s);
    char keyfile[4096], want_arena[65], want_tok[65], out[8192], path[4096];
    snprintf(keyfile, sizeof keyfile, "%s/k.key", tmp);
    if (fx_model(&ck, 3, 61, &e) || tl_data_key_generate(&key, "ref-key", &e) || tl_data_key_write(keyfile, &key, &e)) {
        fprintf(stderr, "setup: %s\n", e.msg);
        return 1;
    }
    uint8_t h[32];
    tl_sha256(ck.params, fx_arena_bytes(&ck), h);
    tl_hex(h, 32, want_arena);
    tl_sha256(tok, sizeof tok, h);
    tl_hex(h, 32, want_tok);
    static const uint32_t sizes[] = {4096, 65536};
    for (int split = 0; split < 2; split++)
        for (int c = 0; c < 2; c++) {
            snprintf(path, sizeof path, "%s/m-%d-%d%s", tmp, split, c, split ? "" : ".sealed");
            tl_seal_opts o = {.split = split, .chunk_size = sizes[c], .tokenizer = tok, .tokenizer_len = sizeof tok,
                              .tokenizer_name = "cl.tiktoken"};
            CHECKF(tl_seal_write(&ck, &key, &o, path, &e) == 0, "%s", e.msg);
            int rc = run_ref(py, src, keyfile, path, out, sizeof out);
            CHECKF(rc == 0, "reference reader failed on %s: %s", path, out);
            CHECKF(strstr(out, want_arena) != NULL, "%s: arena hash differs: %s", path, out);
            CHECKF(strstr(out, want_tok) != NULL, "%s: tokenizer hash differs: %s", path, out);
            CHECKF(strstr(out, "\"vocab_size\": 61") && strstr(out, "\"n_layer\": 3") &&
                   strstr(out, "\"tokenizer_name\": \"cl.tiktoken\""), "%s: config/name: %s", path, out);
        }
    /* The reference refuses what teelm refuses: a flipped ciphertext bit. */
    snprintf(path, sizeof path, "%s/m-0-0.sealed", tmp);
    CHECK(test_sh("printf '\\x55' | dd of=%s bs=1 seek=5000 conv=notrunc status=none", path) == 0);
    CHECK(run_ref(py, src, keyfile, path, out, sizeof out) != 0 && strstr(out, "refused: chunk"));
    tl_checkpoint got;
    CHECK(tl_seal_read(path, &key, &got, NULL, &e) != 0 && strstr(e.msg, "authentication failed"));
    tl_data_key_clear(&key);
    tl_checkpoint_free(&ck);
    test_sh("rm -rf %s", tmp);
    return test_finish();
}
