/* The register tile every product kernel of src/tensor/ is built from (matmul.c, lmhead.c):
 * R rows x NV vectors of accumulators; each step loads NV vectors of one operand, broadcasts one
 * scalar of the other per row and multiply-adds. R and NV are compile-time constants at every call
 * (the functions are always inlined), so the loops unroll and the accumulators stay in registers.
 * Each accumulator is one chain of FMAs in the order of k, which is what the kernels' bit-for-bit
 * promises (the same logits alone or in a batch, with or without a cache) rest on.
 * Internal to src/tensor/. */
#ifndef TEELM_TENSOR_TILE_H
#define TEELM_TENSOR_TILE_H

#include <stddef.h>

#include "tensor/simd.h"

/* The training tile: TR rows x TNV vectors (24 zmm accumulators with AVX-512; fewer with the
 * 16-register AVX2 file). */
#define TR 6
#if VW == 8
#define TNV 2
#else
#define TNV 4
#endif
#define TCOLS (TNV * VW)

/* Accumulator arrays are declared with this shape whatever part of it a tile uses (up to 8 rows,
 * up to 16 floats or TNV vectors per row); the unused elements cost nothing once unrolled. */
#define TILE_MR 8
#define TILE_MV (16 / VW > TNV ? 16 / VW : TNV)

#define TL_INLINE static inline __attribute__((always_inline))
/* Edge-tile functions stay out of line: inlined into a kernel's main loop, their copies crowd the
 * register allocation of the whole function (a one-row tile then kept an accumulator on the stack). */
#define TL_EDGE static __attribute__((noinline, unused))

/* acc[r][j] = fma(s[r*srs + k*sks], v[k*vks + j*VW], acc[r][j]) for k = 0..K-1 in order. */
TL_INLINE void tile_fma(vf acc[TILE_MR][TILE_MV], const float *s, size_t srs, size_t sks, const float *v, size_t vks,
                        int K, const int R, const int NV)
{
    for (int k = 0; k < K; k++) {
        vf vv[TILE_MV];
        for (int j = 0; j < NV; j++)
            vv[j] = vload(v + (size_t)k * vks + j * VW);
        for (int r = 0; r < R; r++) {
            const vf b = vset1(s[(size_t)r * srs + (size_t)k * sks]);
            for (int j = 0; j < NV; j++)
                acc[r][j] = vfma(b, vv[j], acc[r][j]);
        }
    }
}

/* acc[r][j] = vector j of row r of p (rows rs floats apart) */
TL_INLINE void tile_load(vf acc[TILE_MR][TILE_MV], const float *p, size_t rs, const int R, const int NV)
{
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NV; j++)
            acc[r][j] = vload(p + (size_t)r * rs + j * VW);
}

TL_INLINE void tile_store(float *p, size_t rs, vf acc[TILE_MR][TILE_MV], const int R, const int NV)
{
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NV; j++)
            vstore(p + (size_t)r * rs + j * VW, acc[r][j]);
}

TL_INLINE void tile_zero(vf acc[TILE_MR][TILE_MV], const int R, const int NV)
{
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NV; j++)
            acc[r][j] = vzero();
}

/* acc[r][j] = row[r] in every lane (0 without row) */
TL_INLINE void tile_set_rows(vf acc[TILE_MR][TILE_MV], const float *row, const int R, const int NV)
{
    for (int r = 0; r < R; r++) {
        const vf b = vset1(row ? row[r] : 0.0f);
        for (int j = 0; j < NV; j++)
            acc[r][j] = b;
    }
}

/* c[r][j] = (accumulate ? c[r][j] : 0) + Σ_k s[r*srs + k*sks] · v[k*vks + j*VW], c's rows crs
 * floats apart: a product tile written back to memory (the backward passes). */
TL_INLINE void tile_madd(float *c, size_t crs, const int accumulate, const float *s, size_t srs, size_t sks,
                         const float *v, size_t vks, int K, const int R, const int NV)
{
    vf acc[TILE_MR][TILE_MV];
    if (accumulate)
        tile_load(acc, c, crs, R, NV);
    else
        tile_zero(acc, R, NV);
    tile_fma(acc, s, srs, sks, v, vks, K, R, NV);
    tile_store(c, crs, acc, R, NV);
}

/* The body of an edge-tile function (TL_EDGE): calls TILE(args..., R, NV) with R a compile-time
 * constant for the partial row counts of full-width tiles (their own unrolled copies), a generic
 * loop for fewer vectors. */
_Static_assert(TR == 6, "TILE_EDGE unrolls the row counts 1..TR-1");
#define TILE_EDGE(TILE, R, NV, ...)                                                                             \
    do {                                                                                                        \
        if ((NV) == TNV) {                                                                                      \
            switch (R) {                                                                                        \
            case 1: TILE(__VA_ARGS__, 1, TNV); return;                                                          \
            case 2: TILE(__VA_ARGS__, 2, TNV); return;                                                          \
            case 3: TILE(__VA_ARGS__, 3, TNV); return;                                                          \
            case 4: TILE(__VA_ARGS__, 4, TNV); return;                                                          \
            case 5: TILE(__VA_ARGS__, 5, TNV); return;                                                          \
            }                                                                                                   \
        }                                                                                                       \
        TILE(__VA_ARGS__, (R), (NV));                                                                           \
    } while (0)

/* tile_madd for the tiles at the edges (R < TR or NV < TNV) */
TL_EDGE void tile_madd_edge(float *c, size_t crs, int accumulate, const float *s, size_t srs, size_t sks,
                           const float *v, size_t vks, int K, int R, int NV)
{
    TILE_EDGE(tile_madd, R, NV, c, crs, accumulate, s, srs, sks, v, vks, K);
}

#endif
