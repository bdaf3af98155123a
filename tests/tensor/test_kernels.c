/* The SIMD kernels against naive double-precision loops, on shapes that hit every tile edge
 * (rows not a multiple of the register tile, columns not a multiple of the SIMD width) and with
 * 1 and 2 threads (the parallel paths split work and combine per-thread partial results).
 * Tolerance: 2e-5 relative to the largest reference magnitude (float32 accumulation over at most
 * a few hundred terms: ~1e-6 observed). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/rng.h"
#include "tensor/attention.h"
#include "tensor/layernorm.h"
#include "tensor/lmhead.h"
#include "tensor/matmul.h"
#include "util/pool.h"
#include "test.h"

static tl_rng rng;

static float *rnd(size_t n)
{
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64 + 64);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(2 * tl_rng_double(&rng) - 1);
    return p;
}

static float *zeros(size_t n)
{
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64 + 64);
    memset(p, 0, n * sizeof(float));
    return p;
}

/* got against want: within 2e-5 of want's largest magnitude; the check is named by the printf
 * format fmt and what follows it. */
static int close_to(const float *got, const double *want, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int close_to(const float *got, const double *want, size_t n, const char *fmt, ...)
{
    char what[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    double m = 1e-30, d = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(want[i]) > m)
            m = fabs(want[i]);
        double e = fabs(got[i] - want[i]);
        if (!(e <= d))
            d = e;
    }
    CHECKF(d <= 2e-5 * m, "%s: max |diff| %g (max |ref| %g)", what, d, m);
    return d <= 2e-5 * m;
}

static void test_linear(int N, int C, int OC)
{
    float *x = rnd((size_t)N * C), *w = rnd((size_t)OC * C), *b = rnd(OC), *dy = rnd((size_t)N * OC);
    float *y = zeros((size_t)N * OC), *wt = zeros(tl_linear_scratch(C, OC));
    float *dx = rnd((size_t)N * C), *dw = rnd((size_t)OC * C), *db = rnd(OC);
    double *ry = calloc((size_t)N * OC, sizeof(double)), *rdx = calloc((size_t)N * C, sizeof(double));
    double *rdw = calloc((size_t)OC * C, sizeof(double)), *rdb = calloc(OC, sizeof(double));
    for (size_t i = 0; i < (size_t)N * C; i++)
        rdx[i] = dx[i]; /* backward accumulates */
    for (size_t i = 0; i < (size_t)OC * C; i++)
        rdw[i] = dw[i];
    for (int o = 0; o < OC; o++)
        rdb[o] = db[o];
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = b[o];
            for (int c = 0; c < C; c++) {
                s += (double)x[n * C + c] * w[o * C + c];
                rdx[n * C + c] += (double)dy[n * OC + o] * w[o * C + c];
                rdw[o * C + c] += (double)dy[n * OC + o] * x[n * C + c];
            }
            ry[n * OC + o] = s;
            rdb[o] += dy[n * OC + o];
        }
    tl_linear_forward(y, x, w, b, N, C, OC, wt);
    tl_linear_backward(dx, dw, db, dy, x, w, N, C, OC);
    close_to(y, ry, (size_t)N * OC, "linear %dx%dx%d forward", N, C, OC);
    close_to(dx, rdx, (size_t)N * C, "linear %dx%dx%d dinp", N, C, OC);
    close_to(dw, rdw, (size_t)OC * C, "linear %dx%dx%d dw", N, C, OC);
    close_to(db, rdb, OC, "linear %dx%dx%d dbias", N, C, OC);
    free(x); free(w); free(b); free(dy); free(y); free(wt); free(dx); free(dw); free(db);
    free(ry); free(rdx); free(rdw); free(rdb);
}

static void test_lmhead(int N, int C, int V, int nthreads)
{
    const size_t Np = tl_lmhead_np(N);
    float *x = rnd((size_t)N * C), *w = rnd((size_t)V * C), *b = rnd(V);
    for (size_t i = 0; i < (size_t)V * C; i++)
        w[i] *= 3; /* spread the logits so the softmax is far from uniform */
    uint32_t *t = malloc(N * sizeof *t);
    for (int n = 0; n < N; n++)
        t[n] = (uint32_t)tl_rng_below(&rng, (uint64_t)V);
    float *L = zeros((size_t)V * Np), *lse = zeros(Np), *sc = zeros(tl_lmhead_scratch(N, C, nthreads));
    float *dx = rnd((size_t)N * C), *dw = zeros((size_t)V * C), *db = zeros(V), *rows = zeros((size_t)N * V);
    double *rl = calloc((size_t)N * V, sizeof(double)), *rlse = calloc(N, sizeof(double));
    double *rdx = calloc((size_t)N * C, sizeof(double)), *rdw = calloc((size_t)V * C, sizeof(double));
    double *rdb = calloc(V, sizeof(double)), loss = 0;
    for (size_t i = 0; i < (size_t)N * C; i++)
        rdx[i] = dx[i];
    for (int n = 0; n < N; n++) {
        double mx = -INFINITY;
        for (int v = 0; v < V; v++) {
            double s = b[v];
            for (int c = 0; c < C; c++)
                s += (double)x[n * C + c] * w[(size_t)v * C + c];
            rl[(size_t)n * V + v] = s;
            if (s > mx)
                mx = s;
        }
        double se = 0;
        for (int v = 0; v < V; v++)
            se += exp(rl[(size_t)n * V + v] - mx);
        rlse[n] = mx + log(se);
        loss += rlse[n] - rl[(size_t)n * V + t[n]];
        for (int v = 0; v < V; v++) {
            double g = (exp(rl[(size_t)n * V + v] - rlse[n]) - (v == (int)t[n])) / N;
            rdb[v] += g;
            for (int c = 0; c < C; c++) {
                rdw[(size_t)v * C + c] += g * x[n * C + c];
                rdx[n * C + c] += g * w[(size_t)v * C + c];
            }
        }
    }
    loss /= N;
    tl_set_threads(nthreads);
    tl_lmhead_forward(L, lse, x, w, b, N, C, V, sc, nthreads);
    double l = tl_xent_loss(L, lse, t, N);
    tl_lmhead_backward(dx, dw, db, L, lse, t, x, w, N, C, V, sc, nthreads);
    float *pk = zeros(tl_lmhead_packed_floats(C, V)), *rmax = zeros((size_t)N);
    tl_lmhead_pack(pk, w, C, V);
    tl_lmhead_rows_packed(rows, rmax, x, pk, b, N, C, V);
    int bad_max = 0;
    for (int n = 0; n < N; n++) {
        float m = rows[(size_t)n * V];
        for (int v = 1; v < V; v++)
            m = rows[(size_t)n * V + v] > m ? rows[(size_t)n * V + v] : m;
        bad_max += rmax[n] != m;
    }
    CHECKF(bad_max == 0, "lmhead %dx%dx%d/%dT: %d packed row maxima differ from the rows' maxima", N, C, V, nthreads,
           bad_max);
    free(pk);
    free(rmax);
    float *lt = zeros((size_t)N * V);
    for (int n = 0; n < N; n++)
        for (int v = 0; v < V; v++)
            lt[(size_t)n * V + v] = L[(size_t)v * Np + n];
    float flse[N];
    for (int n = 0; n < N; n++)
        flse[n] = lse[n];
    close_to(lt, rl, (size_t)N * V, "lmhead %dx%dx%d/%dT logits", N, C, V, nthreads);
    close_to(rows, rl, (size_t)N * V, "lmhead %dx%dx%d/%dT rows", N, C, V, nthreads);
    close_to(flse, rlse, N, "lmhead %dx%dx%d/%dT lse", N, C, V, nthreads);
    CHECKF(fabs(l - loss) <= 1e-5 * fabs(loss), "lmhead %dx%dx%d loss %g vs %g", N, C, V, l, loss);
    close_to(dx, rdx, (size_t)N * C, "lmhead %dx%dx%d/%dT dx", N, C, V, nthreads);
    close_to(dw, rdw, (size_t)V * C, "lmhead %dx%dx%d/%dT dw", N, C, V, nthreads);
    close_to(db, rdb, V, "lmhead %dx%dx%d/%dT dbias", N, C, V, nthreads);
    free(x); free(w); free(b); free(t); free(L); free(lse); free(sc); free(dx); free(dw); free(db); free(rows);
    free(rl); free(rlse); free(rdx); free(rdw); free(rdb); free(lt);
}

/* Training's output layer is bit-for-bit reproducible: 1 thread and 2 threads (several runs, the
 * dynamic split differs each time) give the same log-sum-exp, logits and gradients. Shapes above the
 * parallel threshold, so 2 threads really split the vocabulary. */
static void test_lmhead_reproducible(int N, int C, int V)
{
    const size_t Np = tl_lmhead_np(N);
    float *x = rnd((size_t)N * C), *w = rnd((size_t)V * C), *b = rnd(V), *dx0 = rnd((size_t)N * C);
    uint32_t *t = malloc(N * sizeof *t);
    for (int n = 0; n < N; n++)
        t[n] = (uint32_t)tl_rng_below(&rng, (uint64_t)V);
    float *ref[4] = {NULL}, *sc = zeros(tl_lmhead_scratch(N, C, 2));
    const size_t len[4] = {Np, (size_t)N * C, (size_t)V * C, (size_t)V};
    int diff = 0;
    for (int run = 0; run < 6; run++) {
        int nt = run == 0 ? 1 : 2;
        tl_set_threads(nt);
        float *L = zeros((size_t)V * Np), *out[4] = {zeros(Np), zeros((size_t)N * C), zeros((size_t)V * C), zeros(V)};
        memcpy(out[1], dx0, (size_t)N * C * sizeof(float));
        tl_lmhead_forward(L, out[0], x, w, b, N, C, V, sc, nt);
        tl_lmhead_backward(out[1], out[2], out[3], L, out[0], t, x, w, N, C, V, sc, nt);
        free(L);
        for (int k = 0; k < 4; k++) {
            if (!ref[k])
                ref[k] = out[k];
            else {
                diff += memcmp(ref[k], out[k], len[k] * sizeof(float)) != 0;
                free(out[k]);
            }
        }
    }
    CHECKF(diff == 0, "lmhead %dx%dx%d: %d results differ between runs and thread counts", N, C, V, diff);
    for (int k = 0; k < 4; k++)
        free(ref[k]);
    free(x); free(w); free(b); free(dx0); free(t); free(sc);
}

/* inference kernels: packed linear (bit-identical to tl_linear_forward, any row subset), the
 * vectorized LayerNorm rows and one attention row over cached keys/values, against doubles */
static void test_infer_kernels(int N, int C, int OC, int H, int pos)
{
    float *x = rnd((size_t)N * C), *w = rnd((size_t)OC * C), *b = rnd(OC);
    float *y = zeros((size_t)N * OC), *y1 = zeros((size_t)OC), *wt = zeros(tl_linear_scratch(C, OC));
    float *pk = zeros(tl_linear_packed_floats(C, OC));
    tl_linear_forward(y, x, w, b, N, C, OC, wt);
    tl_linear_pack(pk, w, b, C, OC);
    float *yp = zeros((size_t)N * OC);
    tl_linear_forward_packed(yp, x, pk, N, C, OC);
    CHECKF(memcmp(y, yp, (size_t)N * OC * sizeof(float)) == 0, "packed linear %dx%dx%d differs", N, C, OC);
    tl_linear_forward_packed(y1, x + (size_t)(N - 1) * C, pk, 1, C, OC); /* one row alone */
    CHECKF(memcmp(y1, yp + (size_t)(N - 1) * OC, (size_t)OC * sizeof(float)) == 0, "packed linear row alone differs");

    float *g = rnd(C), *be = rnd(C), *ln = zeros((size_t)N * C);
    double *rln = calloc((size_t)N * C, sizeof(double));
    tl_layernorm_rows(ln, x, g, be, N, C, 1e-5f);
    for (int n = 0; n < N; n++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++)
            m += x[(size_t)n * C + c];
        m /= C;
        for (int c = 0; c < C; c++)
            v += (x[(size_t)n * C + c] - m) * (x[(size_t)n * C + c] - m);
        v /= C;
        for (int c = 0; c < C; c++)
            rln[(size_t)n * C + c] = (x[(size_t)n * C + c] - m) / sqrt(v + 1e-5) * g[c] + be[c];
    }
    close_to(ln, rln, (size_t)N * C, "layernorm rows");

    const int D = C, hs = D / H;
    const float scale = 0.7f;
    const int ctx = pos + 3; /* a cache with room to spare: unwritten positions must not count */
    float *q = rnd(D), *kv = rnd((size_t)(pos + 1) * 2 * D), *o = zeros(D), *a = zeros((size_t)ctx + 64);
    float *cache = rnd(tl_attention_cache_floats(ctx, D));
    double *ro = calloc(D, sizeof(double));
    for (int u = 0; u <= pos; u++)
        tl_attention_cache_put(cache, ctx, D, u, kv + (size_t)u * 2 * D);
    tl_attention_row(o, q, cache, ctx, pos, D, H, scale, a);
    for (int h = 0; h < H; h++) {
        double sc[64], mx = -1e300, sum = 0;
        for (int u = 0; u <= pos; u++) {
            double d = 0;
            for (int i = 0; i < hs; i++)
                d += (double)q[h * hs + i] * kv[(size_t)u * 2 * D + h * hs + i];
            sc[u] = d * scale;
            mx = sc[u] > mx ? sc[u] : mx;
        }
        for (int u = 0; u <= pos; u++)
            sum += (sc[u] = exp(sc[u] - mx));
        for (int u = 0; u <= pos; u++)
            for (int i = 0; i < hs; i++)
                ro[h * hs + i] += sc[u] / sum * kv[(size_t)u * 2 * D + D + h * hs + i];
    }
    close_to(o, ro, (size_t)D, "attention row");
    float *fx[] = {x, w, b, y, y1, wt, pk, yp, g, be, ln, q, kv, o, a, cache};
    for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++)
        free(fx[i]);
    free(rln);
    free(ro);
}

int main(void)
{
    rng = tl_rng_seed(7);
    int shapes[][3] = {{1, 1, 1}, {5, 3, 7}, {13, 40, 72}, {64, 64, 192}, {7, 72, 40}, {70, 64, 256}, {64, 256, 64}, {301, 128, 130}};
    for (int t = 1; t <= 2; t++) {
        tl_set_threads(t);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            test_linear(shapes[i][0], shapes[i][1], shapes[i][2]);
    }
    /* V*N*C above the parallel threshold so two threads really split the vocabulary */
    test_lmhead(3, 5, 11, 1);
    test_lmhead(17, 40, 1003, 1);
    test_lmhead(64, 64, 1031, 2);
    test_lmhead(70, 40, 1601, 2);
    test_lmhead_reproducible(64, 64, 1031);
    test_lmhead_reproducible(70, 40, 4001);
    test_infer_kernels(16, 64, 192, 4, 15); /* the seed model's shapes */
    test_infer_kernels(7, 40, 72, 5, 0);    /* scalar fallbacks: head size 8, one key */
    test_infer_kernels(70, 64, 256, 2, 40);
    return test_finish();
}
