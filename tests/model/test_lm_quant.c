/* tl_lm over block-quantized weights: random Llama models whose matrices (embedding, q/k/v/o,
 * gate/up/down, head) are Q8_0, Q4_0, Q4_K or Q6_K, against tests/reference/quant_ref.py's numpy
 * forward that uses ggml's quantized arithmetic for every product (activations quantized per
 * block, integer block dots, scales in ggml's float order) and float32 elsewhere. Greedy tokens
 * must be identical (a step whose reference top-2 margin is within the float tolerance may
 * diverge: reported, and the comparison stops there); most steps' logits agree to 1e-5 (most to
 * the bit), the others within one activation quantum's effect; a sequence's logits
 * are the same bits alone and in a batch, and one token at a time too except for Q4_K (llama.cpp's
 * gemm rows round otherwise than its gemv rows, tensor/qdot8.h). Also the refusals: a quantized
 * norm, a row that is not whole blocks. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/lm.h"
#include "model/params.h"
#include "tensor/dtype.h"
#include "test.h"
#include "util/pool.h"

static const char *py, *src;

typedef struct {
    tl_config cfg;
    tl_wref *w;
    unsigned char *blob;
    int n;
} qmodel;

static tl_config make_cfg(int d, int L, int H, int KV, int ff, int V)
{
    tl_config c = tl_config_seed(0);
    c.arch = TL_ARCH_LLAMA;
    c.d_model = d;
    c.n_layer = L;
    c.n_head = H;
    c.n_kv_head = KV;
    c.head_dim = d / H;
    c.d_ff = ff;
    c.vocab_size = V;
    c.max_pos = c.context_length = 64;
    c.ln_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.tie_embeddings = 0;
    c.qkv_bias = c.o_bias = 0;
    c.bos_id = -1;
    c.n_eos = 0;
    return c;
}

/* OUT.w: u64 header length, a JSON list of {name, dtype, shape, bytes}, the tensors' bytes */
static int load(const char *path, qmodel *q)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    const long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    q->blob = malloc((size_t)len);
    if (!q->blob || fread(q->blob, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        return -1;
    }
    fclose(f);
    uint64_t hl;
    memcpy(&hl, q->blob, 8);
    json_error_t je;
    json_t *h = json_loadb((const char *)q->blob + 8, hl, 0, &je);
    if (!h)
        return -1;
    q->n = tl_params_count(&q->cfg);
    tl_param *p = calloc((size_t)q->n, sizeof *p);
    tl_params_list(&q->cfg, p);
    q->w = calloc((size_t)q->n, sizeof *q->w);
    size_t off = 8 + hl;
    int found = 0;
    for (size_t i = 0; i < json_array_size(h); i++) {
        json_t *t = json_array_get(h, i);
        const char *name = json_string_value(json_object_get(t, "name"));
        const char *dt = json_string_value(json_object_get(t, "dtype"));
        const size_t bytes = (size_t)json_integer_value(json_object_get(t, "bytes"));
        for (int k = 0; k < q->n; k++)
            if (!strcmp(p[k].name, name)) {
                q->w[k].data = q->blob + off;
                q->w[k].dtype = (tl_dtype)tl_dtype_from_name_any(dt);
                CHECKF(tl_dtype_bytes(q->w[k].dtype, (size_t)p[k].numel) == bytes, "%s: %zu bytes", name, bytes);
                found++;
            }
        off += bytes;
    }
    CHECK(found == q->n && off == (size_t)len);
    json_decref(h);
    free(p);
    return found == q->n ? 0 : -1;
}

static float *read_floats(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f) / 4;
    fseek(f, 0, SEEK_SET);
    float *v = malloc(*n * 4 + 4);
    if (fread(v, 4, *n, f) != *n) {
        free(v);
        v = NULL;
    }
    fclose(f);
    return v;
}

static void one_type(const char *type, int seed)
{
    const int d = 256, L = 2, H = 4, KV = 2, ff = 512, V = 320, NEW = 16;
    const uint32_t prompt[4] = {1, 5, 9, 200};
    char out[4096], path[4200];
    snprintf(out, sizeof out, "%s/q_%s", test_tmpdir(), type);
    if (test_sh("'%s' '%s/tests/reference/quant_ref.py' model '%s' --type %s --seed %d --d %d --layers %d --heads %d "
                "--kv-heads %d --ff %d --vocab %d --ids 1,5,9,200 --new %d",
                py, src, out, type, seed, d, L, H, KV, ff, V, NEW) != 0) {
        CHECKF(0, "%s: quant_ref.py model failed", type);
        return;
    }
    qmodel q = {make_cfg(d, L, H, KV, ff, V), NULL, NULL, 0};
    snprintf(path, sizeof path, "%s.w", out);
    if (load(path, &q)) {
        CHECKF(0, "%s: cannot read %s", type, path);
        goto done;
    }
    snprintf(path, sizeof path, "%s.ref", out);
    json_error_t je;
    json_t *ref = json_load_file(path, 0, &je);
    snprintf(path, sizeof path, "%s.logits", out);
    size_t nl = 0;
    float *rl = read_floats(path, &nl);
    CHECK(ref && rl && nl == (size_t)NEW * V);
    if (!ref || !rl)
        goto done;
    tl_err err = {0};
    tl_lm *m = tl_lm_new(&q.cfg, q.w, 2, &err);
    CHECKF(m != NULL, "%s: %s", type, err.msg);
    if (!m) {
        json_decref(ref);
        free(rl);
        goto done;
    }
    uint32_t seq[64];
    memcpy(seq, prompt, sizeof prompt);
    int len = 4, same = 0, slot = 0, close = 0;
    float lg[320], worst = 0;
    json_t *toks = json_object_get(ref, "tokens"), *marg = json_object_get(ref, "margins");
    for (int s = 0; s < NEW; s++) {
        const uint32_t *sp = seq;
        CHECK(tl_lm_step(m, &sp, &len, &slot, 1, lg, NULL, &err) == 0);
        float mx = 0, e = 0;
        for (int v = 0; v < V; v++) {
            mx = fmaxf(mx, fabsf(rl[s * V + v]));
            e = fmaxf(e, fabsf(lg[v] - rl[s * V + v]));
        }
        int best = 0;
        for (int v = 1; v < V; v++)
            best = lg[v] > lg[best] ? v : best;
        const int want = (int)json_integer_value(json_array_get(toks, (size_t)s));
        const double margin = json_number_value(json_array_get(marg, (size_t)s));
        worst = fmaxf(worst, e / mx);
        if (getenv("QDEBUG"))
            printf("%s step %d: %.3e\n", type, s, e / mx);
        /* the other operations (norms, RoPE, softmax, SiLU) round differently in numpy by an ulp now
           and then; quantizing the activations absorbs that almost always (identical products), and
           otherwise moves one element by one quantum, which shows as ~1e-2 of a logit */
        close += e <= 1e-5f * mx;
        CHECKF(e <= 5e-2f * mx, "%s step %d: logits differ by %g (max |logit| %g)", type, s, e, mx);
        if (best != want) {
            CHECKF(margin < 4e-3 * mx, "%s step %d: token %d, reference %d (margin %g)", type, s, best, want, margin);
            printf("%s: step %d is a near tie (margin %g): tokens diverge there\n", type, s, margin);
            break;
        }
        same++;
        seq[len++] = (uint32_t)best;
    }
    printf("%-5s %d/%d greedy tokens identical to the reference; %d steps' logits within 1e-5, max error %.2e of "
           "max |logit|\n", type, same, NEW, close, worst);
    CHECK(same >= 4);
    CHECKF(close >= same / 2, "%s: only %d of %d steps' logits agree to 1e-5", type, close, same);
    /* the same sequence: whole (no cache), beside another sequence in a batch, then step by step */
    {
        float a[320], b[2][320];
        const uint32_t *sp = seq;
        int l = len, s1 = 1;
        tl_lm_forget(m, 0);
        tl_lm_forget(m, 1);
        CHECK(tl_lm_step(m, &sp, &l, &slot, 1, a, NULL, &err) == 0);
        uint32_t other[3] = {7, 8, 9};
        const uint32_t *two[2] = {other, seq};
        int lens[2] = {3, len}, slots[2] = {0, 1};
        tl_lm_forget(m, 0);
        CHECK(tl_lm_step(m, two, lens, slots, 2, b[0], NULL, &err) == 0);
        CHECK(memcmp(a, b[1], sizeof a) == 0);
        tl_lm_forget(m, 1);
        for (int k = 1; k <= len; k++)
            CHECK(tl_lm_step(m, &sp, &k, &s1, 1, b[1], NULL, &err) == 0);
        if (strcmp(type, "Q4_K")) {
            CHECKF(memcmp(a, b[1], sizeof a) == 0, "%s: logits differ between one call and step by step", type);
        } else { /* llama.cpp's gemm rows (one call: groups of four) round otherwise than its gemv rows
                    (one at a time), tensor/qdot8.h: close, not the same bits */
            float mx = 0, e = 0;
            for (int v = 0; v < V; v++) {
                mx = fmaxf(mx, fabsf(a[v]));
                e = fmaxf(e, fabsf(a[v] - b[1][v]));
            }
            CHECKF(e <= 1e-4f * mx, "%s: one call and step by step differ by %g (max |logit| %g)", type, e, mx);
        }
    }
    tl_lm_free(m);
    /* refusals: a norm in a block type; a matrix whose rows are not whole blocks */
    {
        tl_wref keep = q.w[1];
        q.w[1].dtype = TL_DT_Q8_0;
        CHECK(tl_lm_new(&q.cfg, q.w, 1, &err) == NULL && strstr(err.msg, "input_layernorm"));
        q.w[1] = keep;
        tl_config c2 = make_cfg(d, L, H, KV, 200, V); /* down_proj rows of 200: not whole blocks of 256 or 32 */
        tl_wref *w2 = calloc((size_t)q.n, sizeof *w2);
        memcpy(w2, q.w, (size_t)q.n * sizeof *w2);
        CHECKF(tl_lm_new(&c2, w2, 1, &err) == NULL && strstr(err.msg, "down_proj") && strstr(err.msg, "blocks"), "%s",
               err.msg);
        free(w2);
    }
    json_decref(ref);
    free(rl);
done:
    free(q.w);
    free(q.blob);
}

int main(void)
{
    py = test_python("numpy");
    src = getenv("TEELM_SRC");
    tl_set_threads(2);
    const char *types[] = {"Q8_0", "Q4_0", "Q4_K", "Q6_K"};
    for (int i = 0; i < 4; i++)
        one_type(types[i], 11 + i);
    return test_finish();
}
