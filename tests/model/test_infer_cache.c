/* Step-by-step decoding with cache slots (tl_infer_step) against recomputing every window from
 * scratch (tl_infer_last_logits on a workspace of its own), for the seed model and the pre-norm /
 * learned-position / GELU variant:
 *  - logits are bit-for-bit the same at every step, before and after the window slides, for
 *    sequences in any slots and batches that change as sequences come and go;
 *  - the cache is really used: while a window fills, a step computes one row per sequence; after
 *    has slid, the whole window (unless the slid window repeats tokens at the same positions);
 *  - tl_infer_forget wipes a slot: the next sequence in it is computed from scratch even when its
 *    tokens are the same (nothing carries over between requests);
 *  - tl_infer_row_max is each row's largest logit;
 *  - a call with other params rebinds the workspace and reuses nothing cached for the old ones;
 *    bad and duplicate slots are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/params.h"
#include "test.h"

#define NSEQ 3
#define STEPS 40

static void run(const tl_config *cfg, const char *name)
{
    const int V = cfg->vocab_size, ctx = cfg->context_length;
    size_t A = tl_params_arena_floats(cfg);
    float *params = aligned_alloc(64, (A * sizeof(float) + 63) / 64 * 64);
    tl_model_init(cfg, params, 91);
    tl_err err = {0};
    tl_infer *w = tl_infer_new(cfg, 4, &err), *ref = tl_infer_new(cfg, 1, &err);
    CHECK(w && ref);
    CHECK(tl_infer_bind(w, params, &err) == 0 && tl_infer_bind(ref, params, &err) == 0);
    float *got = malloc((size_t)NSEQ * V * sizeof(float)), *want = malloc((size_t)V * sizeof(float));
    uint32_t win[NSEQ][64];
    int len[NSEQ] = {1, 3, 1}, slot[NSEQ] = {2, 0, 3}, slid[NSEQ] = {0};
    tl_rng r = tl_rng_seed(5);
    for (int s = 0; s < NSEQ; s++)
        for (int i = 0; i < len[s]; i++)
            win[s][i] = (uint32_t)tl_rng_below(&r, (uint64_t)V);
    win[2][0] = 7; /* sequence 2 repeats one token: its slid windows keep a cached prefix */
    int mismatches = 0, bad_rows = 0, bad_max = 0;
    for (int step = 0; step < STEPS; step++) {
        /* sequence 1 sits out the odd steps: batches change, its slot keeps its cache */
        int idx[NSEQ], nb = 0;
        for (int s = 0; s < NSEQ; s++)
            if (!(s == 1 && step % 2))
                idx[nb++] = s;
        const uint32_t *ptr[NSEQ];
        int lens[NSEQ], slots[NSEQ], expect_rows = 0;
        for (int i = 0; i < nb; i++) {
            int s = idx[i];
            ptr[i] = win[s];
            lens[i] = len[s];
            slots[i] = slot[s];
            /* the first step computes the prompt; then one new row while filling; once slid,
             * the whole window, except for the all-7 sequence whose window never changes */
            int first = step == 0, reuse = !slid[s] || s == 2;
            expect_rows += first ? len[s] : reuse ? 1 : len[s];
        }
        CHECK(tl_infer_step(w, params, ptr, lens, slots, nb, got, &err) == 0);
        if (tl_infer_rows(w) != expect_rows) {
            fprintf(stderr, "step %d rows %d want %d\n", step, tl_infer_rows(w), expect_rows);
            bad_rows++;
        }
        for (int i = 0; i < nb; i++) { /* the output layer's row maxima are the rows' maxima */
            float m = got[(size_t)i * V];
            for (int v = 1; v < V; v++)
                m = got[(size_t)i * V + v] > m ? got[(size_t)i * V + v] : m;
            if (tl_infer_row_max(w)[i] != m)
                bad_max++;
        }
        for (int i = 0; i < nb; i++) {
            CHECK(tl_infer_last_logits(ref, params, &ptr[i], &lens[i], 1, want, &err) == 0);
            if (memcmp(got + (size_t)i * V, want, (size_t)V * sizeof(float)) != 0)
                mismatches++;
        }
        for (int i = 0; i < nb; i++) {
            int s = idx[i];
            uint32_t next = s == 2 ? 7 : (uint32_t)tl_rng_below(&r, (uint64_t)V);
            slid[s] = len[s] == ctx;
            if (slid[s])
                memmove(win[s], win[s] + 1, (size_t)(ctx - 1) * sizeof(uint32_t));
            else
                len[s]++;
            win[s][len[s] - 1] = next;
        }
    }
    CHECKF(mismatches == 0, "%s: %d cached steps differ from recomputation", name, mismatches);
    CHECKF(bad_max == 0, "%s: %d row maxima differ from the logits' maxima", name, bad_max);
    CHECKF(bad_rows == 0, "%s: %d steps computed an unexpected number of rows", name, bad_rows);

    /* forget: the same tokens in a wiped slot are computed from scratch, with the same logits */
    const uint32_t *p2 = win[2];
    tl_infer_forget(w, slot[2]);
    CHECK(tl_infer_step(w, params, &p2, &len[2], &slot[2], 1, got, &err) == 0);
    CHECKF(tl_infer_rows(w) == len[2], "%s: %d rows after forget, want %d", name, tl_infer_rows(w), len[2]);
    CHECK(tl_infer_last_logits(ref, params, &p2, &len[2], 1, want, &err) == 0);
    CHECK(memcmp(got, want, (size_t)V * sizeof(float)) == 0);
    /* the same call again reuses all but the last row */
    CHECK(tl_infer_step(w, params, &p2, &len[2], &slot[2], 1, got, &err) == 0);
    CHECK(tl_infer_rows(w) == 1);
    CHECK(memcmp(got, want, (size_t)V * sizeof(float)) == 0);

    /* refusals: a slot outside the workspace, one slot for two sequences */
    const uint32_t *two[2] = {win[0], win[1]};
    int l2[2] = {len[0], len[1]}, dup[2] = {1, 1}, out_of_range = 4;
    CHECK(tl_infer_step(w, params, two, l2, dup, 2, got, &err) == TL_EINVAL);
    CHECK(strstr(err.msg, "two sequences") != NULL);
    CHECK(tl_infer_step(w, params, two, l2, &out_of_range, 1, got, &err) == TL_EINVAL);

    /* other params: the workspace binds to them and forgets every slot, so the first call computes
     * every row and the next reuses the new cache; logits match a fresh workspace's on those
     * params; going back to the first params computes every row again */
    float *copy = aligned_alloc(64, (A * sizeof(float) + 63) / 64 * 64);
    memcpy(copy, params, A * sizeof(float));
    tl_infer *plain = tl_infer_new(cfg, 1, &err);
    CHECK(plain != NULL);
    CHECK(tl_infer_last_logits(plain, copy, &p2, &len[2], 1, want, &err) == 0);
    for (int k = 0; k < 2; k++) {
        CHECK(tl_infer_step(w, copy, &p2, &len[2], &slot[2], 1, got, &err) == 0);
        CHECKF(tl_infer_rows(w) == (k == 0 ? len[2] : 1), "%s: other params, call %d: %d rows", name, k,
               tl_infer_rows(w));
        CHECK(memcmp(got, want, (size_t)V * sizeof(float)) == 0);
    }
    CHECK(tl_infer_step(w, params, &p2, &len[2], &slot[2], 1, got, &err) == 0);
    CHECKF(tl_infer_rows(w) == len[2], "%s: back to the first params: %d rows", name, tl_infer_rows(w));

    tl_infer_free(plain);
    tl_infer_free(w);
    tl_infer_free(ref);
    free(copy);
    free(got);
    free(want);
    free(params);
}

int main(void)
{
    tl_config seed = tl_config_seed(300);
    seed.n_layer = 3;
    run(&seed, "seed");
    tl_config var = seed;
    var.prenorm = 1;
    var.learned_pos = 1;
    var.gelu = 1;
    var.attn_inv_sqrt = 1;
    var.context_length = 24;
    run(&var, "pre-norm variant");
    return test_finish();
}
