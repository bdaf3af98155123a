/* teelm's llama.cpp-exact kernels (the "numerics": "ggml" of GGUF models: tl_rmsnorm_rows_ggml,
 * tl_layernorm_rows_ggml, tl_rope_table_ggml + tl_rope_apply_ggml, tl_silu_ggml, the attention,
 * and tl_wlin_nt's products of every weight type, repacked Q4_0/Q4_K matrices as ggml's CPU_REPACK
 * buffer computes them) against ggml itself, bit for bit: the
 * ggml of npm node-llama-cpp 3.21.1 (llama.cpp's prebuilt CPU libraries), loaded with dlopen, the
 * CPU variant picked as ggml picks it (the highest ggml_backend_score), each op computed by a
 * one-op graph (TEELM_GGML_CPU=haswell.so picks that variant instead: a build of this test for
 * AVX2 checks that form against it). A kernel one rounding away from ggml's fails here; so would
 * PyTorch's forms, which the test also runs to show it can tell them apart. */
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/dtype.h"
#include "tensor/expf_ggml.h"
#include "tensor/kvattn.h"
#include "tensor/layernorm.h"
#include "tensor/qdot8.h"
#include "tensor/quant.h"
#include "tensor/rmsnorm.h"
#include "tensor/rope.h"
#include "tensor/wlinear.h"
#include "test.h"

/* The few declarations of ggml.h this needs (ggml's C ABI; the tensors stay opaque) */
struct ggml_init_params {
    size_t mem_size;
    void *mem_buffer;
    bool no_alloc;
};
enum { GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q8_0 = 8, GGML_Q4_K = 12, GGML_Q6_K = 14, GGML_I32 = 26,
       GGML_ROPE_NEOX = 2 };
typedef struct ggml_context ctx_t;
typedef struct ggml_tensor tensor_t;

static struct {
    ctx_t *(*init)(struct ggml_init_params);
    void (*free)(ctx_t *);
    tensor_t *(*new2d)(ctx_t *, int, int64_t, int64_t);
    tensor_t *(*new3d)(ctx_t *, int, int64_t, int64_t, int64_t);
    void *(*data)(const tensor_t *);
    tensor_t *(*rms_norm)(ctx_t *, tensor_t *, float);
    tensor_t *(*mul)(ctx_t *, tensor_t *, tensor_t *);
    tensor_t *(*rope_ext)(ctx_t *, tensor_t *, tensor_t *, tensor_t *, int, int, int, float, float, float, float,
                          float, float);
    tensor_t *(*swiglu_split)(ctx_t *, tensor_t *, tensor_t *);
    tensor_t *(*permute)(ctx_t *, tensor_t *, int, int, int, int);
    tensor_t *(*mul_mat)(ctx_t *, tensor_t *, tensor_t *);
    tensor_t *(*soft_max_ext)(ctx_t *, tensor_t *, tensor_t *, float, float);
    void *(*new_graph)(ctx_t *);
    void (*expand)(void *, tensor_t *);
    int (*compute)(ctx_t *, void *, int);
    void (*cpu_init)(void);
    tensor_t *(*norm)(ctx_t *, tensor_t *, float);
    tensor_t *(*add)(ctx_t *, tensor_t *, tensor_t *);
    size_t (*quantize)(int, const float *, void *, int64_t, int64_t, int64_t, const float *);
    void *(*repack_buft)(void);
    void *(*alloc_buft)(ctx_t *, void *);
    void (*tensor_set)(tensor_t *, const void *, size_t, size_t);
    void (*buffer_free)(void *);
} g;

static void *sym(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "ggml: no symbol %s\n", name);
        exit(1);
    }
    return p;
}

/* node-llama-cpp's CPU libraries: base, and the variant with the highest score on this CPU */
static void load_ggml(void)
{
    const char *src = getenv("TEELM_SRC");
    if (!src)
        test_skip("TEELM_SRC is unset (the checkout whose node_modules holds node-llama-cpp)");
    char dir[4096], path[4400];
    snprintf(dir, sizeof dir, "%s/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64", src);
    snprintf(path, sizeof path, "%s/libggml-base.so", dir);
    void *base = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!base)
        test_skip("npm node-llama-cpp is not installed (scripts/install-deps.sh): no libggml-base.so");
    const char *want = getenv("TEELM_GGML_CPU");
    DIR *d = opendir(dir);
    void *best = NULL;
    int best_score = 0;
    char best_name[256] = "";
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strncmp(e->d_name, "libggml-cpu-", 12) || !strstr(e->d_name, ".so"))
            continue;
        if (want && strcmp(e->d_name + 12, want)) /* TEELM_GGML_CPU=haswell.so: that variant only */
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        int (*score)(void) = lib ? (int (*)(void))dlsym(lib, "ggml_backend_score") : NULL;
        int s = score ? score() : 0;
        if (s > best_score) {
            if (best)
                dlclose(best);
            best = lib, best_score = s;
            snprintf(best_name, sizeof best_name, "%s", e->d_name);
        } else if (lib) {
            dlclose(lib);
        }
    }
    if (d)
        closedir(d);
    CHECKF(best != NULL, "no CPU variant of ggml runs on this machine");
    if (!best)
        exit(test_finish());
    printf("ggml CPU variant: %s (score %d)\n", best_name, best_score);
    *(void **)&g.init = sym(base, "ggml_init");
    *(void **)&g.free = sym(base, "ggml_free");
    *(void **)&g.new2d = sym(base, "ggml_new_tensor_2d");
    *(void **)&g.new3d = sym(base, "ggml_new_tensor_3d");
    *(void **)&g.data = sym(base, "ggml_get_data");
    *(void **)&g.rms_norm = sym(base, "ggml_rms_norm");
    *(void **)&g.mul = sym(base, "ggml_mul");
    *(void **)&g.rope_ext = sym(base, "ggml_rope_ext");
    *(void **)&g.swiglu_split = sym(base, "ggml_swiglu_split");
    *(void **)&g.permute = sym(base, "ggml_permute");
    *(void **)&g.mul_mat = sym(base, "ggml_mul_mat");
    *(void **)&g.soft_max_ext = sym(base, "ggml_soft_max_ext");
    *(void **)&g.new_graph = sym(base, "ggml_new_graph");
    *(void **)&g.expand = sym(base, "ggml_build_forward_expand");
    *(void **)&g.compute = sym(best, "ggml_graph_compute_with_ctx");
    *(void **)&g.cpu_init = sym(best, "ggml_cpu_init");
    *(void **)&g.norm = sym(base, "ggml_norm");
    *(void **)&g.add = sym(base, "ggml_add");
    *(void **)&g.quantize = sym(base, "ggml_quantize_chunk");
    *(void **)&g.repack_buft = sym(best, "_Z35ggml_backend_cpu_repack_buffer_typev"); /* C++: not extern "C" */
    *(void **)&g.alloc_buft = sym(base, "ggml_backend_alloc_ctx_tensors_from_buft");
    *(void **)&g.tensor_set = sym(base, "ggml_backend_tensor_set");
    *(void **)&g.buffer_free = sym(base, "ggml_backend_buffer_free");
    g.cpu_init();
}

static ctx_t *ctx_new(void) { return g.init((struct ggml_init_params){64u << 20, NULL, false}); }

static void run(ctx_t *c, tensor_t *t)
{
    void *gr = g.new_graph(c);
    g.expand(gr, t);
    CHECK(g.compute(c, gr, 1) == 0);
}

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (float)((double)(rs >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
}

/* number of elements whose bits differ */
static size_t ndiff(const float *a, const float *b, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += memcmp(&a[i], &b[i], 4) != 0;
    return k;
}

static void check_rmsnorm(void)
{
    const int C = 576, N = 9;
    ctx_t *c = ctx_new();
    tensor_t *x = g.new2d(c, GGML_F32, C, N), *w = g.new2d(c, GGML_F32, C, 1);
    float *xd = g.data(x), *wd = g.data(w), *t = malloc(sizeof(float) * C * N);
    for (int i = 0; i < C * N; i++)
        xd[i] = frand() * (i < C ? 1e-3f : 4.0f); /* one row of tiny values */
    for (int i = 0; i < C; i++)
        wd[i] = frand() * 2;
    tensor_t *y = g.mul(c, g.rms_norm(c, x, 1e-5f), w);
    run(c, y);
    tl_rmsnorm_rows_ggml(t, xd, wd, N, C, 1e-5f);
    size_t k = ndiff(g.data(y), t, (size_t)C * N);
    CHECKF(k == 0, "tl_rmsnorm_rows_ggml: %zu of %d values differ from ggml's", k, C * N);
    tl_rmsnorm_rows(t, xd, wd, N, C, 1e-5f);
    printf("rms_norm: ggml form 0, PyTorch form %zu of %d values differ\n", ndiff(g.data(y), t, (size_t)C * N), C * N);
    free(t);
    g.free(c);
}

/* GPT-2's LayerNorm: ggml_norm, then ggml_mul by the weight and ggml_add of the bias */
static void check_layernorm(void)
{
    const int C = 768, N = 6;
    ctx_t *c = ctx_new();
    tensor_t *x = g.new2d(c, GGML_F32, C, N), *w = g.new2d(c, GGML_F32, C, 1), *b = g.new2d(c, GGML_F32, C, 1);
    float *xd = g.data(x), *wd = g.data(w), *bd = g.data(b), *t = malloc(sizeof(float) * C * N);
    for (int i = 0; i < C * N; i++)
        xd[i] = frand() * (i < C ? 1e-3f : 4.0f) + (i >= 2 * C && i < 3 * C ? 50.0f : 0.0f); /* one row far from 0 */
    for (int i = 0; i < C; i++) {
        wd[i] = frand() * 2;
        bd[i] = frand();
    }
    tensor_t *y = g.add(c, g.mul(c, g.norm(c, x, 1e-5f), w), b);
    run(c, y);
    tl_layernorm_rows_ggml(t, xd, wd, bd, N, C, 1e-5f);
    size_t k = ndiff(g.data(y), t, (size_t)C * N);
    CHECKF(k == 0, "tl_layernorm_rows_ggml: %zu of %d values differ from ggml's", k, C * N);
    tl_layernorm_rows(t, xd, wd, bd, N, C, 1e-5f);
    printf("layer_norm: ggml form 0, teelm's own %zu of %d values differ\n", ndiff(g.data(y), t, (size_t)C * N), C * N);
    free(t);
    g.free(c);
}

/* mul_mat(W [M][n] of type gt, x [R][n]) in ggml (W in the CPU_REPACK buffer where llama.cpp puts
 * it: Q4_0/Q4_K of 8k rows) against tl_wlin_nt with the row bits llama.cpp's batch of R rows
 * implies (TL_ROW_GEMM for the first R - R % 4, TL_ROW_ALONE for a batch of one). The weights are
 * ggml's own quantization of random rows; tie: two elements of every activation row are -1.5 and
 * +1.5 (the largest magnitude, negative first), where ggml's four-row Q8_K quantizer (gemm rows)
 * and its reference quantizer (teelm's, every row) choose opposite signs. */
static void check_matmul(int gt, tl_dtype dt, int M, int n, int R, int tie)
{
    const size_t wr = tl_dtype_bytes(dt, (size_t)n);
    float *wf = malloc(sizeof(float) * (size_t)M * n), *t = malloc(sizeof(float) * (size_t)M * R);
    unsigned char *w = malloc(wr * (size_t)M), gm[64];
    for (int i = 0; i < M * n; i++)
        wf[i] = frand() * 0.5f;
    if (gt == GGML_F32)
        memcpy(w, wf, wr * (size_t)M);
    else if (gt == GGML_F16)
        for (int i = 0; i < M * n; i++) {
            const uint16_t h = tl_q_f32_to_f16(wf[i]);
            memcpy(w + 2 * (size_t)i, &h, 2);
        }
    else
        CHECK(g.quantize(gt, wf, w, 0, M, n, NULL) == wr * (size_t)M);
    const int repack = tl_q_repacked(dt, M);
    ctx_t *c = ctx_new(), *wc = NULL;
    void *buf = NULL;
    tensor_t *W;
    if (repack) {
        wc = g.init((struct ggml_init_params){1u << 20, NULL, true});
        W = g.new2d(wc, gt, n, M);
        buf = g.alloc_buft(wc, g.repack_buft());
        CHECK(buf != NULL);
        g.tensor_set(W, w, 0, wr * (size_t)M);
    } else {
        W = g.new2d(c, gt, n, M);
        memcpy(g.data(W), w, wr * (size_t)M);
    }
    tensor_t *x = g.new2d(c, GGML_F32, n, R);
    float *xd = g.data(x);
    for (int i = 0; i < n * R; i++)
        xd[i] = frand();
    for (int r = 0; tie && r < R; r++) {
        xd[(size_t)r * n + 3] = -1.5f;
        xd[(size_t)r * n + 7] = 1.5f;
    }
    tensor_t *y = g.mul_mat(c, W, x);
    run(c, y);
    for (int r = 0; r < R; r++)
        gm[r] = (unsigned char)((r < R - R % 4 ? TL_ROW_GEMM : 0) | (R == 1 ? TL_ROW_ALONE : 0));
    const tl_wlin op = {w, dt, NULL, t, M, 0, NULL, gt == GGML_F16, .gemm = gm};
    tl_wlin_nt(&op, 1, xd, R, n);
    const size_t k = ndiff(g.data(y), t, (size_t)M * R);
    CHECKF(k == 0, "mul_mat %s%s (%d x %d, %d rows%s): %zu of %d values differ from ggml's", tl_dtype_name(dt),
           repack ? " repacked" : "", M, n, R, tie ? ", ties" : "", k, M * R);
    /* without the row bits: gemv / tinyBLAS order everywhere, which ggml's batch of R does not use */
    const tl_wlin plain = {w, dt, NULL, t, M, 0, NULL, gt == GGML_F16};
    tl_wlin_nt(&plain, 1, xd, R, n);
    printf("mul_mat %-4s%s %d x %d, %d rows%s: with llama.cpp's row kinds 0, without %zu of %d values differ\n",
           tl_dtype_name(dt), repack ? " repacked" : "", M, n, R, tie ? " (ties)" : "", ndiff(g.data(y), t, (size_t)M * R),
           M * R);
    if (buf)
        g.buffer_free(buf);
    if (wc)
        g.free(wc);
    g.free(c);
    free(wf);
    free(w);
    free(t);
}

static void check_rope(float freq_scale, float theta)
{
    const int hd = 64, H = 5, N = 12;
    ctx_t *c = ctx_new();
    tensor_t *x = g.new3d(c, GGML_F32, hd, H, N), *pos = g.new2d(c, GGML_I32, N, 1);
    float *xd = g.data(x), *t = malloc(sizeof(float) * hd * H * N), cs[128];
    int32_t *pd = g.data(pos);
    for (int i = 0; i < hd * H * N; i++)
        xd[i] = frand();
    for (int r = 0; r < N; r++)
        pd[r] = r * r * 37 + r; /* 0 .. 4000 */
    /* NEOX: pairs (i, i + hd/2), the layout teelm rotates in (docs/gguf.md: q/k read from GGUF are
     * permuted back, then put in llama.cpp's pair order after the rotation); llama.cpp's NORM pairs
     * run the same arithmetic */
    tensor_t *y = g.rope_ext(c, x, pos, NULL, hd, GGML_ROPE_NEOX, 4096, theta, freq_scale, 0.0f, 1.0f, 32.0f, 1.0f);
    run(c, y);
    memcpy(t, xd, sizeof(float) * hd * H * N);
    for (int r = 0; r < N; r++) {
        tl_rope_table_ggml(cs, hd, pd[r], theta, freq_scale);
        tl_rope_apply_ggml(t + (size_t)r * hd * H, H, hd, cs);
    }
    size_t k = ndiff(g.data(y), t, (size_t)hd * H * N);
    CHECKF(k == 0, "rope (theta %g, freq_scale %g): %zu of %d values differ from ggml's", theta, freq_scale, k,
           hd * H * N);
    float inv[32];
    memcpy(t, xd, sizeof(float) * hd * H * N);
    tl_rope_inv_freq(inv, hd, theta, freq_scale == 1.0f ? 0 : 1, 1.0f / freq_scale, 1.0f, 4.0f, 8192);
    for (int r = 0; r < N; r++) {
        tl_rope_table(cs, inv, hd, pd[r]);
        tl_rope_apply(t + (size_t)r * hd * H, H, hd, cs);
    }
    printf("rope (theta %g, freq_scale %g): ggml form 0, PyTorch form %zu of %d values differ\n", theta, freq_scale,
           ndiff(g.data(y), t, (size_t)hd * H * N), hd * H * N);
    free(t);
    g.free(c);
}

static void check_swiglu(void)
{
    const int F = 1541, N = 4; /* not a whole number of vectors: ggml's scalar tail too */
    ctx_t *c = ctx_new();
    tensor_t *a = g.new2d(c, GGML_F32, F, N), *b = g.new2d(c, GGML_F32, F, N);
    float *ad = g.data(a), *bd = g.data(b), *t = malloc(sizeof(float) * F * N);
    for (int i = 0; i < F * N; i++) {
        ad[i] = frand() * (i < F ? 12.0f : 3.0f);
        bd[i] = frand();
    }
    /* the ends: e^x's overflow and underflow paths (|x / ln 2| > 126 and > 192), signed zeros */
    const float ends[] = {-200.0f, -150.0f, -120.0f, -88.0f, -87.5f, 0.0f, -0.0f, 1e-30f, 88.0f, 100.0f, 200.0f};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        ad[F + (int)i] = ends[i];
    tensor_t *y = g.swiglu_split(c, a, b);
    run(c, y);
    for (int i = 0; i < F * N; i++)
        t[i] = tl_silu_ggml_at(ad[i], i % F, F) * bd[i];
    size_t k = ndiff(g.data(y), t, (size_t)F * N);
    CHECKF(k == 0, "tl_silu_ggml: %zu of %d values differ from ggml's swiglu", k, F * N);
    /* the vector form, over pieces of 7, 16 and 9 columns (as the matrix kernels hand them over) */
    for (int r = 0; r < N; r++)
        for (int i0 = 0, w = 7; i0 < F; i0 += w, w = w == 7 ? 16 : w == 16 ? 9 : 7) {
            const int n = F - i0 < w ? F - i0 : w;
            float piece[16];
            memcpy(piece, ad + (size_t)r * F + i0, sizeof(float) * (size_t)n);
            tl_silu_ggml_cols(piece, n, i0, F);
            for (int i = 0; i < n; i++)
                t[(size_t)r * F + i0 + i] = piece[i] * bd[(size_t)r * F + i0 + i];
        }
    k = ndiff(g.data(y), t, (size_t)F * N);
    CHECKF(k == 0, "tl_silu_ggml_cols: %zu of %d values differ from ggml's swiglu", k, F * N);
    for (int i = 0; i < F * N; i++)
        t[i] = ad[i] / (1.0f + expf(-ad[i])) * bd[i];
    printf("swiglu: ggml form 0, libm expf form %zu of %d values differ\n", ndiff(g.data(y), t, (size_t)F * N), F * N);
    free(t);
    g.free(c);
}

/* llama.cpp's attention without flash attention (llm_graph_context::build_attn_mha): T query rows
 * at positions p0 .. p0+T-1 against a cache of nkv positions (F32, V stored transposed), H heads
 * over KV heads: kq = mul_mat(k, q) with q permuted, soft_max_ext with the causal mask and
 * scale, kqv = mul_mat(vᵀ, kq); against tl_kvattn_row_ggml on teelm's cache layout. */
static void check_attention(int hd, int H, int KV, int nkv, int p0, int T)
{
    ctx_t *c = ctx_new();
    tensor_t *q = g.new3d(c, GGML_F32, hd, H, T), *k = g.new3d(c, GGML_F32, hd, KV, nkv);
    tensor_t *vt = g.new3d(c, GGML_F32, nkv, hd, KV), *mask = g.new2d(c, GGML_F32, nkv, T);
    float *qd = g.data(q), *kd = g.data(k), *vd = g.data(vt), *md = g.data(mask);
    const int used = p0 + T;
    for (int i = 0; i < hd * H * T; i++)
        qd[i] = frand() * 3;
    for (int u = 0; u < nkv; u++)
        for (int i = 0; i < hd * KV; i++)
            kd[(size_t)u * hd * KV + i] = u < used ? frand() * 3 : 0.0f; /* llama.cpp clears its cache */
    for (int kv = 0; kv < KV; kv++)
        for (int i = 0; i < hd; i++)
            for (int u = 0; u < nkv; u++)
                vd[((size_t)kv * hd + i) * nkv + u] = u < used ? frand() : 0.0f;
    for (int t = 0; t < T; t++)
        for (int u = 0; u < nkv; u++)
            md[(size_t)t * nkv + u] = u <= p0 + t ? 0.0f : -INFINITY;
    const float scale = 1.0f / sqrtf((float)hd);
    tensor_t *qp = g.permute(c, q, 0, 2, 1, 3), *kp = g.permute(c, k, 0, 2, 1, 3);
    tensor_t *kq = g.soft_max_ext(c, g.mul_mat(c, kp, qp), mask, scale, 0.0f);
    tensor_t *kqv = g.mul_mat(c, vt, kq); /* [hd, T, H] */
    run(c, kqv);
    const float *ref = g.data(kqv);
    float *K = malloc(sizeof(float) * (size_t)KV * used * hd), *V = malloc(sizeof(float) * (size_t)KV * used * hd);
    float *sc = malloc(sizeof(float) * ((size_t)used + 16 + 64 * (size_t)hd)), out[256];
    for (int kv = 0; kv < KV; kv++)
        for (int u = 0; u < used; u++)
            for (int i = 0; i < hd; i++) {
                K[((size_t)kv * used + u) * hd + i] = kd[(size_t)u * hd * KV + (size_t)kv * hd + i];
                V[((size_t)kv * used + u) * hd + i] = vd[((size_t)kv * hd + i) * nkv + u];
            }
    size_t bad = 0, own = 0;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++) {
            const int kv = h / (H / KV);
            const float *qr = qd + ((size_t)t * H + h) * hd, *Kh = K + (size_t)kv * used * hd;
            const float *Vh = V + (size_t)kv * used * hd;
            tl_kvattn_row_ggml(out, qr, Kh, Vh, p0 + t + 1, hd, scale, T > 1, sc);
            bad += ndiff(ref + ((size_t)h * T + t) * hd, out, (size_t)hd);
            tl_kvattn_row(out, qr, Kh, Vh, p0 + t + 1, hd, scale, sc);
            own += ndiff(ref + ((size_t)h * T + t) * hd, out, (size_t)hd);
        }
    CHECKF(bad == 0, "attention (hd %d, %d heads / %d, n_kv %d, rows %d at %d): %zu of %d values differ from ggml's",
           hd, H, KV, nkv, T, p0, bad, hd * H * T);
    printf("attention hd %d, %d/%d heads, n_kv %d, %d rows from position %d: ggml form %zu, teelm's own %zu of %d "
           "values differ\n", hd, H, KV, nkv, T, p0, bad, own, hd * H * T);
    free(K);
    free(V);
    free(sc);
    g.free(c);
}

int main(void)
{
    load_ggml();
    check_rmsnorm();
    check_rope(1.0f, 10000.0f);
    check_rope(1.0f, 1000000.0f); /* Qwen2's base */
    check_rope(0.25f, 10000.0f);  /* linear scaling, factor 4 */
    check_swiglu();
    check_layernorm();
    /* every weight type, batches of 1 (decoding), 3 (gemv only), 4, 5 and 13 rows */
    const struct {
        int gt;
        tl_dtype dt;
    } ty[] = {{GGML_Q8_0, TL_DT_Q8_0}, {GGML_Q4_0, TL_DT_Q4_0}, {GGML_Q4_K, TL_DT_Q4_K},
              {GGML_Q6_K, TL_DT_Q6_K}, {GGML_F32, TL_DT_F32}, {GGML_F16, TL_DT_F16}};
    const int Rs[] = {1, 3, 4, 5, 13};
    for (size_t i = 0; i < sizeof ty / sizeof ty[0]; i++)
        for (size_t r = 0; r < sizeof Rs / sizeof Rs[0]; r++)
            check_matmul(ty[i].gt, ty[i].dt, 64, 512, Rs[r], 0);
    check_matmul(GGML_Q4_K, TL_DT_Q4_K, 40, 768, 9, 1); /* the four-row quantizer's sign rule */
    check_matmul(GGML_Q4_K, TL_DT_Q4_K, 36, 256, 5, 0); /* 36 rows: not repacked, vec_dot */
    check_matmul(GGML_Q4_0, TL_DT_Q4_0, 36, 256, 5, 0);
    if (!tl_kvattn_ggml_exact(16)) {
        printf("attention: this build has no AVX-512, so tl_kvattn_row_ggml is teelm's own (not checked)\n");
    } else {
        check_attention(64, 4, 2, 256, 0, 8);    /* a prompt: tinyBLAS sums */
        check_attention(64, 4, 2, 256, 8, 1);    /* decoding: vec_dot sums */
        check_attention(64, 4, 2, 256, 200, 1);  /* longer */
        check_attention(128, 8, 2, 512, 300, 1); /* Qwen2-like heads */
        check_attention(128, 8, 8, 256, 37, 5);  /* a second prompt chunk after a cached prefix */
        check_attention(64, 9, 3, 1024, 700, 3);
        check_attention(16, 4, 2, 256, 0, 8); /* the small test models' heads: ggml's leftover loop */
        check_attention(16, 4, 4, 256, 30, 1);
        check_attention(32, 6, 3, 256, 9, 3);
        check_attention(80, 4, 2, 256, 40, 1);
    }
    return test_finish();
}
