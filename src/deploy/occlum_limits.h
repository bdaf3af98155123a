/* Occlum resource limits computed from what `teelm serve` really allocates, so an enclave neither
 * fails at start with ENOMEM nor reserves far more EPC than it needs (docs/deploy-occlum.md). */
#ifndef TEELM_DEPLOY_OCCLUM_LIMITS_H
#define TEELM_DEPLOY_OCCLUM_LIMITS_H

#include <stdint.h>

#include "model/config.h"

typedef struct {
    int threads;          /* compute threads (OpenMP) */
    int max_batch;        /* sequences decoded together */
    int max_context;      /* tokens per sequence the server keeps (prompt + completion); Hugging
                           * Face families: serve's --ctx, the key/value cache positions per slot
                           * (0: min(max_position_embeddings, 4096), serve's default) */
    int64_t weight_bytes; /* Hugging Face families: bytes of the stored tensors (F32/F16/BF16 as
                           * stored, mapped or decrypted in place); 0: as if F32 */
    int max_connections;  /* concurrent HTTPS connections */
    int64_t max_body;     /* request body limit, bytes */
    int64_t tokenizer_bytes; /* size of the tokenizer file (0: assume cl100k-sized) */
    double headroom;      /* fraction added on top of the computed need, e.g. 0.25 */
} tl_occlum_inputs;

typedef struct {
    /* the parts, bytes (for the explanation printed next to the JSON) */
    int64_t weights, workspaces, tokenizer, connections, stacks, runtime;
    /* Occlum.json values, bytes / counts */
    int64_t user_space_size;
    int64_t kernel_space_heap_size;
    int64_t kernel_space_stack_size;
    int max_num_of_threads;
    int64_t default_stack_size;
    int64_t default_heap_size;
    int64_t default_mmap_size;
    int64_t thread_stack_size;  /* what teelm's own threads use (OMP_STACKSIZE, pthreads) */
} tl_occlum_limits;

void tl_occlum_defaults(tl_occlum_inputs *in);
void tl_occlum_compute(const tl_config *cfg, const tl_occlum_inputs *in, tl_occlum_limits *out);

#endif
