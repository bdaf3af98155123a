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
/* dqkv[rows,3D] = gradient (overwritten) given dout[rows,D]. */
void tl_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                           const int *off, int nseq, int D, int H, float scale);

#endif
