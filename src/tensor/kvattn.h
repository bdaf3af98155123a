/* Causal attention of one query row against a key/value cache laid out head-major: for one KV
 * head, keys K[u][hd] and values V[u][hd] of positions u = 0..n-1, contiguous (the HF engine's
 * cache, model/lm.c). Grouped-query attention is the caller choosing the KV head of each query
 * head. float32 softmax; a row's result depends only on its query and the cached rows. */
#ifndef TEELM_TENSOR_KVATTN_H
#define TEELM_TENSOR_KVATTN_H

/* out[hd] = Σ_u softmax_u(q·K[u] · scale) V[u] over u < n (n >= 1). scratch: n + 16 floats. */
void tl_kvattn_row(float *out, const float *q, const float *K, const float *V, int n, int hd, float scale,
                   float *scratch);

/* The same attention as llama.cpp's CPU backend computes it without flash attention, to the bit
 * (tensor/kvattn_ggml.c; docs/gguf.md "Numbers against llama.cpp"): prefill 1 for a row computed
 * with others of its sequence (a prompt: llamafile's tinyBLAS sums), 0 for a decoding row
 * (ggml_vec_dot_f32's). scratch: n + 16 + 64 hd floats. Exact where tl_kvattn_ggml_exact(hd)
 * (an AVX-512 build and hd a multiple of 16); otherwise it is tl_kvattn_row. */
void tl_kvattn_row_ggml(float *out, const float *q, const float *K, const float *V, int n, int hd, float scale,
                        int prefill, float *scratch);
int tl_kvattn_ggml_exact(int hd);

#endif
