/* The worker pool: every item runs exactly once for any size, grain and thread count, per-slot
 * scratch is never shared by two threads at once, and several threads calling at the same time
 * (each falls back to running alone when the pool is taken) all get complete results. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/pool.h"
#include "test.h"

typedef struct {
    atomic_int *hits;
    long *slot_sum;  /* per slot, written without atomics: races would lose counts */
    int nslots;
} job;

static void work(void *arg, int slot, long i0, long i1)
{
    job *j = arg;
    for (long i = i0; i < i1; i++) {
        atomic_fetch_add(&j->hits[i], 1);
        j->slot_sum[slot] += i;
    }
}

static int run(long n, long grain, int threads)
{
    job j;
    j.hits = calloc((size_t)n + 1, sizeof *j.hits);
    j.nslots = tl_parallel_slots(threads);
    j.slot_sum = calloc((size_t)j.nslots, sizeof *j.slot_sum);
    tl_parallel_for(n, grain, threads, work, &j);
    int ok = 1;
    for (long i = 0; i < n; i++)
        ok &= atomic_load(&j.hits[i]) == 1;
    long sum = 0;
    for (int s = 0; s < j.nslots; s++)
        sum += j.slot_sum[s];
    ok &= sum == n * (n - 1) / 2;
    free(j.hits);
    free(j.slot_sum);
    return ok;
}

static void *caller(void *arg)
{
    int *bad = arg;
    for (int k = 0; k < 200; k++)
        if (!run(1000 + k, 7, 4))
            (*bad)++;
    return NULL;
}

int main(void)
{
    tl_set_threads(4);
    long sizes[] = {1, 2, 17, 1000, 100070};
    long grains[] = {1, 3, 64, 100000};
    for (size_t a = 0; a < 5; a++)
        for (size_t b = 0; b < 4; b++)
            for (int t = 1; t <= 4; t++)
                CHECKF(run(sizes[a], grains[b], t), "n %ld grain %ld threads %d", sizes[a], grains[b], t);
    for (int k = 0; k < 300; k++) /* back-to-back jobs: late workers must not touch a finished one */
        CHECK(run(50 + k % 13, 1, 4));
    int bad[3] = {0};
    CHECK(test_concurrently(caller, bad, 3) == 0);
    for (int i = 0; i < 3; i++)
        CHECKF(bad[i] == 0, "concurrent caller %d: %d incomplete runs", i, bad[i]);
    return test_finish();
}
