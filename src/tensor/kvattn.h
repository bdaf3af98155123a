/* Causal attention of one query row against a key/value cache laid out head-major: for one KV
 * head, keys K[u][hd] and values V[u][hd] of positions u = 0..n-1, contiguous (the HF engine's
 * cache, model/lm.c). Grouped-query attention is the caller choosing the KV head of each query
 * head. float32 softmax; a row's result depends only on its query and the cached rows. */
#ifndef TEELM_TENSOR_KVATTN_H
#define TEELM_TENSOR_KVATTN_H

/* out[hd] = Σ_u softmax_u(q·K[u] · scale) V[u] over u < n (n >= 1). scratch: n + 16 floats. */
void tl_kvattn_row(float *out, const float *q, const float *K, const float *V, int n, int hd, float scale,
                   float *scratch);

#endif
