/* Microbenchmark and fingerprint of the register-tile kernels (src/tensor/matmul.c, lmhead.c).
 *   kernels hash   prints an FNV-1a hash of every kernel's output over shapes that hit every tile
 *                  edge (rows and vectors), 1 and 2 threads: two builds must print the same lines
 *                  for a change that keeps the arithmetic bit for bit.
 *   kernels time [THREADS [FILTER]]  prints the median time (µs) of one call of each kernel (whose
 *                  name contains FILTER) on the seed model's shapes (d 64, vocab 100070, batch 4 x 16
 *                  tokens) and the inference shapes (1 and 32 rows).
 * bench/kernels_ab.sh builds it against two libraries and interleaves the runs. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/lmhead.h"
#include "tensor/matmul.h"
#include "util/pool.h"
#include "bench_rand.h"

static float *rand_floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}

#define H0 0xCBF29CE484222325ull

static void hash_linear(int N, int C, int OC)
{
    float *x = rand_floats((size_t)N * C), *w = rand_floats((size_t)OC * C), *b = rand_floats(OC);
    float *dout = rand_floats((size_t)N * OC), *out = calloc((size_t)N * OC, sizeof *out);
    float *wt = malloc(tl_linear_scratch(C, OC) * sizeof *wt);
    float *pk = malloc(tl_linear_packed_floats(C, OC) * sizeof *pk);
    float *dx = rand_floats((size_t)N * C), *dw = rand_floats((size_t)OC * C), *db = rand_floats(OC);
    tl_linear_forward(out, x, w, b, N, C, OC, wt);
    uint64_t hf = fnv(H0, out, (size_t)N * OC * sizeof *out);
    tl_linear_forward(out, x, w, NULL, N, C, OC, wt);
    hf = fnv(hf, out, (size_t)N * OC * sizeof *out);
    tl_linear_pack(pk, w, b, C, OC);
    tl_linear_forward_packed(out, x, pk, N, C, OC);
    uint64_t hp = fnv(H0, out, (size_t)N * OC * sizeof *out);
    tl_linear_backward(dx, dw, db, dout, x, w, N, C, OC);
    uint64_t hb = fnv(fnv(fnv(H0, dx, (size_t)N * C * 4), dw, (size_t)OC * C * 4), db, (size_t)OC * 4);
    printf("linear N=%d C=%d OC=%d fwd %016llx packed %016llx bwd %016llx\n", N, C, OC, (unsigned long long)hf,
           (unsigned long long)hp, (unsigned long long)hb);
    free(x), free(w), free(b), free(dout), free(out), free(wt), free(pk), free(dx), free(dw), free(db);
}

static void hash_lmhead(int N, int C, int V, int threads)
{
    const size_t Np = tl_lmhead_np(N);
    float *x = rand_floats((size_t)N * C), *w = rand_floats((size_t)V * C), *b = rand_floats(V);
    float *L = malloc((size_t)V * Np * sizeof *L), *lse = malloc(Np * sizeof *lse);
    float *scr = malloc(tl_lmhead_scratch(N, C, threads) * sizeof *scr);
    uint32_t *tg = malloc((size_t)N * sizeof *tg);
    for (int n = 0; n < N; n++)
        tg[n] = (uint32_t)((n * 7919u) % (unsigned)V);
    float *dx = rand_floats((size_t)N * C), *dw = malloc((size_t)V * C * 4), *db = malloc((size_t)V * 4);
    tl_lmhead_forward(L, lse, x, w, b, N, C, V, scr, threads);
    /* With several threads the log-sum-exp and dx are sums of per-thread partials whose split
     * depends on which thread took which chunk: only the single-thread run fingerprints them. */
    const int whole = threads == 1;
    uint64_t hf = H0;
    for (int v = 0; v < V; v++)
        hf = fnv(hf, L + (size_t)v * Np, (size_t)N * 4);
    hf = whole ? fnv(hf, lse, (size_t)N * 4) : hf;
    double loss = whole ? tl_xent_loss(L, lse, tg, N) : 0;
    tl_lmhead_backward(dx, dw, db, L, lse, tg, x, w, N, C, V, scr, threads);
    uint64_t hb = fnv(fnv(whole ? fnv(H0, dx, (size_t)N * C * 4) : H0, dw, (size_t)V * C * 4), db, (size_t)V * 4);
    float *pk = malloc(tl_lmhead_packed_floats(C, V) * sizeof *pk), *o = malloc((size_t)N * V * 4);
    float *mx = malloc((size_t)N * 4);
    tl_lmhead_pack(pk, w, C, V);
    tl_lmhead_rows_packed(o, mx, x, pk, b, N, C, V);
    uint64_t hp = fnv(fnv(H0, o, (size_t)N * V * 4), mx, (size_t)N * 4);
    printf("lmhead N=%d C=%d V=%d t=%d fwd %016llx loss %.17g bwd %016llx packed %016llx\n", N, C, V, threads,
           (unsigned long long)hf, loss, (unsigned long long)hb, (unsigned long long)hp);
    free(x), free(w), free(b), free(L), free(lse), free(scr), free(tg), free(dx), free(dw), free(db), free(pk),
        free(o), free(mx);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median over reps of the time one call of the kernel takes (each rep averages `inner` calls) */
#define TIME(name, reps, inner, call)                                                                  \
    do {                                                                                               \
        if (filter && !strstr(name, filter))                                                           \
            break;                                                                                     \
        double t_[reps];                                                                               \
        call;                                                                                          \
        for (int r_ = 0; r_ < (reps); r_++) {                                                          \
            double t0_ = now_ms();                                                                     \
            for (int i_ = 0; i_ < (inner); i_++)                                                       \
                call;                                                                                  \
            t_[r_] = (now_ms() - t0_) / (inner);                                                       \
        }                                                                                              \
        qsort(t_, (reps), sizeof(double), cmp_d);                                                      \
        printf("%-36s %10.2f us\n", name, 1e3 * t_[(reps) / 2]);                                             \
        fflush(stdout);                                                                                \
    } while (0)

static void time_all(const char *filter)
{
    const int C = 64, V = 100070, N = 64, F = 256;
    float *x = rand_floats((size_t)N * F), *w = rand_floats((size_t)V * C), *b = rand_floats(V);
    float *wf = rand_floats((size_t)F * F), *bf = rand_floats(F), *dout = rand_floats((size_t)N * F);
    float *out = malloc((size_t)N * V * 4), *wt = malloc(tl_linear_scratch(F, F) * 4);
    float *dx = rand_floats((size_t)N * F), *dw = rand_floats((size_t)F * F), *db = rand_floats(F);
    const int nt = tl_get_threads();
    const size_t Np = tl_lmhead_np(N);
    float *L = malloc((size_t)V * Np * 4), *lse = malloc(Np * 4), *scr = malloc(tl_lmhead_scratch(N, C, nt) * 4);
    float *dwl = malloc((size_t)V * C * 4), *dbl = malloc((size_t)V * 4), *mx = malloc(32 * 4);
    float *pk = malloc(tl_lmhead_packed_floats(C, V) * 4), *pl = malloc(tl_linear_packed_floats(C, F) * 4);
    uint32_t tg[64];
    for (int n = 0; n < N; n++)
        tg[n] = (uint32_t)((n * 7919u) % (unsigned)V);
    tl_lmhead_pack(pk, w, C, V);
    tl_linear_pack(pl, wf, bf, C, F);
    TIME("linear fwd 64x64->256", 41, 200, tl_linear_forward(out, x, wf, bf, N, C, F, wt));
    TIME("linear fwd 64x256->64", 41, 200, tl_linear_forward(out, x, wf, bf, N, F, C, wt));
    TIME("linear fwd small 16x64->256", 41, 200, tl_linear_forward(out, x, wf, bf, 16, C, F, wt));
    TIME("linear bwd 64x64->256", 41, 100, tl_linear_backward(dx, dw, db, dout, x, wf, N, C, F));
    TIME("linear bwd 64x256->64", 41, 100, tl_linear_backward(dx, dw, db, dout, x, wf, N, F, C));
    TIME("linear_forward_packed nb=1 64->256", 41, 2000, tl_linear_forward_packed(out, x, pl, 1, C, F));
    TIME("linear_forward_packed nb=32 64->256", 41, 200, tl_linear_forward_packed(out, x, pl, 32, C, F));
    TIME("lmhead_forward N=64", 15, 3, tl_lmhead_forward(L, lse, x, w, b, N, C, V, scr, nt));
    TIME("lmhead_backward N=64", 15, 3, tl_lmhead_backward(dx, dwl, dbl, L, lse, tg, x, w, N, C, V, scr, nt));
    TIME("lmhead_rows_packed nb=1", 21, 10, tl_lmhead_rows_packed(out, mx, x, pk, b, 1, C, V));
    TIME("lmhead_rows_packed nb=32", 15, 3, tl_lmhead_rows_packed(out, mx, x, pk, b, 32, C, V));
    free(x), free(w), free(b), free(wf), free(bf), free(dout), free(out), free(wt), free(dx), free(dw), free(db);
    free(L), free(lse), free(scr), free(dwl), free(dbl), free(mx), free(pk), free(pl);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "hash") == 0) {
        static const int ns[] = {1, 2, 5, 6, 7, 12, 13, 31, 32, 33, 64, 70};
        static const int cs[] = {1, 15, 16, 17, 64, 100, 128};
        static const int ocs[] = {1, 7, 16, 33, 64, 100, 256};
        for (int t = 1; t <= 2; t++) {
            tl_set_threads(t);
            for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
                for (size_t k = 0; k < sizeof cs / sizeof *cs; k++)
                    for (size_t o = 0; o < sizeof ocs / sizeof *ocs; o++)
                        hash_linear(ns[i], cs[k], ocs[o]);
            static const int vs[] = {1, 5, 6, 7, 65, 127, 1000, 100070};
            for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
                for (size_t k = 0; k < sizeof cs / sizeof *cs; k++)
                    for (size_t v = 0; v < sizeof vs / sizeof *vs; v++)
                        if (vs[v] < 100070 || (cs[k] == 64 && ns[i] % 32 == 0))
                            hash_lmhead(ns[i], cs[k], vs[v], t);
        }
        return 0;
    }
    if (strcmp(mode, "time") == 0) {
        tl_set_threads(argc > 2 ? atoi(argv[2]) : 2);
        time_all(argc > 3 ? argv[3] : NULL);
        return 0;
    }
    fprintf(stderr, "usage: kernels hash | kernels time [threads [name-filter]]\n");
    return 2;
}
