/* A seed-config model built and saved by PyTorch the prototype's two ways (model.pth, and
 * token_embedding / transformer_block_{i} / final_linear .pth), imported by teelm, loaded through
 * tl_model_open, gives the logits PyTorch computes for the same tokens (tests/reference/weights_ref.py). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "formats/checkpoint.h"
#include "formats/import.h"
#include "model/model.h"
#include "app/open.h"
#include "test.h"

enum { B = 3, T = 16, V = 1000 };

static float *read_bin(const char *dir, const char *name, size_t n)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    float *buf = calloc(n, 4);
    if (!f || fread(buf, 4, n, f) != n) {
        fprintf(stderr, "cannot read %s\n", p);
        free(buf);
        buf = NULL;
    }
    if (f)
        fclose(f);
    return buf;
}

static void check_logits(const char *model_dir, const uint32_t *tokens, const float *want)
{
    tl_checkpoint ck;
    tl_err err = {0};
    tl_open_opts o = {0};
    CHECKF(tl_model_open(model_dir, &o, &ck, &err) == 0, "%s", err.msg);
    if (err.code)
        return;
    CHECK(ck.cfg.vocab_size == V && ck.cfg.n_layer == 8 && ck.cfg.context_length == T && !o.sealed);
    float *got = calloc((size_t)B * T * V, sizeof *got);
    CHECKF(tl_model_logits(&ck.cfg, ck.params, tokens, B, T, got, &err) == 0, "%s", err.msg);
    double max_diff = 0, max_abs = 0;
    for (size_t i = 0; i < (size_t)B * T * V; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= max_diff))
            max_diff = d;
        if (fabs(want[i]) > max_abs)
            max_abs = fabs(want[i]);
    }
    printf("%s: max |logit diff| %.3g (max |logit| %.3g)\n", model_dir, max_diff, max_abs);
    CHECKF(max_diff < 1e-4 * (1 + max_abs), "%s: logits differ from PyTorch by %g", model_dir, max_diff);
    free(got);
    tl_checkpoint_free(&ck);
}

int main(void)
{
    const char *py = test_python("torch"), *src = getenv("TEELM_SRC");
    const char *tmp = test_tmpdir();
    CHECK(test_sh("%s %s/tests/reference/weights_ref.py make-model %s --vocab %d", py, src, tmp, V) == 0);
    float *want = read_bin(tmp, "logits.bin", (size_t)B * T * V), *tok = read_bin(tmp, "tokens.bin", (size_t)B * T);
    if (!want || !tok) {
        free(want);
        free(tok);
        test_failures++;
        return test_finish();
    }
    uint32_t tokens[B * T];
    memcpy(tokens, tok, sizeof tokens);

    char in[2][512], out[3][512];
    snprintf(in[0], sizeof in[0], "%s/full/model.pth", tmp);
    snprintf(in[1], sizeof in[1], "%s/split", tmp);
    snprintf(out[0], sizeof out[0], "%s/from_full", tmp);
    snprintf(out[1], sizeof out[1], "%s/from_split", tmp);
    snprintf(out[2], sizeof out[2], "%s/from_split_files", tmp);
    tl_import_report rep;
    tl_err err = {0};
    const char *s0[1] = {in[0]}, *s1[1] = {in[1]};
    CHECKF(tl_import_pth(s0, 1, out[0], TL_LAYOUT_FULL, &rep, &err) == 0, "%s", err.msg);
    CHECK(rep.complete && strstr(rep.note, "inferred"));
    CHECKF(tl_import_pth(s1, 1, out[1], TL_LAYOUT_SPLIT, &rep, &err) == 0, "%s", err.msg);
    CHECK(rep.complete && rep.nfiles == 10);
    /* the split .pth files named one by one, in a scrambled order */
    char files[10][600];
    const char *s2[10];
    for (int i = 0; i < 10; i++) {
        int k = (i * 7) % 10;
        if (k < 8)
            snprintf(files[i], sizeof files[i], "%s/transformer_block_%d.pth", in[1], k);
        else
            snprintf(files[i], sizeof files[i], "%s/%s.pth", in[1], k == 8 ? "token_embedding" : "final_linear");
        s2[i] = files[i];
    }
    CHECKF(tl_import_pth(s2, 10, out[2], TL_LAYOUT_FULL | TL_LAYOUT_SPLIT, &rep, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 3; i++)
        check_logits(out[i], tokens, want);
    free(want);
    free(tok);
    test_sh("rm -rf %s", tmp);
    return test_finish();
}
