/* Shared by the seal tests: a tiny random model, built in memory (no dependency on the engine), and
 * the check that a sealed model is refused. */
#ifndef TEELM_TEST_SEAL_FIXTURE_H
#define TEELM_TEST_SEAL_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/checkpoint.h"
#include "model/params.h"
#include "seal/seal.h"
#include "test.h"
#include "util/io.h"

static inline uint64_t fx_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A small config with several blocks so split sealing has many parts; random weights (padding
 * between tensors stays zero, like a real arena). */
static inline int fx_model(tl_checkpoint *ck, uint64_t seed, int vocab, tl_err *err)
{
    tl_config c = tl_config_seed(vocab);
    c.context_length = 8;
    c.d_model = 16;
    c.n_layer = 3;
    c.n_head = 2;
    c.d_ff = 40;
    if (tl_checkpoint_alloc(ck, &c, 0, err))
        return err->code;
    int n = tl_params_count(&c);
    tl_param list[256];
    if (n > 256)
        return 1;
    tl_params_list(&c, list);
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < list[i].numel; j++)
            ck->params[list[i].offset + j] = (float)((int64_t)(fx_rand(&seed) % 2001) - 1000) / 997.0f;
    return 0;
}

/* A small Hugging Face family model in memory, as the HF loader leaves one: params NULL, ck->w[i]
 * for each entry of tl_params_list in dtype dt, all packed into one owned buffer ck->wbuf (each
 * tensor right after the previous one, so the source layout differs from the sealed one). The
 * bytes are random (any bit pattern is a valid payload for sealing). arch: LLAMA (untied, GQA 2),
 * QWEN2 (tied, q/k/v biases, GQA 4) or GPT2 (tied, learned positions); odd vocabularies. */
static inline int fx_hf_model(tl_checkpoint *ck, tl_arch arch, tl_dtype dt, uint64_t seed, tl_err *err)
{
    memset(ck, 0, sizeof *ck);
    tl_config c = tl_config_seed(61);
    c.arch = arch;
    c.ln_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.bos_id = 1;
    c.n_eos = 2;
    c.eos_ids[0] = 2;
    c.eos_ids[1] = 5;
    if (arch == TL_ARCH_GPT2) {
        c.vocab_size = 57; c.d_model = 16; c.n_layer = 2; c.n_head = 2; c.n_kv_head = 2; c.head_dim = 8;
        c.d_ff = 64; c.max_pos = 24; c.context_length = 24; c.tie_embeddings = 1; c.bos_id = -1; c.n_eos = 1;
        c.eos_ids[1] = 0;
    } else if (arch == TL_ARCH_QWEN2) {
        c.vocab_size = 53; c.d_model = 24; c.n_layer = 2; c.n_head = 4; c.n_kv_head = 1; c.head_dim = 6;
        c.d_ff = 40; c.max_pos = 64; c.context_length = 32; c.tie_embeddings = 1; c.qkv_bias = 1;
        c.rope_theta = 1000000.0f;
    } else {
        c.vocab_size = 61; c.d_model = 32; c.n_layer = 3; c.n_head = 4; c.n_kv_head = 2; c.head_dim = 8;
        c.d_ff = 48; c.max_pos = 64; c.context_length = 64; c.tie_embeddings = 0;
    }
    if (tl_config_validate(&c, err))
        return err->code;
    ck->cfg = c;
    int n = tl_params_count(&c);
    tl_param *list = calloc((size_t)n, sizeof *list);
    ck->w = calloc((size_t)n, sizeof *ck->w);
    if (!list || !ck->w) {
        free(list);
        return tl_errf(err, TL_ENOMEM, "out of memory");
    }
    tl_params_list(&c, list);
    size_t total = 0, es = tl_dtype_size(dt);
    for (int i = 0; i < n; i++)
        total += list[i].numel * es;
    uint8_t *buf = malloc(total);
    if (!buf) {
        free(list);
        return tl_errf(err, TL_ENOMEM, "out of memory");
    }
    for (size_t j = 0; j < total; j++)
        buf[j] = (uint8_t)(fx_rand(&seed) >> 11);
    ck->wbuf = buf;
    ck->wbuf_len = total;
    ck->nw = n;
    for (size_t i = 0, at = 0; i < (size_t)n; at += list[i].numel * es, i++)
        ck->w[i] = (tl_wref){buf + at, dt};
    free(list);
    return 0;
}

static inline size_t fx_arena_bytes(const tl_checkpoint *ck)
{
    return tl_params_arena_floats(&ck->cfg) * sizeof(float);
}

/* The whole file at path; a test's own file that cannot be read ends the test. */
static inline uint8_t *fx_slurp(const char *path, size_t *len)
{
    uint8_t *d = NULL;
    tl_err e = {0};
    if (tl_read_file(path, 1u << 30, &d, len, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    return d;
}

/* Runs the independent reader (tests/reference/sealed_ref.py under python py, from source tree src)
 * on model with key file key; its output (stderr too) goes to out. Returns pclose's status. */
static inline int fx_run_ref(const char *py, const char *src, const char *key, const char *model, char *out, size_t n)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s %s/tests/reference/sealed_ref.py %s %s 2>&1", py, src, key, model);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t got = fread(out, 1, n - 1, p);
    out[got] = 0;
    return pclose(p);
}

/* Loads path with key; expects a refusal whose message contains want, and nothing of the model
 * (weights, tokenizer, carried files) left behind in the checkpoint. */
static inline void fx_expect_refused(const char *path, const tl_data_key *key, const char *want, const char *what)
{
    tl_checkpoint got;
    tl_err e = {0};
    int rc = tl_seal_read(path, key, &got, NULL, &e);
    CHECKF(rc != 0, "%s: was accepted", what);
    CHECKF(rc == 0 || strstr(e.msg, want), "%s: message '%s' does not say '%s'", what, e.msg, want);
    CHECKF(got.params == NULL && got.tokenizer_data == NULL && got.w == NULL && got.wbuf == NULL && got.files == NULL,
           "%s: partial model returned", what);
    if (!rc)
        tl_checkpoint_free(&got);
}

#endif
