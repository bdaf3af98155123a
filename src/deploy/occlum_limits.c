#include "deploy/occlum_limits.h"

#include "model/lm.h"
#include "model/model.h"
#include "model/params.h"

#define MiB (1024LL * 1024LL)

static int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

void tl_occlum_defaults(tl_occlum_inputs *in)
{
    in->threads = 2;
    in->max_batch = 8;
    in->max_context = 0; /* 0: the model's context length (HF: serve's default --ctx) */
    in->weight_bytes = 0;
    in->max_connections = 64;
    in->max_body = 1 * MiB;
    in->tokenizer_bytes = 0;
    in->headroom = 0.25;
}

void tl_occlum_compute(const tl_config *c, const tl_occlum_inputs *in, tl_occlum_limits *o)
{
    const int64_t V = c->vocab_size, T = c->context_length, B = in->max_batch;
    const int hf = tl_config_is_hf(c);
    const int64_t def_ctx = hf ? (c->max_pos < 4096 ? c->max_pos : 4096) : T; /* server.h TL_SERVER_DEFAULT_CTX */
    const int64_t ctx = in->max_context > 0 ? in->max_context : def_ctx;
    const int threads = in->threads > 0 ? in->threads : 1;

    if (hf) {
        /* The stored tensors, read in place (a mapped plaintext file or the buffer a sealed model is
         * decrypted into), plus one chunk of the sealed file being decrypted. */
        o->weights = (in->weight_bytes > 0 ? in->weight_bytes : (int64_t)tl_params_numel(c) * 4) + 4 * MiB;
    } else {
        /* The parameter arena, plus one chunk of the sealed file being decrypted into it. */
        o->weights = (int64_t)tl_params_arena_floats(c) * 4 + 4 * MiB;
    }

    /* Inference: the scheduler's workspace as model/infer.c allocates it (tl_infer_bytes: key/value
     * caches of every sequence slot, the linear and output layers packed once, each thread's
     * activations), plus the scheduler's last-position logits and sampling scratch over V and the
     * token history of each sequence, those doubled for double buffering. */
    int64_t logits = B * V * 4 * 3;
    int64_t history = B * ctx * 8;
    if (hf) {
        /* model/lm.c: key/value caches of ctx positions for every slot, activations, pool scratch */
        tl_config lc = *c;
        lc.context_length = (int)ctx;
        o->workspaces = (int64_t)tl_lm_bytes(&lc, (int)B, threads) + 2 * (logits + history);
    } else {
        o->workspaces = (int64_t)tl_infer_bytes(c, (int)B, threads) + 2 * (logits + history);
    }

    /* Tokenizer: rank table, byte strings and a hash index; ~3.5x the file size measured on
     * cl100k_base (1.7 MB file), plus the compiled pre-tokenizer regex per thread. */
    int64_t tok_file = in->tokenizer_bytes > 0 ? in->tokenizer_bytes : 1700 * 1024;
    o->tokenizer = tok_file * 7 / 2 + (in->threads + 2) * MiB;

    /* Each connection: request body limit, header buffers, TLS record buffers, response buffers. */
    o->connections = in->max_connections * (in->max_body + 256 * 1024);

    /* Threads: OpenMP workers, HTTP loop, scheduler, broker client; fixed 1 MiB stacks. */
    o->max_num_of_threads = in->threads + 8;
    o->thread_stack_size = 1 * MiB;
    o->stacks = (int64_t)o->max_num_of_threads * o->thread_stack_size;

    /* The binary and its libraries (OpenSSL, libevent, PCRE2, libcurl, libgomp, glibc) mapped in
     * the enclave, and malloc arenas (MALLOC_ARENA_MAX=2 in Occlum.json). */
    o->runtime = 48 * MiB;

    int64_t need = o->weights + o->workspaces + o->tokenizer + o->connections + o->stacks + o->runtime;
    o->user_space_size = round_up((int64_t)((double)need * (1.0 + in->headroom)), MiB);
    /* glibc serves the large buffers above through mmap; brk only holds small objects. */
    o->default_heap_size = 32 * MiB;
    o->default_mmap_size = o->user_space_size;
    o->default_stack_size = 4 * MiB;
    /* LibOS kernel: per-thread structures, file and socket buffers of every connection. */
    o->kernel_space_heap_size = round_up(64 * MiB + (int64_t)in->max_connections * 256 * 1024 +
                                         (int64_t)o->max_num_of_threads * MiB, MiB);
    o->kernel_space_stack_size = 1 * MiB;
}
