/* Checkpoint save/load: full and split layouts round-trip bit-exactly (arena, optimizer state,
 * files' tensor bytes), the config travels in metadata or is inferred from shapes, and files that
 * do not belong together or do not match the config are refused with messages naming the tensor. */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "formats/checkpoint.h"
#include "formats/safetensors.h"
#include "model/params.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((int64_t)(rng >> 11) - (1ll << 52)) / (float)(1ll << 52);
}

static size_t arena_bytes(const tl_config *c) { return tl_params_arena_floats(c) * sizeof(float); }

static void make(tl_checkpoint *ck, const tl_config *c, int opt)
{
    tl_err err = {0};
    CHECK(tl_checkpoint_alloc(ck, c, opt, &err) == 0);
    int np = tl_params_count(c);
    tl_param *p = calloc((size_t)np, sizeof *p);
    tl_params_list(c, p);
    for (int i = 0; i < np; i++)
        for (size_t j = 0; j < p[i].numel; j++) {
            ck->params[p[i].offset + j] = frand();
            if (opt) {
                ck->adam_m[p[i].offset + j] = frand();
                ck->adam_v[p[i].offset + j] = frand() * frand();
            }
        }
    free(p);
    ck->step = 1234;
    ck->rng_state = 0xfedcba9876543210ull;
}

static int same(const tl_checkpoint *a, const tl_checkpoint *b, int opt)
{
    size_t n = arena_bytes(&a->cfg);
    if (memcmp(&a->cfg, &b->cfg, sizeof a->cfg) || memcmp(a->params, b->params, n))
        return 0;
    if (opt && (!b->adam_m || !b->adam_v || memcmp(a->adam_m, b->adam_m, n) || memcmp(a->adam_v, b->adam_v, n) ||
                a->step != b->step || a->rng_state != b->rng_state))
        return 0;
    return 1;
}

/* Tensor names, dtypes, shapes and bytes of two safetensors files are identical. */
static int same_tensors(const char *pa, const char *pb)
{
    tl_st_file a, b;
    tl_err err = {0};
    if (tl_st_open(pa, &a, &err) || tl_st_open(pb, &b, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 0;
    }
    int ok = a.n == b.n;
    for (int i = 0; ok && i < a.n; i++) {
        const tl_st_tensor *x = &a.t[i], *y = tl_st_find(&b, x->name);
        ok = y && x->dtype == y->dtype && x->ndim == y->ndim && !memcmp(x->shape, y->shape, sizeof x->shape);
        if (ok) {
            size_t n = x->end - x->begin;
            char *bx = malloc(n + 1), *by = malloc(n + 1);
            ok = !tl_st_read_raw(&a, x, bx, &err) && !tl_st_read_raw(&b, y, by, &err) && !memcmp(bx, by, n);
            free(bx);
            free(by);
        }
    }
    tl_st_close(&a);
    tl_st_close(&b);
    return ok;
}

static int expect_load_error(const char *path, const char *needle)
{
    tl_checkpoint ck;
    tl_err err = {0};
    int rc = tl_checkpoint_load(path, &ck, &err);
    if (rc == 0) {
        tl_checkpoint_free(&ck);
        fprintf(stderr, "load of %s unexpectedly succeeded\n", path);
        return 0;
    }
    if (!strstr(err.msg, needle)) {
        fprintf(stderr, "error '%s' does not mention '%s'\n", err.msg, needle);
        return 0;
    }
    return 1;
}

static void roundtrip(const tl_config *c, const char *tmp)
{
    char d1[512], d2[512], d3[512], p[1024], q[1024];
    snprintf(d1, sizeof d1, "%s/a", tmp);
    snprintf(d2, sizeof d2, "%s/b", tmp);
    snprintf(d3, sizeof d3, "%s/c", tmp);
    tl_err err = {0};
    tl_checkpoint ck, l;
    make(&ck, c, 1);
    CHECKF(tl_checkpoint_save(d1, &ck, TL_LAYOUT_FULL | TL_LAYOUT_SPLIT, &err) == 0, "%s", err.msg);

    /* full (wins when both exist) */
    CHECKF(tl_checkpoint_load(d1, &l, &err) == 0, "%s", err.msg);
    CHECK(same(&ck, &l, 1));
    CHECK(l.note[0] == 0 && l.tokenizer_path[0] == 0);
    tl_checkpoint_free(&l);

    /* a single file, no optimizer */
    snprintf(p, sizeof p, "%s/model.safetensors", d1);
    CHECKF(tl_checkpoint_load(p, &l, &err) == 0, "%s", err.msg);
    CHECK(same(&ck, &l, 0) && l.adam_m == NULL);
    tl_checkpoint_free(&l);

    /* split only: full -> split (d2) -> full (d3) */
    CHECKF(tl_checkpoint_load(d1, &l, &err) == 0, "%s", err.msg);
    CHECKF(tl_checkpoint_save(d2, &l, TL_LAYOUT_SPLIT, &err) == 0, "%s", err.msg);
    tl_checkpoint_free(&l);
    snprintf(p, sizeof p, "%s/model.safetensors", d2);
    CHECK(access(p, F_OK) != 0);
    CHECK(test_sh("touch %s/tokenizer.tiktoken", d2) == 0);
    CHECKF(tl_checkpoint_load(d2, &l, &err) == 0, "%s", err.msg);
    CHECK(same(&ck, &l, 1));
    snprintf(p, sizeof p, "%s/tokenizer.tiktoken", d2);
    CHECK(strcmp(l.tokenizer_path, p) == 0);
    CHECKF(tl_checkpoint_save(d3, &l, TL_LAYOUT_FULL, &err) == 0, "%s", err.msg);
    tl_checkpoint_free(&l);
    snprintf(p, sizeof p, "%s/model.safetensors", d1);
    snprintf(q, sizeof q, "%s/model.safetensors", d3);
    CHECK(same_tensors(p, q));
    for (int i = 0; i < c->n_layer; i++) {
        snprintf(p, sizeof p, "%s/transformer_block_%d.safetensors", d1, i);
        snprintf(q, sizeof q, "%s/transformer_block_%d.safetensors", d2, i);
        CHECK(same_tensors(p, q));
    }
    snprintf(p, sizeof p, "%s/transformer_block_0.safetensors", d3);
    CHECK(access(p, F_OK) != 0);
    CHECKF(tl_checkpoint_load(d3, &l, &err) == 0, "%s", err.msg);
    CHECK(same(&ck, &l, 1));
    tl_checkpoint_free(&l);

    /* split layout from d1 alone (remove the full file) */
    snprintf(p, sizeof p, "%s/model.safetensors", d1);
    unlink(p);
    CHECKF(tl_checkpoint_load(d1, &l, &err) == 0, "%s", err.msg);
    CHECK(same(&ck, &l, 1));
    tl_checkpoint_free(&l);

    /* a block file from another save of the same model is refused */
    CHECK(test_sh("cp %s/transformer_block_1.safetensors %s/", d2, d1) == 0);
    CHECK(expect_load_error(d1, "different saves"));
    /* the optimizer of another save is refused too */
    CHECK(test_sh("cp %s/transformer_block_*.safetensors %s/*_linear.safetensors %s/token_embedding.safetensors %s/",
                  d2, d2, d2, d1) == 0);
    CHECK(expect_load_error(d1, "optimizer.safetensors belongs to a different save"));
    /* a missing block file */
    snprintf(p, sizeof p, "%s/transformer_block_%d.safetensors", d2, c->n_layer - 1);
    unlink(p);
    CHECK(expect_load_error(d2, "missing tensor transformer_blocks."));
    tl_checkpoint_free(&ck);
}

/* Writes a full-layout file by hand: the seed model's tensors without metadata, optionally with one
 * tensor's shape changed, one dropped, or one extra. */
static int write_raw(const char *path, const tl_checkpoint *ck, int with_meta, const char *bad, int mode)
{
    int np = tl_params_count(&ck->cfg);
    tl_param *p = calloc((size_t)np, sizeof *p);
    tl_st_out *o = calloc((size_t)np + 2, sizeof *o);
    tl_params_list(&ck->cfg, p);
    int n = 0;
    for (int i = 0; i < np; i++) {
        if (bad && mode == 1 && !strcmp(p[i].name, bad))
            continue;
        o[n] = (tl_st_out){p[i].name, TL_DT_F32, p[i].ndim, {p[i].shape[0], p[i].shape[1]}, ck->params + p[i].offset};
        if (bad && mode == 0 && !strcmp(p[i].name, bad)) {
            o[n].shape[0] = p[i].shape[1];
            o[n].shape[1] = p[i].shape[0];
        }
        n++;
    }
    float mask[16 * 16];
    for (int i = 0; i < 256; i++)
        mask[i] = (i % 16) <= (i / 16) ? 1.0f : 0.0f;
    o[n++] = (tl_st_out){"transformer_blocks.0.attention.attention_heads.0.mask", TL_DT_F32, 2, {16, 16}, mask};
    if (bad && mode == 2)
        o[n++] = (tl_st_out){bad, TL_DT_F32, 1, {4}, ck->params};
    char *js = tl_config_to_json(&ck->cfg);
    const char *meta[2] = {"config", js};
    tl_err err = {0};
    int rc = tl_st_write(path, o, n, meta, with_meta, 0600, &err);
    free(js);
    free(o);
    free(p);
    return rc;
}

int main(void)
{
    const char *tmp = test_tmpdir();
    char dir[512], p[1024];

    tl_config seed = tl_config_seed(97);
    snprintf(dir, sizeof dir, "%s/seed", tmp);
    roundtrip(&seed, dir);

    tl_config var = tl_config_seed(50);
    var.prenorm = 1, var.learned_pos = 1, var.tie_embeddings = 1, var.gelu = 1, var.attn_inv_sqrt = 1;
    var.n_layer = 3, var.n_head = 2, var.d_model = 32, var.d_ff = 48, var.context_length = 8;
    snprintf(dir, sizeof dir, "%s/var", tmp);
    roundtrip(&var, dir);

    /* config inference from a file without metadata (as PyTorch's safetensors writer leaves it) */
    tl_checkpoint ck, l;
    tl_err err = {0};
    make(&ck, &seed, 0);
    snprintf(p, sizeof p, "%s/plain.safetensors", tmp);
    CHECK(write_raw(p, &ck, 0, NULL, 0) == 0);
    CHECKF(tl_checkpoint_load(p, &l, &err) == 0, "%s", err.msg);
    CHECK(same(&ck, &l, 0));
    CHECKF(strstr(l.note, "inferred") && strstr(l.note, "vocab_size=97") && strstr(l.note, "context_length=16"),
           "%s", l.note);
    tl_checkpoint_free(&l);

    /* shape mismatch names the tensor and both shapes */
    const char *w = "transformer_blocks.2.feed_forward.linear1.weight";
    CHECK(write_raw(p, &ck, 1, w, 0) == 0);
    CHECK(expect_load_error(p, "plain.safetensors: tensor transformer_blocks.2.feed_forward.linear1.weight has shape "
                               "[64,256], the config needs [256,64]"));
    /* missing and extra tensors are named */
    CHECK(write_raw(p, &ck, 1, "final_linear_layer.bias", 1) == 0);
    CHECK(expect_load_error(p, "missing tensor final_linear_layer.bias"));
    CHECK(write_raw(p, &ck, 1, "transformer_blocks.0.attention.extra", 2) == 0);
    CHECK(expect_load_error(p, "unexpected tensor transformer_blocks.0.attention.extra"));
    CHECK(write_raw(p, &ck, 1, "transformer_blocks.8.layer_norm1.weight", 2) == 0);
    CHECK(expect_load_error(p, "unexpected tensor transformer_blocks.8.layer_norm1.weight"));
    tl_checkpoint_free(&ck);

    CHECK(expect_load_error(tmp, "no model.safetensors"));
    test_sh("rm -rf %s", tmp);
    return test_finish();
}
