/* Causal multi-head self-attention over packed sequences.
 * qkv rows are [q heads | k heads | v heads] (3*D floats: head h's query is qkv[h*hs..], its key
 * qkv[D + h*hs..], its value qkv[2D + h*hs..]), exactly the fused layout of the parameter arena.
 * Sequence s occupies rows off[s] .. off[s+1]-1; positions inside a sequence are causal. */
#ifndef TEELM_TENSOR_ATTENTION_H
#define TEELM_TENSOR_ATTENTION_H

#include <stddef.h>

/* Floats of att needed: H * Σ_s len_s². */
size_t tl_attention_att_size(const int *off, int nseq, int H);

/* out[rows,D] = concat_h softmax(scale · q kᵀ, causal) v; att receives the probabilities
 * (sequence s, head h: a len x len block, zeros above the diagonal). */
void tl_attention_forward(float *out, float *att, const float *qkv, const int *off, int nseq,
                          int D, int H, float scale);
/* ---- inference: one query row against a cache of earlier rows' keys and values ----
 * A cache for ctx positions holds the keys transposed, [D][ctxp] (ctxp = ctx rounded up to the
 * SIMD width: one head's scores for many positions come out of vector multiply-adds), then the
 * values [ctx][D]. */
size_t tl_attention_cache_floats(int ctx, int D);
/* Stores the key and value of position pos (kv: D key floats, then D value floats, in the qkv
 * head layout). */
void tl_attention_cache_put(float *cache, int ctx, int D, int pos, const float *kv);
/* out[D] = concat over heads of softmax(scale · q·k_u, u = 0..pos) v_u for a query q[D] at position
 * pos, with positions 0..pos in the cache. a: ctxp floats of scratch. Vectorized differently from
 * tl_attention_forward (the last bits may differ); a row's result depends only on q and the cache. */
void tl_attention_row(float *out, const float *q, const float *cache, int ctx, int pos, int D, int H, float scale,
                      float *a);

/* dqkv[rows,3D] = gradient (overwritten) given dout[rows,D]. */
void tl_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                           const int *off, int nseq, int D, int H, float scale);

#endif
