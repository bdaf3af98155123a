/* The batched inference API the server builds on (tl_infer_*):
 *  - a sequence's last-position logits are bit-for-bit the same alone and inside batches of other
 *    sequences of different lengths (packing, no padding: nothing leaks between sequences);
 *  - they match the full forward pass (tl_model_logits, a different kernel) within 1e-5;
 *  - workspaces used concurrently from several threads on the same read-only params give the same
 *    results as used alone;
 *  - bad lengths and ids are refused;
 *  - tl_infer_bytes is what tl_infer_new allocates (glibc's heap statistics, malloc overhead aside). */
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/params.h"
#include "test.h"
#include "util/pool.h"

#define NS 6
static tl_config cfg;
static float *params;
static uint32_t seqs[NS][16];
static int lens[NS] = {16, 1, 7, 16, 3, 12};
static float *alone; /* NS x V */

static void *worker(void *arg)
{
    int *bad = arg;
    tl_err err = {0};
    tl_infer *w = tl_infer_new(&cfg, NS, &err);
    float *out = malloc((size_t)NS * cfg.vocab_size * sizeof(float));
    const uint32_t *ptrs[NS];
    for (int s = 0; s < NS; s++)
        ptrs[s] = seqs[s];
    for (int it = 0; it < 20 && w; it++) {
        if (tl_infer_last_logits(w, params, ptrs, lens, NS, out, &err) ||
            memcmp(out, alone, (size_t)NS * cfg.vocab_size * sizeof(float)) != 0)
            (*bad)++;
    }
    if (!w)
        (*bad)++;
    free(out);
    tl_infer_free(w);
    return NULL;
}

static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

static void check_bytes(const tl_config *c, int B)
{
    tl_err err = {0};
    size_t before = heap_in_use();
    tl_infer *w = tl_infer_new(c, B, &err);
    size_t used = heap_in_use() - before, want = tl_infer_bytes(c, B, tl_get_threads());
    CHECK(w != NULL);
    tl_infer_free(w);
    if (heap_in_use() == 0) { /* a sanitizer's allocator keeps no glibc statistics */
        fprintf(stderr, "note: no heap statistics, tl_infer_bytes not measured\n");
        return;
    }
    /* every byte counted is allocated; on top, per block at most a chunk header, the 64-byte
     * alignment and (for mmap'd blocks) page rounding */
    CHECKF(used >= want && used <= want + want / 100 + (64u << 10),
           "tl_infer_bytes says %zu bytes for vocab %d ctx %d batch %d, tl_infer_new took %zu", want, c->vocab_size,
           c->context_length, B, used);
}

int main(void)
{
    cfg = tl_config_seed(500);
    cfg.n_layer = 3;
    const int V = cfg.vocab_size;
    size_t A = tl_params_arena_floats(&cfg);
    params = aligned_alloc(64, (A * sizeof(float) + 63) / 64 * 64);
    tl_model_init(&cfg, params, 77);
    tl_rng r = tl_rng_seed(3);
    for (int s = 0; s < NS; s++)
        for (int t = 0; t < 16; t++)
            seqs[s][t] = (uint32_t)tl_rng_below(&r, (uint64_t)V);
    tl_err err = {0};
    tl_infer *w = tl_infer_new(&cfg, NS, &err);
    CHECK(w != NULL);
    alone = malloc((size_t)NS * V * sizeof(float));
    float *batch = malloc((size_t)NS * V * sizeof(float));
    float *full = malloc((size_t)16 * V * sizeof(float));

    /* alone, and against the full forward pass */
    for (int s = 0; s < NS; s++) {
        const uint32_t *p = seqs[s];
        CHECK(tl_infer_last_logits(w, params, &p, &lens[s], 1, alone + (size_t)s * V, &err) == 0);
        CHECK(tl_model_logits(&cfg, params, seqs[s], 1, lens[s], full, &err) == 0);
        double d = 0;
        for (int v = 0; v < V; v++) {
            double e = fabs(alone[(size_t)s * V + v] - full[(size_t)(lens[s] - 1) * V + v]);
            if (!(e <= d))
                d = e;
        }
        CHECKF(d <= 1e-5, "sequence %d: last logits differ from the full forward by %g", s, d);
    }
    /* in batches: all six, and the reverse order of a subset */
    const uint32_t *ptrs[NS];
    for (int s = 0; s < NS; s++)
        ptrs[s] = seqs[s];
    CHECK(tl_infer_last_logits(w, params, ptrs, lens, NS, batch, &err) == 0);
    CHECK(memcmp(batch, alone, (size_t)NS * V * sizeof(float)) == 0);
    const uint32_t *rev[3] = {seqs[4], seqs[2], seqs[0]};
    int rlens[3] = {lens[4], lens[2], lens[0]};
    CHECK(tl_infer_last_logits(w, params, rev, rlens, 3, batch, &err) == 0);
    CHECK(memcmp(batch, alone + 4 * (size_t)V, (size_t)V * sizeof(float)) == 0);
    CHECK(memcmp(batch + (size_t)V, alone + 2 * (size_t)V, (size_t)V * sizeof(float)) == 0);
    CHECK(memcmp(batch + 2 * (size_t)V, alone, (size_t)V * sizeof(float)) == 0);

    /* concurrent workspaces on shared params */
    int bad[3] = {0};
    CHECK(test_concurrently(worker, bad, 3) == 0);
    for (int i = 0; i < 3; i++)
        CHECKF(bad[i] == 0, "thread %d: %d results differ", i, bad[i]);

    /* refusals */
    int zero = 0, long_len = cfg.context_length + 1;
    const uint32_t *p0 = seqs[0];
    CHECK(tl_infer_last_logits(w, params, &p0, &zero, 1, batch, &err) == TL_EINVAL);
    CHECK(tl_infer_last_logits(w, params, &p0, &long_len, 1, batch, &err) == TL_EINVAL);
    CHECK(tl_infer_last_logits(w, params, ptrs, lens, NS + 1, batch, &err) == TL_EINVAL);
    uint32_t badid[1] = {(uint32_t)V};
    const uint32_t *pb = badid;
    int one = 1;
    CHECK(tl_infer_last_logits(w, params, &pb, &one, 1, batch, &err) == TL_EINVAL);
    CHECK(strstr(err.msg, "vocab") != NULL);

    tl_infer_free(w);
    check_bytes(&cfg, 1);
    check_bytes(&cfg, NS);
    tl_config big = cfg; /* large blocks (mmap'd), group rows = context length */
    big.vocab_size = 20000;
    big.context_length = 80;
    big.learned_pos = 1;
    check_bytes(&big, 8);
    free(alone);
    free(batch);
    free(full);
    free(params);
    return test_finish();
}
