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
/* One query row against cached keys and values (inference): out[D] = concat over heads of
 * softmax(scale · q·k_u, u = 0..pos) v_u, where kv holds positions 0..pos as [pos+1][2D] rows
 * (keys, then values, each in the qkv head layout) and q is D floats. a: pos+1 floats of scratch.
 * Vectorized over each head's dimensions, so the last bits may differ from tl_attention_forward;
 * a row's result depends only on its own q and kv. */
void tl_attention_row(float *out, const float *q, const float *kv, int pos, int D, int H, float scale, float *a);

/* dqkv[rows,3D] = gradient (overwritten) given dout[rows,D]. */
void tl_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                           const int *off, int nseq, int D, int H, float scale);

#endif
