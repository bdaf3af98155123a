#include "tensor/attention.h"

#include <math.h>
#include <string.h>

#include "util/pool.h"
#include "tensor/simd.h"

size_t tl_attention_att_size(const int *off, int nseq, int H)
{
    size_t n = 0;
    for (int s = 0; s < nseq; s++) {
        size_t len = (size_t)(off[s + 1] - off[s]);
        n += len * len;
    }
    return n * (size_t)H;
}

/* start of sequence s's probabilities */
static size_t att_base(const int *off, int s, int H)
{
    return tl_attention_att_size(off, s, H);
}

typedef struct {
    float *out, *att, *dqkv;
    const float *qkv, *att_in, *dout;
    const int *off;
    int nseq, D, H;
    float scale;
} att_job;

/* One (sequence, head) item of the parallel loops: the sequence's rows r0 .. r0+len, head h, and
 * the offset of its len x len probabilities in att. */
typedef struct {
    int r0, len, h;
    size_t a;
} att_item;

static att_item item_of(const att_job *j, long sh)
{
    const int s = (int)(sh / j->H), h = (int)(sh % j->H), r0 = j->off[s], len = j->off[s + 1] - r0;
    return (att_item){r0, len, h, att_base(j->off, s, j->H) + (size_t)h * len * len};
}

/* worth threads when Σ len² · D is large (server batches), not for one 16-token window */
static int att_threads(const int *off, int nseq, int D)
{
    long w = 0;
    for (int s = 0; s < nseq; s++)
        w += (long)(off[s + 1] - off[s]) * (off[s + 1] - off[s]) * D;
    return w >= (1L << 21) ? 256 : 1;
}

static void fwd_chunk(void *p, int slot, long p0, long p1)
{
    (void)slot;
    const att_job *j = p;
    float *out = j->out, *att = j->att;
    const float *qkv = j->qkv;
    const int D = j->D, hs = D / j->H, D3 = 3 * D;
    const float scale = j->scale;
    for (long sh = p0; sh < p1; sh++) {
        const att_item e = item_of(j, sh);
        const int r0 = e.r0, len = e.len, h = e.h;
        {
            float *A = att + e.a;
            for (int t = 0; t < len; t++) {
                const float *q = qkv + (size_t)(r0 + t) * D3 + h * hs;
                float *a = A + (size_t)t * len, mx = -INFINITY;
                for (int u = 0; u <= t; u++) {
                    const float *k = qkv + (size_t)(r0 + u) * D3 + D + h * hs;
                    float d = 0;
                    for (int i = 0; i < hs; i++)
                        d += q[i] * k[i];
                    a[u] = d * scale;
                    if (a[u] > mx)
                        mx = a[u];
                }
                float sum = 0;
                for (int u = 0; u <= t; u++) {
                    a[u] = expf(a[u] - mx);
                    sum += a[u];
                }
                float inv = 1.0f / sum;
                for (int u = 0; u <= t; u++)
                    a[u] *= inv;
                for (int u = t + 1; u < len; u++)
                    a[u] = 0;
                float *o = out + (size_t)(r0 + t) * D + h * hs;
                for (int i = 0; i < hs; i++)
                    o[i] = 0;
                for (int u = 0; u <= t; u++) {
                    const float *v = qkv + (size_t)(r0 + u) * D3 + 2 * D + h * hs;
                    for (int i = 0; i < hs; i++)
                        o[i] += a[u] * v[i];
                }
            }
        }
    }
}

void tl_attention_forward(float *out, float *att, const float *qkv, const int *off, int nseq,
                          int D, int H, float scale)
{
    att_job j = {.out = out, .att = att, .qkv = qkv, .off = off, .nseq = nseq, .D = D, .H = H, .scale = scale};
    tl_parallel_for((long)nseq * H, 1, att_threads(off, nseq, D), fwd_chunk, &j);
}

static void bwd_chunk(void *p, int slot, long p0, long p1)
{
    (void)slot;
    const att_job *j = p;
    float *dqkv = j->dqkv;
    const float *qkv = j->qkv, *att = j->att_in, *dout = j->dout;
    const int D = j->D, hs = D / j->H, D3 = 3 * D;
    const float scale = j->scale;
    for (long sh = p0; sh < p1; sh++) {
        const att_item e = item_of(j, sh);
        const int r0 = e.r0, len = e.len, h = e.h;
        {
            const float *A = att + e.a;
            for (int t = 0; t < len; t++) {
                const float *a = A + (size_t)t * len, *g = dout + (size_t)(r0 + t) * D + h * hs;
                const float *q = qkv + (size_t)(r0 + t) * D3 + h * hs;
                float *dq = dqkv + (size_t)(r0 + t) * D3 + h * hs;
                /* dp[u] = g·v_u; dv_u += a[u] g; ds[u] = a[u] (dp[u] - Σ a dp) */
                float dp[t + 1], dot = 0;
                for (int u = 0; u <= t; u++) {
                    const float *v = qkv + (size_t)(r0 + u) * D3 + 2 * D + h * hs;
                    float *dv = dqkv + (size_t)(r0 + u) * D3 + 2 * D + h * hs;
                    float d = 0;
                    for (int i = 0; i < hs; i++) {
                        d += g[i] * v[i];
                        dv[i] += a[u] * g[i];
                    }
                    dp[u] = d;
                    dot += a[u] * d;
                }
                for (int u = 0; u <= t; u++) {
                    float ds = a[u] * (dp[u] - dot) * scale;
                    const float *k = qkv + (size_t)(r0 + u) * D3 + D + h * hs;
                    float *dk = dqkv + (size_t)(r0 + u) * D3 + D + h * hs;
                    for (int i = 0; i < hs; i++) {
                        dq[i] += ds * k[i];
                        dk[i] += ds * q[i];
                    }
                }
            }
        }
}
}

void tl_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                           const int *off, int nseq, int D, int H, float scale)
{
    memset(dqkv, 0, (size_t)off[nseq] * 3 * D * sizeof(float));
    att_job j = {.dqkv = dqkv, .qkv = qkv, .att_in = att, .dout = dout, .off = off, .nseq = nseq, .D = D, .H = H,
                 .scale = scale};
    tl_parallel_for((long)nseq * H, 1, att_threads(off, nseq, D), bwd_chunk, &j);
}

size_t tl_attention_cache_floats(int ctx, int D)
{
    return (size_t)D * tl_round_up((size_t)ctx, VW) + (size_t)ctx * D;
}

void tl_attention_cache_put(float *cache, int ctx, int D, int pos, const float *kv)
{
    const size_t ctxp = tl_round_up((size_t)ctx, VW);
    for (int i = 0; i < D; i++)
        cache[(size_t)i * ctxp + pos] = kv[i];
    memcpy(cache + (size_t)D * ctxp + (size_t)pos * D, kv + D, (size_t)D * sizeof(float));
}

void tl_attention_row(float *out, const float *q, const float *cache, int ctx, int pos, int D, int H, float scale,
                      float *a)
{
    const int hs = D / H, n = pos + 1, np = (int)tl_round_up((size_t)n, VW);
    const size_t ctxp = tl_round_up((size_t)ctx, VW);
    const float *V = cache + (size_t)D * ctxp;
    const vf vscale = vset1(scale);
    for (int h = 0; h < H; h++) {
        /* scores of positions 0..pos in lanes (four partial sums: the FMA latency, not its
         * throughput, would bound one chain); lanes past pos get -inf */
        const float *kt = cache + (size_t)h * hs * ctxp;
        const float *qh = q + h * hs;
        vf vm = vset1(-INFINITY);
        for (int u0 = 0; u0 < np; u0 += VW) {
            vf s0 = vzero(), s1 = vzero(), s2 = vzero(), s3 = vzero();
            int i = 0;
            for (; i + 4 <= hs; i += 4) {
                s0 = vfma(vset1(qh[i]), vload(kt + (size_t)i * ctxp + u0), s0);
                s1 = vfma(vset1(qh[i + 1]), vload(kt + (size_t)(i + 1) * ctxp + u0), s1);
                s2 = vfma(vset1(qh[i + 2]), vload(kt + (size_t)(i + 2) * ctxp + u0), s2);
                s3 = vfma(vset1(qh[i + 3]), vload(kt + (size_t)(i + 3) * ctxp + u0), s3);
            }
            for (; i < hs; i++)
                s0 = vfma(vset1(qh[i]), vload(kt + (size_t)i * ctxp + u0), s0);
            vf sc = vmul(vadd(vadd(s0, s1), vadd(s2, s3)), vscale);
            if (u0 + VW > n)
                sc = vkeep(sc, n - u0, -INFINITY);
            vm = vmax(vm, sc);
            vstore(a + u0, sc);
        }
        const vf mx = vset1(vhmax(vm));
        vf vs = vzero();
        for (int u0 = 0; u0 < np; u0 += VW) {
            vf e = vexp_neg(vsub(vload(a + u0), mx));
            if (u0 + VW > n) /* vexp_neg(-inf) is tiny, not 0 */
                e = vkeep(e, n - u0, 0.0f);
            vstore(a + u0, e);
            vs = vadd(vs, e);
        }
        const vf inv = vset1(1.0f / vsum(vs));
        for (int u0 = 0; u0 < np; u0 += VW)
            vstore(a + u0, vmul(vload(a + u0), inv));
        float *o = out + h * hs;
        if (VW > 1 && hs % VW == 0) {
            for (int i = 0; i < hs; i += VW) {
                const float *vi = V + h * hs + i;
                vf o0 = vzero(), o1 = vzero(), o2 = vzero(), o3 = vzero();
                int u = 0;
                for (; u + 4 <= n; u += 4) {
                    o0 = vfma(vset1(a[u]), vload(vi + (size_t)u * D), o0);
                    o1 = vfma(vset1(a[u + 1]), vload(vi + (size_t)(u + 1) * D), o1);
                    o2 = vfma(vset1(a[u + 2]), vload(vi + (size_t)(u + 2) * D), o2);
                    o3 = vfma(vset1(a[u + 3]), vload(vi + (size_t)(u + 3) * D), o3);
                }
                for (; u < n; u++)
                    o0 = vfma(vset1(a[u]), vload(vi + (size_t)u * D), o0);
                vstore(o + i, vadd(vadd(o0, o1), vadd(o2, o3)));
            }
        } else {
            for (int i = 0; i < hs; i++)
                o[i] = 0;
            for (int u = 0; u < n; u++)
                for (int i = 0; i < hs; i++)
                    o[i] += a[u] * V[(size_t)u * D + h * hs + i];
        }
    }
}
